"""Service-level objectives with multiwindow, multi-burn-rate alerting (the Google SRE workbook,
"Alerting on SLOs"). Pure: no I/O, no clock, no database; the caller passes the time and the
endpoint's window points in.

An objective says what share of requests must be good over a period (30 days by default):
  - `error-rate`: a request is bad when the gateway answered it with an error;
  - `latency`: a request is bad when it took longer than `threshold_ms` (read from the fixed
    latency buckets the gateways report, `LatencyBuckets`, interpolated inside the bucket that
    holds the threshold, as the percentiles are).

The *burn rate* of a window is its bad share divided by the error budget (`1 - target`): at 1x the
budget lasts exactly the period, at 14.4x a 30-day budget is gone in 50 hours. A pair of windows
alerts when both the long window and the short one (1/12 of it: is it still burning?) burn at
least the pair's factor. The workbook's defaults (table 5-8) for a 30-day, 99.9% objective:

| severity | long window | short window | burn rate | budget consumed |
|----------|-------------|--------------|-----------|-----------------|
| page     | 1 h         | 5 min        | 14.4x     | 2 %             |
| page     | 6 h         | 30 min       | 6x        | 5 %             |
| ticket   | 3 d         | 6 h          | 1x        | 10 %            |

The minimum-traffic guard: a pair whose long window holds fewer than `min_requests` requests, or
whose short window holds none, is not judged (`firing` None, "too few requests"): one failed
request out of three is not a page. With no pair judged, the evaluation has no verdict
(`breached` None), which monitors report as "no data".

    spec = SloSpec.from_params({"objective": "latency", "target": 0.99, "threshold_ms": 250})
    result = evaluate(spec, points, at_ms=now)        # points: SloPoint or WindowPoint-like
    result.breached, result.severity, result.pairs[0].long.burn_rate
"""

from __future__ import annotations

import bisect
import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tandem.core.clock import parse_duration
from tandem.deployments.models import LatencyBuckets
from tandem.errors import InvalidInput

BUCKETS = len(LatencyBuckets.BOUNDS_MS) + 1
"""Counts in a latency histogram: one per `LatencyBuckets.BOUNDS_MS` bound, then +Inf."""


class Objective(enum.StrEnum):
    ERROR_RATE = "error-rate"
    LATENCY = "latency"


class BurnSeverity(enum.StrEnum):
    """What a firing pair asks for (the monitoring domain's `Severity` uses the same words)."""

    PAGE = "page"
    TICKET = "ticket"


@dataclass(frozen=True)
class BurnWindow:
    """One alerting condition: both windows burn at least `factor` times the budget."""

    severity: BurnSeverity
    long_s: int
    short_s: int
    factor: float

    def budget_consumed(self, period_s: int) -> float:
        """The share of the period's budget spent when the long window burns at `factor`:
        14.4 x 1 h / 30 d = 0.02."""
        return self.factor * self.long_s / period_s

    def __str__(self) -> str:
        spans = f"{_span(self.long_s)} & {_span(self.short_s)}"
        return f"{self.severity.value} {self.factor:g}x over {spans}"


DEFAULT_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow(BurnSeverity.PAGE, 3_600, 300, 14.4),
    BurnWindow(BurnSeverity.PAGE, 21_600, 1_800, 6.0),
    BurnWindow(BurnSeverity.TICKET, 259_200, 21_600, 1.0),
)
"""The SRE workbook's starting point (table 5-8), for a 30-day period."""

DEFAULT_PERIOD_S = 30 * 86_400
DEFAULT_MIN_REQUESTS = 100


