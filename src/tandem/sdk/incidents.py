"""`client.incidents`: incidents, playbooks and postmortems from Python, embedded or remote,
over the REST API. The CLI uses exactly these calls.

    incident = client.incidents.open("p99 doubled", endpoint="prod", kind="latency")
    client.incidents.ack(incident.number)
    client.incidents.tick(incident.number, 1)
    client.incidents.rollback(incident.number, message="back to v2")
    client.incidents.set_status(incident.number, "resolved")
    client.incidents.edit_postmortem(incident.number, five_whys=["..."], confirm=[...])
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import TypeAdapter

from tandem.incidents.models import (
    ActionKind,
    Incident,
    IncidentCreate,
    IncidentPatch,
    IncidentSeverity,
    IncidentStats,
    IncidentStatus,
    NoteCreate,
    Playbook,
    PlaybookMarkdown,
    PlaybookSet,
    PlaybookStep,
    Postmortem,
    PostmortemAction,
    PostmortemEdit,
    RollbackRequest,
    StatusChange,
    TickRequest,
    TimelineEntry,
)
from tandem.sdk.transport import Http

if TYPE_CHECKING:
    from tandem.sdk.client import Client

API = "/api/v1"
_INCIDENTS = TypeAdapter(list[Incident])
_TIMELINE = TypeAdapter(list[TimelineEntry])
_PLAYBOOKS = TypeAdapter(list[Playbook])
_POSTMORTEMS = TypeAdapter(list[Postmortem])


class Incidents:
    """Incidents (status, commander, responders, playbook ticks, rollback, timeline, time to
    acknowledge and resolve), the project's playbooks, and blameless postmortems."""

    def __init__(self, http: Http, client: Client) -> None:
        self._http = http
        self._client = client

    def _base(self, project: str | None) -> str:
        return f"{API}/projects/{quote(self._client.project_name(project), safe='')}"

    def _incident(self, number: int, project: str | None) -> str:
        return f"{self._base(project)}/incidents/{int(number)}"

    def _send(self, method: str, url: str, body: Any = None) -> bytes:
        if body is None:
            return self._http.request(method, url).content
        return self._http.request(method, url, json=body).content

    # -- incidents --------------------------------------------------------------------------

    def open(
        self, title: str, project: str | None = None, *, severity: IncidentSeverity | str = "sev2",
        endpoint: str | None = None, kind: str | None = None, summary: str = "",
        commander: str | None = None,
    ) -> Incident:  # fmt: skip
        """Open an incident by hand; `kind` picks the project's playbook."""
        body = IncidentCreate(
            title=title, severity=IncidentSeverity(severity), endpoint=endpoint, kind=kind,
            summary=summary, commander=commander,
        )  # fmt: skip
        url = f"{self._base(project)}/incidents"
        return Incident.model_validate_json(self._send("POST", url, body.model_dump(mode="json")))

    def list(
        self, project: str | None = None, *, open_only: bool = False, endpoint: str | None = None
    ) -> builtins.list[Incident]:
        params: dict[str, Any] = {"open": open_only}
        if endpoint:
            params["endpoint"] = endpoint
        response = self._http.request("GET", f"{self._base(project)}/incidents", params=params)
        return _INCIDENTS.validate_json(response.content)

    def get(self, number: int, project: str | None = None) -> Incident:
        return Incident.model_validate_json(self._send("GET", self._incident(number, project)))

    def stats(self, project: str | None = None) -> IncidentStats:
        url = f"{self._base(project)}/incidents/stats"
        return IncidentStats.model_validate_json(self._send("GET", url))

    def ack(self, number: int, project: str | None = None) -> Incident:
        url = self._incident(number, project) + "/ack"
        return Incident.model_validate_json(self._send("POST", url))

    def set_status(
        self, number: int, status: IncidentStatus | str, project: str | None = None, *,
        message: str = "",
    ) -> Incident:  # fmt: skip
        body = StatusChange(status=IncidentStatus(status), message=message)
        url = self._incident(number, project) + "/status"
        return Incident.model_validate_json(self._send("POST", url, body.model_dump(mode="json")))

    def update(self, number: int, project: str | None = None, **changes: Any) -> Incident:
        """Change title, severity, summary, commander, add_responders, remove_responders or
        playbook."""
        body = IncidentPatch(**changes).model_dump(mode="json", exclude_none=True)
        return Incident.model_validate_json(
            self._send("PATCH", self._incident(number, project), body)
        )

    def note(self, number: int, body: str, project: str | None = None) -> Incident:
        url = self._incident(number, project) + "/notes"
        return Incident.model_validate_json(
            self._send("POST", url, NoteCreate(body=body).model_dump())
        )

    def tick(
        self, number: int, step: int, project: str | None = None, *, done: bool = True
    ) -> Incident:
        """Tick step `step` (1-based) of the incident's playbook (`done=False` unticks)."""
        url = self._incident(number, project) + "/tick"
        body = TickRequest(step=step, done=done).model_dump()
        return Incident.model_validate_json(self._send("POST", url, body))

    def rollback(self, number: int, project: str | None = None, *, message: str = "") -> Incident:
        """Roll the incident's endpoint back (you need the right to change its traffic)."""
        url = self._incident(number, project) + "/rollback"
        body = RollbackRequest(message=message).model_dump()
        return Incident.model_validate_json(self._send("POST", url, body))

    def timeline(self, number: int, project: str | None = None) -> builtins.list[TimelineEntry]:
        url = self._incident(number, project) + "/timeline"
        return _TIMELINE.validate_json(self._send("GET", url))

    # -- playbooks --------------------------------------------------------------------------

    def playbooks(self, project: str | None = None) -> builtins.list[Playbook]:
        return _PLAYBOOKS.validate_json(self._send("GET", f"{self._base(project)}/playbooks"))

    def playbook(self, kind: str, project: str | None = None) -> Playbook:
        url = f"{self._base(project)}/playbooks/{quote(kind, safe='')}"
        return Playbook.model_validate_json(self._send("GET", url))

    def set_playbook(
        self, kind: str, markdown: str | None = None, project: str | None = None, *,
        steps: builtins.list[str] | None = None, title: str = "",
    ) -> Playbook:  # fmt: skip
        """The playbook for `kind`, from Markdown checkboxes or a list of steps."""
        url = f"{self._base(project)}/playbooks/{quote(kind, safe='')}"
        if markdown is not None:
            body = PlaybookMarkdown(markdown=markdown).model_dump()
            return Playbook.model_validate_json(self._send("PUT", url, body))
        data = PlaybookSet(
            kind=kind, title=title, steps=[PlaybookStep(text=s) for s in steps or []]
        )
        return Playbook.model_validate_json(
            self._send("PUT", url + "/steps", data.model_dump(mode="json"))
        )

    def delete_playbook(self, kind: str, project: str | None = None) -> None:
        self._send("DELETE", f"{self._base(project)}/playbooks/{quote(kind, safe='')}")

    # -- postmortems ------------------------------------------------------------------------

    def postmortems(self, project: str | None = None) -> builtins.list[Postmortem]:
        return _POSTMORTEMS.validate_json(self._send("GET", f"{self._base(project)}/postmortems"))

    def postmortem(self, number: int, project: str | None = None) -> Postmortem:
        url = self._incident(number, project) + "/postmortem"
        return Postmortem.model_validate_json(self._send("GET", url))

    def start_postmortem(self, number: int, project: str | None = None) -> Postmortem:
        """A draft for resolved incident `number`, impact and timeline filled in."""
        url = self._incident(number, project) + "/postmortem"
        return Postmortem.model_validate_json(self._send("POST", url))

    def edit_postmortem(
        self, number: int, project: str | None = None, *,
        action_items: builtins.list[PostmortemAction | dict[str, Any]] | None = None,
        confirm: Sequence[str] = (),
        **sections: Any,
    ) -> Postmortem:  # fmt: skip
        """Change sections (summary, five_whys, trigger, detection, resolution, went_well,
        went_wrong, got_lucky, impact_notes), replace the action items (each a title, kind,
        owner and due date), confirm review checklist items."""
        items = None
        if action_items is not None:
            items = [PostmortemAction.model_validate(a) for a in action_items]
        body = PostmortemEdit(action_items=items, confirm=builtins.list(confirm), **sections)
        url = self._incident(number, project) + "/postmortem"
        return Postmortem.model_validate_json(
            self._send("PATCH", url, body.model_dump(mode="json", exclude_none=True))
        )

    def submit_postmortem(self, number: int, project: str | None = None) -> Postmortem:
        url = self._incident(number, project) + "/postmortem/submit"
        return Postmortem.model_validate_json(self._send("POST", url))

    def publish_postmortem(self, number: int, project: str | None = None) -> Postmortem:
        url = self._incident(number, project) + "/postmortem/publish"
        return Postmortem.model_validate_json(self._send("POST", url))


def action(title: str, kind: ActionKind | str, owner: str, due: dt.date | str) -> PostmortemAction:
    """A postmortem action item: `action("Alert on null share", "prevent", "ana", "2026-12-20")`."""
    when = due if isinstance(due, dt.date) else dt.date.fromisoformat(due)
    return PostmortemAction(title=title, kind=ActionKind(kind), owner=owner, due=when)
