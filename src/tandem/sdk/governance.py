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

from tandem.core.refs import parse_model_ref
from tandem.governance.gates import (
    DecisionCreate,
    DecisionRecord,
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
    RaciSet,
    Scorecard,
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
        response = self._http.request(
            "PUT", self._path(project, "brief"), json=body.model_dump(mode="json")
        )
        return Brief.model_validate_json(response.content)

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
            {"kind": kind, "check": check, "owner": owner, "dataset": dataset, "slice": slice,
             "description": description}
        )  # fmt: skip
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
        response = self._http.request(
            "PUT", self._path(project, "raci"), json=body.model_dump(mode="json")
        )
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
        response = self._http.request(
            "POST", self._path(project, "gates"), json=body.model_dump(mode="json")
        )
        return Gate.model_validate_json(response.content)

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
        response = self._http.request(
            "POST",
            self._path(project, f"gates/{_q(gate_id)}/signoffs"),
            json=body.model_dump(mode="json"),
        )
        return Gate.model_validate_json(response.content)

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
        response = self._http.request(
            "POST",
            self._path(project, f"gates/{_q(gate_id)}/waivers"),
            json=body.model_dump(mode="json"),
        )
        return Gate.model_validate_json(response.content)

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
            title=title, decision=decision, context=context, options=options,
            consequences=consequences, links=links or [], accept=accept, supersedes=supersedes,
        )  # fmt: skip
        response = self._http.request(
            "POST", self._path(project, "decisions"), json=body.model_dump(mode="json")
        )
        return DecisionRecord.model_validate_json(response.content)

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


def _q(text: str) -> str:
    return quote(text, safe="")


def _body(spec: ProjectSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_none=True)
