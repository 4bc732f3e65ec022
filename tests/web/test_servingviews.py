"""What the endpoint pages compute from the deployment models (tandem.web.servingviews): the
split's bar segments, the canary's steps, guard rows, the charts' series and totals, the
buttons that make sense, and the history's links to versions, gates and decisions."""

from __future__ import annotations

from tandem.deployments.models import (
    Analysis,
    Deployment,
    DeploymentEvent,
    Endpoint,
    EventKind,
    GuardResult,
    Role,
    Rollout,
    RolloutStatus,
    ShadowFigures,
    Strategy,
    WindowPoint,
)
from tandem.governance.gates.models import Gate, GateStatus
from tandem.registry.models import Stage
from tandem.web import servingviews as views

T = 1_790_000_000_000


def _deployment(version: int, role: Role, weight: float) -> Deployment:
    return Deployment(id=f"d-{version}", model="churn-lr", version=version, role=role,
                      weight=weight, created_at=T, created_by="ada")  # fmt: skip


def _rollout(status: RolloutStatus, step: int = 1) -> Rollout:
    analysis = Analysis(at=T, step=step, samples=700, decision="hold", guards=[
        GuardResult(guard="error_rate < 0.01", value=0.002, holds=True),
        GuardResult(guard="agreement > 0.9", value=None, holds=None),
    ])  # fmt: skip
    return Rollout(id="r-1", strategy=Strategy.CANARY, candidate="d-2", baseline="d-1",
                   steps=[5, 25, 100], step=step, interval_s=60,
                   guards=["error_rate < 0.01", "p99_ms < 50"], min_samples=500, status=status,
                   step_started_at=T, started_at=T, started_by="ada",
                   last_analysis=analysis)  # fmt: skip


def _endpoint(rollout: Rollout | None, *deployments: Deployment) -> Endpoint:
    return Endpoint(project="churn", name="prod", production=True, policy_version=4,
                    deployments=list(deployments), rollout=rollout, created_at=T,
                    created_by="ada", updated_at=T)  # fmt: skip


def test_split_steps_guards_and_buttons() -> None:
    running = _rollout(RolloutStatus.RUNNING)
    endpoint = _endpoint(running, _deployment(1, Role.PRIMARY, 75), _deployment(2, Role.CANARY, 25),
                         _deployment(3, Role.SHADOW, 0))  # fmt: skip
    segments = views.split(endpoint.deployments)
    assert [(s["label"], s["x"], s["width"], s["cls"]) for s in segments] == [
        ("churn-lr@1", 0, 75, "seg-0"),
        ("churn-lr@2", 75, 25, "seg-1"),
    ]  # fmt: skip  (a shadow takes no traffic: listed, not drawn)
    assert [s["state"] for s in views.rollout_steps(running)] == ["done", "current", "next"]
    done = _rollout(RolloutStatus.COMPLETED, step=2)
    assert {s["state"] for s in views.rollout_steps(done)} == {"done"}
    assert views.guard_rows(running) == [
        {"guard": "error_rate < 0.01", "value": 0.002, "holds": True},
        {"guard": "p99_ms < 50", "value": None, "holds": None},  # not read yet
        {"guard": "agreement > 0.9", "value": None, "holds": None},  # read beyond the guards
    ]
    assert views.actions(endpoint) == ["promote", "pause", "rollback"]
    assert views.actions(_endpoint(_rollout(RolloutStatus.PAUSED))) == [
        "promote", "resume", "rollback"
    ]  # fmt: skip
    assert views.actions(_endpoint(done)) == []  # no rollback target, nothing under way
    assert views.actions(_endpoint(None)) == []


