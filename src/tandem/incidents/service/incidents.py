"""Incidents: opening them (by hand, or by a page alert that joins the open one of its endpoint),
their status with who and when, commander and responders, notes, playbook ticks, a rollback of
the endpoint, time to acknowledge and resolve, and the merged timeline."""

from __future__ import annotations

import statistics
from typing import Any

from sqlalchemy import Connection

from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms
from tandem.core.refs import parse_dataset_ref, parse_model_ref
from tandem.core.validation import check_text
from tandem.deployments.models import TrafficChange
from tandem.errors import Conflict, InvalidInput, NotFound
from tandem.governance.gates.models import GateStatus
from tandem.governance.plan.models import RaciLetter
from tandem.incidents.models import (
    STATUS_ORDER,
    Incident,
    IncidentCreate,
    IncidentPatch,
    IncidentSeverity,
    IncidentStats,
    IncidentStatus,
    NoteCreate,
    RollbackRequest,
    StatusChange,
    TickedStep,
    TickRequest,
    TimelineEntry,
    TimelineSource,
)
from tandem.incidents.service.base import ALERTING, READ, WRITE, IncidentCore, json_text, loads
from tandem.lineage.models import Entity, NodeKind, Relation

LOOKBACK_MS = 6 * 3_600_000
"""The timeline starts this long before the incident opened: the change that caused it
usually came first (a deployment, a gate passed)."""
HISTORY_PAGES = 20  # deployment history pages read for one timeline, at most (200 events each)


def _field(alert: Any, name: str, default: Any = None) -> Any:
    """A field of alerting's Alert, a PageAlert or a plain dict."""
    if isinstance(alert, dict):
        return alert.get(name, default)
    return getattr(alert, name, default)


def _as_ms(value: Any) -> int:
    if isinstance(value, int | float):
        return int(value)
    timestamp = getattr(value, "timestamp", None)
    if callable(timestamp):  # a datetime
        return int(timestamp() * 1000)
    raise InvalidInput(f"an alert's starts_at must be milliseconds or a datetime, not {value!r}")