@dataclass(frozen=True)
class SloSpec:
    """An objective: `target` share of requests good over `period_s`, alerted on `windows`.

    Args:
        objective: error-rate or latency.
        target: the share of good requests, strictly between 0 and 1 (0.999 = "three nines").
        threshold_ms: latency only: a request slower than this is bad.
        period_s: the SLO's period (the budget's horizon), 30 days by default.
        min_requests: the minimum-traffic guard: a pair whose long window holds fewer requests
            is not judged.
        windows: the alerting conditions (the workbook's defaults).
    """

    objective: Objective
    target: float
    threshold_ms: float | None = None
    period_s: int = DEFAULT_PERIOD_S
    min_requests: int = DEFAULT_MIN_REQUESTS
    windows: tuple[BurnWindow, ...] = DEFAULT_WINDOWS

    def __post_init__(self) -> None:
        if not 0.0 < self.target < 1.0 or math.isnan(self.target):
            raise InvalidInput(
                f"an SLO's target is a share strictly between 0 and 1 (0.999 for 99.9%), "
                f"not {self.target}"
            )
        if self.objective is Objective.LATENCY:
            if self.threshold_ms is None or not self.threshold_ms > 0:
                raise InvalidInput(
                    "a latency SLO needs threshold_ms > 0: requests slower than it are bad"
                )
        elif self.threshold_ms is not None:
            raise InvalidInput("threshold_ms is for latency SLOs; an error-rate SLO has none")
        if self.period_s <= 0:
            raise InvalidInput(f"an SLO's period must be positive, not {self.period_s} s")
        if self.min_requests < 1:
            raise InvalidInput(f"min_requests is at least 1, not {self.min_requests}")
        if not self.windows:
            raise InvalidInput("an SLO needs at least one burn-rate window pair")
        for window in self.windows:
            if not 0 < window.short_s < window.long_s:
                raise InvalidInput(
                    f"burn-rate pair {window}: the short window must be shorter than the long "
                    "one, and both positive"
                )
            if not window.factor > 0:
                raise InvalidInput(f"burn-rate pair {window}: the factor must be positive")

    @property
    def budget(self) -> float:
        """The error budget: the share of requests that may be bad (1 - target)."""
        return 1.0 - self.target

    @property
    def lookback_s(self) -> int:
        """How far back the windows reach: read at least this much history."""
        return max(window.long_s for window in self.windows)

    @property
    def shortest_s(self) -> int:
        """The shortest window: points must be at most this wide to judge it."""
        return min(window.short_s for window in self.windows)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SloSpec:
        """From a monitor's `params`: `objective` (error-rate | latency), `target` (0.999 or
        "99.9%"), `threshold_ms` (latency), `period` ("30d"), `min_requests`, and `windows`, a
        list of `{severity, long, short, factor}` replacing the defaults.

        Raises:
            InvalidInput: an unknown key, objective or severity, or a value out of range.
        """
        known = {"objective", "target", "threshold_ms", "period", "min_requests", "windows"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise InvalidInput(
                f"unknown SLO parameter(s) {', '.join(unknown)}: use {', '.join(sorted(known))}"
            )
        try:
            objective = Objective(str(params.get("objective", "error-rate")).strip().lower())
        except ValueError:
            raise InvalidInput(
                f"unknown SLO objective {params.get('objective')!r}: use error-rate or latency"
            ) from None
        if "target" not in params:
            raise InvalidInput("an SLO needs a target, e.g. 0.999 or '99.9%'")
        windows = DEFAULT_WINDOWS
        if params.get("windows") is not None:
            windows = tuple(_parse_window(item) for item in _as_list(params["windows"]))
        threshold = params.get("threshold_ms")
        return cls(
            objective=objective,
            target=_parse_share(params["target"]),
            threshold_ms=None if threshold is None else _number(threshold, "threshold_ms"),
            period_s=_seconds(params.get("period", DEFAULT_PERIOD_S), "period"),
            min_requests=int(
                _number(params.get("min_requests", DEFAULT_MIN_REQUESTS), "min_requests")
            ),
            windows=windows,
        )

    def to_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "objective": self.objective.value,
            "target": self.target,
            "period": _span(self.period_s),
            "min_requests": self.min_requests,
        }
        if self.threshold_ms is not None:
            params["threshold_ms"] = self.threshold_ms
        if self.windows != DEFAULT_WINDOWS:
            params["windows"] = [
                {"severity": w.severity.value, "long": _span(w.long_s),
                 "short": _span(w.short_s), "factor": w.factor}
                for w in self.windows
            ]  # fmt: skip
        return params


@dataclass(frozen=True)
class SloPoint:
    """Figures of one time bucket [start, end) in ms: every deployment merged, or one version's.
    `latency_counts`: one count per `LatencyBuckets.BOUNDS_MS` bound, then +Inf (latency SLOs)."""

    start: int
    end: int
    requests: int
    errors: int
    latency_counts: tuple[int, ...] | None = None


