"""Playbooks: the project's runbook for each kind of incident, kept in project.yaml
(`playbooks:`, through `PlaybookSection`) or set from a Markdown file with checkboxes."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection

from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms
from tandem.core.validation import check_text
from tandem.errors import InvalidInput, NotFound
from tandem.governance.plan.service import ChangeAction, PlanChange
from tandem.incidents.models import Playbook, PlaybookSet, PlaybookStep
from tandem.incidents.service.base import READ, WRITE, IncidentCore, json_text

_CHECKBOX = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\[( |x|X)\]\s+(.+?)\s*$")
_ROLE = re.compile(r"^\(([a-z][a-z0-9-]{0,40})\)\s+(.+)$")
_TITLE = re.compile(r"^\s*#\s+(.+?)\s*$")
MAX_MARKDOWN = 200_000


def parse_markdown(kind: str, text: str) -> PlaybookSet:
    """A playbook from Markdown: the first `# heading` is its title, each checkbox line
    (`- [ ] Roll back the endpoint`) a step, `(role)` in front naming who does it
    (`- [ ] (commander) Page the data owner`). Other lines are left out.

    Raises:
        InvalidInput: no checkbox line, or a step too long.
    """
    check_text(text, "playbook", MAX_MARKDOWN)
    title = ""
    steps = []
    for line in text.splitlines():
        if not title and (heading := _TITLE.match(line)):
            title = heading.group(1)[:300]
            continue
        found = _CHECKBOX.match(line)
        if found is None:
            continue
        body = found.group(2)
        role = None
        if with_role := _ROLE.match(body):
            role, body = with_role.group(1), with_role.group(2)
        steps.append({"text": body, "role": role})
    if not steps:
        raise InvalidInput(
            "the playbook has no steps: write each as a Markdown checkbox, e.g. "
            "`- [ ] Roll back the endpoint`"
        )
    return _checked({"kind": kind, "title": title, "steps": steps, "source": "markdown"})


def to_markdown(playbook: PlaybookSet) -> str:
    """A playbook written back as Markdown `parse_markdown` reads the same: its title as a
    `# heading`, a checkbox line per step with `(role)` in front when it has one."""
    lines = [f"# {playbook.title}", ""] if playbook.title else []
    lines += [f"- [ ] ({s.role}) {s.text}" if s.role else f"- [ ] {s.text}" for s in playbook.steps]
    return "\n".join(lines) + "\n"


def _checked(value: dict[str, Any], where: str = "playbook") -> PlaybookSet:
    try:
        return PlaybookSet.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        at = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{where}: {at}: {first['msg']}") from None


class PlaybookOps(IncidentCore):
    def set_playbook(self, principal: Principal, project: str, data: PlaybookSet) -> Playbook:
        """Set the project's playbook for `data.kind` (replacing any before it)."""
        self.auth.require(principal, WRITE, project)
        data = _checked(data.model_dump())  # a copy with a kind from the path is unchecked
        for step in data.steps:
            check_text(step.text, "step", 2_000)
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, WRITE)
            self._put(conn, principal, project, project_pk, data)
            found = self.store.playbook(conn, project_pk, project, data.kind)
            assert found is not None
            return found

    def set_playbook_markdown(
        self, principal: Principal, project: str, kind: str, text: str
    ) -> Playbook:
        """`tandem incidents playbook set KIND FILE.md`: see `parse_markdown`."""
        self.auth.require(principal, WRITE, project)
        return self.set_playbook(principal, project, parse_markdown(kind, text))

    def preview_playbook_markdown(
        self, principal: Principal, project: str, kind: str, text: str
    ) -> PlaybookSet:
        """The steps `set_playbook_markdown` would save, checked the same way, saving nothing
        (the web form's preview)."""
        self.auth.require(principal, WRITE, project)
        with self.db.read() as conn:
            self.projects.access(conn, principal, project, WRITE)
        data = parse_markdown(kind, text)
        for step in data.steps:
            check_text(step.text, "step", 2_000)
        return data

    def _put(
        self, conn: Connection, principal: Principal, project: str, project_pk: int,
        data: PlaybookSet,
    ) -> None:  # fmt: skip
        self.store.put_playbook(
            conn, project_pk, {
                "kind": data.kind, "title": data.title, "source": data.source,
                "steps": json_text([s.model_dump() for s in data.steps]),
                "updated_at": now_ms(), "updated_by": principal.name,
            },
        )  # fmt: skip
        self.audit.record(
            conn, principal, "playbook.set", f"{project}/playbooks/{data.kind}", project=project,
            steps=len(data.steps), source=data.source,
        )  # fmt: skip

    def list_playbooks(self, principal: Principal, project: str) -> list[Playbook]:
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, READ)
            return self.store.playbooks(conn, project_pk, project)

    def get_playbook(self, principal: Principal, project: str, kind: str) -> Playbook:
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, READ)
            found = self.store.playbook(conn, project_pk, project, kind)
        if found is None:
            raise NotFound(f"project {project!r} has no playbook {kind!r}")
        return found

    def delete_playbook(self, principal: Principal, project: str, kind: str) -> None:
        self.auth.require(principal, WRITE, project)
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, WRITE)
            if not self.store.delete_playbook(conn, project_pk, kind):
                raise NotFound(f"project {project!r} has no playbook {kind!r}")
            self.audit.record(
                conn, principal, "playbook.delete", f"{project}/playbooks/{kind}", project=project
            )


