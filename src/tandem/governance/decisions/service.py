"""DecisionService: decision records (ADR style), the rules about them and who may write them.

Anyone who may read the project reads them; the roles with `plan:write` record them. A record
is proposed, or accepted with its author as approver; an accepted record never changes again,
and is replaced only by a newer one that supersedes it. Gates record a waiver's reason as an
accepted decision through `record`, inside their own transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.validation import check_text
from tandem.errors import Conflict, NotFound
from tandem.governance.decisions.models import (
    DecisionCreate,
    DecisionRecord,
    DecisionStatus,
    check_links,
)
from tandem.governance.decisions.store import DecisionStore
from tandem.projects.service import ProjectService


class DecisionService:
    def __init__(
        self,
        db: Any,
        store: DecisionStore,
        projects: ProjectService,
        auth: Authorizer,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.store = store
        self.projects = projects
        self.auth = auth
        self.audit = audit

    def create_decision(
        self, principal: Principal, project: str, data: DecisionCreate
    ) -> DecisionRecord:
        """Record a decision (proposed, or accepted with you as approver); `supersedes` marks
        an accepted one superseded by this."""
        self.auth.require(principal, Action.PLAN_WRITE, project)
        for name, value in data.model_dump(
            include={"context", "options", "decision", "consequences"}
        ).items():
            check_text(value, name, 50_000)
        check_links(data.links)
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PLAN_WRITE)
            _, number = self.record(conn, principal, project, project_pk, data)
            return self._get(conn, project_pk, project, number)

    def accept_decision(self, principal: Principal, project: str, number: int) -> DecisionRecord:
        """Accept a proposed decision, as its approver; accepted ones never change again."""
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PLAN_WRITE)
            record = self._get(conn, project_pk, project, number)
            if record.status is not DecisionStatus.PROPOSED:
                raise Conflict(f"decision {number} is {record.status.value}: it cannot change")
            self.store.accept(conn, project_pk, number, [principal.name], now_ms())
            self.audit.record(
                conn, principal, "decision.accept", f"{project}/decisions/{number}", project=project
            )
            return self._get(conn, project_pk, project, number)

    def list_decisions(
        self, principal: Principal, project: str, *, q: str | None = None, link: str | None = None
    ) -> list[DecisionRecord]:
        """Decisions, newest first; `q` searches title, context and decision text, `link`
        keeps those linked to one reference."""
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PROJECT_READ)
            found = self.store.search(conn, project_pk, project, q)
        return [d for d in found if link is None or link in d.links]

    def get_decision(self, principal: Principal, project: str, number: int) -> DecisionRecord:
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PROJECT_READ)
            return self._get(conn, project_pk, project, number)

    def _get(self, conn: Connection, project_pk: int, project: str, number: int) -> DecisionRecord:
        record = self.store.get(conn, project_pk, project, number)
        if record is None:
            raise NotFound(f"project {project!r} has no decision {number}")
        return record

    # -- for other domains (inside the caller's transaction) -------------------------------

    def record(
        self,
        conn: Connection,
        principal: Principal,
        project: str,
        project_pk: int,
        data: DecisionCreate,
    ) -> tuple[int, int]:
        """Insert a decision record and supersede the one it replaces, in the caller's
        transaction; its (pk, number). No permission check: the caller checked its own (a
        gate's waiver is recorded by the criterion's owner role)."""
        number = self.store.next_number(conn, project_pk)
        status = DecisionStatus.ACCEPTED if data.accept else DecisionStatus.PROPOSED
        pk = self.store.insert(
            conn,
            project_pk,
            number,
            title=data.title.strip(),
            context=data.context,
            options=data.options,
            decision=data.decision,
            consequences=data.consequences,
            status=status,
            links=check_links(data.links),
            approvers=[principal.name] if data.accept else [],
            by=principal.name,
            now=now_ms(),
        )
        if data.supersedes is not None:
            old = self.store.row(conn, project_pk, data.supersedes)
            if old is None:
                raise NotFound(f"there is no decision {data.supersedes} to supersede")
            if old.status != DecisionStatus.ACCEPTED.value:
                raise Conflict(
                    f"decision {data.supersedes} is {old.status}; "
                    "only an accepted one is superseded"
                )
            self.store.supersede(conn, old.pk, number)
        self.audit.record(
            conn,
            principal,
            "decision.create",
            f"{project}/decisions/{number}",
            project=project,
            status=status.value,
        )
        return pk, number

    def numbers(self, conn: Connection, pks: set[int]) -> dict[int, int]:
        """{pk: number} of the decision records among `pks` (a gate's waivers keep the pk of
        the decision that waived each criterion). No permission check: the caller checked."""
        return self.store.numbers(conn, pks)

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """gc: a purged project's rows go with it, inside gc's transaction (gc checked)."""
        self.store.purge_project(conn, project_pk)
