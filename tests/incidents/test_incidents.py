"""Incidents through the service, as the members of a real project: opening by hand and by a
page alert, acknowledging and resolving with time to acknowledge and resolve, the timeline with
a rollback, playbooks ticked step by step; bad input changes nothing."""

from __future__ import annotations

import pytest
from incident_world import MINUTE, MODEL, T0, Team
from pydantic import ValidationError

from tandem.deployments.models import EventKind
from tandem.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tandem.governance.gates.models import GateOpen
from tandem.governance.plan.spec import ProjectSpec
from tandem.governance.registers.models import CommentCreate
from tandem.incidents.models import (
    IncidentCreate,
    IncidentPatch,
    IncidentSeverity,
    IncidentStatus,
    NoteCreate,
    PageAlert,
    RollbackRequest,
    StatusChange,
    TickRequest,
    TimelineSource,
)
from tandem.incidents.service import parse_markdown, to_markdown
from tandem.registry.models import Stage

RESOLVED = StatusChange(status=IncidentStatus.RESOLVED, message="fixed")
PLAYBOOK = """# Input drift

Some words that are not steps.

- [ ] (commander) Page the data owner
- [x] Check the drift report on the endpoint page
* [ ] Roll back if the new version is the cause
"""


def test_open_ack_resolve_with_time_to_acknowledge_and_resolve(team: Team) -> None:
    incidents = team.services.incidents
    opened = incidents.open(
        team["ds"], "churn", IncidentCreate(title="Scores all zero", severity="sev1"), now=T0
    )
    assert (opened.number, opened.status, opened.commander) == (1, IncidentStatus.OPEN, "ds")
    assert opened.tta_ms is None and opened.ttr_ms is None

    acked = incidents.acknowledge(team["mle"], "churn", 1, now=T0 + 4 * MINUTE)
    assert acked.status is IncidentStatus.ACKNOWLEDGED
    assert (acked.acknowledged_by, acked.tta_ms) == ("mle", 4 * MINUTE)
    mitigated = incidents.set_status(
        team["mle"], "churn", 1, StatusChange(status="mitigated"), now=T0 + 10 * MINUTE
    )
    assert mitigated.mitigated_at == T0 + 10 * MINUTE
    resolved = incidents.set_status(team["pm"], "churn", 1, RESOLVED, now=T0 + 30 * MINUTE)
    assert (resolved.status, resolved.resolved_by) == (IncidentStatus.RESOLVED, "pm")
    assert (resolved.tta_ms, resolved.ttr_ms) == (4 * MINUTE, 30 * MINUTE)

    # a second, acknowledged and resolved in one step by skipping ahead
    incidents.open(team["pm"], "churn", IncidentCreate(title="Slow"), now=T0)
    incidents.set_status(team["ds"], "churn", 2, RESOLVED, now=T0 + 10 * MINUTE)
    incidents.open(team["comp"], "churn", IncidentCreate(title="Still open"), now=T0)
    stats = incidents.stats(team["viewer"], "churn")
    assert (stats.incidents, stats.open, stats.resolved) == (3, 1, 2)
    assert stats.mean_tta_ms == pytest.approx(7 * MINUTE)  # (4 + 10) / 2
    assert stats.median_ttr_ms == pytest.approx(20 * MINUTE)  # (30 + 10) / 2

    entries = incidents.timeline(team["viewer"], "churn", 1)
    assert [(e.kind, e.actor) for e in entries] == [
        ("opened", "ds"), ("acknowledged", "mle"), ("mitigated", "mle"), ("resolved", "pm"),
    ]  # fmt: skip


