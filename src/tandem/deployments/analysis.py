"""The rollout controller's arithmetic: merge the windows gateways report, read a guard's figure,
and decide what a rollout does next. Pure: no I/O, no clock, no database (the service passes
`now_ms` and the windows in, and applies the decision).

The decision table (`decide`), for a rollout with guards G and `min_samples` N:

| situation                                                    | decision     |
|--------------------------------------------------------------|--------------|
| a guard fails on a figure read from at least N samples       | rollback     |
|   (at once, whatever the time; also while paused/awaiting)   |              |
| canary, the step's interval is not over                      | hold         |
| canary, interval over, fewer than N samples                  | inconclusive |
| canary, interval over, a guard has no figure                 | inconclusive |
| canary, interval over, N samples, every guard holds          | advance      |
|   ... and the next step is the last (100) or there is none   | complete     |
| blue-green or shadow (a person promotes), nothing failing    | hold         |
| paused, nothing failing                                      | hold         |
| replace, or a rollout that is over                           | hold         |

"inconclusive" means pause: too few samples never promote. The service moves the traffic.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from tandem.deployments.models import (
    GUARD_METRICS,
    Analysis,
    Guard,
    GuardResult,
    LatencyBuckets,
    Rollout,
    RolloutStatus,
    ShadowFigures,
    Strategy,
    WindowStats,
)
from tandem.errors import InvalidInput

BUCKETS = len(LatencyBuckets.BOUNDS_MS) + 1
"""How many counts `WindowStats.latency_counts` holds: one per bound, then +Inf."""

_PERCENTILES = {"p50_ms": 0.50, "p90_ms": 0.90, "p95_ms": 0.95, "p99_ms": 0.99}
_SHADOW_METRICS = frozenset({"agreement", "score_diff", "shadow_error_rate"})
_OVER = frozenset({RolloutStatus.COMPLETED, RolloutStatus.ROLLED_BACK, RolloutStatus.FAILED})


def bucket_of(latency_ms: float) -> int:
    """The index in `latency_counts` a latency counts in: bucket i holds (BOUNDS[i-1], BOUNDS[i]]
    (Prometheus's `le`), the last one everything above the last bound."""
    return bisect.bisect_left(LatencyBuckets.BOUNDS_MS, latency_ms)


def percentile(counts: Iterable[int], q: float) -> float | None:
    """The q-quantile (0 <= q <= 1) of a latency histogram, in ms; None when it is empty.

    Interpolates linearly inside the bucket the rank falls in, as Prometheus's
    `histogram_quantile` does: the estimate always lies within the bucket that holds the true
    value, so its error is at most that bucket's width. The first bucket starts at 0; a rank in
    the +Inf bucket answers the last finite bound (a floor: "at least 10 s").

    Raises:
        InvalidInput: q outside [0, 1], or not one count per bucket.
    """
    if not 0.0 <= q <= 1.0:
        raise InvalidInput(f"a percentile's q must be within [0, 1], not {q}")
    counts = list(counts)
    if len(counts) != BUCKETS:
        raise InvalidInput(
            f"a latency histogram has {BUCKETS} counts (one per bound of "
            f"LatencyBuckets.BOUNDS_MS, then +Inf), not {len(counts)}"
        )
    total = sum(counts)
    if total == 0:
        return None
    bounds = LatencyBuckets.BOUNDS_MS
    rank = q * total
    below = 0
    for index, count in enumerate(counts):
        if count and below + count >= rank:
            if index == len(bounds):
                return float(bounds[-1])
            lower = 0.0 if index == 0 else float(bounds[index - 1])
            upper = float(bounds[index])
            return lower + (upper - lower) * max(rank - below, 0.0) / count
        below += count
    raise AssertionError("unreachable: rank <= total")  # pragma: no cover


@dataclass(frozen=True)
class Figures:
    """One deployment's figures merged over some windows (see `merge`).

    Shadow figures: `compared` counts the mirrored requests both versions answered (agreement
    and score difference read those), `errors` the ones the candidate failed; a mirrored request
    is in exactly one of them.
    """

    requests: int = 0
    errors: int = 0
    latency_counts: tuple[int, ...] = field(default=(0,) * BUCKETS)
    shadow: ShadowFigures | None = None
    dropped_logs: int = 0
    windows: int = 0

    @property
    def mirrored(self) -> int:
        """Requests copied to a shadow candidate (answered or failed)."""
        return 0 if self.shadow is None else self.shadow.compared + self.shadow.errors

    def samples(self, metric: str) -> int:
        """How many observations a metric's figure is read from (what `min_samples` counts)."""
        _check_metric(metric)
        if metric == "shadow_error_rate":
            return self.mirrored
        if metric in _SHADOW_METRICS:
            return 0 if self.shadow is None else self.shadow.compared
        if metric in _PERCENTILES:
            return sum(self.latency_counts)
        return self.requests

    def value(self, metric: str) -> float | None:
        """A guard metric's figure (`GUARD_METRICS`), or None when there is nothing to read it
        from (no requests, no shadow comparison).

        Raises:
            InvalidInput: a metric that is not in GUARD_METRICS.
        """
        _check_metric(metric)
        if metric == "error_rate":
            return self.errors / self.requests if self.requests else None
        if metric in _PERCENTILES:
            return percentile(self.latency_counts, _PERCENTILES[metric])
        shadow = self.shadow
        if shadow is None:
            return None
        if metric == "shadow_error_rate":
            return shadow.errors / self.mirrored if self.mirrored else None
        if not shadow.compared:
            return None
        if metric == "agreement":
            return shadow.agreed / shadow.compared
        return shadow.abs_diff_sum / shadow.compared  # score_diff


def _check_metric(metric: str) -> None:
    if metric not in GUARD_METRICS:
        known = ", ".join(GUARD_METRICS)
        raise InvalidInput(f"unknown guard metric {metric!r}: use one of {known}")


def merge(windows: Iterable[WindowStats]) -> Figures:
    """Add up windows (of one deployment, from any number of gateways): counts add, so the
    merged percentiles are those of all the requests together, not an average of percentiles.

    Raises:
        InvalidInput: a window whose latency histogram has the wrong number of counts, or with
            more errors than requests.
    """
    requests = errors = dropped = count = 0
    latency = [0] * BUCKETS
    shadow: ShadowFigures | None = None
    for window in windows:
        if len(window.latency_counts) != BUCKETS:
            raise InvalidInput(
                f"window of deployment {window.deployment!r} has {len(window.latency_counts)} "
                f"latency counts; expected {BUCKETS} (one per LatencyBuckets.BOUNDS_MS bound, "
                "then +Inf)"
            )
        if window.errors > window.requests:
            raise InvalidInput(
                f"window of deployment {window.deployment!r} has more errors ({window.errors}) "
                f"than requests ({window.requests})"
            )
        count += 1
        requests += window.requests
        errors += window.errors
        dropped += window.dropped_logs
        latency = [a + b for a, b in zip(latency, window.latency_counts, strict=True)]
        if window.shadow is not None:
            shadow = _add_shadow(shadow, window.shadow)
    return Figures(requests, errors, tuple(latency), shadow, dropped, count)


def _add_shadow(total: ShadowFigures | None, more: ShadowFigures) -> ShadowFigures:
    if total is None:
        return more
    return ShadowFigures(
        compared=total.compared + more.compared,
        agreed=total.agreed + more.agreed,
        abs_diff_sum=total.abs_diff_sum + more.abs_diff_sum,
        errors=total.errors + more.errors,
        latency_ms_sum=total.latency_ms_sum + more.latency_ms_sum,
    )


def parse_guards(strategy: Strategy, texts: Iterable[str]) -> list[Guard]:
    """Check a release's guards before it starts: each parses, and the shadow comparison's
    metrics are only asked of a shadow release (nothing else has them, so the guard could never
    be judged and every step would end inconclusive).

    Raises:
        InvalidInput: a guard that does not parse, names an unknown metric, or reads the shadow
            comparison outside a shadow release.
    """
    guards = [Guard.parse(text) for text in texts]
    for guard in guards:
        if guard.metric in _SHADOW_METRICS and strategy != Strategy.SHADOW:
            raise InvalidInput(
                f"guard {str(guard)!r} reads the shadow comparison; a {strategy.value} release "
                "has none: use error_rate or a latency percentile, or --strategy shadow"
            )
    return guards


def step_windows(rollout: Rollout, windows: Iterable[WindowStats]) -> list[WindowStats]:
    """The windows the current step is judged on: the candidate's, starting at or after the
    step's start (a window that straddles it belongs to the previous weight)."""
    return [
        window
        for window in windows
        if window.deployment == rollout.candidate and window.start >= rollout.step_started_at
    ]


def is_last_step(rollout: Rollout) -> bool:
    """Whether advancing now completes the rollout: there is no next step, or the next one takes
    all the traffic (the candidate then becomes the primary and the baseline leaves)."""
    following = rollout.step + 1
    return following >= len(rollout.steps) or rollout.steps[following] >= 100.0


def decide(rollout: Rollout, figures: Figures, now_ms: int) -> Analysis:
    """Judge a rollout's current step on the candidate's figures (see the module's table).

    Args:
        rollout: the rollout as stored; its guards are parsed here.
        figures: the candidate's figures since the step started (`merge(step_windows(...))`).
        now_ms: the time of the analysis (ms since the epoch).

    Returns:
        The Analysis, with every guard's value: `advance`, `complete`, `hold`, `rollback` or
        `inconclusive` (pause); the service applies it.

    Raises:
        InvalidInput: a stored guard that no longer parses (an unknown metric).
    """
    samples = figures.mirrored if rollout.strategy == Strategy.SHADOW else figures.requests
    results, failing, unknown = _judge(rollout, figures)

    def answer(decision: str, reason: str) -> Analysis:
        return Analysis(
            at=now_ms,
            step=rollout.step,
            samples=samples,
            decision=decision,
            guards=results,
            reason=reason,
        )

    if rollout.status in _OVER:
        return answer("hold", f"the rollout is {rollout.status.value}: nothing to analyse")
    if rollout.strategy == Strategy.REPLACE:
        return answer("hold", "a replace rollout has no analysis")
    if failing:
        stop = " and stop mirroring" if rollout.strategy == Strategy.SHADOW else ""
        return answer("rollback", f"guard failed: {'; '.join(failing)}: roll back{stop}")
    if rollout.status == RolloutStatus.PAUSED:
        return answer("hold", "the rollout is paused: resume it to continue")
    if rollout.strategy != Strategy.CANARY or rollout.status != RolloutStatus.RUNNING:
        return answer("hold", f"guards hold on {samples} samples: waiting for a person to promote")

    where = _where(rollout)
    left_ms = rollout.step_started_at + math.ceil(rollout.interval_s * 1000) - now_ms
    if left_ms > 0:
        return answer(
            "hold",
            f"{where}: {samples} of {rollout.min_samples} samples, {math.ceil(left_ms / 1000)} s "
            "of the interval left",
        )
    if samples < rollout.min_samples:
        return answer(
            "inconclusive",
            f"{where}: only {samples} of {rollout.min_samples} samples over the interval: "
            "paused, not promoted",
        )
    if unknown:
        return answer(
            "inconclusive",
            f"{where}: cannot judge {'; '.join(unknown)} over the interval: paused, not promoted",
        )
    if is_last_step(rollout):
        return answer("complete", f"{where}: every guard held over {samples} samples: complete")
    following = rollout.steps[rollout.step + 1]
    return answer(
        "advance",
        f"{where}: every guard held over {samples} samples: advance to {following:g}%",
    )


def _judge(rollout: Rollout, figures: Figures) -> tuple[list[GuardResult], list[str], list[str]]:
    """Each guard's value and verdict; which fail on enough samples, which have no figure (or
    too few samples to count)."""
    results: list[GuardResult] = []
    failing: list[str] = []
    unknown: list[str] = []
    for text in rollout.guards:
        guard = Guard.parse(text)
        value = figures.value(guard.metric)
        if value is None:
            results.append(GuardResult(guard=str(guard), value=None, holds=None))
            unknown.append(f"{guard} (no figure)")
            continue
        holds = guard.holds(value)
        results.append(GuardResult(guard=str(guard), value=value, holds=holds))
        samples = figures.samples(guard.metric)
        if samples < rollout.min_samples:
            unknown.append(f"{guard} (only {samples} samples)")
        elif not holds:
            failing.append(f"{guard.metric} = {value:.4g}, needs {guard}")
    return results, failing, unknown


def _where(rollout: Rollout) -> str:
    weight = rollout.steps[rollout.step] if rollout.step < len(rollout.steps) else 100.0
    return f"step {rollout.step + 1} of {len(rollout.steps)} ({weight:g}%)"
