"""`client.governance.plan`: a project's brief, success criteria, RACI, scorecards, and the
whole of it as code (`tandem.governance.plan.spec.ProjectSpec`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import TypeAdapter

from tandem.core.refs import parse_model_ref
from tandem.governance.plan.models import (
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
from tandem.governance.plan.spec import CriterionSpec, Plan, ProjectSpec
from tandem.sdk.governance.resource import ProjectResource, q

_BRIEFS = TypeAdapter(list[Brief])
_CRITERIA = TypeAdapter(list[Criterion])


class ProjectPlan(ProjectResource):
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
        return Raci.model_validate_json(self._send("PUT", project, f"raci/{q(activity)}", body))

    def remove_raci_activity(self, activity: str, *, project: str | None = None) -> Raci:
        response = self._http.request("DELETE", self._path(project, f"raci/{q(activity)}"))
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


def _body(spec: ProjectSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_none=True)
