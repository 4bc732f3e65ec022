"""Blameless postmortems of resolved incidents: the template pre-filled (impact from the
deployments' windows, the timeline), five whys, action items created in the registers with
their kind, and the review: draft → in review → published, by the RACI's Accountable for
incident response once the checklist is confirmed and no member is named in the root causes."""

from __future__ import annotations

import contextlib
import math
import re
from typing import Any

from sqlalchemy import Connection

from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms
from tandem.core.validation import check_text
from tandem.errors import Conflict, InvalidInput, NotFound, PermissionDenied, TandemError
from tandem.governance.notifications.service import Outbox
from tandem.governance.plan.models import RaciLetter
from tandem.governance.registers.models import ActionItemCreate
from tandem.incidents.models import (
    REVIEW_CHECKLIST,
    BlameFlag,
    Impact,
    IncidentStatus,
    Postmortem,
    PostmortemAction,
    PostmortemEdit,
    PostmortemSections,
    PostmortemStatus,
)
from tandem.incidents.service.base import (
    READ,
    RESPONSE_ACTIVITY,
    WRITE,
    json_text,
    loads,
)
from tandem.incidents.service.incidents import IncidentOps

BLAMELESS_ITEM = REVIEW_CHECKLIST[0]
ROOT_CAUSES = ("five_whys", "trigger")  # the fields no person may be named in
MAX_BUCKETS = 9_000  # the deployments' windows read for the impact, at most
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9_.\-]{0,63})")
_TEXT_FIELDS = (
    "summary", "impact_notes", "five_whys", "trigger", "detection", "resolution", "went_well",
    "went_wrong", "got_lucky",
)  # fmt: skip


def blame_flags(sections: PostmortemSections, members: set[str]) -> list[BlameFlag]:
    """Each member named, or anyone @mentioned, in the root causes (five whys, trigger)."""
    flags = []
    for field in ROOT_CAUSES:
        value = getattr(sections, field)
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            named = {m.lower() for m in _MENTION.findall(text)}
            for member in members:
                if re.search(rf"(?<![\w@]){re.escape(member)}(?!\w)", text, re.IGNORECASE):
                    named.add(member.lower())
            flags += [BlameFlag(section=field, text=text, name=n) for n in sorted(named)]
    return flags