def test_charts_and_totals_per_version() -> None:
    points = [
        WindowPoint(deployment="d-1", label="churn-lr@1", start=T + i * 60_000, requests=90,
                    errors=0, p50_ms=1.5, p99_ms=4.0)
        for i in range(3)
    ] + [
        WindowPoint(deployment="d-2", label="churn-lr@2", start=T + i * 60_000, requests=10,
                    errors=i, p50_ms=2.0, p99_ms=None if i == 0 else 9.0)
        for i in range(3)
    ]  # fmt: skip
    charts = views.charts(points, 60)
    assert [c["title"] for c in charts] == ["Requests per bucket", "Error rate", "p50 latency",
                                            "p99 latency"]  # fmt: skip
    assert all(c["type"] == "lines" and c["time"] for c in charts)
    errors = {s["label"]: s["y"] for s in charts[1]["series"]}
    assert errors == {"churn-lr@1": [0, 0, 0], "churn-lr@2": [0, 0.1, 0.2]}
    assert charts[0]["series"][0]["x"] == [T / 1000, T / 1000 + 60, T / 1000 + 120]
    assert views.totals(points) == [
        {"label": "churn-lr@1", "requests": 270, "errors": 0, "error_rate": 0, "worst_p99": 4.0},
        {"label": "churn-lr@2", "requests": 30, "errors": 3, "error_rate": 0.1, "worst_p99": 9.0},
    ]
    assert views.bucket_rows(points)[0].start == T + 120_000  # newest first
    assert views.charts([], 60) == []


def test_the_timeline_links_versions_gates_and_decisions() -> None:
    event = DeploymentEvent(
        seq=3, endpoint="prod", kind=EventKind.DEPLOYED, at=T, actor="ada", actor_kind="person",
        before={"churn-lr@1": 100}, after={"churn-lr@1": 90, "churn-lr@2": 10}, policy_version=3,
        evidence={"version": "churn-lr@2", "rollout": "r-1", "decision": 4, "stage": "ready"},
    )  # fmt: skip
    gates = [
        Gate(id=gid, project="churn", model="churn-lr", version=version,
             from_stage=Stage.READY_FOR_REVIEW, to_stage=Stage.READY_FOR_PRODUCTION,
             status=GateStatus.PASSED, activity="release-approval", opened_at=T - 9000,
             opened_by="ada", closed_at=closed)
        for gid, version, closed in (("g-later", 2, T + 1), ("g-2", 2, T - 5000),
                                     ("g-old", 2, T - 8000), ("g-1", 1, T - 100))
    ]  # fmt: skip
    [item] = views.timeline("churn", [event], gates)
    assert item["gate"]["href"] == "/projects/churn/gates/g-2"  # the last one before the event
    assert "ready-for-review → ready-for-production" in item["gate"]["text"]
    assert [w["href"] for w in item["after"]] == [
        "/projects/churn/models/churn-lr/versions/1", "/projects/churn/models/churn-lr/versions/2"
    ]  # fmt: skip
    links = {x["key"]: x["href"] for x in item["evidence"]}
    assert links == {"version": "/projects/churn/models/churn-lr/versions/2", "rollout": None,
                     "decision": "/projects/churn/decisions#decision-4", "stage": None}  # fmt: skip
    assert views.timeline("churn", [event])[0]["gate"] is None
    assert views.version_url("churn", "not a version") is None


def test_the_shadow_comparison_reads_the_reported_windows_without_guards() -> None:
    primary, shadow = _deployment(1, Role.PRIMARY, 100), _deployment(2, Role.SHADOW, 0)
    rollout = _rollout(RolloutStatus.AWAITING_PROMOTION).model_copy(
        update={"strategy": Strategy.SHADOW, "guards": [], "last_analysis": None, "mirror": 100.0}
    )
    figures = [ShadowFigures(compared=100, agreed=90, abs_diff_sum=4.0, errors=5,
                             latency_ms_sum=200.0),
               ShadowFigures(compared=100, agreed=95, abs_diff_sum=6.0, errors=5,
                             latency_ms_sum=300.0)]  # fmt: skip
    points = [WindowPoint(deployment="d-2", label="churn-lr@2", start=T + i * 10_000,
                          requests=0, errors=0, p50_ms=None, p99_ms=None, shadow=f)
              for i, f in enumerate(figures)]  # fmt: skip
    points.append(WindowPoint(deployment="d-1", label="churn-lr@1", start=T, requests=200,
                              errors=0, p50_ms=1.0, p99_ms=2.0))  # fmt: skip
    view = views.shadow_view(_endpoint(rollout, primary, shadow), points)
    assert view is not None and view["figures"] == []
    [row] = view["measured"]
    assert row["label"] == "churn-lr@2" and row["mirrored"] == 200
    assert row["agreement"] == 185 / 190  # of the requests both versions answered
    assert row["score_diff"] == 10.0 / 190
    assert row["error_rate"] == 10 / 200 and row["mean_ms"] == 2.5
    # nothing mirrored and no shadow rollout: no section
    assert views.shadow_view(_endpoint(None, primary), points[-1:]) is None
