"""RegisterService: the project's hypotheses, risk register, retrospectives and action items,
comments with @mentions, and the activity feed (read from the audit log).

Writing needs `plan:write` (everyone but viewers), except that the owner of an action item may
close it; reading needs membership. Owners are members of the project (or yourself). An action
item given to someone, and a mention, notify them (`tandem.governance.notifications`). The SQL is
`RegisterStore`'s, one generic store over the register types."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection

from tandem.audit.models import Activity
from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.paging import Page
from tandem.core.validation import check_text
from tandem.errors import InvalidInput
from tandem.governance.decisions.models import check_links
from tandem.governance.notifications.service import Notifier, Outbox
from tandem.governance.registers.models import (
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
from tandem.governance.registers.store import (
    ACTIONS,
    COMMENTS,
    HYPOTHESES,
    RETROSPECTIVES,
    RISKS,
    Register,
    RegisterStore,
    entry_columns,
    iso_date,
    json_text,
)
from tandem.identity.service import IdentityService
from tandem.projects.service import ProjectService

E = TypeVar("E", Hypothesis, Risk)
_MENTION = re.compile(r"(?<![\w@])@([a-z0-9][a-z0-9_.\-]{0,63})")


class RegisterService:
    def __init__(
        self,
        db: Any,
        store: RegisterStore,
        projects: ProjectService,
        identity: IdentityService,
        notifier: Notifier,
        auth: Authorizer,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.store = store
        self.projects = projects
        self.identity = identity
        self.notifier = notifier
        self.auth = auth
        self.audit = audit

    def _check_owner(
        self, conn: Connection, principal: Principal, project: str, project_pk: int, owner: str
    ) -> str:
        members = self.identity.member_names_in(conn, project_pk)
        if owner != principal.name and owner not in members:
            raise InvalidInput(f"owner {owner!r} is not a member of {project!r}")
        return owner

    # -- hypotheses and risks: the same life, a body that is theirs -----------------------------

    def add_hypothesis(self, principal: Principal, project: str, data: HypothesisSet) -> Hypothesis:
        """Log a hypothesis (statement, metric, expected effect, owner)."""
        return self._add_entry(principal, project, HYPOTHESES, "hypothesis", "hypotheses", data)

    def update_hypothesis(
        self,
        principal: Principal,
        project: str,
        number: int,
        data: HypothesisSet | HypothesisPatch,
    ) -> Hypothesis:
        """Change a hypothesis: its status (supported, refuted, ...) and the runs and
        evaluations that decided it, usually. A patch changes only the fields it names."""
        return self._update_entry(
            principal, project, HYPOTHESES, "hypothesis", "hypotheses", number, data
        )

    def list_hypotheses(self, principal: Principal, project: str) -> list[Hypothesis]:
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PROJECT_READ)
            return self.store.entries(conn, HYPOTHESES, project, project_pk, order=("-number",))

    def add_risk(self, principal: Principal, project: str, data: RiskSet) -> Risk:
        return self._add_entry(principal, project, RISKS, "risk", "risks", data)

    def update_risk(
        self, principal: Principal, project: str, number: int, data: RiskSet | RiskPatch
    ) -> Risk:
        """Change a risk; a patch changes only the fields it names."""
        return self._update_entry(principal, project, RISKS, "risk", "risks", number, data)

    def list_risks(
        self, principal: Principal, project: str, *, open_only: bool = False
    ) -> list[Risk]:
        """Risks, overdue reviews first, then by number."""
        where = {"status": RiskStatus.OPEN.value} if open_only else None
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PROJECT_READ)
            found = self.store.entries(conn, RISKS, project, project_pk, where=where)
        return sorted(found, key=lambda r: (not r.overdue, r.number))

    def _add_entry(
        self,
        principal: Principal,
        project: str,
        register: Register[E],
        kind: str,
        path: str,
        data: HypothesisSet | RiskSet,
    ) -> E:
        self.auth.require(principal, Action.PLAN_WRITE, project)  # before checking the body
        check_links(data.links)
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PLAN_WRITE)
            self._check_owner(conn, principal, project, project_pk, data.owner)
            now = now_ms()
            number = self.store.add(
                conn, register, project_pk, {
                    **entry_columns(data), "created_at": now, "created_by": principal.name,
                    "updated_at": now, "updated_by": principal.name,
                },
            )  # fmt: skip
            self.audit.record(
                conn, principal, f"{kind}.create", f"{project}/{path}/{number}", project=project
            )
            return self.store.get(conn, register, project, project_pk, number)

    def _update_entry(
        self,
        principal: Principal,
        project: str,
        register: Register[E],
        kind: str,
        path: str,
        number: int,
        data: HypothesisSet | HypothesisPatch | RiskSet | RiskPatch,
    ) -> E:
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PLAN_WRITE)
            before = self.store.get(conn, register, project, project_pk, number)
            data = _patched(data, before)
            check_links(data.links)
            self._check_owner(conn, principal, project, project_pk, data.owner)
            self.store.change(
                conn, register, project_pk, number,
                {**entry_columns(data), "updated_at": now_ms(), "updated_by": principal.name},
            )  # fmt: skip
            self.audit.record(
                conn, principal, f"{kind}.update", f"{project}/{path}/{number}", project=project,
                previous=before.status.value, status=data.status.value,
            )  # fmt: skip
            return self.store.get(conn, register, project, project_pk, number)

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
            project_pk = self.projects.access(conn, principal, project, Action.PLAN_WRITE)
            number = self.store.add(
                conn, RETROSPECTIVES, project_pk, {
                    "title": data.title.strip(), "format": data.format.value,
                    "entries": json_text({s: data.entries.get(s, []) for s in sections}),
                    "links": json_text(sorted(set(data.links))),
                    "created_at": now_ms(), "created_by": principal.name,
                },
            )  # fmt: skip
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
            project_pk = self.projects.access(conn, principal, project, Action.PROJECT_READ)
            found = self.store.entries(
                conn, RETROSPECTIVES, project, project_pk, order=("-number",)
            )
            return [self._with_actions(conn, project_pk, retro) for retro in found]

    def _retro(self, conn: Connection, project: str, project_pk: int, number: int) -> Retrospective:
        retro = self.store.get(conn, RETROSPECTIVES, project, project_pk, number)
        return self._with_actions(conn, project_pk, retro)

    def _with_actions(
        self, conn: Connection, project_pk: int, retro: Retrospective
    ) -> Retrospective:
        """The retrospective with the numbers of the action items it produced."""
        source = {"source": f"retrospectives/{retro.number}"}
        items = self.store.keys(conn, ACTIONS, project_pk, where=source)
        return retro.model_copy(update={"action_items": items})

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
            project_pk = self.projects.access(conn, principal, project, Action.PLAN_WRITE)
            number = self._add_action(conn, outbox, principal, project, project_pk, data, source)
            item = self.store.get(conn, ACTIONS, project, project_pk, number)
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
        number = self.store.add(
            conn, ACTIONS, project_pk, {
                "title": data.title.strip(), "owner": data.owner, "due": iso_date(data.due),
                "status": ActionStatus.OPEN.value, "source": source,
                "kind": data.kind.value if data.kind else None,
                "created_at": now_ms(), "created_by": principal.name,
            },
        )  # fmt: skip
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
            project_pk = self.projects.access(conn, principal, project, Action.PROJECT_READ)
            item = self.store.get(conn, ACTIONS, project, project_pk, number)
            if item.owner != principal.name:
                self.auth.require(principal, Action.PLAN_WRITE, project)
            if item.status is status:
                return item
            done = status is ActionStatus.DONE
            self.store.change(
                conn, ACTIONS, project_pk, number, {
                    "status": status.value,
                    "done_at": now_ms() if done else None,
                    "done_by": principal.name if done else None,
                },
            )  # fmt: skip
            self.audit.record(
                conn,
                principal,
                f"action.{status.value}",
                f"{project}/actions/{number}",
                project=project,
            )
            return self.store.get(conn, ACTIONS, project, project_pk, number)

    def list_actions(
        self,
        principal: Principal,
        project: str,
        *,
        owner: str | None = None,
        open_only: bool = True,
    ) -> list[ActionItem]:
        where: dict[str, Any] = {}
        if owner:
            where["owner"] = owner
        if open_only:
            where["status"] = ActionStatus.OPEN.value
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PROJECT_READ)
            return self.store.entries(conn, ACTIONS, project, project_pk, where=where)

    def my_actions(self, principal: Principal) -> list[ActionItem]:
        """The caller's open action items in every project they may read."""
        self.auth.require(principal, Action.ACCOUNT)
        readable = self.auth.readable_projects(principal)
        with self.db.read() as conn:
            names = self.projects.live_names_in(conn)
            if readable is not None:
                names = {pk: name for pk, name in names.items() if name in readable}
            return self.store.across(
                conn, ACTIONS, names,
                where={"owner": principal.name, "status": ActionStatus.OPEN.value},
                order=("due", "pk"),
            )  # fmt: skip

    # -- comments ---------------------------------------------------------------------------------

    def add_comment(self, principal: Principal, project: str, data: CommentCreate) -> Comment:
        """Comment on any entity; each @member mentioned is notified."""
        self.auth.require(principal, Action.PLAN_WRITE, project)  # before checking the body
        check_links([data.target])
        check_text(data.body, "comment", 20_000)
        outbox = Outbox(principal)
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PLAN_WRITE)
            members = self.identity.member_names_in(conn, project_pk)
            mentioned = sorted(
                {m for m in _MENTION.findall(data.body) if m in members} - {principal.name}
            )
            pk = self.store.add(
                conn, COMMENTS, project_pk, {
                    "target": data.target, "body": data.body, "author": principal.name,
                    "mentions": json_text(mentioned), "created_at": now_ms(),
                },
            )  # fmt: skip
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
            comment = self.store.get(conn, COMMENTS, project, project_pk, pk)
        self.notifier.deliver(outbox)
        return comment

    def list_comments(self, principal: Principal, project: str, target: str) -> list[Comment]:
        """Comments on `target`, oldest first."""
        self.auth.require(principal, Action.PROJECT_READ, project)
        check_links([target])
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.PROJECT_READ)
            return self.store.entries(
                conn, COMMENTS, project, project_pk, where={"target": target}, order=("pk",)
            )

    # -- activity -------------------------------------------------------------------------------

    def activity(
        self, principal: Principal, project: str, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Activity]:
        """Who changed what in the project, newest first: the audit log's feed for members."""
        return self.audit.activity(principal, project, cursor=cursor, limit=limit)

    # -- for other domains (inside the caller's transaction) --------------------------------

    def add_actions_in(
        self, conn: Connection, outbox: Outbox, principal: Principal, project: str,
        project_pk: int, items: list[ActionItemCreate], source: str,
    ) -> list[int]:  # fmt: skip
        """Create action items from `source` (e.g. `postmortems/3`) in the caller's
        transaction, each owner notified through `outbox` once it commits; their numbers.
        InvalidInput for an owner who is not a member. No permission check: the caller checked
        its own (a postmortem's authors hold `incident:write`)."""
        check_links([source])
        return [
            self._add_action(conn, outbox, principal, project, project_pk, item, source)
            for item in items
        ]

    def action_pk_in(self, conn: Connection, project_pk: int, number: int) -> int | None:
        """The pk of the project's action item `number`, or None (lineage's read model)."""
        return self.store.pk_of(conn, ACTIONS, project_pk, number)

    def actions_from(
        self, conn: Connection, project: str, project_pk: int, source: str
    ) -> list[ActionItem]:
        """The action items `source` produced, by number. No permission check."""
        return self.store.entries(conn, ACTIONS, project, project_pk, where={"source": source})

    def comments_between(
        self, conn: Connection, project: str, project_pk: int, since: int, until: int
    ) -> list[Comment]:
        """The project's comments written in [since, until], oldest first, for an incident's
        timeline. No permission check: the caller checked its read access."""
        return self.store.comments_between(conn, project, project_pk, since, until)

    # -- for gc (no permission check: gc checked) -----------------------------------------------

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """Delete every register entry of a purged project, in gc's transaction."""
        self.store.purge_project(conn, project_pk)


def _patched(
    data: HypothesisSet | HypothesisPatch | RiskSet | RiskPatch, before: Hypothesis | Risk
) -> HypothesisSet | RiskSet:
    """`data`, or the patch `data` applied to the stored entry `before`."""
    if isinstance(data, HypothesisPatch) and isinstance(before, Hypothesis):
        return data.apply(before)
    if isinstance(data, RiskPatch) and isinstance(before, Risk):
        return data.apply(before)
    assert isinstance(data, HypothesisSet | RiskSet), "a patch of another register"
    return data


class ActionNodes:
    """Action items on the lineage graph (wired by the container): found by number, labelled
    by pk. No permission check: lineage checked."""

    def __init__(self, service: RegisterService) -> None:
        self.service = service

    def action_pk_in(self, conn: Connection, project_pk: int, number: int) -> int | None:
        return self.service.action_pk_in(conn, project_pk, number)

    def lineage_labels(
        self, conn: Connection, pks: Sequence[int]
    ) -> dict[int, tuple[int, str, str, str | None]]:
        return {
            r.pk: (r.project_pk, f"actions/{r.number}", f"A{r.number} {r.title}", r.status)
            for r in self.service.store.rows_by_pk(conn, ACTIONS, pks)
        }
