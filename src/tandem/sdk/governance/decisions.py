"""`client.governance.decisions`: a project's decision records (ADR style)."""

from __future__ import annotations

import builtins

from pydantic import TypeAdapter

from tandem.governance.decisions.models import DecisionCreate, DecisionRecord
from tandem.sdk.governance.resource import ProjectResource

_DECISIONS = TypeAdapter(list[DecisionRecord])


class Decisions(ProjectResource):
    def create(
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
        """Record a decision, e.g. `create("Retire churn-gbm@2", "Replaced by @3",
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

    def list(
        self, *, q: str | None = None, link: str | None = None, project: str | None = None
    ) -> builtins.list[DecisionRecord]:
        params = {k: v for k, v in {"q": q, "link": link}.items() if v}
        response = self._http.request("GET", self._path(project, "decisions"), params=params)
        return _DECISIONS.validate_json(response.content)

    def get(self, number: int, *, project: str | None = None) -> DecisionRecord:
        response = self._http.request("GET", self._path(project, f"decisions/{int(number)}"))
        return DecisionRecord.model_validate_json(response.content)

    def accept(self, number: int, *, project: str | None = None) -> DecisionRecord:
        response = self._http.request(
            "POST", self._path(project, f"decisions/{int(number)}/accept")
        )
        return DecisionRecord.model_validate_json(response.content)