class IncidentOps(IncidentCore):
    # -- opening ----------------------------------------------------------------------------

    def open(self, principal: Principal, project: str, data: IncidentCreate, *,
             now: int | None = None) -> Incident:  # fmt: skip
        """Open an incident by hand. Anyone with `incident:write` may; the commander is the
        opener unless another member is named. One open incident per endpoint: opening a
        second is a Conflict naming the first.

        Raises:
            InvalidInput: an unknown endpoint or playbook kind, a commander who is no member.
            Conflict: the endpoint already has an open incident.
        """
        self.auth.require(principal, WRITE, project)  # before checking the body
        check_text(data.title, "title", 300)
        check_text(data.summary, "summary", 10_000)
        at = now if now is not None else now_ms()
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, WRITE)
            if data.endpoint is not None:
                try:
                    self.deployments.check_endpoint(conn, project_pk, project, data.endpoint)
                except NotFound:
                    raise InvalidInput(
                        f"project {project!r} has no endpoint {data.endpoint!r}"
                    ) from None
                current = self.store.open_for_endpoint(conn, project_pk, data.endpoint)
                if current is not None:
                    raise Conflict(
                        f"endpoint {data.endpoint!r} already has open incident "
                        f"{current.number}: add to it, or resolve it first"
                    )
            members = self.identity.member_names_in(conn, project_pk)
            commander = data.commander
            if commander is not None:
                self._members(conn, project, project_pk, [commander])
            elif principal.name in members or principal.is_superuser:
                commander = principal.name
            steps, playbook = self._steps_for(conn, project, project_pk, data.kind, strict=True)
            number = self._insert(
                conn, project_pk, at, principal.name, title=data.title.strip(),
                severity=data.severity, endpoint=data.endpoint, kind=data.kind,
                summary=data.summary, commander=commander, responders=[], source="manual",
                fingerprints=[], steps=steps, playbook=playbook,
            )  # fmt: skip
            row = self.store.row(conn, project_pk, project, number)
            self._entry(conn, row.pk, at, "opened", principal.name, data.title.strip())
            self.audit.record(
                conn, principal, "incident.open", f"{project}/incidents/{number}",
                project=project, severity=data.severity.value, endpoint=data.endpoint,
            )  # fmt: skip
            return self.store.model(row, project)

    def on_page(self, conn: Connection, project_pk: int, endpoint: str | None, alert: Any) -> int:
        """A page-severity alert opens an incident or joins the open one of its endpoint, in
        the alerting service's transaction (`conn`); returns the incident's number.

        `alert` is alerting's Alert, a `PageAlert` or a dict: fingerprint, labels,
        annotations, severity and starts_at are read by name. The same alert joining again
        changes nothing. Responders are the members the RACI names Responsible for
        `incident-response`. No permission check: alerting acts as the hub's worker, which
        holds `incident:write` in every project; audited as `system:alerting`."""
        fingerprint = str(_field(alert, "fingerprint", "") or "")
        if not fingerprint:
            raise InvalidInput("a page alert needs a fingerprint")
        labels: dict[str, str] = dict(_field(alert, "labels", {}) or {})
        annotations: dict[str, str] = dict(_field(alert, "annotations", {}) or {})
        at = _as_ms(_field(alert, "starts_at", now_ms()))
        project = self._project_name(conn, project_pk)
        endpoint = endpoint or labels.get("endpoint") or None
        name = labels.get("alertname") or labels.get("monitor") or "alert"
        text = annotations.get("summary") or annotations.get("description") or name
        row = self.store.open_for_endpoint(conn, project_pk, endpoint) if endpoint else None
        if row is not None:
            fingerprints = loads(row.fingerprints)
            if fingerprint not in fingerprints:
                self.store.change(
                    conn, row.pk,
                    {"fingerprints": json_text([*fingerprints, fingerprint]), "updated_at": at},
                )  # fmt: skip
                self._entry(
                    conn, row.pk, at, "firing", name, text, source=TimelineSource.ALERT,
                    ref=f"alerts/{fingerprint}", labels=labels,
                )  # fmt: skip
                self.audit.record(
                    conn, ALERTING, "incident.join", f"{project}/incidents/{row.number}",
                    project=project, fingerprint=fingerprint,
                )  # fmt: skip
            return int(row.number)
        kind = labels.get("playbook") or labels.get("kind") or labels.get("signal")
        steps, playbook = self._steps_for(conn, project, project_pk, kind, strict=False)
        title = f"{name} on {endpoint}" if endpoint else name
        number = self._insert(
            conn, project_pk, at, ALERTING.name, title=title[:300],
            severity=IncidentSeverity(labels.get("incident_severity", "sev2"))
            if labels.get("incident_severity") in set(IncidentSeverity) else IncidentSeverity.SEV2,
            endpoint=endpoint, kind=kind, summary=text[:10_000], commander=None,
            responders=self._raci(conn, project_pk, RaciLetter.RESPONSIBLE), source="alert",
            fingerprints=[fingerprint], steps=steps, playbook=playbook,
        )  # fmt: skip
        row = self.store.row(conn, project_pk, project, number)
        self._entry(
            conn, row.pk, at, "firing", name, text, source=TimelineSource.ALERT,
            ref=f"alerts/{fingerprint}", labels=labels,
        )  # fmt: skip
        self._entry(conn, row.pk, at, "opened", ALERTING.name, title[:300])
        self.audit.record(
            conn, ALERTING, "incident.open", f"{project}/incidents/{number}", project=project,
            fingerprint=fingerprint, endpoint=endpoint,
        )  # fmt: skip
        return number

    def link_involved(self, conn: Connection, project_pk: int, incident_pk: int,
                      refs: list[str], at: int) -> None:  # fmt: skip
        """Lineage edges from what the references name (`endpoints/NAME`, `deployments/ID`,
        `models/NAME@N`, `datasets/NAME@vN` of the project) to the incident: involved-in.
        References to what no longer exists are left out."""
        incident = Entity(NodeKind.INCIDENT, incident_pk, project_pk)
        for ref in refs:
            kind, _, rest = ref.partition("/")
            found: int | None = None
            node = None
            if kind == "endpoints":
                found = self.deployments.endpoint_pk_in(conn, project_pk, rest)
                node = NodeKind.ENDPOINT
            elif kind == "deployments":
                found = self.deployments.deployment_pk_in(conn, project_pk, rest)
                node = NodeKind.DEPLOYMENT
            elif kind == "models":
                row = self.registry.model_version_in(conn, project_pk, parse_model_ref(rest))
                found, node = (int(row.pk) if row else None), NodeKind.MODEL_VERSION
            elif kind == "datasets":
                parsed = parse_dataset_ref(rest)
                row = self.data.dataset_version_in(conn, project_pk, parsed.name, parsed.version)
                found, node = (int(row.pk) if row else None), NodeKind.DATASET_VERSION
            if found is not None and node is not None:
                self.links.link(
                    conn, Entity(node, found, project_pk), incident, Relation.INVOLVED_IN, at
                )

    def _insert(
        self, conn: Connection, project_pk: int, at: int, by: str, *, title: str,
        severity: IncidentSeverity, endpoint: str | None, kind: str | None, summary: str,
        commander: str | None, responders: list[str], source: str, fingerprints: list[str],
        steps: list[TickedStep], playbook: str | None,
    ) -> int:  # fmt: skip
        number = self.store.add(
            conn, project_pk, {
                "title": title, "severity": severity.value, "status": IncidentStatus.OPEN.value,
                "endpoint": endpoint, "open_endpoint": endpoint, "kind": kind,
                "summary": summary, "commander": commander,
                "responders": json_text(responders), "source": source,
                "fingerprints": json_text(fingerprints), "playbook": playbook,
                "steps": json_text([s.model_dump() for s in steps]),
                "links": json_text([f"endpoints/{endpoint}"] if endpoint else []),
                "opened_at": at, "opened_by": by, "updated_at": at,
            },
        )  # fmt: skip
        if endpoint:  # the endpoint is involved from the start (the postmortem adds the rest)
            pk = self.store.incident_pk(conn, project_pk, number)
            if pk is not None:
                self.link_involved(conn, project_pk, pk, [f"endpoints/{endpoint}"], at)
        return number

    def _steps_for(
        self, conn: Connection, project: str, project_pk: int, kind: str | None, *, strict: bool
    ) -> tuple[list[TickedStep], str | None]:
        """The steps of the project's playbook for `kind` (or its `default` playbook)."""
        playbook = None
        if kind:
            playbook = self.store.playbook(conn, project_pk, project, kind)
            if playbook is None and strict:
                kinds = [p.kind for p in self.store.playbooks(conn, project_pk, project)]
                raise InvalidInput(
                    f"project {project!r} has no playbook {kind!r}"
                    + (f": it has {', '.join(kinds)}" if kinds else "")
                )
        if playbook is None:
            playbook = self.store.playbook(conn, project_pk, project, "default")
        if playbook is None:
            return [], None
        steps = [
            TickedStep(index=i, text=s.text, role=s.role)
            for i, s in enumerate(playbook.steps, start=1)
        ]
        return steps, playbook.kind

    # -- reading ----------------------------------------------------------------------------

    def get(self, principal: Principal, project: str, number: int) -> Incident:
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, READ)
            row = self.store.row(conn, project_pk, project, number)
            status = self.store.postmortem_statuses(conn, [row.pk]).get(row.pk)
            return self.store.model(row, project, status)

    def list_incidents(
        self, principal: Principal, project: str, *, open_only: bool = False,
        endpoint: str | None = None,
    ) -> list[Incident]:  # fmt: skip
        """The project's incidents, newest first (`open_only`: not resolved yet)."""
        wanted = [s.value for s in STATUS_ORDER[:-1]] if open_only else None
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, READ)
            rows = self.store.rows(conn, project_pk, status=wanted, endpoint=endpoint)
            statuses = self.store.postmortem_statuses(conn, [r.pk for r in rows])
            return [self.store.model(r, project, statuses.get(r.pk)) for r in rows]

    def stats(self, principal: Principal, project: str) -> IncidentStats:
        """Time to acknowledge and to resolve over the project's incidents."""
        found = self.list_incidents(principal, project)
        tta = [i.tta_ms for i in found if i.tta_ms is not None]
        ttr = [i.ttr_ms for i in found if i.ttr_ms is not None]
        return IncidentStats(
            project=project, incidents=len(found),
            open=sum(i.status is IncidentStatus.OPEN for i in found),
            acknowledged=sum(i.acknowledged_at is not None for i in found),
            resolved=sum(i.status is IncidentStatus.RESOLVED for i in found),
            mean_tta_ms=statistics.fmean(tta) if tta else None,
            median_tta_ms=statistics.median(tta) if tta else None,
            mean_ttr_ms=statistics.fmean(ttr) if ttr else None,
            median_ttr_ms=statistics.median(ttr) if ttr else None,
        )  # fmt: skip

    # -- changing ---------------------------------------------------------------------------

    def acknowledge(self, principal: Principal, project: str, number: int, *,
                    now: int | None = None) -> Incident:  # fmt: skip
        """I am on it: the incident is acknowledged (time to acknowledge stops), and the
        acknowledger becomes its commander if it has none."""
        return self.set_status(
            principal, project, number, StatusChange(status=IncidentStatus.ACKNOWLEDGED), now=now
        )

    def set_status(self, principal: Principal, project: str, number: int, data: StatusChange,
                   *, now: int | None = None) -> Incident:  # fmt: skip
        """Move the incident forward (open → acknowledged → mitigated → resolved; a step may
        be skipped), recording who and when. Moving past `acknowledged` acknowledges it too.

        Raises:
            Conflict: the incident is already at or past that status.
        """
        self.auth.require(principal, WRITE, project)
        message = check_text(data.message, "message", 2_000)
        at = now if now is not None else now_ms()
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, WRITE)
            row = self.store.row(conn, project_pk, project, number, lock=True)
            current = IncidentStatus(row.status)
            if STATUS_ORDER.index(data.status) <= STATUS_ORDER.index(current):
                raise Conflict(
                    f"incident {number} is {current.value}: it can only move forward "
                    f"({' → '.join(s.value for s in STATUS_ORDER)})"
                )
            if at < row.opened_at:
                raise InvalidInput(f"incident {number} opened after {at}")
            values: dict[str, Any] = {"status": data.status.value, "updated_at": at}
            if row.acknowledged_at is None:
                values |= {"acknowledged_at": at, "acknowledged_by": principal.name}
            if data.status is IncidentStatus.MITIGATED:
                values |= {"mitigated_at": at, "mitigated_by": principal.name}
            if data.status is IncidentStatus.RESOLVED:
                values |= {"resolved_at": at, "resolved_by": principal.name, "open_endpoint": None}
            members = self.identity.member_names_in(conn, project_pk)
            if row.commander is None and principal.name in members:
                values["commander"] = principal.name
            self.store.change(conn, row.pk, values)
            self._entry(conn, row.pk, at, data.status.value, principal.name, message)
            self.audit.record(
                conn, principal, f"incident.{data.status.value}",
                f"{project}/incidents/{number}", project=project, previous=current.value,
            )  # fmt: skip
            return self._model(conn, project, project_pk, number)

    def update(self, principal: Principal, project: str, number: int, data: IncidentPatch,
               *, now: int | None = None) -> Incident:  # fmt: skip
        """Change the title, severity, summary, commander, responders or playbook."""
        self.auth.require(principal, WRITE, project)
        at = now if now is not None else now_ms()
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, WRITE)
            row = self.store.row(conn, project_pk, project, number, lock=True)
            named = [*data.add_responders, *([data.commander] if data.commander else [])]
            self._members(conn, project, project_pk, named)
            values: dict[str, Any] = {"updated_at": at}
            changed = []
            if data.title is not None:
                values["title"] = check_text(data.title, "title", 300).strip()
                changed.append("title")
            if data.summary is not None:
                values["summary"] = check_text(data.summary, "summary", 10_000)
                changed.append("summary")
            if data.severity is not None and data.severity.value != row.severity:
                values["severity"] = data.severity.value
                changed.append(f"severity {row.severity} → {data.severity.value}")
            if data.commander == "" and row.commander is not None:
                values["commander"] = None  # an empty string clears, as a card's texts do
                changed.append("no commander")
            elif data.commander and data.commander != row.commander:
                values["commander"] = data.commander
                changed.append(f"commander {data.commander}")
            responders = loads(row.responders)
            wanted = [r for r in responders if r not in data.remove_responders]
            wanted += [r for r in dict.fromkeys(data.add_responders) if r not in wanted]
            if wanted != responders:
                values["responders"] = json_text(wanted)
                changed.append(f"responders {', '.join(wanted) or 'none'}")
            if data.playbook is not None:
                steps = [TickedStep.model_validate(s) for s in loads(row.steps)]
                if any(s.done for s in steps):
                    raise Conflict(f"incident {number} has ticked steps: its playbook stays")
                new_steps, kind = self._steps_for(
                    conn, project, project_pk, data.playbook, strict=True
                )
                values |= {
                    "playbook": kind,
                    "steps": json_text([s.model_dump() for s in new_steps]),
                }
                changed.append(f"playbook {kind}")
            if not changed:
                return self._model(conn, project, project_pk, number)
            self.store.change(conn, row.pk, values)
            self._entry(conn, row.pk, at, "updated", principal.name, "; ".join(changed))
            self.audit.record(
                conn, principal, "incident.update", f"{project}/incidents/{number}",
                project=project, changed=changed,
            )  # fmt: skip
            return self._model(conn, project, project_pk, number)

    def add_note(self, principal: Principal, project: str, number: int, data: NoteCreate, *,
                 now: int | None = None) -> Incident:  # fmt: skip
        """A line on the incident's timeline: what we saw, what we tried."""
        self.auth.require(principal, WRITE, project)
        body = check_text(data.body, "note", 20_000)
        at = now if now is not None else now_ms()
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, WRITE)
            row = self.store.row(conn, project_pk, project, number, lock=True)
            self.store.change(conn, row.pk, {"updated_at": at})
            self._entry(conn, row.pk, at, "note", principal.name, body)
            self.audit.record(
                conn, principal, "incident.note", f"{project}/incidents/{number}", project=project
            )
            return self._model(conn, project, project_pk, number)

    def tick(self, principal: Principal, project: str, number: int, data: TickRequest, *,
             now: int | None = None) -> Incident:  # fmt: skip
        """Tick (or untick) step `data.step` of the incident's playbook, with who and when."""
        self.auth.require(principal, WRITE, project)
        at = now if now is not None else now_ms()
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, WRITE)
            row = self.store.row(conn, project_pk, project, number, lock=True)
            steps = [TickedStep.model_validate(s) for s in loads(row.steps)]
            if not steps:
                raise InvalidInput(f"incident {number} follows no playbook")
            if not 1 <= data.step <= len(steps):
                raise InvalidInput(
                    f"incident {number}'s playbook has steps 1 to {len(steps)}, not {data.step}"
                )
            step = steps[data.step - 1]
            if step.done is data.done:
                return self._model(conn, project, project_pk, number)
            steps[data.step - 1] = step.model_copy(
                update={
                    "done": data.done,
                    "done_at": at if data.done else None,
                    "done_by": principal.name if data.done else None,
                }
            )
            self.store.change(
                conn, row.pk,
                {"steps": json_text([s.model_dump() for s in steps]), "updated_at": at},
            )  # fmt: skip
            self._entry(
                conn, row.pk, at, "tick" if data.done else "untick", principal.name,
                f"step {data.step}: {step.text}", step=data.step,
            )  # fmt: skip
            self.audit.record(
                conn, principal, "incident.tick", f"{project}/incidents/{number}",
                project=project, step=data.step, done=data.done,
            )  # fmt: skip
            return self._model(conn, project, project_pk, number)

    def rollback(self, principal: Principal, project: str, number: int,
                 data: RollbackRequest, *, now: int | None = None) -> Incident:  # fmt: skip
        """Roll the incident's endpoint back (`DeploymentService.rollback`, as the caller:
        the deployments domain decides who may), and record it on the timeline.

        Raises:
            InvalidInput: the incident names no endpoint.
            PermissionDenied: the caller may not roll the endpoint back.
        """
        self.auth.require(principal, WRITE, project)
        # the deployments domain decides (release for production); asked before any read
        self.auth.require(principal, Action.DEPLOYMENT_WRITE, project)
        message = check_text(data.message, "message", 2_000)
        incident = self.get(principal, project, number)
        if incident.endpoint is None:
            raise InvalidInput(f"incident {number} names no endpoint to roll back")
        why = message or f"rollback from incident {number}"
        endpoint = self.deployments.rollback(
            principal,
            project,
            incident.endpoint,
            TrafficChange(message=f"incident {number}: {why}"),
        )
        serving = ", ".join(
            f"{d.model}@{d.version} {d.weight:g}%" for d in endpoint.deployments if d.weight > 0
        )
        at = now if now is not None else now_ms()
        with self.db.write() as conn:
            project_pk = self.projects.access(conn, principal, project, WRITE)
            row = self.store.row(conn, project_pk, project, number, lock=True)
            self.store.change(conn, row.pk, {"updated_at": at})
            self._entry(
                conn, row.pk, at, "rolled-back", principal.name,
                f"rolled {incident.endpoint} back: now {serving or 'nothing'}",
                ref=f"endpoints/{incident.endpoint}", policy_version=endpoint.policy_version,
            )  # fmt: skip
            self.audit.record(
                conn, principal, "incident.rollback", f"{project}/incidents/{number}",
                project=project, endpoint=incident.endpoint,
                policy_version=endpoint.policy_version,
            )  # fmt: skip
            return self._model(conn, project, project_pk, number)

    def _model(self, conn: Connection, project: str, project_pk: int, number: int) -> Incident:
        row = self.store.row(conn, project_pk, project, number)
        status = self.store.postmortem_statuses(conn, [row.pk]).get(row.pk)
        return self.store.model(row, project, status)

    # -- the timeline -----------------------------------------------------------------------

    def timeline(self, principal: Principal, project: str, number: int, *,
                 now: int | None = None) -> list[TimelineEntry]:  # fmt: skip
        """Everything that happened around the incident, oldest first: its own entries (alerts
        that paged it, status changes, notes, ticks, rollbacks), the endpoint's deployment
        events, gates decided and comments written from `LOOKBACK_MS` before it opened until
        it was resolved (or now). Parts the caller may not read are left out."""
        incident = self.get(principal, project, number)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, READ)
            row = self.store.row(conn, project_pk, project, number)
            own = self.store.entries(conn, row.pk)
            since = incident.opened_at - LOOKBACK_MS
            until = incident.resolved_at or (now if now is not None else now_ms())
            comments = self.registers.comments_between(conn, project, project_pk, since, until)
        merged = list(own)
        merged += [
            TimelineEntry(
                at=c.created_at, source=TimelineSource.COMMENT, kind="comment", actor=c.author,
                text=c.body, ref=c.target,
            )
            for c in comments
        ]  # fmt: skip
        if incident.endpoint is not None and principal.may(
            Action.DEPLOYMENT_READ, project
        ):  # the endpoint's traffic changes in the span
            merged += self._deployment_entries(principal, project, incident.endpoint, since, until)
        if principal.may(Action.MODEL_READ, project):
            closed = [  # decided gates only: an open gate's checklist is computed live
                gate
                for status in (GateStatus.PASSED, GateStatus.REJECTED, GateStatus.CANCELLED)
                for gate in self.gates.list_gates(principal, project, status=status)
            ]
            for gate in closed:
                if gate.closed_at is not None and since <= gate.closed_at <= until:
                    merged.append(
                        TimelineEntry(
                            at=gate.closed_at, source=TimelineSource.GATE,
                            kind=f"gate-{gate.status.value}", actor=gate.closed_by,
                            text=f"{gate.model}@{gate.version} → {gate.to_stage.value}: "
                            f"{gate.status.value}" + (f" ({gate.reason})" if gate.reason else ""),
                            ref=f"gates/{gate.id}",
                        )
                    )  # fmt: skip
        return sorted(merged, key=lambda e: e.at)

    def _deployment_entries(
        self, principal: Principal, project: str, endpoint: str, since: int, until: int
    ) -> list[TimelineEntry]:
        found: list[TimelineEntry] = []
        cursor = None
        for _ in range(HISTORY_PAGES):
            try:
                page = self.deployments.history(
                    principal, project, endpoint, limit=200, cursor=cursor
                )
            except NotFound:  # the endpoint was deleted since
                return found
            for event in page.items:
                if since <= event.at <= until:
                    weights = ", ".join(f"{k} {v:g}%" for k, v in event.after.items())
                    found.append(
                        TimelineEntry(
                            at=event.at, source=TimelineSource.DEPLOYMENT, kind=event.kind.value,
                            actor=event.actor, text=f"{event.kind.value}: {weights}"
                            + (f" ({event.message})" if event.message else ""),
                            ref=f"endpoints/{endpoint}",
                            details={"policy_version": event.policy_version,
                                     "before": event.before, "after": event.after},
                        )
                    )  # fmt: skip
            oldest = page.items[-1].at if page.items else since
            if page.next_cursor is None or oldest < since:
                break
            cursor = page.next_cursor
        return found
