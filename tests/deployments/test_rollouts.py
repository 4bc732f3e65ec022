"""Rollouts through the SDK (embedded, and against a live server on loopback): canary steps
moved by the analysis of reported windows, rollback on a failing guard, pause when samples are
too few, blue-green preview/promote/warm standby, shadow, hand changes, two people at once,
a candidate that fails to load, and what served when."""

from __future__ import annotations

import time

import pytest
from deploy_world import MODEL, register_models, report, window

from tandem.core.clock import now_ms
from tandem.deployments.models import (
    Endpoint,
    EventKind,
    Role,
    RolloutStatus,
    ShadowFigures,
)
from tandem.errors import Conflict, InvalidInput
from tandem.sdk.client import Client

V1, V2 = f"{MODEL}@1", f"{MODEL}@2"


@pytest.fixture
def serving(client: Client) -> Client:
    """Endpoint `staging` in project churn, served by churn-lr@1."""
    register_models(client)
    client.deployments.create("staging", project="churn")
    client.deployments.deploy("staging", V1, "churn")
    return client


def split(endpoint: Endpoint) -> dict[str, tuple[Role, float]]:
    return {f"{d.model}@{d.version}": (d.role, d.weight) for d in endpoint.deployments}


def step_over(client: Client, endpoint: Endpoint) -> None:
    """Wait until the current step's interval (a few ms in these tests) is over."""
    assert endpoint.rollout is not None
    deadline = endpoint.rollout.step_started_at + endpoint.rollout.interval_s * 1000
    while now_ms() <= deadline:
        time.sleep(0.005)


def report_candidate(client: Client, endpoint: Endpoint, *, requests: int, errors: int = 0,
                     latency_ms: float = 2.0, second: int = 0) -> Endpoint:  # fmt: skip
    """The gateway reports the candidate's figures since its step started; returns the
    endpoint as the controller left it."""
    assert endpoint.rollout is not None
    candidate = endpoint.rollout.candidate
    start = endpoint.rollout.step_started_at + second * 1000  # the step's `second`th window
    figures = window(candidate, start, requests=requests, errors=errors, latency_ms=latency_ms)
    client.deployments.report("staging", report(endpoint.policy_version, figures), "churn")
    return client.deployments.get("staging", "churn")


def test_canary_advances_step_by_step_and_completes(serving: Client) -> None:
    endpoint = serving.deployments.deploy(
        "staging", V2, "churn", strategy="canary", steps=[10, 50, 100], interval_s=0.01,
        guards=["error_rate < 0.05", "p99_ms < 50"], min_samples=100,
    )  # fmt: skip
    assert split(endpoint) == {V1: (Role.PRIMARY, 90.0), V2: (Role.CANARY, 10.0)}
    assert endpoint.rollout is not None and endpoint.rollout.status is RolloutStatus.RUNNING
    policy = serving.deployments.policy("staging", "churn")
    assert policy is not None and sum(r.weight for r in policy.routes) == 100

    step_over(serving, endpoint)
    advanced = report_candidate(serving, endpoint, requests=500, errors=1)
    assert split(advanced) == {V1: (Role.PRIMARY, 50.0), V2: (Role.CANARY, 50.0)}
    assert advanced.rollout is not None and advanced.rollout.step == 1

    step_over(serving, advanced)
    done = report_candidate(serving, advanced, requests=500)
    assert split(done) == {V2: (Role.PRIMARY, 100.0)}
    assert done.rollout is not None and done.rollout.status is RolloutStatus.COMPLETED
    assert done.rollback_target is not None and done.rollback_target.version == 1

    events = serving.deployments.history("staging", "churn").items
    assert [e.kind for e in events[:3]] == [EventKind.COMPLETED, EventKind.STEP, EventKind.DEPLOYED]
    assert events[0].actor == "analysis" and events[0].actor_kind == "analysis"
    guards = {g["guard"]: g for g in events[1].evidence["analysis"]["guards"]}
    assert guards["error_rate < 0.05"]["value"] == pytest.approx(1 / 500)
    assert guards["error_rate < 0.05"]["holds"] is True
    assert events[1].before == {V1: 90.0, V2: 10.0} and events[1].after == {V1: 50.0, V2: 50.0}


