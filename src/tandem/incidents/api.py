"""REST endpoints for incidents, playbooks and postmortems. Parse, call the service, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from tandem.core.auth import Action
from tandem.core.validation import Number
from tandem.http.deps import PrincipalDep, offload, service
from tandem.http.policy import policy
from tandem.incidents.models import (
    Incident,
    IncidentCreate,
    IncidentPatch,
    IncidentStats,
    NoteCreate,
    Playbook,
    PlaybookMarkdown,
    PlaybookSet,
    Postmortem,
    PostmortemEdit,
    PostmortemStatus,
    RollbackRequest,
    StatusChange,
    TickRequest,
    TimelineEntry,
)
from tandem.incidents.service import IncidentService

router = APIRouter(tags=["incidents"])

IncidentsDep = Annotated[IncidentService, service(IncidentService)]

INCIDENTS = "/projects/{project}/incidents"
INCIDENT = INCIDENTS + "/{number}"
PLAYBOOKS = "/projects/{project}/playbooks"
POSTMORTEM = INCIDENT + "/postmortem"
READ = policy(Action.MONITOR_READ)
WRITE = policy(Action.INCIDENT_WRITE)


@router.get(INCIDENTS, openapi_extra=READ)
async def list_incidents(
    project: str, incidents: IncidentsDep, principal: PrincipalDep,
    open_only: Annotated[bool, Query(alias="open", description="not resolved yet")] = False,
    endpoint: str | None = None,
) -> list[Incident]:  # fmt: skip
    """The project's incidents, newest first."""
    return await offload(
        incidents.list_incidents, principal, project, open_only=open_only, endpoint=endpoint
    )


@router.post(INCIDENTS, status_code=201, openapi_extra=WRITE)
async def open_incident(
    project: str, body: IncidentCreate, incidents: IncidentsDep, principal: PrincipalDep
) -> Incident:
    return await offload(incidents.open, principal, project, body)


@router.get(INCIDENTS + "/stats", openapi_extra=READ)
async def incident_stats(
    project: str, incidents: IncidentsDep, principal: PrincipalDep
) -> IncidentStats:
    """Time to acknowledge and to resolve over the project's incidents."""
    return await offload(incidents.stats, principal, project)


@router.get(INCIDENT, openapi_extra=READ)
async def get_incident(
    project: str, number: Number, incidents: IncidentsDep, principal: PrincipalDep
) -> Incident:
    return await offload(incidents.get, principal, project, number)


@router.patch(INCIDENT, openapi_extra=WRITE)
async def update_incident(
    project: str, number: Number, body: IncidentPatch, incidents: IncidentsDep,
    principal: PrincipalDep,
) -> Incident:  # fmt: skip
    return await offload(incidents.update, principal, project, number, body)


@router.post(INCIDENT + "/ack", openapi_extra=WRITE)
async def acknowledge_incident(
    project: str, number: Number, incidents: IncidentsDep, principal: PrincipalDep
) -> Incident:
    return await offload(incidents.acknowledge, principal, project, number)


@router.post(INCIDENT + "/status", openapi_extra=WRITE)
async def set_incident_status(
    project: str, number: Number, body: StatusChange, incidents: IncidentsDep,
    principal: PrincipalDep,
) -> Incident:  # fmt: skip
    """Forward only: open → acknowledged → mitigated → resolved."""
    return await offload(incidents.set_status, principal, project, number, body)


@router.post(INCIDENT + "/notes", openapi_extra=WRITE)
async def add_incident_note(
    project: str, number: Number, body: NoteCreate, incidents: IncidentsDep,
    principal: PrincipalDep,
) -> Incident:  # fmt: skip
    return await offload(incidents.add_note, principal, project, number, body)


@router.post(INCIDENT + "/tick", openapi_extra=WRITE)
async def tick_incident_step(
    project: str, number: Number, body: TickRequest, incidents: IncidentsDep,
    principal: PrincipalDep,
) -> Incident:  # fmt: skip
    return await offload(incidents.tick, principal, project, number, body)


