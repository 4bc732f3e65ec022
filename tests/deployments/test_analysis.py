"""The controller's pure arithmetic: merged windows, interpolated percentiles (checked against
numpy on real samples) and the decision table of `decide`."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tandem.deployments.analysis import (
    BUCKETS,
    Figures,
    bucket_of,
    decide,
    is_last_step,
    merge,
    parse_guards,
    percentile,
    step_windows,
)
from tandem.deployments.models import (
    LatencyBuckets,
    Rollout,
    RolloutStatus,
    ShadowFigures,
    Strategy,
    WindowStats,
)
from tandem.errors import InvalidInput

BOUNDS = LatencyBuckets.BOUNDS_MS
START = 1_800_000_000_000  # the step's start, ms
INTERVAL_S = 60.0
OVER = START + 60_000  # the interval is over
DURING = START + 20_000  # 40 s left


def histogram(latencies_ms) -> list[int]:
    counts = [0] * BUCKETS
    for latency in latencies_ms:
        counts[bucket_of(float(latency))] += 1
    return counts


def window(
    requests: int = 0,
    errors: int = 0,
    latencies: list[float] | None = None,
    *,
    deployment: str = "d-cand",
    start: int = START,
    shadow: ShadowFigures | None = None,
    dropped_logs: int = 0,
) -> WindowStats:
    latencies = [1.0] * requests if latencies is None else latencies
    return WindowStats(
        deployment=deployment,
        start=start,
        end=start + 1000,
        requests=requests,
        errors=errors,
        latency_counts=histogram(latencies),
        shadow=shadow,
        dropped_logs=dropped_logs,
    )


def rollout(
    strategy: Strategy = Strategy.CANARY,
    *,
    guards: list[str] | None = None,
    step: int = 0,
    steps: list[float] | None = None,
    status: RolloutStatus = RolloutStatus.RUNNING,
    min_samples: int = 100,
) -> Rollout:
    return Rollout(
        id="r-1",
        strategy=strategy,
        candidate="d-cand",
        baseline="d-base",
        steps=[5, 25, 50, 100] if steps is None else steps,
        step=step,
        interval_s=INTERVAL_S,
        guards=["error_rate < 0.01", "p99_ms < 50"] if guards is None else guards,
        min_samples=min_samples,
        status=status,
        step_started_at=START,
        started_at=START,
        started_by="ada",
    )


def figures(requests: int, errors: int = 0, latency_ms: float = 4.0) -> Figures:
    return merge([window(requests, errors, [latency_ms] * requests)])


# --- buckets and percentiles -------------------------------------------------------------------


def test_a_latency_counts_in_the_bucket_whose_upper_bound_is_at_or_above_it():
    assert bucket_of(0.0) == 0
    assert bucket_of(0.25) == 0  # on a bound: that bound's bucket (Prometheus's `le`)
    assert bucket_of(0.26) == 1
    assert bucket_of(10_000) == len(BOUNDS) - 1
    assert bucket_of(10_000.1) == len(BOUNDS) == BUCKETS - 1  # +Inf


def test_an_empty_histogram_has_no_percentile():
    assert percentile([0] * BUCKETS, 0.99) is None
    assert Figures().value("p99_ms") is None


def test_percentile_interpolates_inside_the_bucket():
    counts = [0] * BUCKETS
    counts[bucket_of(4.0)] = 100  # (3, 5]
    assert percentile(counts, 0.5) == pytest.approx(4.0)
    assert percentile(counts, 1.0) == pytest.approx(5.0)
    assert percentile(counts, 0.0) == pytest.approx(3.0)
    counts[0] = 100  # (0, 0.25]: half the requests below 0.25 ms
    assert percentile(counts, 0.25) == pytest.approx(0.125)
    assert percentile(counts, 0.75) == pytest.approx(4.0)


def test_a_rank_in_the_inf_bucket_answers_the_last_finite_bound():
    counts = [0] * BUCKETS
    counts[-1] = 10
    assert percentile(counts, 0.5) == BOUNDS[-1]


@pytest.mark.parametrize("q", [-0.1, 1.5])
def test_a_quantile_outside_zero_to_one_is_refused(q):
    with pytest.raises(InvalidInput, match=r"within \[0, 1\]"):
        percentile([1] * BUCKETS, q)


def test_a_histogram_of_the_wrong_length_is_refused():
    with pytest.raises(InvalidInput, match=f"has {BUCKETS} counts"):
        percentile([1, 2, 3], 0.5)


def assert_within_true_bucket(samples, counts, q):
    """The estimate lies in the bucket holding the true q-quantile: the error is at most one
    bucket's width, which is what a fixed-bucket histogram can promise."""
    truth = float(np.quantile(samples, q, method="inverted_cdf"))
    index = bucket_of(truth)
    lower = 0.0 if index == 0 else BOUNDS[index - 1]
    upper = BOUNDS[index] if index < len(BOUNDS) else BOUNDS[-1]
    estimate = percentile(counts, q)
    assert estimate is not None
    assert lower <= estimate <= upper, (q, truth, estimate)


