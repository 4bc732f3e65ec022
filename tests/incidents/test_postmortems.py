"""Blameless postmortems, through the SDK against a real server on loopback as the members
themselves: draft from a resolved incident with impact and timeline, action items in the
registers with kind and owner, review, and publishing refused to anyone not Accountable for
incident-response and until the checklist is confirmed and no person is named as a cause."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from incident_world import MODEL, Team

from tandem.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tandem.governance.registers.models import ActionKind
from tandem.incidents.models import (
    BLAMELESS_NOTE,
    REVIEW_CHECKLIST,
    Incident,
    PostmortemStatus,
)
from tandem.lineage.models import Direction
from tandem.sdk.client import Client
from tandem.sdk.incidents import action
from tandem.server.app import create_app

DUE = dt.date(2026, 12, 31)
WHYS = [
    "The model scored every request 0.",
    "The tenure column arrived in days instead of months.",
    "The upstream export changed its unit without a contract check on live inputs.",
]


@pytest.fixture
def members(serving: Team, serve: Any, settings: Any) -> Iterator[dict[str, Client]]:
    """An SDK client per member, each speaking HTTP to one server on loopback."""
    app = create_app(services=serving.services, allow_open=False)
    with serve(app) as url:
        clients = {
            name: Client(url, token=token, settings=settings, project="churn")
            for name, token in serving.tokens.items()
        }
        yield clients
        for client in clients.values():
            client.close()


def test_postmortem_lifecycle(serving: Team, members: dict[str, Client]) -> None:
    ds, mle, pm, viewer = members["ds"], members["mle"], members["pm"], members["viewer"]
    incident = ds.incidents.open("Scores all zero", endpoint="staging", severity="sev1")
    with pytest.raises(Conflict, match="a postmortem follows its resolution"):
        ds.incidents.start_postmortem(incident.number)
    mle.incidents.ack(incident.number)
    mle.incidents.rollback(incident.number, message="v2 scores zero")
    mle.incidents.set_status(incident.number, "resolved", message="v1 serves again")

    draft = ds.incidents.start_postmortem(incident.number)
    assert draft.status is PostmortemStatus.DRAFT and draft.blameless_note == BLAMELESS_NOTE
    assert draft.checklist == dict.fromkeys(REVIEW_CHECKLIST, False)
    assert draft.impact.source == "deployment-windows" and draft.impact.requests == 0
    assert draft.impact.window_end - draft.impact.window_start == (
        mle.incidents.get(incident.number).ttr_ms
    )
    kinds = [(e.source.value, e.kind) for e in draft.timeline]
    assert ("deployment", "rolled-back") in kinds and ("incident", "resolved") in kinds
    with serving.services.db.read() as conn:
        churn = serving.services.projects.find_pk_in(conn, "churn")
        assert churn is not None
        made = {
            label: d
            for d, label in serving.services.deployments.deployments_in(
                conn, churn, "staging"
            ).items()
        }
    assert draft.links == [
        "endpoints/staging", f"deployments/{made[f'{MODEL}@1']}",
        f"deployments/{made[f'{MODEL}@2']}", f"models/{MODEL}@1", f"models/{MODEL}@2",
        "datasets/sample@v1",
    ]  # fmt: skip
    # and in lineage: the endpoint, its deployments, the versions and their data -> the
    # incident -> its postmortem
    graph = serving.services.lineage.graph(serving["viewer"], "churn", "incidents/1")
    nodes = {n.id: (n.kind.value, n.ref) for n in graph.nodes}
    edges = {(nodes[e.src][1], e.relation, nodes[e.dst][1]) for e in graph.edges}
    v2 = made[f"{MODEL}@2"]
    assert {
        ("churn/endpoints/staging", "involved-in", "churn/incidents/1"),
        (f"churn/deployments/{v2}", "involved-in", "churn/incidents/1"),
        (f"churn/models/{MODEL}@2", "involved-in", "churn/incidents/1"),
        ("churn/datasets/sample@v1", "involved-in", "churn/incidents/1"),
        ("churn/incidents/1", "reviewed-in", "churn/postmortems/1"),
        # recorded by the deployments domain when each version was deployed
        (f"churn/models/{MODEL}@2", "deployed-as", f"churn/deployments/{v2}"),
        (f"churn/deployments/{v2}", "serves", "churn/endpoints/staging"),
    } <= edges
    labels = {n.ref: (n.kind.value, n.label, n.status) for n in graph.nodes}
    assert labels["churn/endpoints/staging"] == ("endpoint", "staging", "non-production")
    assert labels[f"churn/deployments/{v2}"] == ("deployment", f"{MODEL}@2 on staging", "retired")
    # from the endpoint down to the postmortem, as `tandem lineage churn/endpoints/staging`
    from_endpoint = serving.services.lineage.graph(
        serving["viewer"], "churn", "endpoints/staging", Direction.DOWNSTREAM
    )
    assert "churn/postmortems/1" in {n.ref for n in from_endpoint.nodes}
    with pytest.raises(NotFound, match="endpoint nope does not exist"):
        serving.services.lineage.graph(serving["viewer"], "churn", "endpoints/nope")
    downstream = serving.services.lineage.graph(
        serving["viewer"], "churn", "datasets/sample@v1", Direction.DOWNSTREAM
    )
    assert {"churn/postmortems/1", f"churn/deployments/{v2}", "churn/endpoints/staging"} <= {
        n.ref for n in downstream.nodes
    }  # what a wrong dataset reaches: up to the endpoint
    with pytest.raises(Conflict, match="has a postmortem already"):
        ds.incidents.start_postmortem(incident.number)
    with pytest.raises(PermissionDenied):
        viewer.incidents.edit_postmortem(incident.number, summary="x")

    # bad input changes nothing: an owner who is no member, an unknown checklist item
    with pytest.raises(InvalidInput, match="'stranger' is not a member"):
        ds.incidents.edit_postmortem(
            incident.number, summary="half",
            action_items=[action("Contract on live inputs", "prevent", "stranger", DUE)],
        )  # fmt: skip
    with pytest.raises(InvalidInput, match="not on the review checklist"):
        ds.incidents.edit_postmortem(incident.number, confirm=["looks fine"])
    assert ds.incidents.postmortem(incident.number) == draft
    assert serving.services.registers.list_actions(serving["viewer"], "churn") == []

    with pytest.raises(InvalidInput, match="no summary and no five_whys"):
        ds.incidents.submit_postmortem(incident.number)
    edited = ds.incidents.edit_postmortem(
        incident.number,
        summary="v2 scored zero for 20 minutes; rolled back to v1.",
        five_whys=[*WHYS, "ds forgot to check the unit."],
        trigger="Deploying churn-lr@2.", detection="A page from the drift monitor.",
        resolution="Rollback to churn-lr@1.", went_well=["Rollback took a minute"],
        went_wrong=["No contract check on live inputs"], got_lucky=["Low traffic hour"],
        action_items=[
            action("Check the contract on live inputs", "prevent", "mle", DUE),
            action("Alert on a constant score", "mitigate", "ds", DUE),
            action("Add a unit field to the export agreement", ActionKind.PROCESS, "pm", DUE),
        ],
    )  # fmt: skip
    assert [a.number for a in edited.action_items] == [1, 2, 3]
    # the action items are in lineage too: the postmortem -> followed-up-by -> each of them
    items = serving.services.lineage.graph(serving["viewer"], "churn", "actions/1")
    refs = {n.id: n.ref for n in items.nodes}
    assert ("churn/postmortems/1", "followed-up-by", "churn/actions/1") in {
        (refs[e.src], e.relation, refs[e.dst]) for e in items.edges
    }
    assert {n.ref: (n.label, n.status) for n in items.nodes}["churn/actions/1"] == (
        "A1 Check the contract on live inputs", "open",
    )  # fmt: skip
    assert "churn/endpoints/staging" in refs.values()  # and back up to what was involved
    assert [(f.section, f.name) for f in edited.flags] == [("five_whys", "ds")]
    items = serving.services.registers.list_actions(serving["viewer"], "churn")
    assert [(i.number, i.kind, i.owner, i.source, i.due) for i in items] == [
        (1, ActionKind.PREVENT, "mle", "postmortems/1", DUE),
        (2, ActionKind.MITIGATE, "ds", "postmortems/1", DUE),
        (3, ActionKind.PROCESS, "pm", "postmortems/1", DUE),
    ]
    mine = serving.services.registers.my_actions(serving["mle"])  # shows on the owner's page
    assert [(i.title, i.kind) for i in mine] == [
        ("Check the contract on live inputs", ActionKind.PREVENT)
    ]
    # keeping the existing items by number creates nothing new
    kept = ds.incidents.edit_postmortem(incident.number, action_items=edited.action_items[:2])
    assert [a.number for a in kept.action_items] == [1, 2]
    assert len(serving.services.registers.list_actions(serving["viewer"], "churn")) == 3

    submitted = ds.incidents.submit_postmortem(incident.number)
    assert submitted.status is PostmortemStatus.IN_REVIEW and submitted.submitted_by == "ds"
    with pytest.raises(Conflict, match="in-review, not a draft"):
        ds.incidents.submit_postmortem(incident.number)

    # only the Accountable for incident-response publishes
    with pytest.raises(PermissionDenied, match="Accountable for incident-response in 'churn': pm"):
        mle.incidents.publish_postmortem(incident.number)
    with pytest.raises(Conflict, match="the review checklist is not confirmed"):
        pm.incidents.publish_postmortem(incident.number)
    confirmed = pm.incidents.edit_postmortem(incident.number, confirm=list(REVIEW_CHECKLIST))
    assert all(confirmed.checklist.values())
    with pytest.raises(Conflict, match="the root causes name 'ds'"):
        pm.incidents.publish_postmortem(incident.number)
    # rewriting the root causes takes the blameless confirmation back
    fixed = pm.incidents.edit_postmortem(
        incident.number, five_whys=[*WHYS, "Nothing checks the unit before a release."]
    )
    assert fixed.flags == [] and fixed.checklist["no person named as a cause"] is False
    with pytest.raises(Conflict, match="no person named as a cause"):
        pm.incidents.publish_postmortem(incident.number)
    pm.incidents.edit_postmortem(incident.number, confirm=["no person named as a cause"])
    published = pm.incidents.publish_postmortem(incident.number)
    assert published.status is PostmortemStatus.PUBLISHED and published.published_by == "pm"
    with pytest.raises(Conflict, match="is published: it is final"):
        pm.incidents.edit_postmortem(incident.number, summary="later")
    assert viewer.incidents.get(incident.number).postmortem == "published"
    assert [p.incident for p in viewer.incidents.postmortems()] == [1]
    with pytest.raises(NotFound, match="has no incident 99"):
        viewer.incidents.postmortem(99)
    second = ds.incidents.open("Another")
    with pytest.raises(NotFound, match="has no postmortem yet"):
        viewer.incidents.postmortem(second.number)


def test_a_mention_in_the_trigger_is_flagged(serving: Team, members: dict[str, Client]) -> None:
    ds = members["ds"]
    number = ds.incidents.open("Slow").number
    ds.incidents.set_status(number, "resolved")
    ds.incidents.start_postmortem(number)
    flagged = ds.incidents.edit_postmortem(number, trigger="@someone pushed on Friday")
    assert [(f.section, f.name) for f in flagged.flags] == [("trigger", "someone")]
    assert flagged.impact.source == "none"  # no endpoint: no figures


def logged(start: int, count: int, *, every: int, errors: set[int]) -> bytes:
    """`count` requests as a gateway ships them, one each `every` ms from `start`; request i
    is customer c-(i % 10)'s and answered 500 when i is in `errors`."""
    import io
    import json

    import pyarrow as pa

    numbers = range(count)
    table = pa.table(
        {
            "request_id": [f"r-{start}-{i}" for i in numbers],
            "at": pa.array([start + i * every for i in numbers], pa.int64()),
            "deployment": [f"{MODEL}@2"] * count,
            "model": [MODEL] * count,
            "version": pa.array([2] * count, pa.int64()),
            "status": pa.array([500 if i in errors else 200 for i in numbers], pa.int32()),
            "latency_ms": [1.5] * count,
            "inputs": [
                json.dumps({"columns": ["x", "customer_id"], "data": [[0.1 * i, f"c-{i % 10}"]]})
                for i in numbers
            ],
            "output": [None if i in errors else json.dumps([i % 2]) for i in numbers],
        }
    )
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def test_the_impact_is_prefilled_from_the_prediction_log_and_the_kpis(serving: Team) -> None:
    """Under a controllable clock: the incident lasts 20 minutes on `staging`, whose sticky key
    is the request field customer_id; the log holds 30 requests in that window (4 answered 500,
    10 customers) and others before and after it; retention was pushed before and during."""
    from incident_world import MINUTE, T0

    from tandem.deployments.models import EndpointUpdate
    from tandem.incidents.models import IncidentCreate, StatusChange
    from tandem.outcomes.models import KpiCreate

    services, owner = serving.services, serving.services.owner
    services.deployments.update_endpoint(
        owner, "churn", "staging", EndpointUpdate(sticky_key="field:customer_id")
    )
    for n, body in enumerate([
        logged(T0 - 5 * MINUTE, 12, every=1000, errors={0, 1}),  # before: not counted
        logged(T0 + MINUTE, 30, every=30_000, errors={3, 9, 17, 28}),
        logged(T0 + 25 * MINUTE, 7, every=1000, errors=set()),  # after: not counted
    ]):  # fmt: skip
        services.predictions.ship(owner, "churn", "staging", gateway="gw", batch=f"b{n}", body=body)
    for at, value in ((T0 - 10 * MINUTE, 0.91), (T0 + 5 * MINUTE, 0.80), (T0 + 15 * MINUTE, 0.84)):
        services.outcomes.push_kpi(
            owner, "churn", "staging", KpiCreate(name="retention_rate", value=value, at=at)
        )
    ds = serving["ds"]
    number = services.incidents.open(
        ds, "churn", IncidentCreate(title="Scores drifted", endpoint="staging"), now=T0
    ).number
    services.incidents.set_status(
        ds, "churn", number, StatusChange(status="resolved"), now=T0 + 20 * MINUTE
    )
    impact = services.incidents.start_postmortem(ds, "churn", number).impact
    assert (impact.window_start, impact.window_end) == (T0, T0 + 20 * MINUTE)
    assert (impact.source, impact.requests, impact.errors) == ("prediction-log", 30, 4)
    assert (impact.users, impact.user_key, impact.logged_share) == (10, "customer_id", 1.0)
    assert impact.kpis == {"retention_rate": pytest.approx(0.82)}
    assert impact.kpis_before == {"retention_rate": pytest.approx(0.91)}

    # kept with the draft: a reader sees the same figures
    assert services.incidents.get_postmortem(serving["viewer"], "churn", number).impact == impact

    # A log that keeps one request in two counts half of them: the requests and errors come
    # from the gateways' figures, which count all; the users from the log, a lower bound.
    from tandem.deployments.models import LatencyBuckets, StatsReport, WindowStats

    services.deployments.update_endpoint(owner, "churn", "staging", EndpointUpdate(sampling=0.5))
    start = T0 + 60 * MINUTE
    endpoint = services.deployments.get_endpoint(owner, "churn", "staging")
    services.deployments.report(
        owner, "churn", "staging",
        StatsReport(
            gateway="gw", policy_version=endpoint.policy_version,
            windows=[
                WindowStats(
                    deployment=endpoint.deployments[0].id, start=start + MINUTE,
                    end=start + 2 * MINUTE, requests=40, errors=2,
                    latency_counts=[0] * len(LatencyBuckets.BOUNDS_MS) + [40],
                )
            ],
        ),
    )  # fmt: skip
    body = logged(start + MINUTE, 20, every=1000, errors={5})
    services.predictions.ship(owner, "churn", "staging", gateway="gw", batch="b9", body=body)
    again = services.incidents.open(
        ds, "churn", IncidentCreate(title="Again", endpoint="staging"), now=start
    ).number
    services.incidents.set_status(
        ds, "churn", again, StatusChange(status="resolved"), now=start + 10 * MINUTE
    )
    sampled = services.incidents.start_postmortem(ds, "churn", again).impact
    assert (sampled.source, sampled.requests, sampled.errors) == ("deployment-windows", 40, 2)
    assert (sampled.users, sampled.logged_share) == (10, 0.5)


def test_the_commander_is_cleared_over_http(members: dict[str, Client]) -> None:
    """REST keeps its old meaning for an omitted or null commander (no change); an empty string
    is the new way to clear it."""
    ds = members["ds"]
    incident = ds.incidents.open("Slow answers")
    assert incident.commander == "ds"
    url = ds.incidents._incident(incident.number, None)
    kept = Incident.model_validate_json(ds.incidents._send("PATCH", url, {"commander": None}))
    assert kept.commander == "ds"
    assert ds.incidents.update(incident.number, summary="p99 doubled").commander == "ds"
    assert ds.incidents.update(incident.number, commander="").commander is None
    assert ds.incidents.get(incident.number).commander is None
    assert ds.incidents.update(incident.number, commander="mle").commander == "mle"