def test_the_commander_is_changed_or_cleared_by_an_empty_string(team: Team) -> None:
    incidents = team.services.incidents
    incidents.open(team["ds"], "churn", IncidentCreate(title="Scores all zero"), now=T0)
    keep = incidents.update(team["mle"], "churn", 1, IncidentPatch(title="Scores zero"))
    assert keep.commander == "ds"  # omitted (None): left as it was
    changed = incidents.update(team["mle"], "churn", 1, IncidentPatch(commander="pm"))
    assert changed.commander == "pm"
    cleared = incidents.update(team["mle"], "churn", 1, IncidentPatch(commander=""))
    assert cleared.commander is None
    again = incidents.update(team["mle"], "churn", 1, IncidentPatch(commander=""))
    assert again.updated_at == cleared.updated_at  # nothing to clear: no change, no entry
    updates = [e.text for e in incidents.timeline(team["viewer"], "churn", 1)
               if e.kind == "updated"]  # fmt: skip
    assert updates == ["title", "commander pm", "no commander"]
    with pytest.raises(PermissionDenied):
        incidents.update(team["viewer"], "churn", 1, IncidentPatch(commander=""))
    acked = incidents.acknowledge(team["comp"], "churn", 1, now=T0 + MINUTE)
    assert acked.commander == "comp"  # nobody led it: who acknowledges does


def test_a_playbook_previewed_then_written_back_as_markdown(team: Team) -> None:
    incidents = team.services.incidents
    preview = incidents.preview_playbook_markdown(team["pm"], "churn", "drift", PLAYBOOK)
    assert [s.text for s in preview.steps] == [
        s.text for s in parse_markdown("drift", PLAYBOOK).steps
    ]
    assert incidents.list_playbooks(team["viewer"], "churn") == []  # a preview saves nothing
    with pytest.raises(PermissionDenied):
        incidents.preview_playbook_markdown(team["viewer"], "churn", "drift", PLAYBOOK)
    with pytest.raises(InvalidInput, match="has no steps"):
        incidents.preview_playbook_markdown(team["pm"], "churn", "drift", "# Title only")
    with pytest.raises(InvalidInput, match="kind"):
        incidents.preview_playbook_markdown(team["pm"], "churn", "Bad Kind", PLAYBOOK)
    saved = incidents.set_playbook_markdown(team["pm"], "churn", "drift", PLAYBOOK)
    again = parse_markdown("drift", to_markdown(saved))
    assert (again.title, again.steps) == (saved.title, saved.steps)  # round trip


def test_bad_inputs_change_nothing(team: Team) -> None:
    incidents = team.services.incidents
    with pytest.raises(PermissionDenied):  # viewers read, they do not respond
        incidents.open(team["viewer"], "churn", IncidentCreate(title="x"))
    with pytest.raises(InvalidInput, match="'stranger' is not a member"):
        incidents.open(team["ds"], "churn", IncidentCreate(title="x", commander="stranger"))
    with pytest.raises(InvalidInput, match="has no endpoint 'nowhere'"):
        incidents.open(team["ds"], "churn", IncidentCreate(title="x", endpoint="nowhere"))
    with pytest.raises(InvalidInput, match="has no playbook 'drift'"):
        incidents.open(team["ds"], "churn", IncidentCreate(title="x", kind="drift"))
    assert incidents.list_incidents(team["viewer"], "churn") == []

    incidents.open(team["ds"], "churn", IncidentCreate(title="real"), now=T0)
    incidents.set_status(team["ds"], "churn", 1, RESOLVED, now=T0 + MINUTE)
    before = incidents.get(team["viewer"], "churn", 1)
    with pytest.raises(Conflict, match="can only move forward"):
        incidents.set_status(team["ds"], "churn", 1, StatusChange(status="acknowledged"))
    with pytest.raises(PermissionDenied):
        incidents.acknowledge(team["viewer"], "churn", 1)
    with pytest.raises(InvalidInput, match="follows no playbook"):
        incidents.tick(team["ds"], "churn", 1, TickRequest(step=1))
    with pytest.raises(InvalidInput, match="'nobody' is not a member"):
        incidents.update(team["ds"], "churn", 1, IncidentPatch(add_responders=["nobody"]))
    with pytest.raises(NotFound):
        incidents.get(team["viewer"], "churn", 7)
    assert incidents.get(team["viewer"], "churn", 1) == before
    assert len(incidents.timeline(team["viewer"], "churn", 1)) == 2  # opened, resolved


