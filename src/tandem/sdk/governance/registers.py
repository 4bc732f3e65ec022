"""`client.governance.registers`: a project's hypotheses, risks, retrospectives, action items,
comments and activity feed, and your own open action items."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from tandem.audit.models import Activity
from tandem.core.paging import Page
from tandem.governance.registers.models import (
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
from tandem.sdk.governance.resource import API, ProjectResource


class Registers(ProjectResource):
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

    def my_actions(self) -> list[ActionItem]:
        """Your open action items in every project."""
        response = self._http.request("GET", f"{API}/me/actions")
        return TypeAdapter(list[ActionItem]).validate_json(response.content)
