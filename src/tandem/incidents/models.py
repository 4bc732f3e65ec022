"""Incidents, playbooks and blameless postmortems: the shapes shared by the hub, the SDK, the CLI
and the web pages (docs/incidents.md, ADR 26).

An incident is numbered per project (`churn/incidents/3`). It moves open → acknowledged →
mitigated → resolved (each step with who and when), has a severity, a commander and responders
(members), and a timeline merged from its own entries, the alerts that paged it, the endpoint's
deployment events, gate decisions and comments in its time span. A playbook (the project's runbook
for a kind of incident) is copied onto the incident when it opens and ticked step by step. Once
resolved, a postmortem is written: draft → in review → published, blameless by construction.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from tandem.core.validation import Number

# the registers' kinds of action item: a postmortem's vocabulary too
from tandem.governance.registers.models import ActionKind as ActionKind


class IncidentStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"


STATUS_ORDER: tuple[IncidentStatus, ...] = tuple(IncidentStatus)
"""Statuses move forward only (a step may be skipped: open → resolved is allowed)."""


class IncidentSeverity(enum.StrEnum):
    """SEV1 is the worst: customers harmed now. A page alert opens a SEV2 unless it says."""

    SEV1 = "sev1"
    SEV2 = "sev2"
    SEV3 = "sev3"
    SEV4 = "sev4"


class IncidentCreate(BaseModel):
    """Open an incident by hand (`tandem incidents open`)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    severity: IncidentSeverity = IncidentSeverity.SEV2
    endpoint: str | None = Field(None, description="the endpoint it concerns, if any")
    kind: str | None = Field(
        None,
        max_length=64,
        description="the kind of incident (drift, latency, ...): picks the playbook",
    )
    summary: str = Field("", max_length=10_000)
    commander: str | None = Field(None, description="a member; the opener when omitted")


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: IncidentStatus
    message: str = Field("", max_length=2_000)


class IncidentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=300)
    severity: IncidentSeverity | None = None
    summary: str | None = Field(None, max_length=10_000)
    commander: str | None = Field(
        None, description="a member to lead the response; an empty string clears it"
    )
    add_responders: list[str] = []
    remove_responders: list[str] = []
    playbook: str | None = Field(
        None, description="the kind of a playbook to follow (replaces unticked steps)"
    )


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=20_000)


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field("", max_length=2_000)


class PlaybookStep(BaseModel):
    """One step of a playbook as written (project.yaml or a Markdown checkbox line)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2_000)
    role: str | None = Field(None, description="who does it, e.g. commander, ml-engineer")


class PlaybookSet(BaseModel):
    """The project's runbook for one kind of incident."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str = Field("", max_length=300)
    steps: list[PlaybookStep] = Field(min_length=1, max_length=200)
    source: str = Field("api", description="project.yaml | markdown | api")


class Playbook(PlaybookSet):
    project: str
    updated_at: int
    updated_by: str


class TickedStep(BaseModel):
    """A playbook step on an incident: ticked with who and when, or not yet."""

    index: int
    text: str
    role: str | None = None
    done: bool = False
    done_at: int | None = None
    done_by: str | None = None


class TickRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: int = Field(ge=1, le=200, description="1-based step number (a playbook has at most 200)")
    done: bool = True


class Incident(BaseModel):
    project: str
    number: int
    title: str
    severity: IncidentSeverity
    status: IncidentStatus
    endpoint: str | None = None
    kind: str | None = None
    summary: str = ""
    commander: str | None = None
    responders: list[str] = []
    source: str = Field("manual", description="manual | alert")
    fingerprints: list[str] = Field([], description="the alerts that paged it")
    playbook: str | None = Field(None, description="the kind of the playbook copied on open")
    steps: list[TickedStep] = []
    links: list[str] = Field(
        [], description="what it involves: endpoints/NAME, models/NAME@N, datasets/NAME@vN"
    )
    opened_at: int
    opened_by: str
    acknowledged_at: int | None = None
    acknowledged_by: str | None = None
    mitigated_at: int | None = None
    mitigated_by: str | None = None
    resolved_at: int | None = None
    resolved_by: str | None = None
    updated_at: int
    tta_ms: int | None = Field(None, description="time to acknowledge, ms")
    ttr_ms: int | None = Field(None, description="time to resolve, ms")
    postmortem: str | None = Field(None, description="the postmortem's status, if one exists")


class TimelineSource(enum.StrEnum):
    INCIDENT = "incident"  # its own entries: opened, status changes, notes, ticks, rollbacks
    ALERT = "alert"
    DEPLOYMENT = "deployment"
    GATE = "gate"
    COMMENT = "comment"


class TimelineEntry(BaseModel):
    at: int
    source: TimelineSource
    kind: str = Field(description="e.g. opened, acknowledged, note, tick, rolled-back, firing")
    actor: str | None = None
    text: str = ""
    ref: str | None = Field(None, description="what it points at: deployments, gates/ID, ...")
    details: dict[str, Any] = {}