@router.post(INCIDENT + "/rollback", openapi_extra=policy(Action.DEPLOYMENT_WRITE))
async def rollback_from_incident(
    project: str, number: Number, body: RollbackRequest, incidents: IncidentsDep,
    principal: PrincipalDep,
) -> Incident:  # fmt: skip
    """Rolls the incident's endpoint back; a production endpoint needs deployment:release."""
    return await offload(incidents.rollback, principal, project, number, body)


@router.get(INCIDENT + "/timeline", openapi_extra=READ)
async def incident_timeline(
    project: str, number: Number, incidents: IncidentsDep, principal: PrincipalDep
) -> list[TimelineEntry]:
    return await offload(incidents.timeline, principal, project, number)


# -- playbooks ---------------------------------------------------------------------------------


@router.get(PLAYBOOKS, openapi_extra=READ)
async def list_playbooks(
    project: str, incidents: IncidentsDep, principal: PrincipalDep
) -> list[Playbook]:
    return await offload(incidents.list_playbooks, principal, project)


@router.get(PLAYBOOKS + "/{kind}", openapi_extra=READ)
async def get_playbook(
    project: str, kind: str, incidents: IncidentsDep, principal: PrincipalDep
) -> Playbook:
    return await offload(incidents.get_playbook, principal, project, kind)


@router.put(PLAYBOOKS + "/{kind}", openapi_extra=WRITE)
async def set_playbook(
    project: str, kind: str, body: PlaybookMarkdown, incidents: IncidentsDep,
    principal: PrincipalDep,
) -> Playbook:  # fmt: skip
    """The playbook for `kind` from Markdown: a checkbox line per step."""
    return await offload(incidents.set_playbook_markdown, principal, project, kind, body.markdown)


@router.put(PLAYBOOKS + "/{kind}/steps", openapi_extra=WRITE)
async def set_playbook_steps(
    project: str, kind: str, body: PlaybookSet, incidents: IncidentsDep, principal: PrincipalDep
) -> Playbook:
    data = body.model_copy(update={"kind": kind, "source": "api"})
    return await offload(incidents.set_playbook, principal, project, data)


@router.delete(PLAYBOOKS + "/{kind}", status_code=204, openapi_extra=WRITE)
async def delete_playbook(
    project: str, kind: str, incidents: IncidentsDep, principal: PrincipalDep
) -> Response:
    await offload(incidents.delete_playbook, principal, project, kind)
    return Response(status_code=204)


# -- postmortems -------------------------------------------------------------------------------


@router.get("/projects/{project}/postmortems", openapi_extra=READ)
async def list_postmortems(
    project: str, incidents: IncidentsDep, principal: PrincipalDep,
    status: PostmortemStatus | None = None,
) -> list[Postmortem]:  # fmt: skip
    return await offload(incidents.list_postmortems, principal, project, status=status)


@router.get(POSTMORTEM, openapi_extra=READ)
async def get_postmortem(
    project: str, number: Number, incidents: IncidentsDep, principal: PrincipalDep
) -> Postmortem:
    return await offload(incidents.get_postmortem, principal, project, number)


@router.post(POSTMORTEM, status_code=201, openapi_extra=WRITE)
async def start_postmortem(
    project: str, number: Number, incidents: IncidentsDep, principal: PrincipalDep
) -> Postmortem:
    """A draft for a resolved incident, with its impact and timeline filled in."""
    return await offload(incidents.start_postmortem, principal, project, number)


@router.patch(POSTMORTEM, openapi_extra=WRITE)
async def edit_postmortem(
    project: str, number: Number, body: PostmortemEdit, incidents: IncidentsDep,
    principal: PrincipalDep,
) -> Postmortem:  # fmt: skip
    return await offload(incidents.edit_postmortem, principal, project, number, body)


@router.post(POSTMORTEM + "/submit", openapi_extra=WRITE)
async def submit_postmortem(
    project: str, number: Number, incidents: IncidentsDep, principal: PrincipalDep
) -> Postmortem:
    return await offload(incidents.submit_postmortem, principal, project, number)


@router.post(POSTMORTEM + "/publish", openapi_extra=WRITE)
async def publish_postmortem(
    project: str, number: Number, incidents: IncidentsDep, principal: PrincipalDep
) -> Postmortem:
    """Needs the RACI's Accountable for incident-response and a confirmed review checklist."""
    return await offload(incidents.publish_postmortem, principal, project, number)