class PostmortemOps(IncidentOps):
    def start_postmortem(self, principal: Principal, project: str, number: int, *,
                         now: int | None = None) -> Postmortem:  # fmt: skip
        """A draft postmortem for resolved incident `number`: the blameless template, the
        impact (requests served and failed on its endpoint while it lasted) and the timeline
        filled in, the incident's links (endpoint, model versions, datasets) recorded.

        Raises:
            Conflict: the incident is not resolved, or has a postmortem already.
        """
        self.auth.require(principal, WRITE, project)
        incident = self.get(principal, project, number)
        if incident.status is not IncidentStatus.RESOLVED or incident.resolved_at is None:
            raise Conflict(
                f"incident {number} is {incident.status.value}: a postmortem follows its "
                "resolution (tandem incidents status N resolved)"
            )
        if incident.postmortem is not None:
            raise Conflict(f"incident {number} has a postmortem already ({incident.postmortem})")
        timeline = self.timeline(principal, project, number)
        impact = self._impact(principal, project, incident.endpoint, incident.opened_at,
                              incident.resolved_at)  # fmt: skip
        links = self._involved(principal, project, incident.endpoint, timeline)
        at = now if now is not None else now_ms()
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, WRITE)
            row = self.store.row(conn, project_pk, project, number, lock=True)
            if self.store.postmortem_row(conn, row.pk) is not None:
                raise Conflict(f"incident {number} has a postmortem already")
            body = {
                **PostmortemSections(summary=incident.summary).model_dump(),
                "timeline": [e.model_dump() for e in timeline],
                "action_items": [],
                "checklist": dict.fromkeys(REVIEW_CHECKLIST, False),
                "links": links,
            }
            self.store.add_postmortem(
                conn, {
                    "incident_pk": row.pk, "project_pk": project_pk,
                    "status": PostmortemStatus.DRAFT.value, "body": json_text(body),
                    "impact": json_text(impact.model_dump()),
                    "created_at": at, "created_by": principal.name,
                    "updated_at": at, "updated_by": principal.name,
                },
            )  # fmt: skip
            self.store.change(conn, row.pk, {"links": json_text(links)})
            self.audit.record(
                conn, principal, "postmortem.create", f"{project}/postmortems/{number}",
                project=project,
            )  # fmt: skip
            return self._postmortem(conn, project, project_pk, number)

    def get_postmortem(self, principal: Principal, project: str, number: int) -> Postmortem:
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, READ)
            return self._postmortem(conn, project, project_pk, number)

    def list_postmortems(
        self, principal: Principal, project: str, *, status: PostmortemStatus | None = None
    ) -> list[Postmortem]:
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, READ)
            rows = self.store.rows(conn, project_pk)
            found = [
                self._postmortem(conn, project, project_pk, r.number)
                for r in rows
                if self.store.postmortem_row(conn, r.pk) is not None
            ]
        return [p for p in found if status is None or p.status is status]

    def edit_postmortem(self, principal: Principal, project: str, number: int,
                        data: PostmortemEdit, *, now: int | None = None) -> Postmortem:  # fmt: skip
        """Change sections, replace the action items (new ones, without a number, are created
        in the registers with their kind, owner and due date; their owners are notified),
        confirm review checklist items. Changing the root causes takes back the confirmation
        that no person is named as a cause.

        Raises:
            Conflict: the postmortem is published.
            InvalidInput: an owner who is not a member, an unknown checklist item, an action
                item number the postmortem did not create.
        """
        self.auth.require(principal, WRITE, project)  # before checking the body
        changes = data.model_dump(exclude_none=True, exclude={"action_items", "confirm"})
        for field, value in changes.items():
            for text in value if isinstance(value, list) else [value]:
                check_text(text, field.replace("_", " "), 20_000)
        unknown = sorted(set(data.confirm) - set(REVIEW_CHECKLIST))
        if unknown:
            raise InvalidInput(
                f"{unknown[0]!r} is not on the review checklist: "
                + "; ".join(f"{item!r}" for item in REVIEW_CHECKLIST)
            )
        at = now if now is not None else now_ms()
        outbox = Outbox(principal)
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, WRITE)
            incident_row = self.store.row(conn, project_pk, project, number)
            row = self._postmortem_row(conn, incident_row.pk, number, lock=True)
            if row.status == PostmortemStatus.PUBLISHED.value:
                raise Conflict(f"the postmortem of incident {number} is published: it is final")
            body = loads(row.body)
            checklist = dict(body["checklist"])
            if any(f in changes and changes[f] != body.get(f) for f in ROOT_CAUSES):
                checklist[BLAMELESS_ITEM] = False
            body |= changes
            if data.action_items is not None:
                body["action_items"] = self._actions(
                    conn,
                    outbox,
                    principal,
                    project,
                    project_pk,
                    number,
                    body["action_items"],
                    data.action_items,
                )
            for item in data.confirm:
                checklist[item] = True
            body["checklist"] = checklist
            self.store.change_postmortem(
                conn, row.pk,
                {"body": json_text(body), "updated_at": at, "updated_by": principal.name},
            )  # fmt: skip
            self.audit.record(
                conn, principal, "postmortem.edit", f"{project}/postmortems/{number}",
                project=project, fields=sorted(changes), confirmed=sorted(data.confirm),
            )  # fmt: skip
            found = self._postmortem(conn, project, project_pk, number)
        self.notifier.deliver(outbox)
        return found

    def _actions(
        self, conn: Connection, outbox: Outbox, principal: Principal, project: str,
        project_pk: int, number: int, current: list[dict[str, Any]],
        wanted: list[PostmortemAction],
    ) -> list[dict[str, Any]]:  # fmt: skip
        known = {a["number"] for a in current if a.get("number") is not None}
        for item in wanted:
            if item.number is not None and item.number not in known:
                raise InvalidInput(
                    f"action item A{item.number} is not one of this postmortem's: leave its "
                    "number out to create a new one"
                )
            check_text(item.title, "action item", 1_000)
        self._members(conn, project, project_pk, [a.owner for a in wanted])
        new = [a for a in wanted if a.number is None]
        numbers = self.registers.add_actions_in(
            conn, outbox, principal, project, project_pk,
            [ActionItemCreate(title=a.title, owner=a.owner, due=a.due, kind=a.kind) for a in new],
            f"postmortems/{number}",
        )  # fmt: skip
        created = iter(numbers)
        return [
            (
                a if a.number is not None else a.model_copy(update={"number": next(created)})
            ).model_dump(mode="json")
            for a in wanted
        ]

    def submit_postmortem(self, principal: Principal, project: str, number: int, *,
                          now: int | None = None) -> Postmortem:  # fmt: skip
        """Draft → in review: the summary and at least one why are written. The members the
        RACI names Accountable for incident response are notified."""
        self.auth.require(principal, WRITE, project)
        at = now if now is not None else now_ms()
        outbox = Outbox(principal)
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, WRITE)
            incident_row = self.store.row(conn, project_pk, project, number)
            row = self._postmortem_row(conn, incident_row.pk, number, lock=True)
            if row.status != PostmortemStatus.DRAFT.value:
                raise Conflict(f"the postmortem of incident {number} is {row.status}, not a draft")
            body = loads(row.body)
            missing = [f for f in ("summary", "five_whys") if not body.get(f)]
            if missing:
                raise InvalidInput(
                    f"the postmortem of incident {number} has no {' and no '.join(missing)} "
                    "yet: write them before the review (tandem postmortems edit)"
                )
            self.store.change_postmortem(
                conn, row.pk, {
                    "status": PostmortemStatus.IN_REVIEW.value, "submitted_at": at,
                    "submitted_by": principal.name, "updated_at": at,
                    "updated_by": principal.name,
                },
            )  # fmt: skip
            accountable = self._raci(conn, project_pk, RaciLetter.ACCOUNTABLE)
            self.notifier.notify(
                conn, outbox, project, project_pk, [a for a in accountable if a != principal.name],
                "postmortem", f"{principal.name} asks you to review the postmortem of incident "
                f"{number} in {project}", f"/projects/{project}/incidents/{number}/postmortem",
            )  # fmt: skip
            self.audit.record(
                conn, principal, "postmortem.submit", f"{project}/postmortems/{number}",
                project=project,
            )  # fmt: skip
            found = self._postmortem(conn, project, project_pk, number)
        self.notifier.deliver(outbox)
        return found

    def publish_postmortem(self, principal: Principal, project: str, number: int, *,
                           now: int | None = None) -> Postmortem:  # fmt: skip
        """In review → published, final. Only a member the RACI names Accountable for
        `incident-response` may publish, once every review checklist item is confirmed and no
        member is named (or anyone @mentioned) in the root causes.

        Raises:
            PermissionDenied: the caller is not Accountable for incident response.
            Conflict: not in review, the checklist not confirmed, or a person named as a cause.
        """
        self.auth.require(principal, WRITE, project)
        at = now if now is not None else now_ms()
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, WRITE)
            accountable = self._raci(conn, project_pk, RaciLetter.ACCOUNTABLE)
            if principal.name not in accountable:
                who = ", ".join(accountable) or "nobody yet (set it: tandem raci set)"
                raise PermissionDenied(
                    f"publishing a postmortem needs the RACI's Accountable for "
                    f"{RESPONSE_ACTIVITY} in {project!r}: {who}"
                )
            incident_row = self.store.row(conn, project_pk, project, number)
            row = self._postmortem_row(conn, incident_row.pk, number, lock=True)
            if row.status != PostmortemStatus.IN_REVIEW.value:
                raise Conflict(
                    f"the postmortem of incident {number} is {row.status}: only one in review "
                    "is published (tandem postmortems submit)"
                )
            found = self._postmortem(conn, project, project_pk, number)
            open_items = [item for item, done in found.checklist.items() if not done]
            if open_items:
                raise Conflict(
                    f"the review checklist is not confirmed: {'; '.join(open_items)} "
                    "(tandem postmortems edit N --confirm ITEM)"
                )
            if found.flags:
                flag = found.flags[0]
                raise Conflict(
                    f"the root causes name {flag.name!r} ({flag.section}): a blameless review "
                    "names roles and systems, not people"
                )
            self.store.change_postmortem(
                conn, row.pk, {
                    "status": PostmortemStatus.PUBLISHED.value, "published_at": at,
                    "published_by": principal.name, "updated_at": at,
                    "updated_by": principal.name,
                },
            )  # fmt: skip
            self.audit.record(
                conn, principal, "postmortem.publish", f"{project}/postmortems/{number}",
                project=project,
            )  # fmt: skip
            return self._postmortem(conn, project, project_pk, number)

    # -- helpers ----------------------------------------------------------------------------

    def _postmortem_row(self, conn: Connection, incident_pk: int, number: int, *,
                        lock: bool = False) -> Any:  # fmt: skip
        row = self.store.postmortem_row(conn, incident_pk, lock=lock)
        if row is None:
            raise NotFound(
                f"incident {number} has no postmortem yet (tandem postmortems edit {number} "
                "starts one once it is resolved)"
            )
        return row

    def _postmortem(
        self, conn: Connection, project: str, project_pk: int, number: int
    ) -> Postmortem:
        incident_row = self.store.row(conn, project_pk, project, number)
        row = self._postmortem_row(conn, incident_row.pk, number)
        body = loads(row.body)
        sections = PostmortemSections.model_validate(
            {k: body[k] for k in _TEXT_FIELDS if k in body}
        )
        members = self.identity.member_names_in(conn, project_pk)
        items = {
            a.number: a
            for a in self.registers.actions_from(conn, project, project_pk, f"postmortems/{number}")
        }
        actions = []
        for raw in body.get("action_items", []):
            action = PostmortemAction.model_validate(raw)
            if action.number in items:  # the registers' owner and due date are the truth
                item = items[action.number]
                action = action.model_copy(update={"owner": item.owner, "title": item.title})
            actions.append(action)
        return self.store.postmortem(
            row, project, number, {
                "timeline": body.get("timeline", []), "action_items": actions,
                "checklist": body["checklist"], "links": body.get("links", []),
                "flags": blame_flags(sections, members),
            },
        )  # fmt: skip

    def _impact(self, principal: Principal, project: str, endpoint: str | None, since: int,
                until: int) -> Impact:  # fmt: skip
        """Requests served and failed on the endpoint while the incident lasted, from the
        figures its gateways reported (the prediction log samples; the windows count all)."""
        impact = Impact(window_start=since, window_end=until)
        if endpoint is None or not principal.may(Action.DEPLOYMENT_READ, project):
            return impact.model_copy(update={"source": "none"})
        span_s = max(1, math.ceil((until - since) / 1000))
        bucket_s = max(60, math.ceil(span_s / MAX_BUCKETS))
        try:
            points = self.deployments.windows(
                principal, project, endpoint, since=since, until=max(until, since + 1),
                bucket_s=bucket_s,
            )  # fmt: skip
        except TandemError:
            return impact.model_copy(update={"source": "none"})
        return impact.model_copy(
            update={
                "requests": sum(p.requests for p in points),
                "errors": sum(p.errors for p in points),
                "source": "deployment-windows",
            }
        )

    def _involved(self, principal: Principal, project: str, endpoint: str | None,
                  timeline: list[Any]) -> list[str]:  # fmt: skip
        """What the incident involves, as references: its endpoint, the model versions that
        served on it during the timeline, and the datasets their training runs read."""
        links = [f"endpoints/{endpoint}"] if endpoint else []
        versions: list[str] = []
        for entry in timeline:
            for label in [*entry.details.get("before", {}), *entry.details.get("after", {})]:
                if label not in versions:
                    versions.append(label)
        if endpoint is not None and not versions:
            with contextlib.suppress(TandemError):
                current = self.deployments.get_endpoint(principal, project, endpoint)
                versions = [f"{d.model}@{d.version}" for d in current.deployments]
        datasets: list[str] = []
        for label in versions:
            name, _, selector = label.rpartition("@")
            with contextlib.suppress(TandemError):
                version = self.registry.get_version(principal, project, name, selector)
                if version.run_id is not None:
                    for link in self.data.run_datasets(principal, version.run_id):
                        ref = f"datasets/{link.dataset}@v{link.version}"
                        if link.project == project and ref not in datasets:
                            datasets.append(ref)
        return [*links, *(f"models/{v}" for v in versions), *datasets]