def test_a_failing_guard_rolls_back_at_once(serving: Client) -> None:
    endpoint = serving.deployments.deploy(
        "staging", V2, "churn", strategy="canary", steps=[10, 100], interval_s=3600,
        guards=["error_rate < 0.01"], min_samples=100,
    )  # fmt: skip
    # within the interval, guards holding: hold
    held = report_candidate(serving, endpoint, requests=500, errors=1)
    assert split(held) == split(endpoint) and held.policy_version == endpoint.policy_version
    assert held.rollout is not None and held.rollout.last_analysis is not None
    assert held.rollout.last_analysis.decision == "hold"
    back = report_candidate(serving, endpoint, requests=200, errors=120, second=1)  # 20%
    assert split(back) == {V1: (Role.PRIMARY, 100.0)}
    assert back.rollout is not None and back.rollout.status is RolloutStatus.ROLLED_BACK
    assert "guard failed: error_rate = 0.1729" in back.rollout.reason  # 121 of 700
    last = serving.deployments.history("staging", "churn", limit=1).items[0]
    assert last.kind is EventKind.ROLLED_BACK and last.actor == "analysis"
    assert last.after == {V1: 100.0}
    assert serving.deployments.analyse("staging", "churn") is None  # nothing under way


def test_latency_guard_and_too_few_samples_pause(serving: Client) -> None:
    endpoint = serving.deployments.deploy(
        "staging", V2, "churn", strategy="canary", steps=[10, 100], interval_s=0.01,
        guards=["p99_ms < 50"], min_samples=1000,
    )  # fmt: skip
    step_over(serving, endpoint)
    paused = report_candidate(serving, endpoint, requests=20)
    assert paused.rollout is not None and paused.rollout.status is RolloutStatus.PAUSED
    assert "only 20 of 1000 samples" in paused.rollout.reason
    assert split(paused) == split(endpoint)  # never promoted
    resumed = serving.deployments.resume("staging", "churn", message="more traffic now")
    assert resumed.rollout is not None and resumed.rollout.status is RolloutStatus.RUNNING
    slow = report_candidate(serving, resumed, requests=2000, latency_ms=240)  # +200 ms
    assert split(slow) == {V1: (Role.PRIMARY, 100.0)}
    assert slow.rollout is not None and slow.rollout.status is RolloutStatus.ROLLED_BACK


def test_pause_promote_by_hand(serving: Client) -> None:
    serving.deployments.deploy("staging", V2, "churn", strategy="canary", steps=[5, 100],
                               interval_s=60)  # fmt: skip
    paused = serving.deployments.pause("staging", "churn", message="weekend")
    assert paused.rollout is not None and paused.rollout.status is RolloutStatus.PAUSED
    with pytest.raises(Conflict, match="only a running rollout can be paused"):
        serving.deployments.pause("staging", "churn")
    promoted = serving.deployments.promote("staging", "churn", message="looks fine")
    assert split(promoted) == {V2: (Role.PRIMARY, 100.0)}
    with pytest.raises(Conflict, match="no rollout under way to promote: the last change was "
                                       "promoted by "):  # fmt: skip
        serving.deployments.promote("staging", "churn")
    back = serving.deployments.rollback("staging", "churn", message="changed our minds")
    assert split(back) == {V1: (Role.PRIMARY, 100.0)} and back.rollback_target is None
    with pytest.raises(Conflict, match="nothing to roll back to"):
        serving.deployments.rollback("staging", "churn")
    kinds = [e.kind for e in serving.deployments.history("staging", "churn").items]
    assert kinds[:4] == [EventKind.ROLLED_BACK, EventKind.PROMOTED, EventKind.PAUSED,
                         EventKind.DEPLOYED]  # fmt: skip


def test_two_people_promoting_at_once_one_wins(serving: Client) -> None:
    endpoint = serving.deployments.deploy("staging", V2, "churn", strategy="blue-green")
    seen = endpoint.policy_version
    serving.deployments.promote("staging", "churn", expected_policy_version=seen)
    with pytest.raises(Conflict, match=r"changed since you looked .*promoted by"):
        serving.deployments.promote("staging", "churn", expected_policy_version=seen)
    with pytest.raises(Conflict, match="changed since you looked"):
        serving.deployments.rollback("staging", "churn", expected_policy_version=seen)
    assert split(serving.deployments.get("staging", "churn"))[V2] == (Role.PRIMARY, 100.0)