def test_merged_percentiles_match_numpy_on_real_prediction_latencies():
    """Latencies of real predictions, spread over windows of three gateways: the merged
    histogram's percentiles land in the bucket of numpy's percentiles of all the samples."""
    rng = np.random.default_rng(7)
    features = rng.normal(size=(200, 3))
    model = LogisticRegression().fit(features, features[:, 0] > 0)
    latencies = []
    for row in features[:150]:
        began = time.perf_counter()
        model.predict_proba(row.reshape(1, -1))
        latencies.append((time.perf_counter() - began) * 1000)
    # Real latencies are all alike (one or two buckets); add a realistic spread over the range.
    latencies += list(rng.lognormal(mean=2.0, sigma=1.2, size=3000))
    chunks = np.array_split(np.array(latencies), 9)
    windows = [
        window(len(chunk), 0, list(chunk), start=START + i * 1000) for i, chunk in enumerate(chunks)
    ]
    merged = merge(windows)
    assert merged.requests == len(latencies)
    assert sum(merged.latency_counts) == len(latencies)
    assert merged.latency_counts == tuple(histogram(latencies))
    for q in (0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999):
        assert_within_true_bucket(latencies, merged.latency_counts, q)
    assert merged.value("p50_ms") == percentile(merged.latency_counts, 0.5)
    assert merged.value("p99_ms") == percentile(merged.latency_counts, 0.99)


def test_merging_windows_is_not_averaging_their_percentiles():
    fast = window(990, 0, [1.0] * 990)
    slow = window(10, 0, [400.0] * 10)
    merged = merge([fast, slow])
    # The average of the two p99s would be ~200 ms; of all the requests, p99 is still fast.
    assert merged.value("p99_ms") is not None
    assert merged.value("p99_ms") <= 2.0
    assert merge([slow]).value("p99_ms") > 250


# --- merge and figures -------------------------------------------------------------------------


def test_merge_adds_counts_and_shadow_figures():
    one = window(
        100, 2, shadow=ShadowFigures(compared=90, agreed=81, abs_diff_sum=4.5, errors=10),
        dropped_logs=3,
    )  # fmt: skip
    two = window(300, 1, shadow=ShadowFigures(compared=110, agreed=99, abs_diff_sum=5.5, errors=0))
    three = window(0, 0)
    merged = merge([one, two, three])
    assert (merged.requests, merged.errors, merged.dropped_logs, merged.windows) == (400, 3, 3, 3)
    assert merged.shadow == ShadowFigures(
        compared=200, agreed=180, abs_diff_sum=10.0, errors=10, latency_ms_sum=0.0
    )
    assert merged.mirrored == 210
    assert merged.value("error_rate") == pytest.approx(3 / 400)
    assert merged.value("agreement") == pytest.approx(0.9)
    assert merged.value("score_diff") == pytest.approx(0.05)
    assert merged.value("shadow_error_rate") == pytest.approx(10 / 210)
    assert merged.samples("error_rate") == 400
    assert merged.samples("p99_ms") == 400
    assert merged.samples("agreement") == 200
    assert merged.samples("shadow_error_rate") == 210


def test_no_windows_no_figures():
    empty = merge([])
    assert empty == Figures()
    for metric in ("error_rate", "p50_ms", "agreement", "score_diff", "shadow_error_rate"):
        assert empty.value(metric) is None
        assert empty.samples(metric) == 0


def test_an_unknown_metric_is_refused():
    with pytest.raises(InvalidInput, match="unknown guard metric 'accuracy'"):
        Figures().value("accuracy")
    with pytest.raises(InvalidInput, match="unknown guard metric"):
        Figures().samples("accuracy")