def test_a_page_alert_opens_an_incident_and_the_next_one_joins_it(serving: Team) -> None:
    services = serving.services
    incidents = services.incidents
    alert = PageAlert(
        fingerprint="fp-drift", labels={"alertname": "FeatureDrift", "endpoint": "staging"},
        annotations={"summary": "tenure drifted (PSI 0.41)"}, starts_at=T0,
    )  # fmt: skip
    latency = {"fingerprint": "fp-p99", "labels": {"alertname": "LatencySLO"},
               "annotations": {}, "severity": "page", "starts_at": T0 + MINUTE}  # fmt: skip
    with services.db.write() as conn:
        project_pk = services.projects.access(conn, services.owner, "churn", "project:read")
        first = incidents.on_page(conn, project_pk, "staging", alert)
        joined = incidents.on_page(conn, project_pk, "staging", latency)  # a dict does as well
        again = incidents.on_page(conn, project_pk, "staging", alert)  # the same alert: no change
    assert first == joined == again == 1
    incident = incidents.get(serving["viewer"], "churn", 1)
    assert incident.source == "alert" and incident.endpoint == "staging"
    assert incident.title == "FeatureDrift on staging"
    assert incident.fingerprints == ["fp-drift", "fp-p99"]
    assert incident.responders == ["mle"]  # the RACI's Responsible for incident-response
    alerts = [
        e for e in incidents.timeline(serving["viewer"], "churn", 1)
        if e.source is TimelineSource.ALERT
    ]  # fmt: skip
    assert [(e.actor, e.text) for e in alerts] == [
        ("FeatureDrift", "tenure drifted (PSI 0.41)"), ("LatencySLO", "LatencySLO"),
    ]  # fmt: skip
    # by hand, the endpoint's open incident is named rather than doubled
    with pytest.raises(Conflict, match="already has open incident 1"):
        incidents.open(serving["ds"], "churn", IncidentCreate(title="x", endpoint="staging"))

    incidents.set_status(serving["mle"], "churn", 1, RESOLVED, now=T0 + 5 * MINUTE)
    with services.db.write() as conn:
        project_pk = services.projects.access(conn, services.owner, "churn", "project:read")
        assert incidents.on_page(conn, project_pk, "staging", alert) == 2  # resolved: a new one


def test_the_timeline_shows_a_rollback_from_the_incident(serving: Team) -> None:
    services = serving.services
    incidents = services.incidents
    incidents.open(
        serving["ds"], "churn",
        IncidentCreate(title="Accuracy fell after v2", endpoint="staging", severity="sev2"),
    )  # fmt: skip
    services.registers.add_comment(
        serving["pm"], "churn", CommentCreate(target="incidents/1", body="customers complain")
    )
    gate = services.gates.open(
        services.owner, "churn", GateOpen(model=f"{MODEL}@2", to=Stage.READY_FOR_REVIEW)
    )
    services.gates.cancel(services.owner, "churn", gate.id, "not while it is on fire")
    with pytest.raises(PermissionDenied):  # viewers may not roll back: nothing recorded
        incidents.rollback(serving["viewer"], "churn", 1, RollbackRequest())
    rolled = incidents.rollback(
        serving["mle"], "churn", 1, RollbackRequest(message="v2 is the cause")
    )
    endpoint = services.deployments.get_endpoint(serving["viewer"], "churn", "staging")
    assert [(d.model, d.version, d.weight) for d in endpoint.deployments if d.weight] == [
        (MODEL, 1, 100.0)
    ]
    assert rolled.status is IncidentStatus.OPEN
    incidents.add_note(serving["mle"], "churn", 1, NoteCreate(body="scores look right again"))

    entries = incidents.timeline(serving["viewer"], "churn", 1)
    kinds = [(e.source.value, e.kind) for e in entries]
    assert kinds.index(("deployment", "deployed")) < kinds.index(("incident", "opened"))
    assert ("comment", "comment") in kinds and ("gate", "gate-cancelled") in kinds
    decided = next(e for e in entries if e.source is TimelineSource.GATE)
    assert decided.ref == f"gates/{gate.id}" and "not while it is on fire" in decided.text
    rollback = [e for e in entries if e.source is TimelineSource.DEPLOYMENT
                and e.kind == EventKind.ROLLED_BACK.value]  # fmt: skip
    assert len(rollback) == 1 and rollback[0].actor == "mle"
    assert "incident 1: v2 is the cause" in rollback[0].text
    own = [e for e in entries if e.source is TimelineSource.INCIDENT and e.kind == "rolled-back"]
    assert len(own) == 1 and own[0].text == f"rolled staging back: now {MODEL}@1 100%"
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    assert entries[-1].kind == "note"