class WindowPointLike(Protocol):
    """`deployments.models.WindowPoint`'s fields this module reads."""

    @property
    def start(self) -> int: ...
    @property
    def requests(self) -> int: ...
    @property
    def errors(self) -> int: ...


def points_from_windows(points: Iterable[WindowPointLike], bucket_s: int) -> list[SloPoint]:
    """`DeploymentService.windows(..., bucket_s=...)` points as SloPoints (a point's end is its
    start plus the bucket). Reads `latency_counts` when the point carries them."""
    if bucket_s < 1:
        raise InvalidInput(f"bucket_s is at least 1 second, not {bucket_s}")
    out = []
    for point in points:
        counts = getattr(point, "latency_counts", None)
        out.append(SloPoint(
            start=point.start, end=point.start + bucket_s * 1000, requests=point.requests,
            errors=point.errors, latency_counts=tuple(counts) if counts else None,
        ))  # fmt: skip
    return out


@dataclass(frozen=True)
class WindowBurn:
    """One window's figures: [start, end) in ms, requests, bad requests, their share and the
    burn rate (None: no requests)."""

    seconds: int
    start: int
    end: int
    requests: int
    bad: float
    bad_ratio: float | None
    burn_rate: float | None


@dataclass(frozen=True)
class PairResult:
    """One burn-rate condition judged: `firing` True when both windows burn at least `factor`,
    False when not, None when the minimum-traffic guard kept it from judging."""

    window: BurnWindow
    long: WindowBurn
    short: WindowBurn
    firing: bool | None
    reason: str

    @property
    def severity(self) -> BurnSeverity:
        return self.window.severity

    @property
    def factor(self) -> float:
        return self.window.factor


@dataclass(frozen=True)
class SloResult:
    """An SLO evaluated at `at` (ms).

    - `pairs`: every condition with both windows' burn rates, in the spec's order;
    - `breached`: True when a pair fires, False when every pair was judged or at least one was
      judged and none fires, None when the guard kept every pair from judging (no data);
    - `severity`: the most urgent firing pair's (page before ticket), or None;
    - `value`: the burn rate both windows of the most alarming pair sustain (the smaller of its
      two, for the pair where that is the largest multiple of its factor); None without data;
    - `budget_remaining`: the share of the period's error budget left, from the points that
      cover the period (1.0 untouched, negative overspent), None without requests.
    """

    spec: SloSpec
    at: int
    pairs: tuple[PairResult, ...]
    breached: bool | None
    severity: BurnSeverity | None
    value: float | None
    budget_remaining: float | None
    period_requests: int
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_details(self) -> dict[str, Any]:
        """A JSON-ready account (what a MonitorResult keeps in `details`)."""
        return {
            "slo": self.spec.to_params(),
            "budget_remaining": self.budget_remaining,
            "period_requests": self.period_requests,
            "reason": self.reason,
            "pairs": [
                {
                    "severity": pair.severity.value,
                    "factor": pair.factor,
                    "long": _window_details(pair.long),
                    "short": _window_details(pair.short),
                    "firing": pair.firing,
                    "reason": pair.reason,
                }
                for pair in self.pairs
            ],
        }


def _window_details(burn: WindowBurn) -> dict[str, Any]:
    return {
        "window": _span(burn.seconds), "start": burn.start, "end": burn.end,
        "requests": burn.requests, "bad": burn.bad, "bad_ratio": burn.bad_ratio,
        "burn_rate": burn.burn_rate,
    }  # fmt: skip