def test_a_window_with_the_wrong_histogram_is_refused_naming_the_deployment():
    bad = WindowStats(deployment="d-x", start=0, end=1, requests=1, errors=0, latency_counts=[1, 0])
    with pytest.raises(InvalidInput, match=r"d-x.*2 latency counts; expected 21"):
        merge([bad])


def test_a_window_with_more_errors_than_requests_is_refused():
    with pytest.raises(InvalidInput, match=r"more errors \(5\) than requests \(2\)"):
        merge([window(2, 5)])


def test_step_windows_are_the_candidates_since_the_step_started():
    kept = window(10, start=START)
    windows = [
        kept,
        window(10, start=START - 1000),  # the previous step's weight
        window(10, deployment="d-base", start=START + 1000),  # the baseline's
    ]
    assert step_windows(rollout(), windows) == [kept]


# --- guards ------------------------------------------------------------------------------------


def test_parse_guards_checks_each_guard():
    guards = parse_guards(Strategy.SHADOW, ["agreement >= 0.95", "score_diff < 0.1"])
    assert [str(guard) for guard in guards] == ["agreement >= 0.95", "score_diff < 0.1"]
    with pytest.raises(InvalidInput, match="unknown guard metric 'acc'"):
        parse_guards(Strategy.CANARY, ["acc > 0.9"])
    with pytest.raises(InvalidInput, match="is not METRIC OP NUMBER"):
        parse_guards(Strategy.CANARY, ["error_rate == 0"])
    with pytest.raises(InvalidInput, match="reads the shadow comparison; a canary release"):
        parse_guards(Strategy.CANARY, ["error_rate < 0.01", "agreement > 0.9"])


# --- the decision table ------------------------------------------------------------------------


def test_every_guard_holding_over_the_interval_advances_to_the_next_step():
    analysis = decide(rollout(), figures(500, 1), OVER)
    assert analysis.decision == "advance"
    assert (analysis.at, analysis.step, analysis.samples) == (OVER, 0, 500)
    assert "advance to 25%" in analysis.reason
    assert [(g.guard, g.holds) for g in analysis.guards] == [
        ("error_rate < 0.01", True),
        ("p99_ms < 50", True),
    ]
    assert analysis.guards[0].value == pytest.approx(0.002)


def test_the_step_before_the_last_completes():
    ready = rollout(step=2)
    assert is_last_step(ready)
    assert not is_last_step(rollout(step=1))
    analysis = decide(ready, figures(500), OVER)
    assert analysis.decision == "complete"
    assert "step 3 of 4 (50%)" in analysis.reason


def test_a_single_full_step_completes():
    assert decide(rollout(steps=[100]), figures(500), OVER).decision == "complete"


def test_within_the_interval_a_healthy_step_holds():
    analysis = decide(rollout(), figures(500), DURING)
    assert analysis.decision == "hold"
    assert "500 of 100 samples, 40 s of the interval left" in analysis.reason


def test_a_failing_guard_rolls_back_at_once():
    analysis = decide(rollout(), figures(200, 40), DURING)  # 20% errors, before the interval
    assert analysis.decision == "rollback"
    assert "error_rate = 0.2, needs error_rate < 0.01" in analysis.reason
    assert [g.holds for g in analysis.guards] == [False, True]


def test_extra_latency_rolls_back():
    analysis = decide(rollout(), figures(200, 0, latency_ms=210.0), DURING)
    assert analysis.decision == "rollback"
    assert "p99_ms" in analysis.reason
    assert analysis.guards[1].value is not None
    assert analysis.guards[1].value > 150


def test_a_failing_guard_on_too_few_samples_waits():
    analysis = decide(rollout(), figures(50, 25), DURING)
    assert analysis.decision == "hold"
    assert analysis.guards[0].holds is False


def test_too_few_samples_over_the_interval_is_inconclusive_never_advance():
    analysis = decide(rollout(), figures(99), OVER)
    assert analysis.decision == "inconclusive"
    assert "only 99 of 100 samples" in analysis.reason
    assert "paused, not promoted" in analysis.reason


def test_too_few_samples_on_a_failing_guard_over_the_interval_is_inconclusive():
    assert decide(rollout(), figures(99, 50), OVER).decision == "inconclusive"


def test_no_traffic_at_all_is_inconclusive():
    analysis = decide(rollout(), Figures(), OVER)
    assert analysis.decision == "inconclusive"
    assert [(g.value, g.holds) for g in analysis.guards] == [(None, None), (None, None)]


