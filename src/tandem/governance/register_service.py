"""RegisterService: the project's hypotheses, risk register, retrospectives and action items,
comments with @mentions, and the activity feed.

Writing needs `plan:write` (everyone but viewers), except that the owner of an action item may
close it; reading needs membership. Owners are members of the project (or yourself). An action
item given to someone, and a mention, notify them (`tandem.governance.notify`)."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Table, func, insert, select, update

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.validation import check_text
from tandem.errors import InvalidInput, NotFound
from tandem.governance.gates import check_links
from tandem.governance.notify import Notifier, Outbox
from tandem.governance.registers import (
    RETRO_SECTIONS,
    ActionItem,
    ActionItemCreate,
    ActionStatus,
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
    RiskStatus,
)
from tandem.governance.tables import (
    action_items,
    comments,
    hypotheses,
    retrospectives,
    risks,
)
from tandem.identity.service import IdentityService
from tandem.projects.store import ProjectStore
from tandem.projects.tables import projects

E = TypeVar("E", Hypothesis, Risk)
_MENTION = re.compile(r"(?<![\w@])@([a-z0-9][a-z0-9_.\-]{0,63})")


class RegisterService:
    def __init__(
        self,
        db: Any,
        project_store: ProjectStore,
        identity_store: IdentityService,
        notifier: Notifier,
        auth: Authorizer,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.project_store = project_store
        self.identity_store = identity_store
        self.notifier = notifier
        self.auth = auth
        self.audit = audit

    def _project_pk(
        self, conn: Connection, principal: Principal, project: str, action: Action
    ) -> int:
        self.auth.require(principal, action, project)
        return self.project_store.get_pk(conn, project)

    def _check_owner(
        self, conn: Connection, principal: Principal, project: str, project_pk: int, owner: str
    ) -> str:
        members = {m.user for m in self.identity_store.members_in(conn, project_pk)}
        if owner != principal.name and owner not in members:
            raise InvalidInput(f"owner {owner!r} is not a member of {project!r}")
        return owner

    # -- hypotheses -------------------------------------------------------------------------

    def add_hypothesis(self, principal: Principal, project: str, data: HypothesisSet) -> Hypothesis:
        """Log a hypothesis (statement, metric, expected effect, owner)."""
        self.auth.require(principal, Action.PLAN_WRITE, project)  # before checking the body
        check_links(data.links)
        with self.db.write() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.PLAN_WRITE)
            self._check_owner(conn, principal, project, project_pk, data.owner)
            number = _next(conn, hypotheses, project_pk)
            now = now_ms()
            conn.execute(
                insert(hypotheses).values(
                    project_pk=project_pk,
                    number=number,
                    body=_json(data),
                    status=data.status.value,
                    owner=data.owner,
                    created_at=now,
                    created_by=principal.name,
                    updated_at=now,
                    updated_by=principal.name,
                )
            )
            self.audit.record(
                conn,
                principal,
                "hypothesis.create",
                f"{project}/hypotheses/{number}",
                project=project,
            )
            return self._hypothesis(conn, project, project_pk, number)

    def update_hypothesis(
        self,
        principal: Principal,
        project: str,
        number: int,
        data: HypothesisSet | HypothesisPatch,
    ) -> Hypothesis:
        """Change a hypothesis: its status (supported, refuted, ...) and the runs and
        evaluations that decided it, usually. A patch changes only the fields it names."""
        with self.db.write() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.PLAN_WRITE)
            before = self._hypothesis(conn, project, project_pk, number)
            if isinstance(data, HypothesisPatch):
                data = data.apply(before)
            check_links(data.links)
            self._check_owner(conn, principal, project, project_pk, data.owner)
            conn.execute(
                update(hypotheses)
                .where(hypotheses.c.project_pk == project_pk, hypotheses.c.number == number)
                .values(
                    body=_json(data),
                    status=data.status.value,
                    owner=data.owner,
                    updated_at=now_ms(),
                    updated_by=principal.name,
                )
            )
            self.audit.record(
                conn,
                principal,
                "hypothesis.update",
                f"{project}/hypotheses/{number}",
                project=project,
                previous=before.status.value,
                status=data.status.value,
            )
            return self._hypothesis(conn, project, project_pk, number)

    def list_hypotheses(self, principal: Principal, project: str) -> list[Hypothesis]:
        with self.db.read() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.PROJECT_READ)
            rows = conn.execute(
                select(hypotheses)
                .where(hypotheses.c.project_pk == project_pk)
                .order_by(hypotheses.c.number.desc())
            ).all()
        return [_hypothesis_model(r, project) for r in rows]

    def _hypothesis(
        self, conn: Connection, project: str, project_pk: int, number: int
    ) -> Hypothesis:
        row = _row(
            conn, hypotheses, project_pk, number, f"project {project!r} has no hypothesis {number}"
        )
        return _hypothesis_model(row, project)

    # -- risks ----------------------------------------------------------------------------------

    def add_risk(self, principal: Principal, project: str, data: RiskSet) -> Risk:
        self.auth.require(principal, Action.PLAN_WRITE, project)  # before checking the body
        check_links(data.links)
        with self.db.write() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.PLAN_WRITE)
            self._check_owner(conn, principal, project, project_pk, data.owner)
            number = _next(conn, risks, project_pk)
            now = now_ms()
            conn.execute(
                insert(risks).values(
                    project_pk=project_pk,
                    number=number,
                    body=_json(data),
                    status=data.status.value,
                    owner=data.owner,
                    review_date=_date(data.review_date),
                    created_at=now,
                    created_by=principal.name,
                    updated_at=now,
                    updated_by=principal.name,
                )
            )
            self.audit.record(
                conn, principal, "risk.create", f"{project}/risks/{number}", project=project
            )
            return self._risk(conn, project, project_pk, number)

    def update_risk(
        self, principal: Principal, project: str, number: int, data: RiskSet | RiskPatch
    ) -> Risk:
        """Change a risk; a patch changes only the fields it names."""
        with self.db.write() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.PLAN_WRITE)
            before = self._risk(conn, project, project_pk, number)
            if isinstance(data, RiskPatch):
                data = data.apply(before)
            check_links(data.links)
            self._check_owner(conn, principal, project, project_pk, data.owner)
            conn.execute(
                update(risks)
                .where(risks.c.project_pk == project_pk, risks.c.number == number)
                .values(
                    body=_json(data),
                    status=data.status.value,
                    owner=data.owner,
                    review_date=_date(data.review_date),
                    updated_at=now_ms(),
                    updated_by=principal.name,
                )
            )
            self.audit.record(
                conn,
                principal,
                "risk.update",
                f"{project}/risks/{number}",
                project=project,
                previous=before.status.value,
                status=data.status.value,
            )
            return self._risk(conn, project, project_pk, number)

    def list_risks(
        self, principal: Principal, project: str, *, open_only: bool = False
    ) -> list[Risk]:
        """Risks, overdue reviews first, then by number."""
        with self.db.read() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.PROJECT_READ)
            query = select(risks).where(risks.c.project_pk == project_pk)
            if open_only:
                query = query.where(risks.c.status == RiskStatus.OPEN.value)
            rows = conn.execute(query.order_by(risks.c.number)).all()
        found = [_risk_model(r, project) for r in rows]
        return sorted(found, key=lambda r: (not r.overdue, r.number))

    def _risk(self, conn: Connection, project: str, project_pk: int, number: int) -> Risk:
        return _risk_model(
            _row(conn, risks, project_pk, number, f"project {project!r} has no risk {number}"),
            project,
        )

    # -- retrospectives and action items ----------------------------------------------------

    def add_retrospective(
        self, principal: Principal, project: str, data: RetroCreate
    ) -> Retrospective:
        """Record a retrospective in its format, and create its action items (each owner is
        notified)."""
        self.auth.require(principal, Action.PLAN_WRITE, project)  # before checking the body
        sections = RETRO_SECTIONS[data.format]
        unknown = sorted(set(data.entries) - set(sections))
        if unknown:
            raise InvalidInput(
                f"a {data.format.value} retrospective has sections {', '.join(sections)}, "
                f"not {', '.join(unknown)}"
            )
        for notes in data.entries.values():
            for note in notes:
                check_text(note, "note", 5_000)
        check_links(data.links)
        outbox = Outbox(principal)
        with self.db.write() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.PLAN_WRITE)
            number = _next(conn, retrospectives, project_pk)
            conn.execute(
                insert(retrospectives).values(
                    project_pk=project_pk,
                    number=number,
                    title=data.title.strip(),
                    format=data.format.value,
                    entries=orjson.dumps({s: data.entries.get(s, []) for s in sections}).decode(),
                    links=orjson.dumps(sorted(set(data.links))).decode(),
                    created_at=now_ms(),
                    created_by=principal.name,
                )
            )
            for item in data.action_items:
                self._add_action(
                    conn, outbox, principal, project, project_pk, item, f"retrospectives/{number}"
                )
            self.audit.record(
                conn,
                principal,
                "retrospective.create",
                f"{project}/retrospectives/{number}",
                project=project,
            )
            retro = self._retro(conn, project, project_pk, number)
        self.notifier.deliver(outbox)
        return retro

    def list_retrospectives(self, principal: Principal, project: str) -> list[Retrospective]:
        with self.db.read() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.PROJECT_READ)
            numbers = (
                conn.execute(
                    select(retrospectives.c.number)
                    .where(retrospectives.c.project_pk == project_pk)
                    .order_by(retrospectives.c.number.desc())
                )
                .scalars()
                .all()
            )
            return [self._retro(conn, project, project_pk, n) for n in numbers]

    def _retro(self, conn: Connection, project: str, project_pk: int, number: int) -> Retrospective:
        row = _row(
            conn,
            retrospectives,
            project_pk,
            number,
            f"project {project!r} has no retrospective {number}",
        )
        items = (
            conn.execute(
                select(action_items.c.number)
                .where(
                    action_items.c.project_pk == project_pk,
                    action_items.c.source == f"retrospectives/{number}",
                )
                .order_by(action_items.c.number)
            )
            .scalars()
            .all()
        )
        return Retrospective(
            project=project,
            number=row.number,
            title=row.title,
            format=row.format,
            entries=orjson.loads(row.entries),
            links=orjson.loads(row.links),
            action_items=list(items),
            created_at=row.created_at,
            created_by=row.created_by,
        )

    def add_action(
        self, principal: Principal, project: str, data: ActionItemCreate, source: str = ""
    ) -> ActionItem:
        """An action item with an owner and a due date; it shows on the owner's page until
        done, and the owner is notified."""
        self.auth.require(principal, Action.PLAN_WRITE, project)  # before checking the body
        if source:
            check_links([source])
        outbox = Outbox(principal)
        with self.db.write() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.PLAN_WRITE)
            number = self._add_action(conn, outbox, principal, project, project_pk, data, source)
            item = self._action(conn, project, project_pk, number)
        self.notifier.deliver(outbox)
        return item

    def _add_action(
        self,
        conn: Connection,
        outbox: Outbox,
        principal: Principal,
        project: str,
        project_pk: int,
        data: ActionItemCreate,
        source: str,
    ) -> int:
        self._check_owner(conn, principal, project, project_pk, data.owner)
        number = _next(conn, action_items, project_pk)
        conn.execute(
            insert(action_items).values(
                project_pk=project_pk,
                number=number,
                title=data.title.strip(),
                owner=data.owner,
                due=_date(data.due),
                status=ActionStatus.OPEN.value,
                source=source,
                created_at=now_ms(),
                created_by=principal.name,
            )
        )
        self.audit.record(
            conn,
            principal,
            "action.create",
            f"{project}/actions/{number}",
            project=project,
            owner=data.owner,
        )
        if data.owner != principal.name:
            due = f", due {data.due.isoformat()}" if data.due else ""
            self.notifier.notify(
                conn,
                outbox,
                project,
                project_pk,
                [data.owner],
                "action-item",
                f"{principal.name} gave you action item A{number} in {project}: {data.title}{due}",
                f"/projects/{project}#actions",
            )
        return number

    def set_action_status(
        self, principal: Principal, project: str, number: int, status: ActionStatus
    ) -> ActionItem:
        """Close (or reopen) an action item: its owner may, and anyone with `plan:write`."""
        with self.db.write() as conn:
            self.auth.require(principal, Action.PROJECT_READ, project)
            project_pk = self.project_store.get_pk(conn, project)
            item = self._action(conn, project, project_pk, number)
            if item.owner != principal.name:
                self.auth.require(principal, Action.PLAN_WRITE, project)
            if item.status is status:
                return item
            done = status is ActionStatus.DONE
            conn.execute(
                update(action_items)
                .where(action_items.c.project_pk == project_pk, action_items.c.number == number)
                .values(
                    status=status.value,
                    done_at=now_ms() if done else None,
                    done_by=principal.name if done else None,
                )
            )
            self.audit.record(
                conn,
                principal,
                f"action.{status.value}",
                f"{project}/actions/{number}",
                project=project,
            )
            return self._action(conn, project, project_pk, number)

    def list_actions(
        self,
        principal: Principal,
        project: str,
        *,
        owner: str | None = None,
        open_only: bool = True,
    ) -> list[ActionItem]:
        with self.db.read() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.PROJECT_READ)
            query = select(action_items).where(action_items.c.project_pk == project_pk)
            if owner:
                query = query.where(action_items.c.owner == owner)
            if open_only:
                query = query.where(action_items.c.status == ActionStatus.OPEN.value)
            rows = conn.execute(query.order_by(action_items.c.number)).all()
        return [_action_model(r, project) for r in rows]

    def my_actions(self, principal: Principal) -> list[ActionItem]:
        """The caller's open action items in every project they may read."""
        self.auth.require(principal, Action.ACCOUNT)
        with self.db.read() as conn:
            rows = conn.execute(
                select(action_items, projects.c.name.label("project"))
                .join(projects, projects.c.pk == action_items.c.project_pk)
                .where(
                    action_items.c.owner == principal.name,
                    action_items.c.status == ActionStatus.OPEN.value,
                    projects.c.deleted_at.is_(None),
                )
                .order_by(action_items.c.due, action_items.c.pk)
            ).all()
        readable = self.auth.readable_projects(principal)
        return [
            _action_model(r, r.project) for r in rows if readable is None or r.project in readable
        ]

    def _action(self, conn: Connection, project: str, project_pk: int, number: int) -> ActionItem:
        return _action_model(
            _row(
                conn,
                action_items,
                project_pk,
                number,
                f"project {project!r} has no action item {number}",
            ),
            project,
        )

    # -- comments ---------------------------------------------------------------------------------

    def add_comment(self, principal: Principal, project: str, data: CommentCreate) -> Comment:
        """Comment on any entity; each @member mentioned is notified."""
        self.auth.require(principal, Action.PLAN_WRITE, project)  # before checking the body
        check_links([data.target])
        check_text(data.body, "comment", 20_000)
        outbox = Outbox(principal)
        with self.db.write() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.PLAN_WRITE)
            members = {m.user for m in self.identity_store.members_in(conn, project_pk)}
            mentioned = sorted(
                {m for m in _MENTION.findall(data.body) if m in members} - {principal.name}
            )
            pk = conn.execute(
                insert(comments).values(
                    project_pk=project_pk,
                    target=data.target,
                    body=data.body,
                    author=principal.name,
                    mentions=orjson.dumps(mentioned).decode(),
                    created_at=now_ms(),
                )
            ).inserted_primary_key
            self.notifier.notify(
                conn,
                outbox,
                project,
                project_pk,
                mentioned,
                "mention",
                f"{principal.name} mentioned you on {data.target}: {data.body[:200]}",
                f"/projects/{project}",
            )
            self.audit.record(
                conn, principal, "comment.create", f"{project}/{data.target}", project=project
            )
            assert pk is not None
            row = conn.execute(select(comments).where(comments.c.pk == pk[0])).one()
        self.notifier.deliver(outbox)
        return _comment_model(row, project)

    def list_comments(self, principal: Principal, project: str, target: str) -> list[Comment]:
        """Comments on `target`, oldest first."""
        self.auth.require(principal, Action.PROJECT_READ, project)
        check_links([target])
        with self.db.read() as conn:
            project_pk = self._project_pk(conn, principal, project, Action.PROJECT_READ)
            rows = conn.execute(
                select(comments)
                .where(comments.c.project_pk == project_pk, comments.c.target == target)
                .order_by(comments.c.pk)
            ).all()
        return [_comment_model(r, project) for r in rows]


