"""Blameless postmortems of resolved incidents: the template pre-filled (impact from the
prediction log, the deployments' windows and the KPIs; the timeline), five whys, action items
created in the registers with their kind, and the review: draft → in review → published, by
the RACI's Accountable for incident response once the checklist is confirmed and no member is
named in the root causes."""

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
from tandem.lineage.models import Entity, NodeKind, Relation

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
            self._link(conn, project_pk, row.pk, links, at)
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
        # as in the registers: an owner is a member, or yourself
        self._members(
            conn, project, project_pk, [a.owner for a in wanted if a.owner != principal.name]
        )
        new = [a for a in wanted if a.number is None]
        numbers = self.registers.add_actions_in(
            conn, outbox, principal, project, project_pk,
            [ActionItemCreate(title=a.title, owner=a.owner, due=a.due, kind=a.kind) for a in new],
            f"postmortems/{number}",
        )  # fmt: skip
        postmortem = self.store.postmortem_pk(conn, project_pk, number)
        for made in numbers:  # postmortem -> followed-up-by -> each action item, in lineage
            action = self.registers.action_pk_in(conn, project_pk, made)
            if postmortem is not None and action is not None:
                self.links.link(
                    conn, Entity(NodeKind.POSTMORTEM, postmortem, project_pk),
                    Entity(NodeKind.ACTION_ITEM, action, project_pk), Relation.FOLLOWED_UP_BY,
                    now_ms(),
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
        `incident-response` may publish (in a single-user workspace whose RACI names nobody,
        its owner), once every review checklist item is confirmed and no
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
            # a single-user workspace's owner, when nobody is named, has nobody else to ask
            alone = principal.is_workspace_owner and not accountable
            if principal.name not in accountable and not alone:
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

    def _link(self, conn: Connection, project_pk: int, incident_pk: int, refs: list[str],
              at: int) -> None:  # fmt: skip
        """The lineage edges: the endpoint, each deployment, model and dataset version
        involved -> the incident -> its postmortem."""
        self.link_involved(conn, project_pk, incident_pk, refs, at)
        incident = Entity(NodeKind.INCIDENT, incident_pk, project_pk)
        postmortem = self.store.postmortem_row(conn, incident_pk)
        self.links.link(
            conn, incident, Entity(NodeKind.POSTMORTEM, postmortem.pk, project_pk),
            Relation.REVIEWED_IN, at,
        )  # fmt: skip

    def _impact(self, principal: Principal, project: str, endpoint: str | None, since: int,
                until: int) -> Impact:  # fmt: skip
        """The incident's cost on its endpoint while it lasted: requests, errors and distinct
        users from the prediction log (when it keeps every request; else requests and errors
        from the figures its gateways reported, which count all, and users from the log as a
        lower bound), and the KPIs pushed for the endpoint then and just before."""
        impact = Impact(window_start=since, window_end=until)
        if endpoint is None or not principal.may(Action.DEPLOYMENT_READ, project):
            return impact.model_copy(update={"source": "none"})
        until = max(until, since + 1)
        update: dict[str, Any] = {"source": "none"}
        windows = self._window_counts(principal, project, endpoint, since, until)
        if windows is not None:
            update.update(windows, source="deployment-windows")
        logged = self._logged_counts(principal, project, endpoint, since, until)
        if logged is not None:
            share = logged["logged_share"]
            update.update(users=logged["users"], user_key=logged["user_key"], logged_share=share)
            # a sampled log counts a share of the requests: the gateways' figures count all,
            # unless they reported none for the window
            if logged["requests"] and (share >= 1.0 or not update.get("requests")):
                update.update(requests=logged["requests"], errors=logged["errors"],
                              source="prediction-log")  # fmt: skip
        kpis = self._kpi_means(principal, project, endpoint, since, until)
        before = self._kpi_means(principal, project, endpoint, 2 * since - until, since)
        return impact.model_copy(update={**update, "kpis": kpis, "kpis_before": before})

    def _window_counts(self, principal: Principal, project: str, endpoint: str, since: int,
                       until: int) -> dict[str, int] | None:  # fmt: skip
        span_s = max(1, math.ceil((until - since) / 1000))
        bucket_s = max(60, math.ceil(span_s / MAX_BUCKETS))
        try:
            points = self.deployments.windows(
                principal, project, endpoint, since=since, until=until, bucket_s=bucket_s
            )
        except TandemError:
            return None
        return {
            "requests": sum(p.requests for p in points),
            "errors": sum(p.errors for p in points),
        }

    def _logged_counts(self, principal: Principal, project: str, endpoint: str, since: int,
                       until: int) -> dict[str, Any] | None:  # fmt: skip
        """Requests, 5xx answers and distinct user keys in the endpoint's prediction log."""
        if self.predictions is None:
            return None
        try:
            found = self.deployments.get_endpoint(principal, project, endpoint)
            sticky = found.sticky_key or ""
            key = sticky.removeprefix("field:") if sticky.startswith("field:") else None
            log = self.predictions.read_log(
                principal, project, endpoint, since, until, with_inputs=key is not None
            )
        except TandemError:
            return None
        if log.rows == 0:
            return {"requests": 0, "errors": 0, "users": None, "user_key": None,
                    "logged_share": found.sampling}  # fmt: skip
        import polars as pl

        requests = log.meta.select(pl.col("request_id").n_unique()).item()
        errors = (
            log.meta.filter(pl.col("status") >= 500).select(pl.col("request_id").n_unique()).item()
        )
        users = None
        if key is not None and key in log.inputs.columns:
            users = int(log.inputs.select(pl.col(key).drop_nulls().n_unique()).item())
        return {"requests": int(requests), "errors": int(errors), "users": users,
                "user_key": key if users is not None else None,
                "logged_share": found.sampling}  # fmt: skip

    def _kpi_means(self, principal: Principal, project: str, endpoint: str, since: int,
                   until: int) -> dict[str, float]:  # fmt: skip
        if self.outcomes is None or not principal.may(Action.MONITOR_READ, project):
            return {}
        try:
            pushed = self.outcomes.kpis(principal, project, endpoint, since=since, until=until,
                                        limit=10_000)  # fmt: skip
        except TandemError:
            return {}
        values: dict[str, list[float]] = {}
        for kpi in pushed:
            values.setdefault(kpi.name, []).append(kpi.value)
        return {name: sum(v) / len(v) for name, v in sorted(values.items())}

    def _involved(self, principal: Principal, project: str, endpoint: str | None,
                  timeline: list[Any]) -> list[str]:  # fmt: skip
        """What the incident involves, as references: its endpoint, the model versions that
        served on it during the timeline and their deployments there, and the datasets their
        training runs read."""
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
        if endpoint is not None and principal.may(Action.DEPLOYMENT_READ, project):
            with self.db.read() as conn:
                project_pk = self.projects.access(conn, principal, project, READ)
                made = self.deployments.deployments_in(conn, project_pk, endpoint)
            links += [f"deployments/{d}" for d, label in made.items() if label in versions]
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