def test_a_guard_with_no_figure_is_inconclusive_never_advance():
    requests_without_latencies = merge([window(500, 0, [])])
    analysis = decide(rollout(), requests_without_latencies, OVER)
    assert analysis.decision == "inconclusive"
    assert "p99_ms < 50 (no figure)" in analysis.reason


def test_no_guards_advance_on_samples_alone():
    assert decide(rollout(guards=[]), figures(100), OVER).decision == "advance"
    assert decide(rollout(guards=[]), figures(10), OVER).decision == "inconclusive"


def test_a_guard_holding_exactly_on_its_threshold_follows_its_operator():
    at_threshold = figures(100, 1)  # error_rate == 0.01
    assert decide(rollout(guards=["error_rate <= 0.01"]), at_threshold, OVER).decision == "advance"
    assert decide(rollout(guards=["error_rate < 0.01"]), at_threshold, OVER).decision == "rollback"


def test_a_paused_rollout_holds_but_still_rolls_back_a_failing_guard():
    paused = rollout(status=RolloutStatus.PAUSED)
    assert decide(paused, figures(500), OVER).decision == "hold"
    assert decide(paused, figures(500, 100), OVER).decision == "rollback"


@pytest.mark.parametrize(
    "status", [RolloutStatus.COMPLETED, RolloutStatus.ROLLED_BACK, RolloutStatus.FAILED]
)
def test_a_rollout_that_is_over_is_not_analysed(status):
    analysis = decide(rollout(status=status), figures(500, 500), OVER)
    assert analysis.decision == "hold"
    assert f"the rollout is {status.value}" in analysis.reason


def test_a_replace_rollout_has_no_analysis():
    analysis = decide(rollout(Strategy.REPLACE), figures(500, 500), OVER)
    assert analysis.decision == "hold"


def test_blue_green_preview_never_advances_but_rolls_back_a_failing_guard():
    preview = rollout(Strategy.BLUE_GREEN, steps=[], status=RolloutStatus.AWAITING_PROMOTION)
    healthy = decide(preview, figures(500), OVER)
    assert healthy.decision == "hold"
    assert "waiting for a person to promote" in healthy.reason
    assert decide(preview, figures(500, 50), OVER).decision == "rollback"


def shadow_figures(compared: int, agreed: int, diff: float = 0.0, errors: int = 0) -> Figures:
    return merge(
        [
            window(
                0,
                shadow=ShadowFigures(
                    compared=compared, agreed=agreed, abs_diff_sum=diff * compared, errors=errors
                ),
            )
        ]
    )


def shadow_rollout(guards: list[str]) -> Rollout:
    return rollout(
        Strategy.SHADOW, guards=guards, steps=[], status=RolloutStatus.AWAITING_PROMOTION
    )


def test_a_shadow_release_holds_while_its_comparison_holds():
    shadow = shadow_rollout(["agreement >= 0.95", "score_diff < 0.1", "shadow_error_rate < 0.01"])
    analysis = decide(shadow, shadow_figures(1000, 990, diff=0.02), OVER)
    assert analysis.decision == "hold"
    assert analysis.samples == 1000
    assert [g.holds for g in analysis.guards] == [True, True, True]
    assert analysis.guards[0].value == pytest.approx(0.99)


@pytest.mark.parametrize(
    ("guard", "observed"),
    [
        ("agreement >= 0.95", shadow_figures(1000, 900)),
        ("score_diff < 0.1", shadow_figures(1000, 1000, diff=0.3)),
        ("shadow_error_rate < 0.01", shadow_figures(950, 950, errors=50)),
    ],
)
def test_a_failing_shadow_guard_rolls_back_and_stops_mirroring(guard, observed):
    analysis = decide(shadow_rollout([guard]), observed, DURING)
    assert analysis.decision == "rollback"
    assert analysis.reason.endswith("roll back and stop mirroring")


def test_a_shadow_guard_on_too_few_mirrored_requests_waits():
    analysis = decide(shadow_rollout(["agreement >= 0.95"]), shadow_figures(50, 10), OVER)
    assert analysis.decision == "hold"
    assert analysis.samples == 50


def test_a_stored_guard_that_no_longer_parses_is_an_invalid_input():
    with pytest.raises(InvalidInput, match="unknown guard metric"):
        decide(rollout(guards=["drift < 0.1"]), figures(500), OVER)
