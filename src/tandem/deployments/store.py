"""SQL for deployments: the only module that reads or writes the deployments tables. Methods take
the caller's connection, so a service call is one transaction. No rules here."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tandem.core.paging import decode_cursor, encode_cursor
from tandem.deployments.models import (
    Analysis,
    Deployment,
    DeploymentEvent,
    Endpoint,
    EventKind,
    Role,
    Rollout,
    RolloutStatus,
    Runtime,
    Strategy,
    WindowStats,
)
from tandem.deployments.tables import (
    deployment_events,
    deployment_windows,
    endpoint_deployments,
    endpoint_rollouts,
    endpoints,
)
from tandem.errors import InvalidInput


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class DeploymentStore:
    # -- endpoints --------------------------------------------------------------------------

    def find(self, conn: Connection, project_pk: int, name: str, *, lock: bool = False) -> Any:
        """The endpoint's row; `lock`: held until the transaction ends (PostgreSQL; SQLite's
        writers are serialised already), so two traffic changes queue instead of racing."""
        stmt = select(endpoints).where(
            endpoints.c.project_pk == project_pk, endpoints.c.name == name
        )
        if lock:
            stmt = stmt.with_for_update()
        return conn.execute(stmt).first()

    def policy_version(self, conn: Connection, project_pk: int, name: str) -> int | None:
        return conn.execute(
            select(endpoints.c.policy_version).where(
                endpoints.c.project_pk == project_pk, endpoints.c.name == name
            )
        ).scalar()

    def names(self, conn: Connection, project_pk: int) -> builtins.list[Any]:
        return builtins.list(
            conn.execute(
                select(endpoints)
                .where(endpoints.c.project_pk == project_pk)
                .order_by(endpoints.c.name)
            )
        )

    def create(self, conn: Connection, **values: Any) -> int:
        result = conn.execute(insert(endpoints).values(**values))
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def update(self, conn: Connection, endpoint_pk: int, **values: Any) -> None:
        conn.execute(update(endpoints).where(endpoints.c.pk == endpoint_pk).values(**values))

    def delete(self, conn: Connection, endpoint_pk: int) -> None:
        for table in (deployment_windows, deployment_events, endpoint_rollouts,
                      endpoint_deployments):  # fmt: skip
            conn.execute(delete(table).where(table.c.endpoint_pk == endpoint_pk))
        conn.execute(delete(endpoints).where(endpoints.c.pk == endpoint_pk))

    def endpoint(self, conn: Connection, row: Any, project: str) -> Endpoint:
        deployments = self.deployments(conn, row.pk)
        rollout = self.last_rollout(conn, row.pk)
        target = self.deployment(conn, row.rollback_target) if row.rollback_target else None
        return Endpoint(
            project=project,
            name=row.name,
            production=bool(row.production),
            description=row.description,
            sticky_key=row.sticky_key,
            sampling=row.sampling,
            log_personal=bool(row.log_personal),
            policy_version=row.policy_version,
            deployments=[self.deployment_model(d) for d in deployments],
            rollout=self.rollout_model(rollout) if rollout is not None else None,
            rollback_target=self.deployment_model(target) if target is not None else None,
            warm_until=row.warm_until,
            created_at=row.created_at,
            created_by=row.created_by,
            updated_at=row.updated_at,
        )

    # -- lineage's read model ---------------------------------------------------------------

    def deployment_pk(self, conn: Connection, project_pk: int, deployment_id: str) -> int | None:
        found = conn.execute(
            select(endpoint_deployments.c.pk)
            .join(endpoints, endpoints.c.pk == endpoint_deployments.c.endpoint_pk)
            .where(
                endpoints.c.project_pk == project_pk,
                endpoint_deployments.c.deployment_id == deployment_id,
            )
        ).scalar()
        return None if found is None else int(found)

    def endpoints_by_pk(self, conn: Connection, pks: Sequence[int]) -> builtins.list[Any]:
        return builtins.list(conn.execute(select(endpoints).where(endpoints.c.pk.in_(pks))))

    def deployments_by_pk(self, conn: Connection, pks: Sequence[int]) -> builtins.list[Any]:
        """The deployments `pks` with their endpoint's name and project pk."""
        return builtins.list(
            conn.execute(
                select(
                    endpoint_deployments,
                    endpoints.c.name.label("endpoint"),
                    endpoints.c.project_pk,
                )
                .join(endpoints, endpoints.c.pk == endpoint_deployments.c.endpoint_pk)
                .where(endpoint_deployments.c.pk.in_(pks))
            )
        )

    def deployment_rows(self, conn: Connection, endpoint_pk: int) -> builtins.list[Any]:
        """Every deployment ever made on the endpoint, oldest first."""
        return builtins.list(
            conn.execute(
                select(endpoint_deployments)
                .where(endpoint_deployments.c.endpoint_pk == endpoint_pk)
                .order_by(endpoint_deployments.c.pk)
            )
        )

    # -- deployments ------------------------------------------------------------------------

    def deployments(self, conn: Connection, endpoint_pk: int) -> builtins.list[Any]:
        """The active deployments (the policy), heaviest first."""
        return builtins.list(
            conn.execute(
                select(endpoint_deployments)
                .where(
                    endpoint_deployments.c.endpoint_pk == endpoint_pk,
                    endpoint_deployments.c.active.is_(True),
                )
                .order_by(endpoint_deployments.c.weight.desc(), endpoint_deployments.c.pk)
            )
        )

    def deployment(self, conn: Connection, deployment_id: str) -> Any:
        return conn.execute(
            select(endpoint_deployments).where(
                endpoint_deployments.c.deployment_id == deployment_id
            )
        ).first()

    def deployment_ids(self, conn: Connection, endpoint_pk: int) -> dict[str, str]:
        """Every deployment ever made on the endpoint: id -> `model@version`."""
        rows = conn.execute(
            select(
                endpoint_deployments.c.deployment_id,
                endpoint_deployments.c.model,
                endpoint_deployments.c.version,
            ).where(endpoint_deployments.c.endpoint_pk == endpoint_pk)
        )
        return {r.deployment_id: f"{r.model}@{r.version}" for r in rows}

    def insert_deployment(self, conn: Connection, **values: Any) -> None:
        conn.execute(insert(endpoint_deployments).values(**values))

    def set_traffic(
        self, conn: Connection, deployment_id: str, *, role: Role, weight: float,
        mirror: float = 0.0, active: bool = True,
    ) -> None:  # fmt: skip
        conn.execute(
            update(endpoint_deployments)
            .where(endpoint_deployments.c.deployment_id == deployment_id)
            .values(role=role.value, weight=weight, mirror=mirror, active=active)
        )

    def remove(self, conn: Connection, deployment_id: str) -> None:
        """Out of the policy (the row stays: history and figures name it)."""
        conn.execute(
            update(endpoint_deployments)
            .where(endpoint_deployments.c.deployment_id == deployment_id)
            .values(active=False, weight=0.0, mirror=0.0)
        )

    @staticmethod
    def deployment_model(row: Any) -> Deployment:
        return Deployment(
            id=row.deployment_id,
            model=row.model,
            version=row.version,
            role=Role(row.role),
            weight=row.weight,
            runtime=Runtime.model_validate_json(row.runtime),
            created_at=row.created_at,
            created_by=row.created_by,
        )

    def serving(
        self, conn: Connection, project_pk: int, model: str | None, version: int | None
    ) -> builtins.list[Any]:
        """Active deployments of the project's endpoints, with their endpoint's name."""
        stmt = (
            select(endpoint_deployments, endpoints.c.name.label("endpoint"),
                   endpoints.c.production)
            .join(endpoints, endpoints.c.pk == endpoint_deployments.c.endpoint_pk)
            .where(endpoints.c.project_pk == project_pk,
                   endpoint_deployments.c.active.is_(True))
        )  # fmt: skip
        if model is not None:
            stmt = stmt.where(endpoint_deployments.c.model == model)
        if version is not None:
            stmt = stmt.where(endpoint_deployments.c.version == version)
        order = (endpoints.c.name, endpoint_deployments.c.weight.desc())
        return builtins.list(conn.execute(stmt.order_by(*order)))

    def serving_version_pks(self, conn: Connection, project_pk: int, production: bool) -> set[int]:
        """The model versions that serve (weight > 0) an endpoint of the project."""
        rows = conn.execute(
            select(endpoint_deployments.c.version_pk)
            .join(endpoints, endpoints.c.pk == endpoint_deployments.c.endpoint_pk)
            .where(endpoints.c.project_pk == project_pk,
                   endpoints.c.production.is_(production),
                   endpoint_deployments.c.active.is_(True),
                   endpoint_deployments.c.weight > 0)
        )  # fmt: skip
        return {int(pk) for pk in rows.scalars()}

    # -- rollouts ---------------------------------------------------------------------------

    def last_rollout(self, conn: Connection, endpoint_pk: int) -> Any:
        return conn.execute(
            select(endpoint_rollouts)
            .where(endpoint_rollouts.c.endpoint_pk == endpoint_pk)
            .order_by(endpoint_rollouts.c.pk.desc())
            .limit(1)
        ).first()

    def insert_rollout(self, conn: Connection, rollout: Rollout, endpoint_pk: int) -> None:
        conn.execute(
            insert(endpoint_rollouts).values(
                rollout_id=rollout.id,
                endpoint_pk=endpoint_pk,
                strategy=rollout.strategy.value,
                candidate=rollout.candidate,
                baseline=rollout.baseline,
                steps=_json(rollout.steps),
                step=rollout.step,
                interval_s=rollout.interval_s,
                guards=_json(rollout.guards),
                min_samples=rollout.min_samples,
                mirror=rollout.mirror,
                warm_s=rollout.warm_s,
                status=rollout.status.value,
                reason=rollout.reason,
                step_started_at=rollout.step_started_at,
                started_at=rollout.started_at,
                started_by=rollout.started_by,
                finished_at=rollout.finished_at,
                last_analysis=None,
            )
        )

    def update_rollout(self, conn: Connection, rollout_id: str, **values: Any) -> None:
        if "status" in values and isinstance(values["status"], RolloutStatus):
            values["status"] = values["status"].value
        if "last_analysis" in values and isinstance(values["last_analysis"], Analysis):
            values["last_analysis"] = values["last_analysis"].model_dump_json()
        conn.execute(
            update(endpoint_rollouts)
            .where(endpoint_rollouts.c.rollout_id == rollout_id)
            .values(**values)
        )

    @staticmethod
    def rollout_model(row: Any) -> Rollout:
        return Rollout(
            id=row.rollout_id,
            strategy=Strategy(row.strategy),
            candidate=row.candidate,
            baseline=row.baseline,
            steps=orjson.loads(row.steps),
            step=row.step,
            interval_s=row.interval_s,
            guards=orjson.loads(row.guards),
            min_samples=row.min_samples,
            mirror=row.mirror,
            warm_s=row.warm_s,
            status=RolloutStatus(row.status),
            reason=row.reason,
            step_started_at=row.step_started_at,
            started_at=row.started_at,
            started_by=row.started_by,
            finished_at=row.finished_at,
            last_analysis=(
                Analysis.model_validate_json(row.last_analysis) if row.last_analysis else None
            ),
        )

    # -- events -----------------------------------------------------------------------------

    def append_event(self, conn: Connection, endpoint_pk: int, event: DeploymentEvent) -> int:
        """Append `event` as the endpoint's next (its `seq` is given here); returns the seq.
        The caller holds the endpoint's row, so numbers never collide."""
        seq = (
            int(
                conn.execute(
                    select(func.coalesce(func.max(deployment_events.c.seq), 0)).where(
                        deployment_events.c.endpoint_pk == endpoint_pk
                    )
                ).scalar_one()
            )
            + 1
        )
        conn.execute(
            insert(deployment_events).values(
                endpoint_pk=endpoint_pk,
                seq=seq,
                kind=event.kind.value,
                at=event.at,
                actor=event.actor,
                actor_kind=event.actor_kind,
                before=_json(event.before),
                after=_json(event.after),
                policy_version=event.policy_version,
                evidence=_json(event.evidence),
                message=event.message,
            )
        )
        return seq

    def last_event(self, conn: Connection, endpoint_pk: int) -> Any:
        return conn.execute(
            select(deployment_events)
            .where(deployment_events.c.endpoint_pk == endpoint_pk)
            .order_by(deployment_events.c.seq.desc())
            .limit(1)
        ).first()

    def events(
        self, conn: Connection, endpoint_pk: int, *, cursor: str | None, limit: int
    ) -> tuple[builtins.list[Any], str | None]:
        """Newest first."""
        stmt = select(deployment_events).where(deployment_events.c.endpoint_pk == endpoint_pk)
        if cursor:
            position = decode_cursor(cursor)
            if len(position) != 1 or not isinstance(position[0], int):
                raise InvalidInput("invalid cursor")
            stmt = stmt.where(deployment_events.c.seq < position[0])
        rows = conn.execute(stmt.order_by(deployment_events.c.seq.desc()).limit(limit + 1)).all()
        next_cursor = encode_cursor([rows[limit - 1].seq]) if len(rows) > limit else None
        return builtins.list(rows[:limit]), next_cursor

    def event_at(self, conn: Connection, endpoint_pk: int, at: int) -> Any:
        """The last event at or before `at` (ms), or None."""
        return conn.execute(
            select(deployment_events)
            .where(deployment_events.c.endpoint_pk == endpoint_pk, deployment_events.c.at <= at)
            .order_by(deployment_events.c.seq.desc())
            .limit(1)
        ).first()

    @staticmethod
    def event_model(row: Any, endpoint: str) -> DeploymentEvent:
        return DeploymentEvent(
            seq=row.seq,
            endpoint=endpoint,
            kind=EventKind(row.kind),
            at=row.at,
            actor=row.actor,
            actor_kind=row.actor_kind,
            before=orjson.loads(row.before),
            after=orjson.loads(row.after),
            policy_version=row.policy_version,
            evidence=orjson.loads(row.evidence),
            message=row.message,
        )

    # -- windows ----------------------------------------------------------------------------

    def insert_windows(
        self, conn: Connection, endpoint_pk: int, gateway: str, windows: Iterable[WindowStats]
    ) -> int:
        """Store the windows; one the gateway sent before (a retried report) is kept as it
        was. Returns how many were new."""
        rows = [
            {
                "endpoint_pk": endpoint_pk,
                "deployment_id": w.deployment,
                "gateway": gateway,
                "start": w.start,
                "end": w.end,
                "requests": w.requests,
                "errors": w.errors,
                "latency_counts": _json(w.latency_counts),
                "shadow": w.shadow.model_dump_json() if w.shadow is not None else None,
                "dropped_logs": w.dropped_logs,
            }
            for w in windows
        ]
        if not rows:
            return 0
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(deployment_windows).on_conflict_do_nothing(
            index_elements=["endpoint_pk", "deployment_id", "gateway", "start"]
        )
        result = conn.execute(stmt, rows)
        return max(int(result.rowcount), 0)

    def windows(
        self, conn: Connection, endpoint_pk: int, *, deployments: Sequence[str] | None = None,
        since: int | None = None, until: int | None = None, starting: int | None = None,
    ) -> builtins.list[Any]:  # fmt: skip
        """Windows that end after `since`, start before `until` and start at or after
        `starting` (a deployment's, along its index), oldest first."""
        stmt = select(deployment_windows).where(deployment_windows.c.endpoint_pk == endpoint_pk)
        if starting is not None:
            stmt = stmt.where(deployment_windows.c.start >= starting)
        if deployments is not None:
            stmt = stmt.where(deployment_windows.c.deployment_id.in_(builtins.list(deployments)))
        if since is not None:
            stmt = stmt.where(deployment_windows.c.end > since)
        if until is not None:
            stmt = stmt.where(deployment_windows.c.start < until)
        return builtins.list(conn.execute(stmt.order_by(deployment_windows.c.start)))

    def first_window_end(self, conn: Connection, endpoint_pk: int, since: int) -> int | None:
        """When the first figures a gateway reported that end after `since` began (None:
        none), `since` at the earliest."""
        first = conn.execute(
            select(func.min(deployment_windows.c.start)).where(
                deployment_windows.c.endpoint_pk == endpoint_pk,
                deployment_windows.c.end > since,
            )
        ).scalar()
        return None if first is None else max(int(first), since)

    @staticmethod
    def window_model(row: Any) -> WindowStats:
        from tandem.deployments.models import ShadowFigures

        return WindowStats(
            deployment=row.deployment_id,
            start=row.start,
            end=row.end,
            requests=row.requests,
            errors=row.errors,
            latency_counts=orjson.loads(row.latency_counts),
            shadow=ShadowFigures.model_validate_json(row.shadow) if row.shadow else None,
            dropped_logs=row.dropped_logs,
        )

    def requests_since(self, conn: Connection, endpoint_pk: int, since: int) -> int:
        return int(
            conn.execute(
                select(func.coalesce(func.sum(deployment_windows.c.requests), 0)).where(
                    and_(
                        deployment_windows.c.endpoint_pk == endpoint_pk,
                        deployment_windows.c.end > since,
                    )
                )
            ).scalar_one()
        )

    # -- purging (gc) -----------------------------------------------------------------------

    def purge_windows(self, conn: Connection, ended_before: int) -> None:
        conn.execute(delete(deployment_windows).where(deployment_windows.c.end < ended_before))

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        pks = builtins.list(
            conn.execute(
                select(endpoints.c.pk).where(endpoints.c.project_pk == project_pk)
            ).scalars()
        )
        for pk in pks:
            self.delete(conn, pk)
