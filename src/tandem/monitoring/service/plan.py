"""The monitors project.yaml declares (`monitors:`, a `PlanSection`), the defaults a production
deploy makes, and the gates' monitoring plan."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection

from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms
from tandem.errors import InvalidInput, NotFound
from tandem.governance.gates.models import MONITORING_ACTIVITY, EndpointPlan
from tandem.governance.plan.service import ChangeAction, PlanChange
from tandem.monitoring.models import (
    MonitorSpec,
    SignalKind,
)
from tandem.monitoring.service.base import first_error
from tandem.monitoring.service.monitors import MonitorOps

log = logging.getLogger(__name__)


class PlanOps(MonitorOps):
    """project.yaml's section, defaults on deploy, the gates' monitoring plan."""

    def check_section(
        self, principal: Principal, project: str, items: list[dict[str, Any]]
    ) -> list[MonitorSpec]:
        """project.yaml's monitors, each checked as `create` checks one (before the plan's
        transaction). Raises InvalidInput naming the bad one."""
        self.auth.require(principal, Action.MONITOR_READ, project)
        specs: list[MonitorSpec] = []
        for index, item in enumerate(items):
            where = f"monitors[{index}]" + (f" ({item.get('name')})" if isinstance(item, dict)
                                             and item.get("name") else "")  # fmt: skip
            try:
                spec = MonitorSpec.model_validate(item)
                self._check_spec(principal, project, spec)
            except ValidationError as exc:
                raise InvalidInput(f"{where}: {first_error(exc)}") from None
            except (InvalidInput, NotFound) as exc:
                raise InvalidInput(f"{where}: {exc}") from None
            specs.append(spec)
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise InvalidInput("monitors: a name appears twice")
        return specs

    def section_changes(
        self, conn: Connection, project_pk: int, project: str, checked: list[MonitorSpec]
    ) -> list[PlanChange]:
        """What applying the section would change: monitors created or changed, and those
        project.yaml made before and no longer lists deleted (user and default ones stay)."""
        rows = {r.name: r for r in self.store.list(conn, project_pk)}
        changes = []
        for spec in checked:
            after = spec.model_dump_json(by_alias=True, exclude_defaults=True)
            row = rows.get(spec.name)
            if row is None:
                changes.append(PlanChange(section="monitors", action=ChangeAction.CREATE,
                                          key=spec.name, after=after))  # fmt: skip
                continue
            before = MonitorSpec.model_validate_json(row.spec)
            if before != spec:
                changes.append(PlanChange(
                    section="monitors", action=ChangeAction.UPDATE, key=spec.name,
                    before=before.model_dump_json(by_alias=True, exclude_defaults=True),
                    after=after,
                ))  # fmt: skip
        wanted = {s.name for s in checked}
        for name, row in rows.items():
            if row.source == "project" and name not in wanted:
                changes.append(PlanChange(section="monitors", action=ChangeAction.DELETE,
                                          key=name))  # fmt: skip
        return changes

    def write_section(
        self, conn: Connection, principal: Principal, project: str, project_pk: int,
        checked: list[MonitorSpec],
    ) -> None:  # fmt: skip
        """Apply the section inside the plan's transaction (needs `monitor:write`)."""
        self.auth.require(principal, Action.MONITOR_WRITE, project)
        for change in self.section_changes(conn, project_pk, project, checked):
            spec = next((s for s in checked if s.name == change.key), None)
            ref = f"{project}/monitors/{change.key}"
            if change.action is ChangeAction.CREATE and spec is not None:
                self.create_in(conn, principal, project, spec, source="project")
            elif change.action is ChangeAction.UPDATE and spec is not None:
                row = self.store.find(conn, project_pk, change.key)
                if (
                    row.kind != spec.kind.value
                    or row.endpoint != spec.endpoint
                    or (row.window_ms != spec.window_ms() or row.version != spec.version)
                ):  # what it measures changed: its results no longer fit
                    self._remove(conn, principal, project_pk, project, row)
                    self.create_in(conn, principal, project, spec, source="project")
                    continue
                self.store.update_spec(conn, row.pk, spec, now_ms())
                self.audit.record(conn, principal, "monitor.update", ref, project=project,
                                  source="project")  # fmt: skip
            elif change.action is ChangeAction.DELETE:
                row = self.store.find(conn, project_pk, change.key)
                self._remove(conn, principal, project_pk, project, row)
                self.audit.record(conn, principal, "monitor.delete", ref, project=project,
                                  source="project")  # fmt: skip

    def export_section(
        self, conn: Connection, project_pk: int, project: str
    ) -> list[dict[str, Any]] | None:
        """The monitors project.yaml made, as it would list them (None: none)."""
        rows = [r for r in self.store.list(conn, project_pk) if r.source == "project"]
        if not rows:
            return None
        return [
            MonitorSpec.model_validate_json(r.spec).model_dump(
                mode="json", by_alias=True, exclude_defaults=True
            )
            for r in rows
        ]

    # -- defaults on deploy, and the gates' monitoring plan ------------------------------------

    def on_deploy(
        self, conn: Connection, principal: Principal, project: str, project_pk: int, *,
        endpoint: str, production: bool, model: str, version: int,
    ) -> None:  # fmt: skip
        """A version was deployed to `endpoint` (the deployments domain's `DeployHook`, inside
        its transaction): a production endpoint gets the default monitors it lacks, one per
        kind, owned by the RACI's accountable for monitoring (a staging endpoint pages nobody:
        its monitors are made by hand). Created as part of the release the principal was
        allowed to make; audited as theirs, with source `default`."""
        del model, version
        if not production:
            return
        rows = self.store.list(conn, project_pk, endpoint)
        kinds = {r.kind for r in rows}
        owner = None
        if self.plan is not None:
            raci = self.plan.raci_rows(conn, project_pk).get(MONITORING_ACTIVITY, {})
            owner = next((m for m, letter in raci.items() if letter == "A"), None)
        now = now_ms()
        for spec in default_monitors(endpoint, owner):
            if spec.kind.value in kinds or self.store.find(conn, project_pk, spec.name):
                continue
            self.store.insert(
                conn, monitor_id=uuid.uuid4().hex, project_pk=project_pk, spec=spec,
                source="default", by=principal.name, now=now,
            )  # fmt: skip
            self.audit.record(
                conn, principal, "monitor.create", f"{project}/monitors/{spec.name}",
                project=project, endpoint=endpoint, kind=spec.kind.value, source="default",
            )  # fmt: skip

    def monitoring_plan(self, principal: Principal, project: str, model: str) -> list[EndpointPlan]:
        """What the monitors of each production endpoint serving `model` cover (the gates'
        `MonitoringPlans`): drift (feature or prediction), performance (realised or
        estimated) and an SLO, each with an owner."""
        endpoints = sorted(
            {s.endpoint for s in self.deployments.serving(principal, project, model=model)
             if s.production and s.weight > 0}
        )  # fmt: skip
        if not endpoints:
            return []
        monitors = self.list_monitors(principal, project)
        needs = {
            "drift": {SignalKind.FEATURE_DRIFT, SignalKind.PREDICTION_DRIFT},
            "performance": {SignalKind.PERFORMANCE, SignalKind.ESTIMATED_PERFORMANCE},
            "slo": {SignalKind.SLO},
        }
        plans = []
        for endpoint in endpoints:
            mine = [
                m for m in monitors
                if m.endpoint == endpoint
                and (m.version is None or m.version.startswith(f"{model}@"))
            ]  # fmt: skip
            missing, counted = [], []
            for need, kinds in needs.items():
                found = [m for m in mine if m.kind in kinds]
                owned = [m for m in found if m.owner]
                if not found:
                    missing.append(f"{need} monitor")
                elif not owned:
                    missing.append(f"owner of the {need} monitor")
                counted += [f"monitors/{m.name}" for m in owned]
            plans.append(EndpointPlan(endpoint=endpoint, missing=missing, monitors=counted))
        return plans


def default_monitors(endpoint: str, owner: str | None) -> list[MonitorSpec]:
    """What a deployment gives an endpoint that has none of these kinds: hourly feature and
    prediction drift, the training data's contract, CBPE's estimated performance, and a 99 %
    error-rate SLO with the SRE workbook's burn-rate windows."""
    made = [
        (SignalKind.FEATURE_DRIFT, "feature-drift", {}, "ticket"),
        (SignalKind.PREDICTION_DRIFT, "prediction-drift", {}, "ticket"),
        (SignalKind.CONTRACT, "contract", {}, "ticket"),
        (SignalKind.ESTIMATED_PERFORMANCE, "estimated-performance", {}, "ticket"),
        (SignalKind.SLO, "error-rate", {"objective": "error-rate", "target": 0.99}, "page"),
    ]
    specs = []
    for kind, suffix, params, severity in made:
        fields = {"name": f"{endpoint}-{suffix}"[:64], "endpoint": endpoint, "kind": kind,
                  "params": params, "severity": severity, "owner": owner}  # fmt: skip
        specs.append(MonitorSpec.model_validate(fields))
    return specs
