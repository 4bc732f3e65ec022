"""Monitors: create, read, change, delete; their results; what alerting and gc read."""

from __future__ import annotations

import logging
import uuid

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection

from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms
from tandem.errors import AlreadyExists, InvalidInput
from tandem.monitoring.models import (
    Monitor,
    MonitorResult,
    MonitorSpec,
    MonitorStatus,
    MonitorUpdate,
)
from tandem.monitoring.service.base import MonitorCore, first_error

log = logging.getLogger(__name__)


class MonitorOps(MonitorCore):
    """Monitors and their results."""

    def create(
        self, principal: Principal, project: str, spec: MonitorSpec, *, source: str = "user"
    ) -> Monitor:
        """Create a monitor.

        Raises:
            NotFound: no such endpoint (or model version).
            AlreadyExists: the project has a monitor of that name.
            InvalidInput: a condition, window or params that do not fit the kind; a column
                the model does not have.
        """
        self.auth.require(principal, Action.MONITOR_WRITE, project)
        self._check_spec(principal, project, spec)
        with self.db.write() as conn:
            monitor = self.create_in(conn, principal, project, spec, source=source)
        return monitor

    def create_in(
        self, conn: Connection, principal: Principal, project: str, spec: MonitorSpec, *,
        source: str,
    ) -> Monitor:  # fmt: skip
        """Create a checked monitor inside the caller's transaction (project.yaml, the defaults
        of a release). The caller checked the permission and the spec."""
        project_pk = self.projects.access(conn, principal, project, Action.MONITOR_WRITE)
        self.deployments.check_endpoint(conn, project_pk, project, spec.endpoint)
        if self.store.find(conn, project_pk, spec.name) is not None:
            raise AlreadyExists(f"project {project!r} has a monitor named {spec.name!r}")
        now = now_ms()
        pk = self.store.insert(
            conn, monitor_id=uuid.uuid4().hex, project_pk=project_pk, spec=spec, source=source,
            by=principal.name, now=now,
        )  # fmt: skip
        del pk
        self.audit.record(
            conn, principal, "monitor.create", f"{project}/monitors/{spec.name}",
            project=project, endpoint=spec.endpoint, kind=spec.kind.value, source=source,
        )  # fmt: skip
        return self.store.model(self.store.find(conn, project_pk, spec.name), project)

    def list_monitors(
        self, principal: Principal, project: str, *, endpoint: str | None = None
    ) -> list[Monitor]:
        """The project's monitors (of one endpoint), by name."""
        self.auth.require(principal, Action.MONITOR_READ, project)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MONITOR_READ)
            return [
                self.store.model(r, project) for r in self.store.list(conn, project_pk, endpoint)
            ]

    def get(self, principal: Principal, project: str, name: str) -> Monitor:
        self.auth.require(principal, Action.MONITOR_READ, project)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MONITOR_READ)
            return self.store.model(self._row(conn, project_pk, project, name), project)

    def update(self, principal: Principal, project: str, name: str, data: MonitorUpdate) -> Monitor:
        """Change a monitor's condition, timing, severity, labels, runbook or owner."""
        self.auth.require(principal, Action.MONITOR_WRITE, project)
        changes = data.model_dump(exclude_unset=True, by_alias=True)
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MONITOR_WRITE)
            row = self._row(conn, project_pk, project, name)
            current = orjson.loads(row.spec)
            try:
                spec = MonitorSpec.model_validate({**current, **changes})
            except ValidationError as exc:
                raise InvalidInput(first_error(exc)) from None
            spec.parsed_condition()
            self.store.update_spec(conn, row.pk, spec, now_ms())
            self.audit.record(
                conn, principal, "monitor.update", f"{project}/monitors/{name}",
                project=project, fields=sorted(changes),
            )  # fmt: skip
            return self.store.model(self.store.find(conn, project_pk, name), project)

    def delete(self, principal: Principal, project: str, name: str) -> None:
        """Delete a monitor with its results."""
        self.auth.require(principal, Action.MONITOR_WRITE, project)
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MONITOR_WRITE)
            row = self._row(conn, project_pk, project, name)
            self._remove(conn, principal, project_pk, project, row)
            self.audit.record(
                conn, principal, "monitor.delete", f"{project}/monitors/{name}", project=project
            )

    def results(
        self, principal: Principal, project: str, name: str, *, since: int | None = None,
        until: int | None = None, limit: int = 100,
    ) -> list[MonitorResult]:  # fmt: skip
        """The monitor's window results, newest first."""
        self.auth.require(principal, Action.MONITOR_READ, project)
        if not 1 <= limit <= 10_000:
            raise InvalidInput("limit must be between 1 and 10000")
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MONITOR_READ)
            row = self._row(conn, project_pk, project, name)
            rows = self.store.results(conn, row.pk, since=since, until=until, limit=limit)
            monitor = self.store.model(row, project)
        return [self._result(r, monitor) for r in rows]

    def statuses(
        self, principal: Principal, project: str, *, endpoint: str | None = None
    ) -> list[MonitorStatus]:
        """The project's monitors (of one endpoint) with their newest window's result."""
        self.auth.require(principal, Action.MONITOR_READ, project)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.MONITOR_READ)
            rows = self.store.list(conn, project_pk, endpoint)
            latest = self.store.latest(conn, [r.pk for r in rows])
        out = []
        for row in rows:
            monitor = self.store.model(row, project)
            found = latest.get(row.pk)
            out.append(MonitorStatus(
                monitor=monitor, latest=self._result(found, monitor) if found else None
            ))  # fmt: skip
        return out

    # -- for alerting (inside its transaction) ------------------------------------------------

    def results_since(
        self, conn: Connection, cursor: int, limit: int = 1000
    ) -> list[MonitorResult]:
        """Every project's results with `seq` > `cursor`, in order (alerting keeps the last
        `seq` it read). No permission check: the caller is the hub's own process."""
        rows = self.store.since(conn, cursor, limit)
        names = self.projects.names(conn, {int(r.project_pk) for r in rows})
        out = []
        for r in rows:
            spec = orjson.loads(r.monitor_spec)
            out.append(self.store.result_model(
                r, project=names.get(int(r.project_pk), ""), monitor=r.monitor_name,
                endpoint=r.monitor_endpoint, kind=r.monitor_kind,
                severity=spec.get("severity", "ticket"),
            ))  # fmt: skip
        return out

    def monitors_in(self, conn: Connection, project_pk: int, project: str) -> list[Monitor]:
        """The project's monitors, for a domain reading them in its transaction (alerting's
        rules: labels, annotations, for, runbook). No permission check."""
        return [self.store.model(r, project) for r in self.store.list(conn, project_pk)]

    # -- for gc -------------------------------------------------------------------------------

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """gc: a purged project's monitors, results and claims."""
        self.store.purge_project(conn, project_pk)
