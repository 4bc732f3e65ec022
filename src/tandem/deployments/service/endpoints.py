"""Endpoints: creating, reading, changing and deleting them, the policy gateways poll, the
history and the figures, and what other domains and gc read."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms, parse_instant
from tandem.core.paging import Page, check_limit
from tandem.core.validation import check_text
from tandem.deployments import analysis
from tandem.deployments.models import (
    DeploymentEvent,
    Endpoint,
    EndpointCreate,
    EndpointUpdate,
    EventKind,
    Policy,
    PolicyRoute,
    Role,
    Runtime,
    ServedAt,
    Serving,
    WindowPoint,
)
from tandem.deployments.service.base import (
    MAX_POINTS,
    QUIET_MS,
    WINDOW_RETENTION_DAYS,
    Actor,
    DeploymentCore,
    Held,
    check_endpoint_name,
    check_sticky_key,
)  # fmt: skip
from tandem.errors import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied


class EndpointOps(DeploymentCore):
    # -- endpoints --------------------------------------------------------------------------

    def create_endpoint(self, principal: Principal, project: str, data: EndpointCreate) -> Endpoint:
        action = Action.DEPLOYMENT_RELEASE if data.production else Action.DEPLOYMENT_WRITE
        self.auth.require(principal, action, project)
        check_endpoint_name(data.name)
        description = check_text(data.description, "description", 10_000)
        sticky_key = check_sticky_key(data.sticky_key)
        now = now_ms()
        try:
            with self.db.write() as conn:
                project_pk = self.projects.access(conn, principal, project, action)
                if self.store.find(conn, project_pk, data.name) is not None:
                    raise AlreadyExists(
                        f"endpoint {data.name!r} exists in project {project!r}", endpoint=data.name
                    )
                self.store.create(
                    conn, project_pk=project_pk, name=data.name, production=data.production,
                    description=description, sticky_key=sticky_key, sampling=data.sampling,
                    log_personal=data.log_personal, policy_version=0, rollback_target=None,
                    warm_until=None, created_at=now, created_by=principal.name, updated_at=now,
                )  # fmt: skip
                held = Held(project, project_pk, self.store.find(conn, project_pk, data.name))
                self._record(
                    conn, held, Actor.person(principal), EventKind.CREATED, {},
                    evidence={"production": data.production}, audit_details={
                        "production": data.production, "log_personal": data.log_personal},
                )  # fmt: skip
                return self.store.endpoint(conn, self.store.find(conn, project_pk, data.name),
                                           project)  # fmt: skip
        except IntegrityError:  # created meanwhile
            raise AlreadyExists(
                f"endpoint {data.name!r} exists in project {project!r}", endpoint=data.name
            ) from None

    def list_endpoints(self, principal: Principal, project: str) -> list[Endpoint]:
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.DEPLOYMENT_READ)
            rows = self.store.names(conn, project_pk)
            return [self.store.endpoint(conn, r, project) for r in rows]

    def get_endpoint(self, principal: Principal, project: str, name: str) -> Endpoint:
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        with self.db.read() as conn:
            held = self._read(conn, principal, project, name)
            return self.store.endpoint(conn, held.row, project)

    def update_endpoint(
        self, principal: Principal, project: str, name: str, data: EndpointUpdate
    ) -> Endpoint:
        """Change an endpoint's settings (sticky key, sampling, logging of personal data): the
        gateways see them in the next policy."""
        self.auth.require(principal, Action.DEPLOYMENT_WRITE, project)
        values: dict[str, Any] = {}
        if data.description is not None:
            values["description"] = check_text(data.description, "description", 10_000)
        if data.sticky_key is not None:
            values["sticky_key"] = check_sticky_key(data.sticky_key)
        if data.sampling is not None:
            values["sampling"] = data.sampling
        if data.log_personal is not None:
            values["log_personal"] = data.log_personal
        with self._changing(principal, project, name) as (conn, held):
            changed = {k: v for k, v in values.items() if getattr(held.row, k) != v}
            if changed:
                before = self._weights(conn, held.pk)
                self._record(
                    conn, held, Actor.person(principal), EventKind.SETTINGS, before,
                    evidence={"settings": changed}, audit_details=changed, **changed,
                )  # fmt: skip
            return self.store.endpoint(conn, self._row(conn, held.project_pk, project, name),
                                       project)  # fmt: skip

    def delete_endpoint(self, principal: Principal, project: str, name: str) -> None:
        """Delete an endpoint and its history; refused while gateways report traffic for it."""
        self.auth.require(principal, Action.DEPLOYMENT_WRITE, project)
        with self._changing(principal, project, name) as (conn, held):
            served = self.store.requests_since(conn, held.pk, now_ms() - QUIET_MS)
            if served:
                raise Conflict(
                    f"endpoint {name!r} served {served} requests in the last "
                    f"{QUIET_MS // 60_000} minutes: stop its gateways first, then delete it"
                )
            self.store.delete(conn, held.pk)
            self.audit.record(conn, principal, "deployment.endpoint.delete", held.ref,
                              project=project)  # fmt: skip

    # -- the policy gateways serve ----------------------------------------------------------

    def policy(
        self, principal: Principal, project: str, name: str, *, known: int | None = None
    ) -> Policy | None:
        """The endpoint's policy, or None when it is still `known` (the gateway's ETag):
        the gateway asks every second, and an unchanged policy costs one small query."""
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.DEPLOYMENT_READ)
            if known is not None and self.store.policy_version(conn, project_pk, name) == known:
                return None
            row = self._row(conn, project_pk, project, name)
            routes = [self._route(d) for d in self.store.deployments(conn, row.pk)]
        masked = [] if row.log_personal else self._personal_columns(principal, project, routes)
        return Policy(
            project=project, endpoint=row.name, policy_version=row.policy_version,
            production=bool(row.production), sticky_key=row.sticky_key, sampling=row.sampling,
            masked_columns=masked, routes=routes,
        )  # fmt: skip

    def _personal_columns(
        self, principal: Principal, project: str, routes: list[PolicyRoute]
    ) -> list[str]:
        """The columns the data the routes' versions were trained on marks personal (PII scan
        or contract): the gateway masks their values in the prediction log. Read only when the
        policy changed (a gateway's poll of an unchanged one is a 304)."""
        columns: set[str] = set()
        for model, version in sorted({(r.model, r.version) for r in routes}):
            try:
                run_id = self.registry.get_version(principal, project, model, str(version)).run_id
                links = self.data.run_datasets(principal, run_id) if run_id else []
            except (NotFound, PermissionDenied):
                continue  # the run was purged: nothing left to read the columns from
            for link in links:
                if link.role == "output":
                    continue
                ref = f"{link.project}/{link.dataset}@v{link.version}"
                with contextlib.suppress(NotFound, PermissionDenied):
                    columns.update(self.data.personal_columns(principal, ref))
        return sorted(columns)

    @staticmethod
    def _route(d: Any) -> PolicyRoute:
        runtime = Runtime.model_validate_json(d.runtime)
        return PolicyRoute(
            deployment=d.deployment_id, model=d.model, version=d.version, role=Role(d.role),
            weight=d.weight, mirror=d.mirror, flavor=d.flavor, format=d.format,
            trusted=bool(d.pickled) and runtime.trusted,
            signature=orjson.loads(d.signature) if d.signature else None,
            files=orjson.loads(d.files), max_rows=runtime.max_rows,
        )  # fmt: skip

    # -- history and figures ----------------------------------------------------------------

    def history(
        self, principal: Principal, project: str, name: str, *, limit: int = 50,
        cursor: str | None = None,
    ) -> Page[DeploymentEvent]:  # fmt: skip
        """Every traffic change, newest first."""
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        check_limit(limit)
        with self.db.read() as conn:
            held = self._read(conn, principal, project, name)
            rows, next_cursor = self.store.events(conn, held.pk, cursor=cursor, limit=limit)
            return Page(items=[self.store.event_model(r, held.row.name) for r in rows],
                        next_cursor=next_cursor)  # fmt: skip

    def served_at(self, principal: Principal, project: str, name: str,
                  at: str | int) -> ServedAt:  # fmt: skip
        """What served the endpoint at a moment, and the change that put it there."""
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        moment = at if isinstance(at, int) else parse_instant(at)
        with self.db.read() as conn:
            held = self._read(conn, principal, project, name)
            row = self.store.event_at(conn, held.pk, moment)
            event = self.store.event_model(row, held.row.name) if row is not None else None
        return ServedAt(endpoint=name, at=moment, weights=event.after if event else {},
                        event=event)  # fmt: skip

    def windows(
        self, principal: Principal, project: str, name: str, *, since: int | None = None,
        until: int | None = None, bucket_s: int = 10,
    ) -> list[WindowPoint]:  # fmt: skip
        """Each deployment's merged figures per time bucket (default: the last hour)."""
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        until = until if until is not None else now_ms()
        since = since if since is not None else until - 3_600_000
        if bucket_s < 1:
            raise InvalidInput(f"bucket_s is at least 1 second, not {bucket_s}")
        if until <= since:
            raise InvalidInput(f"until ({until}) must come after since ({since})")
        bucket_ms = bucket_s * 1000
        if (until - since) // bucket_ms > MAX_POINTS:
            raise InvalidInput(
                f"{(until - since) // bucket_ms} buckets is more than {MAX_POINTS}: widen "
                "bucket_s or narrow since/until"
            )
        with self.db.read() as conn:
            held = self._read(conn, principal, project, name)
            labels = self.store.deployment_ids(conn, held.pk)
            rows = self.store.windows(conn, held.pk, since=since, until=until)
            grouped: dict[tuple[str, int], list[Any]] = {}
            for row in rows:
                key = (row.deployment_id, row.start - row.start % bucket_ms)
                grouped.setdefault(key, []).append(self.store.window_model(row))
        points = []
        for (deployment, start), windows in sorted(grouped.items(), key=lambda kv: kv[0][1]):
            figures = analysis.merge(windows)
            points.append(WindowPoint(
                deployment=deployment, label=labels.get(deployment, deployment), start=start,
                requests=figures.requests, errors=figures.errors,
                p50_ms=figures.value("p50_ms"), p99_ms=figures.value("p99_ms"),
                latency_counts=list(figures.latency_counts), shadow=figures.shadow,
            ))  # fmt: skip
        return points

    def serving(
        self, principal: Principal, project: str, *, model: str | None = None,
        version: int | None = None,
    ) -> list[Serving]:  # fmt: skip
        """Where model versions serve in the project (every active deployment)."""
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.DEPLOYMENT_READ)
            rows = self.store.serving(conn, project_pk, model, version)
        return [
            Serving(project=project, endpoint=r.endpoint, production=bool(r.production),
                    model=r.model, version=r.version, role=Role(r.role), weight=r.weight)
            for r in rows
        ]  # fmt: skip

    # -- for other domains and gc (inside the caller's transaction, no permission check) -----

    def serving_versions(self, conn: Connection, project_pk: int, *,
                         production: bool = True) -> set[int]:  # fmt: skip
        """The pks of the model versions taking traffic on the project's (production)
        endpoints."""
        return self.store.serving_version_pks(conn, project_pk, production)

    def check_endpoint(self, conn: Connection, project_pk: int, project: str, name: str) -> None:
        """Raise NotFound unless the project has endpoint `name` (the prediction log stores
        batches only for one that exists). No permission check: the caller made its own."""
        self._row(conn, project_pk, project, name)

    def first_reported_in(
        self, conn: Connection, project_pk: int, name: str, since: int
    ) -> int | None:
        """When the traffic gateways reported for endpoint `name` at or after `since` began
        (ms; None: none, or no such endpoint), for a domain reading it in its transaction
        (monitoring: where a new monitor's first window starts). No permission check."""
        row = self.store.find(conn, project_pk, name)
        return None if row is None else self.store.first_window_end(conn, row.pk, since)

    def purge_expired(self, conn: Connection, cutoff: int) -> None:
        """gc: figures gateways reported more than `WINDOW_RETENTION_DAYS` ago, and before
        gc's `cutoff` (ms). The history of traffic changes is kept."""
        horizon = now_ms() - WINDOW_RETENTION_DAYS * 86_400_000
        self.store.purge_windows(conn, min(cutoff, horizon))

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """gc: a purged project's endpoints, history and figures go with it."""
        self.store.purge_project(conn, project_pk)