def test_blue_green_preview_promote_and_instant_rollback(serving: Client) -> None:
    preview = serving.deployments.deploy("staging", V2, "churn", strategy="blue-green",
                                         warm_s=600)  # fmt: skip
    assert split(preview) == {V1: (Role.PRIMARY, 100.0), V2: (Role.PREVIEW, 0.0)}
    assert preview.rollout is not None
    assert preview.rollout.status is RolloutStatus.AWAITING_PROMOTION
    with pytest.raises(Conflict, match="under way"):
        serving.deployments.deploy("staging", f"{MODEL}@3", "churn")
    switched = serving.deployments.promote("staging", "churn")
    assert split(switched) == {V2: (Role.PRIMARY, 100.0), V1: (Role.STANDBY, 0.0)}
    assert switched.warm_until is not None and switched.warm_until > now_ms()
    policy = serving.deployments.policy("staging", "churn")
    assert policy is not None and {r.role for r in policy.routes} == {Role.PRIMARY, Role.STANDBY}
    back = serving.deployments.rollback("staging", "churn", message="instant")
    assert split(back) == {V1: (Role.PRIMARY, 100.0)} and back.warm_until is None


def test_blue_green_standby_released_after_the_warm_window(serving: Client) -> None:
    serving.deployments.deploy("staging", V2, "churn", strategy="blue-green", warm_s=0.05)
    switched = serving.deployments.promote("staging", "churn")
    assert switched.warm_until is not None
    while now_ms() <= switched.warm_until:
        time.sleep(0.01)
    serving.deployments.report("staging", report(switched.policy_version), "churn")
    released = serving.deployments.get("staging", "churn")
    assert split(released) == {V2: (Role.PRIMARY, 100.0)} and released.warm_until is None
    assert released.rollback_target is not None and released.rollback_target.version == 1
    last = serving.deployments.history("staging", "churn", limit=1).items[0]
    assert last.kind is EventKind.STANDBY_RELEASED


def test_shadow_mirrors_then_replaces_or_stops_on_disagreement(serving: Client) -> None:
    shadow = serving.deployments.deploy(
        "staging", V2, "churn", strategy="shadow", mirror=50, guards=["agreement >= 0.9"],
        min_samples=100,
    )  # fmt: skip
    assert split(shadow) == {V1: (Role.PRIMARY, 100.0), V2: (Role.SHADOW, 0.0)}
    policy = serving.deployments.policy("staging", "churn")
    assert policy is not None
    assert {r.version: r.mirror for r in policy.routes} == {1: 0.0, 2: 50.0}
    assert shadow.rollout is not None
    agreeing = ShadowFigures(compared=300, agreed=295, abs_diff_sum=3.0, latency_ms_sum=600)
    figures = window(shadow.rollout.candidate, shadow.rollout.step_started_at, requests=0,
                     shadow=agreeing)  # fmt: skip
    ack = serving.deployments.report("staging", report(shadow.policy_version, figures), "churn")
    assert ack.analysis is not None and ack.analysis.decision == "hold"
    promoted = serving.deployments.promote("staging", "churn")
    assert split(promoted) == {V2: (Role.PRIMARY, 100.0)}

    again = serving.deployments.deploy("staging", f"{MODEL}@3", "churn", strategy="shadow",
                                       guards=["agreement >= 0.9"], min_samples=100)  # fmt: skip
    assert again.rollout is not None
    disagreeing = ShadowFigures(compared=300, agreed=150)
    figures = window(again.rollout.candidate, again.rollout.step_started_at, requests=0,
                     shadow=disagreeing)  # fmt: skip
    ack = serving.deployments.report("staging", report(again.policy_version, figures), "churn")
    assert ack.analysis is not None and ack.analysis.decision == "rollback"
    assert ack.policy_version == again.policy_version + 1
    assert split(serving.deployments.get("staging", "churn")) == {V2: (Role.PRIMARY, 100.0)}