def bad_requests(spec: SloSpec, point: SloPoint) -> float:
    """How many of a point's requests break the objective.

    Raises:
        InvalidInput: more errors than requests; a latency SLO over a point without its latency
            histogram, or with the wrong number of counts.
    """
    if point.errors > point.requests or point.requests < 0 or point.errors < 0:
        raise InvalidInput(
            f"window point at {point.start} has more errors ({point.errors}) than requests "
            f"({point.requests})"
        )
    if spec.objective is Objective.ERROR_RATE:
        return float(point.errors)
    counts = point.latency_counts
    if counts is None:
        raise InvalidInput(
            f"window point at {point.start} has no latency histogram: a latency SLO needs the "
            "points' latency_counts"
        )
    if len(counts) != BUCKETS:
        raise InvalidInput(
            f"window point at {point.start} has {len(counts)} latency counts; expected {BUCKETS} "
            "(one per LatencyBuckets.BOUNDS_MS bound, then +Inf)"
        )
    assert spec.threshold_ms is not None
    return float(sum(counts)) - _at_most(counts, spec.threshold_ms)


def _at_most(counts: Sequence[int], threshold_ms: float) -> float:
    """Requests no slower than `threshold_ms`: whole buckets below it, and the share of the
    bucket that holds it by linear interpolation (exact when the threshold is a bound)."""
    bounds = LatencyBuckets.BOUNDS_MS
    index = bisect.bisect_left(bounds, threshold_ms)  # the bucket whose range holds it
    good = float(sum(counts[:index]))
    if index < len(bounds):
        lower = 0.0 if index == 0 else float(bounds[index - 1])
        upper = float(bounds[index])
        good += counts[index] * (threshold_ms - lower) / (upper - lower)
    # past the last bound: +Inf holds the rest, none of it known to be fast enough
    return good


def burn(spec: SloSpec, points: Sequence[SloPoint], at_ms: int, seconds: int) -> WindowBurn:
    """The window [at - seconds, at): the points that lie wholly inside it."""
    start = at_ms - seconds * 1000
    requests = 0
    bad = 0.0
    for point in points:
        if point.start >= start and point.end <= at_ms:
            requests += point.requests
            bad += bad_requests(spec, point)
    ratio = bad / requests if requests else None
    rate = None if ratio is None else ratio / spec.budget
    return WindowBurn(seconds, start, at_ms, requests, bad, ratio, rate)


def judge(spec: SloSpec, window: BurnWindow, long: WindowBurn, short: WindowBurn) -> PairResult:
    """One condition over its two windows, with the minimum-traffic guard."""
    if long.requests < spec.min_requests:
        return PairResult(
            window, long, short, None,
            f"too few requests: {long.requests} in {_span(window.long_s)}, the guard needs "
            f"{spec.min_requests}",
        )  # fmt: skip
    if short.requests == 0 or short.burn_rate is None or long.burn_rate is None:
        return PairResult(
            window, long, short, None, f"no requests in the last {_span(window.short_s)}"
        )
    firing = reaches(long.burn_rate, window.factor) and reaches(short.burn_rate, window.factor)
    verb = "fires" if firing else "holds"
    return PairResult(
        window, long, short, firing,
        f"{verb}: burn {long.burn_rate:.3g}x over {_span(window.long_s)} and "
        f"{short.burn_rate:.3g}x over {_span(window.short_s)}, threshold {window.factor:g}x",
    )  # fmt: skip


def reaches(burn_rate: float, factor: float) -> bool:
    """`burn_rate >= factor`, forgiving the last bits of floating point: 144 bad of 10,000
    against 99.9% is a burn of exactly 14.4, though 0.0144 / (1 - 0.999) computes 14.39999..."""
    return burn_rate >= factor * (1.0 - 1e-9)


_URGENCY = {BurnSeverity.PAGE: 0, BurnSeverity.TICKET: 1}