class PlaybookSection:
    """`playbooks:` in project.yaml, for the plan (its `PlanSection`): kind → title and steps,
    each step a line of text or `{text, role}`. The section is the whole truth: a playbook
    missing from it is deleted."""

    def __init__(self, ops: PlaybookOps) -> None:
        self.ops = ops

    def check_section(self, principal: Any, project: str, items: Any) -> dict[str, PlaybookSet]:
        if not isinstance(items, dict):
            raise InvalidInput("playbooks: must map each kind of incident to its steps")
        wanted = {}
        for kind, body in items.items():
            if isinstance(body, list):
                body = {"steps": body}
            if not isinstance(body, dict):
                raise InvalidInput(f"playbooks.{kind}: give a title and steps")
            steps = [{"text": s} if isinstance(s, str) else s for s in body.get("steps") or []]
            wanted[str(kind)] = _checked(
                {**body, "kind": str(kind), "steps": steps, "source": "project.yaml"},
                f"playbooks.{kind}",
            )
        return wanted

    def section_changes(
        self, conn: Any, project_pk: int, project: str, checked: dict[str, PlaybookSet]
    ) -> list[PlanChange]:
        current = {p.kind: p for p in self.ops.store.playbooks(conn, project_pk, project)}
        changes = []
        for kind in sorted(set(current) | set(checked)):
            old, new = current.get(kind), checked.get(kind)
            old_line = _line(old) if old is not None else None
            new_line = _line(new) if new is not None else None
            if old_line == new_line:
                continue
            action = (
                ChangeAction.CREATE if old is None
                else ChangeAction.DELETE if new is None
                else ChangeAction.UPDATE
            )  # fmt: skip
            changes.append(
                PlanChange(
                    section="playbooks", action=action, key=kind, before=old_line, after=new_line
                )
            )
        return changes

    def write_section(
        self, conn: Any, principal: Any, project: str, project_pk: int,
        checked: dict[str, PlaybookSet],
    ) -> None:  # fmt: skip
        self.ops.auth.require(principal, Action.INCIDENT_WRITE, project)
        for playbook in self.ops.store.playbooks(conn, project_pk, project):
            if playbook.kind not in checked:
                self.ops.store.delete_playbook(conn, project_pk, playbook.kind)
                self.ops.audit.record(
                    conn, principal, "playbook.delete", f"{project}/playbooks/{playbook.kind}",
                    project=project,
                )  # fmt: skip
        for kind, data in checked.items():
            current = self.ops.store.playbook(conn, project_pk, project, kind)
            if current is None or _line(current) != _line(data):
                self.ops._put(conn, principal, project, project_pk, data)

    def export_section(self, conn: Any, project_pk: int, project: str) -> Any | None:
        found = self.ops.store.playbooks(conn, project_pk, project)
        if not found:
            return None
        return {
            p.kind: {
                "title": p.title,
                "steps": [s.text if s.role is None else s.model_dump() for s in p.steps],
            }
            for p in found
        }


def _line(playbook: PlaybookSet) -> str:
    steps = "; ".join(f"({s.role}) {s.text}" if s.role else s.text for s in playbook.steps)
    return f"{playbook.title or playbook.kind}: {steps}"


__all__ = ["PlaybookOps", "PlaybookSection", "PlaybookStep", "parse_markdown", "to_markdown"]