def test_a_candidate_that_does_not_load_fails_its_rollout(serving: Client) -> None:
    endpoint = serving.deployments.deploy("staging", V2, "churn", strategy="canary",
                                          steps=[10, 100])  # fmt: skip
    assert endpoint.rollout is not None
    failed = {endpoint.rollout.candidate: "skops: untrusted type numpy.evil"}
    ack = serving.deployments.report(
        "staging", report(endpoint.policy_version, load_failures=failed), "churn"
    )
    assert ack.policy_version == endpoint.policy_version + 1
    after = serving.deployments.get("staging", "churn")
    assert split(after) == {V1: (Role.PRIMARY, 100.0)}
    assert after.rollout is not None and after.rollout.status is RolloutStatus.FAILED
    last = serving.deployments.history("staging", "churn", limit=1).items[0]
    assert last.kind is EventKind.FAILED and last.evidence["cause"].startswith("skops")
    assert last.evidence["gateway"] == "gw-1"
    assert (last.actor, last.actor_kind) == ("gateway gw-1", "gateway")

    # a replace whose model does not load: back to the version it replaced
    replaced = serving.deployments.deploy("staging", V2, "churn")
    serving.deployments.report(
        "staging", report(replaced.policy_version,
                          load_failures={replaced.deployments[0].id: "truncated file"}), "churn",
    )  # fmt: skip
    assert split(serving.deployments.get("staging", "churn")) == {V1: (Role.PRIMARY, 100.0)}


def test_bad_releases_change_nothing(serving: Client) -> None:
    before = serving.deployments.get("staging", "churn")
    bad = [
        ({"strategy": "canary", "steps": [10, 50]}, "ends at 100|takes all the traffic"),
        ({"strategy": "canary", "steps": [50, 10, 100]}, "must increase"),
        ({"strategy": "canary", "steps": [100]}, "at least two steps"),
        ({"guards": ["latency < 5"]}, "unknown guard metric 'latency'"),
        ({"guards": ["error_rate about 1"]}, "is not METRIC OP NUMBER"),
        ({"guards": ["agreement > 0.9"], "strategy": "canary"}, "reads the shadow comparison"),
    ]
    for fields, message in bad:
        with pytest.raises(InvalidInput, match=message):
            serving.deployments.deploy("staging", V2, "churn", **fields)
    with pytest.raises(InvalidInput, match="invalid alias 'Bad Alias!'"):
        serving.deployments.deploy("staging", f"{MODEL}@Bad Alias!", "churn")
    after = serving.deployments.get("staging", "churn")
    assert after.policy_version == before.policy_version and split(after) == split(before)


def test_what_served_when(serving: Client) -> None:
    first = serving.deployments.get("staging", "churn")
    time.sleep(0.01)
    between = now_ms()
    time.sleep(0.01)
    serving.deployments.deploy("staging", V2, "churn", message="better recall")
    then = serving.deployments.served_at("staging", between, "churn")
    assert then.weights == {V1: 100.0} and then.event is not None
    assert then.event.kind is EventKind.DEPLOYED
    assert then.event.policy_version == first.policy_version
    now = serving.deployments.served_at("staging", now_ms(), "churn")
    assert now.weights == {V2: 100.0} and now.event is not None
    assert now.event.message == "better recall"
    iso = serving.deployments.served_at("staging", "2000-01-01T00:00", "churn")
    assert iso.weights == {} and iso.event is None
    with pytest.raises(InvalidInput, match="invalid time"):
        serving.deployments.served_at("staging", "yesterday", "churn")
    page = serving.deployments.history("staging", "churn", limit=2)
    assert len(page.items) == 2 and page.next_cursor is not None
    rest = serving.deployments.history("staging", "churn", cursor=page.next_cursor)
    assert [e.kind for e in rest.items] == [EventKind.CREATED]
    assert [s.version for s in serving.deployments.serving("churn", model=MODEL)] == [2]


def test_delete_refused_while_serving(serving: Client) -> None:
    endpoint = serving.deployments.get("staging", "churn")
    deployment = endpoint.deployments[0].id
    serving.deployments.report(
        "staging", report(endpoint.policy_version, window(deployment, now_ms() - 1000,
                                                          requests=5)), "churn",
    )  # fmt: skip
    with pytest.raises(Conflict, match="served 5 requests in the last 5 minutes"):
        serving.deployments.delete("staging", "churn")
    serving.deployments.create("idle", project="churn")
    serving.deployments.delete("idle", "churn")
    assert [e.name for e in serving.deployments.list("churn")] == ["staging"]