class IncidentStats(BaseModel):
    """Time to acknowledge and to resolve over a project's incidents (mean and median, ms)."""

    project: str
    incidents: int
    open: int
    acknowledged: int
    resolved: int
    mean_tta_ms: float | None = None
    median_tta_ms: float | None = None
    mean_ttr_ms: float | None = None
    median_ttr_ms: float | None = None


class PageAlert(BaseModel):
    """What a page-severity alert hands to the incidents domain (alerting's Alert carries at
    least these fields; `on_page` reads them by name)."""

    fingerprint: str
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    severity: str = "page"
    starts_at: int


class PageHandler(Protocol):
    """How alerting opens or joins an incident (implemented by `IncidentService`)."""

    def on_page(self, conn: Any, project_pk: int, endpoint: str | None, alert: Any) -> int: ...


# Postmortems


class PostmortemStatus(enum.StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in-review"
    PUBLISHED = "published"


BLAMELESS_NOTE = (
    "This review is blameless: it asks how the system let this happen, never who. "
    "No field names a person as a cause; write roles and systems, not names."
)

REVIEW_CHECKLIST: tuple[str, ...] = (
    "no person named as a cause",
    "the timeline is complete and in order",
    "every action item has an owner and a due date",
)


class PostmortemAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=1_000)
    kind: ActionKind
    owner: str = Field(description="a member of the project")
    due: dt.date
    number: Number | None = Field(None, description="the registers' action item, once created")


class Impact(BaseModel):
    """What the incident cost, pre-filled from the endpoint's figures over the incident's
    window (opened to resolved): the prediction log when it holds every request, else the
    counts its gateways reported; the KPIs pushed for the endpoint in the window and in the
    window of the same length before it."""

    window_start: int
    window_end: int
    requests: int | None = Field(None, description="requests served in the window")
    errors: int | None = Field(None, description="requests answered with a 5xx status")
    users: int | None = Field(
        None,
        description="distinct values of the endpoint's user or entity key (its sticky key's "
        "field) in the logged requests; a lower bound when the log samples",
    )
    user_key: str | None = Field(None, description="the input field `users` counts")
    logged_share: float | None = Field(
        None, description="the share of requests the prediction log keeps (its sampling)"
    )
    source: str = Field("", description="prediction-log | deployment-windows | none")
    kpis: dict[str, float] = Field(
        {}, description="each KPI's mean over the values pushed for the incident's window"
    )
    kpis_before: dict[str, float] = Field(
        {}, description="the same over the window of the same length before it"
    )
    notes: str = ""


class PostmortemSections(BaseModel):
    """The parts a person writes. Every field optional in a draft."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field("", max_length=20_000)
    impact_notes: str = Field("", max_length=20_000)
    five_whys: list[str] = Field([], max_length=10, description="why? five times, in order")
    trigger: str = Field("", max_length=10_000)
    detection: str = Field("", max_length=10_000)
    resolution: str = Field("", max_length=10_000)
    went_well: list[str] = Field([], max_length=100)
    went_wrong: list[str] = Field([], max_length=100)
    got_lucky: list[str] = Field([], max_length=100)


class PostmortemEdit(BaseModel):
    """`tandem postmortems edit`: change some sections, replace the action items, confirm
    items of the review checklist."""

    model_config = ConfigDict(extra="forbid")

    summary: str | None = Field(None, max_length=20_000)
    impact_notes: str | None = Field(None, max_length=20_000)
    five_whys: list[str] | None = Field(None, max_length=10)
    trigger: str | None = Field(None, max_length=10_000)
    detection: str | None = Field(None, max_length=10_000)
    resolution: str | None = Field(None, max_length=10_000)
    went_well: list[str] | None = Field(None, max_length=100)
    went_wrong: list[str] | None = Field(None, max_length=100)
    got_lucky: list[str] | None = Field(None, max_length=100)
    action_items: list[PostmortemAction] | None = Field(None, max_length=100)
    confirm: list[str] = Field([], description="review checklist items confirmed")


class BlameFlag(BaseModel):
    section: str
    text: str
    name: str = Field(description="the member named or @mentioned")


class Postmortem(PostmortemSections):
    project: str
    incident: int
    status: PostmortemStatus
    blameless_note: str = BLAMELESS_NOTE
    impact: Impact
    timeline: list[TimelineEntry] = []
    action_items: list[PostmortemAction] = []
    checklist: dict[str, bool] = Field(description="review checklist item -> confirmed")
    flags: list[BlameFlag] = Field([], description="members named in the root causes")
    links: list[str] = []
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str
    submitted_at: int | None = None
    submitted_by: str | None = None
    published_at: int | None = None
    published_by: str | None = None


class PlaybookMarkdown(BaseModel):
    """A playbook as Markdown: `# Title`, then a checkbox line per step (`- [ ] Roll back`)."""

    model_config = ConfigDict(extra="forbid")

    markdown: str = Field(min_length=1, max_length=200_000)