def evaluate(spec: SloSpec, points: Iterable[SloPoint | WindowPointLike], at_ms: int,
             *, bucket_s: int | None = None) -> SloResult:  # fmt: skip
    """Judge every window pair of `spec` at `at_ms` over `points`.

    Args:
        spec: the objective and its window pairs.
        points: SloPoints, or WindowPoint-like objects with `bucket_s` given. Only points that
            lie wholly inside a window count in it: pass closed buckets at most as wide as the
            shortest window (5 min for the defaults) aligned to `at_ms`.
        at_ms: the evaluation's time, ms since the epoch (the end of every window).
        bucket_s: the width of WindowPoint-like points.

    Raises:
        InvalidInput: a point that does not fit the objective (see `bad_requests`), or
            WindowPoint-like points without bucket_s.
    """
    slo_points = _as_slo_points(points, bucket_s)
    pairs = tuple(
        judge(spec, window, burn(spec, slo_points, at_ms, window.long_s),
              burn(spec, slo_points, at_ms, window.short_s))
        for window in spec.windows
    )  # fmt: skip
    period = burn(spec, slo_points, at_ms, spec.period_s)
    remaining = None if period.bad_ratio is None else 1.0 - period.bad_ratio / spec.budget
    judged = [pair for pair in pairs if pair.firing is not None]
    firing = sorted(
        (pair for pair in judged if pair.firing), key=lambda pair: _URGENCY[pair.severity]
    )
    value = None
    if judged:
        worst = max(judged, key=lambda pair: _sustained(pair) / pair.factor)
        value = _sustained(worst)
    if firing:
        breached: bool | None = True
        severity: BurnSeverity | None = firing[0].severity
        reason = "; ".join(f"{pair.window}: {pair.reason}" for pair in firing)
    elif judged:
        breached, severity = False, None
        reason = f"no burn-rate pair fires ({len(judged)} of {len(pairs)} judged)"
    else:
        breached, severity = None, None
        reason = f"no data: {pairs[0].reason}" if pairs else "no data"
    return SloResult(
        spec=spec, at=at_ms, pairs=pairs, breached=breached, severity=severity, value=value,
        budget_remaining=remaining, period_requests=period.requests, reason=reason,
    )  # fmt: skip


def _sustained(pair: PairResult) -> float:
    """The burn rate both windows of a judged pair reach."""
    assert pair.long.burn_rate is not None and pair.short.burn_rate is not None
    return min(pair.long.burn_rate, pair.short.burn_rate)


def detection_time_s(window: BurnWindow, budget: float, bad_ratio: float) -> float | None:
    """The workbook's "time to detect": how long a constant bad share `bad_ratio` takes to fire
    a pair, `budget / bad_ratio * long window * factor` (None when it never does: the share
    burns slower than the factor). A 100% outage against a 99.9% SLO fires the 14.4x/1 h pair
    after 0.001 / 1 * 3600 * 14.4 = 51.84 s."""
    if bad_ratio <= 0 or not reaches(bad_ratio / budget, window.factor):
        return None
    return budget / bad_ratio * window.long_s * window.factor


def _as_slo_points(
    points: Iterable[SloPoint | WindowPointLike], bucket_s: int | None
) -> list[SloPoint]:
    items = list(points)
    plain = [point for point in items if isinstance(point, SloPoint)]
    if len(plain) == len(items):
        return plain
    if bucket_s is None:
        raise InvalidInput("window points need bucket_s (their width) to be read as SLO points")
    return plain + points_from_windows(
        [point for point in items if not isinstance(point, SloPoint)], bucket_s
    )


def _as_list(value: Any) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise InvalidInput("an SLO's windows are a list of {severity, long, short, factor}")
    return list(value)


def _parse_window(item: Any) -> BurnWindow:
    if not isinstance(item, Mapping) or set(item) != {"severity", "long", "short", "factor"}:
        raise InvalidInput(
            f"an SLO window is {{severity, long, short, factor}}, e.g. "
            f'{{"severity": "page", "long": "1h", "short": "5m", "factor": 14.4}}, not {item!r}'
        )
    try:
        severity = BurnSeverity(str(item["severity"]).strip().lower())
    except ValueError:
        raise InvalidInput(
            f"unknown SLO window severity {item['severity']!r}: use page or ticket"
        ) from None
    return BurnWindow(
        severity, _seconds(item["long"], "long"), _seconds(item["short"], "short"),
        _number(item["factor"], "factor"),
    )  # fmt: skip


def _parse_share(value: Any) -> float:
    if isinstance(value, str) and value.strip().endswith("%"):
        return _number(value.strip()[:-1], "target") / 100.0
    return _number(value, "target")


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise InvalidInput(f"SLO parameter {name} must be a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"SLO parameter {name} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise InvalidInput(f"SLO parameter {name} must be finite, not {value!r}")
    return number


def _seconds(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return parse_duration(value)
    raise InvalidInput(f"SLO parameter {name} is a duration such as 1h or 30d, not {value!r}")


def _span(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
