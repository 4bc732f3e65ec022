"""Pages open incidents, as the container wires it (no seam on the incidents side): the
alerting service hands a page to `IncidentService.on_page` in its tick, the incident opens with
the RACI's Responsible for incident-response as responders, a second page of the same endpoint
joins it, and the alert names the incident (a page after the incident resolved opening a new
one: tests/incidents)."""

from __future__ import annotations

from alert_world import T0, M, World

from tandem.alerting.models import AlertSettingsUpdate
from tandem.incidents.models import IncidentStatus, TimelineSource


def test_pages_open_then_join_the_endpoints_incident(world: World) -> None:
    services, owner = world.services, world.services.owner
    world.alerts.set_settings(owner, "churn", AlertSettingsUpdate(group_wait="0s"))
    world.feed.add("errors", at=T0, severity="page")
    world.feed.add("drift", at=T0, severity="ticket")  # a ticket opens none
    assert world.alerts.tick(world.worker, now=T0).pages == 1
    world.feed.add("latency", at=T0 + M, severity="page")
    assert world.alerts.tick(world.worker, now=T0 + M).pages == 1

    [incident] = services.incidents.list_incidents(owner, "churn")
    assert (incident.number, incident.endpoint, incident.source) == (1, "prod", "alert")
    assert incident.status is IncidentStatus.OPEN and incident.responders == ["bob"]
    assert incident.opened_at == T0 and len(incident.fingerprints) == 2
    alerts = world.alerts.list_alerts(owner, "churn")
    pages = [a for a in alerts if a.severity.value == "page"]
    assert {a.incident for a in pages} == {"churn/incidents/1"}
    assert [a.incident for a in alerts if a.severity.value == "ticket"] == [None]
    timeline = services.incidents.timeline(owner, "churn", 1)
    assert [e.actor for e in timeline if e.source is TimelineSource.ALERT] == [
        "errors", "latency",
    ]  # fmt: skip