def test_playbooks_from_markdown_and_project_yaml_are_ticked_with_who_and_when(
    team: Team,
) -> None:
    services = team.services
    incidents = services.incidents
    playbook = incidents.set_playbook_markdown(team["ds"], "churn", "drift", PLAYBOOK)
    assert playbook.title == "Input drift" and playbook.source == "markdown"
    assert [(s.role, s.text) for s in playbook.steps] == [
        ("commander", "Page the data owner"),
        (None, "Check the drift report on the endpoint page"),
        (None, "Roll back if the new version is the cause"),
    ]
    with pytest.raises(InvalidInput, match="has no steps"):
        incidents.set_playbook_markdown(team["ds"], "churn", "drift", "# Nothing\n\n- a list")
    with pytest.raises(PermissionDenied):
        incidents.set_playbook_markdown(team["viewer"], "churn", "drift", PLAYBOOK)
    assert incidents.get_playbook(team["viewer"], "churn", "drift") == playbook

    # project.yaml: the plan shows it, apply keeps it, export gives it back
    spec = ProjectSpec.model_validate(
        {"playbooks": {"latency": {"title": "Slow answers",
                                   "steps": ["Check p99 per version", "Scale out"]},
                       "drift": {"title": "Input drift",
                                 "steps": [{"text": "Page the data owner", "role": "commander"},
                                           "Check the drift report on the endpoint page",
                                           "Roll back if the new version is the cause"]}}}
    )  # fmt: skip
    plan = services.plan.plan(team["pm"], "churn", spec)
    assert [(c.section, c.action.value, c.key) for c in plan.changes] == [
        ("playbooks", "create", "latency")
    ]
    services.plan.apply(team["pm"], "churn", spec)
    assert [p.kind for p in incidents.list_playbooks(team["viewer"], "churn")] == [
        "drift", "latency",
    ]  # fmt: skip
    exported = services.plan.export(team["viewer"], "churn").model_dump()
    assert exported["playbooks"]["latency"]["steps"] == ["Check p99 per version", "Scale out"]
    with pytest.raises(ValidationError, match="playbook"):  # a typo: the file is refused
        ProjectSpec.model_validate({"playbook": {}})
    with pytest.raises(InvalidInput, match=r"playbooks\.bad"):
        services.plan.apply(
            team["pm"], "churn", ProjectSpec.model_validate({"playbooks": {"bad": {"steps": []}}})
        )
    assert len(incidents.list_playbooks(team["viewer"], "churn")) == 2  # nothing half-applied

    incident = incidents.open(
        team["ds"], "churn", IncidentCreate(title="Drift", kind="drift"), now=T0
    )
    assert incident.playbook == "drift" and [s.done for s in incident.steps] == [False] * 3
    ticked = incidents.tick(team["comp"], "churn", 1, TickRequest(step=2), now=T0 + MINUTE)
    step = ticked.steps[1]
    assert (step.done, step.done_by, step.done_at) == (True, "comp", T0 + MINUTE)
    with pytest.raises(InvalidInput, match="steps 1 to 3, not 4"):
        incidents.tick(team["comp"], "churn", 1, TickRequest(step=4))
    with pytest.raises(Conflict, match="has ticked steps"):
        incidents.update(team["ds"], "churn", 1, IncidentPatch(playbook="latency"))
    unticked = incidents.tick(team["ds"], "churn", 1, TickRequest(step=2, done=False))
    assert unticked.steps[1].done is False and unticked.steps[1].done_by is None
    ticks = [e for e in incidents.timeline(team["viewer"], "churn", 1) if "tick" in e.kind]
    assert [(e.kind, e.actor, e.details["step"]) for e in ticks] == [
        ("tick", "comp", 2), ("untick", "ds", 2),
    ]  # fmt: skip
    assert IncidentSeverity.SEV2 is incident.severity
