"""`client.governance`: a project's brief, success criteria, RACI, scorecards, and the whole
of it as code.

    client.governance.set_brief(goal="Cut monthly churn by 2 points", status="agreed")
    client.governance.set_criterion("auc", "model", "roc_auc >= 0.80", dataset="churn-holdout",
                                    owner="data-scientist")
    card = client.governance.scorecard("churn-gbm@3")
    plan = client.governance.apply(tandem.governance.spec.ProjectSpec(...))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import TypeAdapter

from tandem.audit.models import Activity
from tandem.core.paging import Page
from tandem.core.refs import parse_model_ref
from tandem.governance.decisions.models import DecisionCreate, DecisionRecord
from tandem.governance.gates.models import (
    Attestation,
    Gate,
    GateOpen,
    SignDecision,
    SignOffCreate,
    WaiverCreate,
)
from tandem.governance.models import (
    Brief,
    BriefDiff,
    BriefUpdate,
    Criterion,
    CriterionKind,
    Raci,
    RaciRow,
    RaciSet,
    Scorecard,
)
from tandem.governance.notifications.models import Notification, Webhook, WebhookSet
from tandem.governance.registers import (
    ActionItem,
    ActionItemCreate,
    Comment,
    CommentCreate,
    Hypothesis,
    HypothesisPatch,
    HypothesisSet,
    RetroCreate,
    Retrospective,
    Risk,
    RiskPatch,
    RiskSet,
)
from tandem.governance.spec import CriterionSpec, Plan, ProjectSpec
from tandem.registry.models import Stage
from tandem.sdk.transport import Http

if TYPE_CHECKING:
    from tandem.sdk.client import Client

API = "/api/v1"
_BRIEFS = TypeAdapter(list[Brief])
_CRITERIA = TypeAdapter(list[Criterion])
_GATES = TypeAdapter(list[Gate])
_DECISIONS = TypeAdapter(list[DecisionRecord])


class Governance:
    def __init__(self, http: Http, client: Client) -> None:
        self._http = http
        self._client = client

    def _path(self, project: str | None, rest: str) -> str:
        return f"{API}/projects/{quote(self._client.project_name(project), safe='')}/{rest}"

    # -- brief ----------------------------------------------------------------------------

    def brief(self, *, version: int | None = None, project: str | None = None) -> Brief:
        """The project's brief (version 0 while empty), or an older `version`."""
        params = {"version": version} if version is not None else None
        response = self._http.request("GET", self._path(project, "brief"), params=params)
        return Brief.model_validate_json(response.content)

    def set_brief(
        self, *, base_version: int | None = None, project: str | None = None, **fields: Any
    ) -> Brief:
        """Save the brief: `goal`, `user_story`, `approach`, `dependencies`, `constraints`,
        `out_of_scope`, `status` (fields left out are empty). With `base_version`, refuse
        (Conflict) if someone saved another version since."""
        body = BriefUpdate(base_version=base_version, **fields)
        return Brief.model_validate_json(self._send("PUT", project, "brief", body))

    def brief_history(self, *, project: str | None = None) -> list[Brief]:
        response = self._http.request("GET", self._path(project, "brief/versions"))
        return _BRIEFS.validate_json(response.content)

    def brief_diff(
        self, a: int | None = None, b: int | None = None, *, project: str | None = None
    ) -> BriefDiff:
        """What changed from version `a` to `b` (default: the newest and the one before)."""
        params = {k: v for k, v in {"a": a, "b": b}.items() if v is not None}
        response = self._http.request("GET", self._path(project, "brief/diff"), params=params)
        return BriefDiff.model_validate_json(response.content)

    # -- criteria -------------------------------------------------------------------------

    def criteria(self, *, project: str | None = None) -> list[Criterion]:
        response = self._http.request("GET", self._path(project, "criteria"))
        return _CRITERIA.validate_json(response.content)

    def set_criterion(
        self,
        key: str,
        kind: CriterionKind | str,
        check: str,
        *,
        owner: str,
        dataset: str | None = None,
        slice: str | None = None,
        description: str = "",
        project: str | None = None,
    ) -> Criterion:
        """Create or change criterion `key`, e.g. `("auc", "model", "roc_auc >= 0.80",
        dataset="churn-holdout", owner="data-scientist")`."""
        spec = CriterionSpec.model_validate(
            {
                "kind": kind,
                "check": check,
                "owner": owner,
                "dataset": dataset,
                "slice": slice,
                "description": description,
            }
        )
        response = self._http.request(
            "PUT",
            self._path(project, f"criteria/{quote(key, safe='')}"),
            json=spec.to_set().model_dump(mode="json"),
        )
        return Criterion.model_validate_json(response.content)

    def delete_criterion(self, key: str, *, project: str | None = None) -> None:
        self._http.request("DELETE", self._path(project, f"criteria/{quote(key, safe='')}"))

    # -- RACI -----------------------------------------------------------------------------

    def raci(self, *, project: str | None = None) -> Raci:
        response = self._http.request("GET", self._path(project, "raci"))
        return Raci.model_validate_json(response.content)

    def set_raci(
        self, activities: dict[str, dict[str, str]], *, project: str | None = None
    ) -> Raci:
        """Replace the matrix, e.g. `{"release-approval": {"maria": "A", "ana": "R"}}`."""
        body = RaciSet.model_validate({"activities": activities})
        return Raci.model_validate_json(self._send("PUT", project, "raci", body))

    def set_raci_activity(
        self, activity: str, members: dict[str, str], *, project: str | None = None
    ) -> Raci:
        """Set one activity's row, e.g. `set_raci_activity("training", {"ana": "A"})`; the
        other activities stay as they are when the server makes the change."""
        body = RaciRow.model_validate({"members": members})
        return Raci.model_validate_json(self._send("PUT", project, f"raci/{_q(activity)}", body))

    def remove_raci_activity(self, activity: str, *, project: str | None = None) -> Raci:
        response = self._http.request("DELETE", self._path(project, f"raci/{_q(activity)}"))
        return Raci.model_validate_json(response.content)

    # -- scorecard and project as code ------------------------------------------------------

    def scorecard(self, model: str, *, project: str | None = None) -> Scorecard:
        """Every criterion judged for model version `model` (`NAME@N`, `NAME@ALIAS`, or
        `PROJECT/NAME@N`)."""
        ref = parse_model_ref(model, None)
        selector = str(ref.version) if ref.version is not None else ref.alias or "latest"
        rest = f"models/{quote(ref.name, safe='')}/versions/{quote(selector, safe='')}/scorecard"
        response = self._http.request("GET", self._path(ref.project or project, rest))
        return Scorecard.model_validate_json(response.content)

    def export(self, *, project: str | None = None) -> ProjectSpec:
        response = self._http.request("GET", self._path(project, "spec"))
        return ProjectSpec.model_validate_json(response.content)

    def plan(self, spec: ProjectSpec, *, project: str | None = None) -> Plan:
        """What `apply(spec)` would change."""
        response = self._http.request(
            "POST", self._path(project or spec.project, "spec/plan"), json=_body(spec)
        )
        return Plan.model_validate_json(response.content)

    def apply(self, spec: ProjectSpec, *, project: str | None = None) -> Plan:
        """Make the brief, criteria and RACI say what `spec` says (one transaction)."""
        response = self._http.request(
            "PUT", self._path(project or spec.project, "spec"), json=_body(spec)
        )
        return Plan.model_validate_json(response.content)

    # -- gates --------------------------------------------------------------------------------

    def open_gate(self, model: str, to: Stage | str, *, project: str | None = None) -> Gate:
        """Request moving `model` (`NAME@N`) to stage `to`: opens its gate."""
        body = GateOpen(model=model, to=Stage(to))
        return Gate.model_validate_json(self._send("POST", project, "gates", body))

    def gates(self, *, all: bool = False, project: str | None = None) -> list[Gate]:
        """Open gates (every gate with `all=True`), newest first."""
        params = {"all": "true"} if all else None
        response = self._http.request("GET", self._path(project, "gates"), params=params)
        return _GATES.validate_json(response.content)

    def gate(self, gate_id: str, *, project: str | None = None) -> Gate:
        response = self._http.request("GET", self._path(project, f"gates/{_q(gate_id)}"))
        return Gate.model_validate_json(response.content)

    def check_gate(self, model: str, to: Stage | str, *, project: str | None = None) -> Gate:
        """Whether moving `model` to `to` would pass now; `.passes`, and the checklist says
        why. Changes nothing."""
        response = self._http.request(
            "GET",
            self._path(project, "gates/check"),
            params={"model": model, "to": Stage(to).value},
        )
        return Gate.model_validate_json(response.content)

    def sign(
        self,
        gate_id: str,
        decision: SignDecision | str,
        comment: str = "",
        *,
        project: str | None = None,
    ) -> Gate:
        """Approve or reject gate `gate_id` as yourself (a rejection needs a comment)."""
        body = SignOffCreate(decision=SignDecision(decision), comment=comment)
        return Gate.model_validate_json(
            self._send("POST", project, f"gates/{_q(gate_id)}/signoffs", body)
        )

    def complete_gate(self, gate_id: str, *, project: str | None = None) -> Gate:
        """Pass the gate if everything holds now (moving the version)."""
        response = self._http.request("POST", self._path(project, f"gates/{_q(gate_id)}/complete"))
        return Gate.model_validate_json(response.content)

    def cancel_gate(self, gate_id: str, reason: str = "", *, project: str | None = None) -> Gate:
        response = self._http.request(
            "POST", self._path(project, f"gates/{_q(gate_id)}/cancel"), json={"reason": reason}
        )
        return Gate.model_validate_json(response.content)

    def waive(
        self, gate_id: str, criterion: str, reason: str, *, project: str | None = None
    ) -> Gate:
        """Waive `criterion` for the gate's version, as its owner role, saying why (recorded as
        an accepted decision)."""
        body = WaiverCreate(criterion=criterion, reason=reason)
        return Gate.model_validate_json(
            self._send("POST", project, f"gates/{_q(gate_id)}/waivers", body)
        )

    def attest(
        self, gate_id: str, item: str, comment: str = "", *, project: str | None = None
    ) -> Gate:
        """Attest the project's own checklist item `item` on a gate (as the role it names)."""
        body = Attestation(item=item, comment=comment)
        return Gate.model_validate_json(
            self._send("POST", project, f"gates/{_q(gate_id)}/attestations", body)
        )

    # -- decision records -------------------------------------------------------------------

    def add_decision(
        self,
        title: str,
        decision: str,
        *,
        context: str = "",
        options: str = "",
        consequences: str = "",
        links: list[str] | None = None,
        accept: bool = False,
        supersedes: int | None = None,
        project: str | None = None,
    ) -> DecisionRecord:
        """Record a decision, e.g. `add_decision("Retire churn-gbm@2", "Replaced by @3",
        links=["models/churn-gbm@2"], accept=True)`."""
        body = DecisionCreate(
            title=title,
            decision=decision,
            context=context,
            options=options,
            consequences=consequences,
            links=links or [],
            accept=accept,
            supersedes=supersedes,
        )
        return DecisionRecord.model_validate_json(self._send("POST", project, "decisions", body))

    def decisions(
        self, *, q: str | None = None, link: str | None = None, project: str | None = None
    ) -> list[DecisionRecord]:
        params = {k: v for k, v in {"q": q, "link": link}.items() if v}
        response = self._http.request("GET", self._path(project, "decisions"), params=params)
        return _DECISIONS.validate_json(response.content)

    def decision(self, number: int, *, project: str | None = None) -> DecisionRecord:
        response = self._http.request("GET", self._path(project, f"decisions/{int(number)}"))
        return DecisionRecord.model_validate_json(response.content)

    def accept_decision(self, number: int, *, project: str | None = None) -> DecisionRecord:
        response = self._http.request(
            "POST", self._path(project, f"decisions/{int(number)}/accept")
        )
        return DecisionRecord.model_validate_json(response.content)

    # -- registers: hypotheses, risks, retrospectives, action items, comments -------------------

    def add_hypothesis(
        self, statement: str, *, owner: str, project: str | None = None, **fields: Any
    ) -> Hypothesis:
        """Log a hypothesis: `metric`, `expected_effect`, `status`, `links` optional."""
        body = HypothesisSet(statement=statement, owner=owner, **fields)
        return Hypothesis.model_validate_json(self._send("POST", project, "hypotheses", body))

    def update_hypothesis(
        self, number: int, data: HypothesisSet, *, project: str | None = None
    ) -> Hypothesis:
        return Hypothesis.model_validate_json(
            self._send("PUT", project, f"hypotheses/{int(number)}", data)
        )

    def patch_hypothesis(
        self, number: int, *, project: str | None = None, **changes: Any
    ) -> Hypothesis:
        """Change only the fields given (`status=`, `owner=`, ...; `add_links=[...]` adds
        links), on the stored hypothesis: `patch_hypothesis(3, status="supported")`."""
        body = HypothesisPatch(**changes)
        return Hypothesis.model_validate_json(
            self._send("PATCH", project, f"hypotheses/{int(number)}", body)
        )

    def hypotheses(self, *, project: str | None = None) -> list[Hypothesis]:
        return TypeAdapter(list[Hypothesis]).validate_json(self._get(project, "hypotheses"))

    def add_risk(
        self, description: str, *, owner: str, project: str | None = None, **fields: Any
    ) -> Risk:
        """Register a risk: `likelihood`, `impact` (low/medium/high), `mitigation`, `status`,
        `review_date`, `links` optional."""
        body = RiskSet(description=description, owner=owner, **fields)
        return Risk.model_validate_json(self._send("POST", project, "risks", body))

    def update_risk(self, number: int, data: RiskSet, *, project: str | None = None) -> Risk:
        return Risk.model_validate_json(self._send("PUT", project, f"risks/{int(number)}", data))

    def patch_risk(self, number: int, *, project: str | None = None, **changes: Any) -> Risk:
        """Change only the fields given (`status=`, `mitigation=`, `review_date=`, ...;
        `add_links=[...]` adds links), on the stored risk."""
        body = RiskPatch(**changes)
        return Risk.model_validate_json(self._send("PATCH", project, f"risks/{int(number)}", body))

    def risks(self, *, open_only: bool = False, project: str | None = None) -> list[Risk]:
        params = {"open": "true"} if open_only else None
        return TypeAdapter(list[Risk]).validate_json(self._get(project, "risks", params))

    def add_retrospective(self, data: RetroCreate, *, project: str | None = None) -> Retrospective:
        return Retrospective.model_validate_json(
            self._send("POST", project, "retrospectives", data)
        )

    def retrospectives(self, *, project: str | None = None) -> list[Retrospective]:
        return TypeAdapter(list[Retrospective]).validate_json(self._get(project, "retrospectives"))

    def add_action(
        self, title: str, *, owner: str, due: Any = None, project: str | None = None
    ) -> ActionItem:
        body = ActionItemCreate(title=title, owner=owner, due=due)
        return ActionItem.model_validate_json(self._send("POST", project, "actions", body))

    def actions(
        self, *, owner: str | None = None, all: bool = False, project: str | None = None
    ) -> list[ActionItem]:
        params = {k: v for k, v in {"owner": owner, "all": "true" if all else None}.items() if v}
        return TypeAdapter(list[ActionItem]).validate_json(self._get(project, "actions", params))

    def close_action(self, number: int, *, project: str | None = None) -> ActionItem:
        response = self._http.request("POST", self._path(project, f"actions/{int(number)}/done"))
        return ActionItem.model_validate_json(response.content)

    def comment(self, target: str, body: str, *, project: str | None = None) -> Comment:
        """Comment on `target` (e.g. `models/churn-gbm@3`); `@name` notifies a member."""
        data = CommentCreate(target=target, body=body)
        return Comment.model_validate_json(self._send("POST", project, "comments", data))

    def comments(self, target: str, *, project: str | None = None) -> list[Comment]:
        return TypeAdapter(list[Comment]).validate_json(
            self._get(project, "comments", {"target": target})
        )

    def activity(
        self, *, cursor: str | None = None, limit: int = 50, project: str | None = None
    ) -> Page[Activity]:
        params = {k: v for k, v in {"cursor": cursor, "limit": limit}.items() if v}
        return Page[Activity].model_validate_json(self._get(project, "activity", params))

    def notifications(self, *, unread: bool = False) -> list[Notification]:
        """Your notifications, newest first."""
        response = self._http.request(
            "GET", f"{API}/me/notifications", params={"unread": "true"} if unread else None
        )
        return TypeAdapter(list[Notification]).validate_json(response.content)

    def read_notifications(self) -> int:
        response = self._http.request("POST", f"{API}/me/notifications/read")
        return int(response.json()["marked"])

    def my_actions(self) -> list[ActionItem]:
        """Your open action items in every project."""
        response = self._http.request("GET", f"{API}/me/actions")
        return TypeAdapter(list[ActionItem]).validate_json(response.content)

    def webhook(self, *, project: str | None = None) -> Webhook:
        return Webhook.model_validate_json(self._get(project, "webhook"))

    def set_webhook(self, url: str, *, project: str | None = None) -> Webhook:
        """Send the project's notifications to `url` as Slack-compatible JSON ("" stops)."""
        return Webhook.model_validate_json(
            self._send("PUT", project, "webhook", WebhookSet(url=url))
        )

    def _send(self, method: str, project: str | None, rest: str, body: Any) -> bytes:
        response = self._http.request(
            method, self._path(project, rest), json=body.model_dump(mode="json")
        )
        return response.content

    def _get(self, project: str | None, rest: str, params: dict[str, Any] | None = None) -> bytes:
        return self._http.request("GET", self._path(project, rest), params=params or None).content


def _q(text: str) -> str:
    return quote(text, safe="")


def _body(spec: ProjectSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_none=True)