def _next(conn: Connection, table: Table, project_pk: int) -> int:
    """The next number in a per-project sequence (the writer holds the write transaction;
    on PostgreSQL, the unique key refuses a concurrent duplicate)."""
    current = conn.execute(
        select(func.coalesce(func.max(table.c.number), 0)).where(table.c.project_pk == project_pk)
    ).scalar_one()
    return int(current) + 1


def _row(conn: Connection, table: Table, project_pk: int, number: int, missing: str) -> Any:
    row = conn.execute(
        select(table).where(table.c.project_pk == project_pk, table.c.number == number)
    ).first()
    if row is None:
        raise NotFound(missing)
    return row


def _json(data: Any) -> str:
    return str(data.model_dump_json())


def _date(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _entry(model: type[E], row: Any, project: str) -> E:
    """A hypothesis or risk from its row: the stored body plus who wrote it and when."""
    return model(
        project=project,
        number=row.number,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        **orjson.loads(row.body),
    )


def _hypothesis_model(row: Any, project: str) -> Hypothesis:
    return _entry(Hypothesis, row, project)


def _risk_model(row: Any, project: str) -> Risk:
    return _entry(Risk, row, project)


def _action_model(row: Any, project: str) -> ActionItem:
    return ActionItem(
        project=project,
        number=row.number,
        title=row.title,
        owner=row.owner,
        due=row.due,
        status=ActionStatus(row.status),
        source=row.source,
        created_at=row.created_at,
        created_by=row.created_by,
        done_at=row.done_at,
        done_by=row.done_by,
    )


def _comment_model(row: Any, project: str) -> Comment:
    return Comment(
        project=project,
        id=row.pk,
        target=row.target,
        body=row.body,
        author=row.author,
        mentions=orjson.loads(row.mentions),
        created_at=row.created_at,
    )
