"""SLO burn-rate arithmetic (tandem.monitoring.slo) against the worked examples of the Google SRE
workbook's "Alerting on SLOs" chapter:

- burn rate = the window's bad share / the error budget (1 - target);
- "error budget consumed" = burn rate x alert window / period (table 5-8: 14.4x over 1 h is 2 %
  of a 30-day budget, 6x over 6 h is 5 %, 1x over 3 d is 10 %);
- "detection time" = (1 - SLO) / error ratio x alert window x burn rate: a 100 % outage against a
  99.9 % SLO fires the 14.4x / 1 h pair after 0.001 / 1 x 3600 s x 14.4 = 51.84 s;
- a pair fires only while its short window (1/12 of the long) burns too: the page resets soon
  after the errors stop ("iteration 6, multiwindow, multi-burn-rate alerts");
- the minimum-traffic guard: too few requests are not judged.
"""

from __future__ import annotations

import pytest

from tandem.deployments.models import LatencyBuckets, WindowPoint
from tandem.errors import InvalidInput
from tandem.monitoring.slo import (
    BUCKETS,
    DEFAULT_PERIOD_S,
    DEFAULT_WINDOWS,
    BurnSeverity,
    BurnWindow,
    Objective,
    SloPoint,
    SloSpec,
    bad_requests,
    detection_time_s,
    evaluate,
)

T0 = 1_796_000_000_000 - 1_796_000_000_000 % 3_600_000  # an hour's start, ms
MIN = 60_000
HOUR = 60 * MIN
THREE_NINES = SloSpec(Objective.ERROR_RATE, 0.999)


def points(start: int, end: int, step_ms: int, requests: int, errors: int) -> list[SloPoint]:
    """Buckets [t, t + step) from start to end, each with the same figures."""
    return [SloPoint(t, t + step_ms, requests, errors) for t in range(start, end, step_ms)]


def pair(result, severity: BurnSeverity, long_s: int):
    return next(p for p in result.pairs if p.severity == severity and p.window.long_s == long_s)


def test_the_workbook_defaults_and_the_budget_each_consumes():
    # table 5-8: page 1 h & 5 min at 14.4x, page 6 h & 30 min at 6x, ticket 3 d & 6 h at 1x
    assert [(w.severity.value, w.long_s, w.short_s, w.factor) for w in DEFAULT_WINDOWS] == [
        ("page", 3_600, 300, 14.4),
        ("page", 21_600, 1_800, 6.0),
        ("ticket", 259_200, 21_600, 1.0),
    ]
    consumed = [w.budget_consumed(DEFAULT_PERIOD_S) for w in DEFAULT_WINDOWS]
    assert consumed == pytest.approx([0.02, 0.05, 0.10])
    # every short window is 1/12 of its long one
    assert all(w.long_s == 12 * w.short_s for w in DEFAULT_WINDOWS)
    assert THREE_NINES.lookback_s == 3 * 86_400 and THREE_NINES.shortest_s == 300


def test_a_burn_of_exactly_the_factor_fires_and_just_below_does_not():
    # 99.9 %: the budget is 0.1 %; 1.44 % errors is a burn of 14.4 (0.0144 / 0.001)
    at = T0 + 6 * HOUR
    steady = points(T0, at, 5 * MIN, 10_000, 144)
    result = evaluate(THREE_NINES, steady, at)
    fast = pair(result, BurnSeverity.PAGE, 3_600)
    assert (fast.long.burn_rate, fast.short.burn_rate) == pytest.approx((14.4, 14.4))
    assert fast.firing is True
    assert result.breached is True and result.severity is BurnSeverity.PAGE
    assert result.value == pytest.approx(14.4)
    below = evaluate(THREE_NINES, points(T0, at, 5 * MIN, 10_000, 143), at)
    assert pair(below, BurnSeverity.PAGE, 3_600).firing is False
    # ... which still burns more than 6x over 6 h & 30 min: the second page fires
    assert pair(below, BurnSeverity.PAGE, 21_600).firing is True
    assert below.severity is BurnSeverity.PAGE


def test_a_full_outage_fires_the_fast_page_after_the_workbooks_detection_time():
    fast = DEFAULT_WINDOWS[0]
    assert detection_time_s(fast, 0.001, 1.0) == pytest.approx(51.84)  # 0.864 minutes
    assert detection_time_s(DEFAULT_WINDOWS[1], 0.001, 1.0) == pytest.approx(129.6)
    assert detection_time_s(fast, 0.001, 0.01) is None  # 10x never reaches 14.4x
    # 100 requests every 10 s, healthy for two hours, then every request fails
    outage = T0 + 2 * HOUR
    healthy = points(T0, outage, 10_000, 100, 0)
    fired_at = None
    for seconds in range(10, 121, 10):
        at = outage + seconds * 1000
        figures = healthy + points(outage, at, 10_000, 100, 100)
        if pair(evaluate(THREE_NINES, figures, at), BurnSeverity.PAGE, 3_600).firing:
            fired_at = seconds
            break
    # the first 10 s bucket to end after 51.84 s: the fast page fires at 60 s, not before
    assert fired_at == 60


def test_the_short_window_resets_the_page_once_the_errors_stop():
    # 20 minutes of 5 % errors, then clean traffic: the 1 h window still burns > 14.4x, the
    # 5 min one does not, so the fast page stops firing five minutes after the errors stop
    at = T0 + 2 * HOUR
    figures = points(T0, at - 25 * MIN, MIN, 1_000, 0)
    figures += points(at - 25 * MIN, at - 5 * MIN, MIN, 1_000, 50)
    figures += points(at - 5 * MIN, at, MIN, 1_000, 0)
    result = evaluate(THREE_NINES, figures, at)
    fast = pair(result, BurnSeverity.PAGE, 3_600)
    assert fast.long.burn_rate == pytest.approx(1000 / 60 / 1000 / 0.001 * 1)  # 16.7x
    assert fast.short.burn_rate == 0.0
    assert fast.firing is False
    # five minutes earlier the short window held only errors: it fired
    earlier = evaluate(THREE_NINES, figures, at - 5 * MIN)
    assert pair(earlier, BurnSeverity.PAGE, 3_600).firing is True


def test_a_slow_burn_is_a_ticket_not_a_page():
    # 0.2 % errors for three days: 2x, under both pages' factors, over the ticket's 1x
    at = T0 + 72 * HOUR
    result = evaluate(THREE_NINES, points(T0, at, 5 * MIN, 6_000, 12), at)
    assert [p.firing for p in result.pairs] == [False, False, True]
    assert result.breached is True and result.severity is BurnSeverity.TICKET
    assert result.pairs[2].long.burn_rate == pytest.approx(2.0)
    # the budget counts requests: the period's requests so far (3 days' worth) were allowed
    # 0.1 % bad and had 0.2 %: twice the budget spent, -1.0 left
    assert result.budget_remaining == pytest.approx(-1.0)
    assert result.period_requests == 864 * 6_000
    # within budget: nothing fires, and the verdict is "not breached", with the worst burn
    calm = evaluate(THREE_NINES, points(T0, at, 5 * MIN, 6_000, 3), at)
    assert calm.breached is False and calm.severity is None
    assert calm.value == pytest.approx(0.5)


def test_the_minimum_traffic_guard():
    spec = SloSpec(Objective.ERROR_RATE, 0.999, min_requests=100)
    at = T0 + HOUR
    # 99 requests in the hour, half failing: not judged, "no data", not a page
    few = [SloPoint(at - 10 * MIN, at - 5 * MIN, 49, 25), SloPoint(at - 5 * MIN, at, 50, 25)]
    result = evaluate(spec, few, at)
    assert all(p.firing is None for p in result.pairs)
    assert result.breached is None and result.severity is None and result.value is None
    assert "too few requests: 99 in 1h, the guard needs 100" in result.pairs[0].reason
    assert result.reason.startswith("no data")
    # one more request and the hour is judged
    enough = [SloPoint(at - 10 * MIN, at - 5 * MIN, 50, 25), SloPoint(at - 5 * MIN, at, 50, 25)]
    judged = evaluate(spec, enough, at)
    assert judged.pairs[0].firing is True and judged.breached is True
    # a long window with traffic and a silent short window: not judged either
    quiet = [SloPoint(at - 30 * MIN, at - 25 * MIN, 500, 400)]
    silent = evaluate(spec, quiet, at)
    assert silent.pairs[0].firing is None
    assert silent.pairs[0].reason == "no requests in the last 5m"
    # nothing at all
    assert evaluate(spec, [], at).breached is None


def test_only_points_wholly_inside_a_window_count():
    at = T0 + HOUR
    straddling = SloPoint(at - HOUR - MIN, at - HOUR + MIN, 1_000, 1_000)  # begins before 1 h
    future = SloPoint(at - MIN, at + MIN, 1_000, 1_000)  # not closed yet at `at`
    inside = SloPoint(at - 5 * MIN, at, 1_000, 0)
    result = evaluate(THREE_NINES, [straddling, future, inside], at)
    assert result.pairs[0].long.requests == 1_000 and result.pairs[0].long.bad == 0


def test_latency_objective_reads_the_histogram():
    spec = SloSpec(Objective.LATENCY, 0.99, threshold_ms=250)
    bounds = LatencyBuckets.BOUNDS_MS
    counts = [0] * BUCKETS
    counts[bounds.index(100)] = 900  # (75, 100] ms
    counts[bounds.index(250)] = 80  # (150, 250] ms: fast enough
    counts[bounds.index(500)] = 20  # (250, 500] ms: too slow
    point = SloPoint(T0, T0 + MIN, 1_000, 3, tuple(counts))
    assert bad_requests(spec, point) == 20  # a bound: exact
    between = SloSpec(Objective.LATENCY, 0.99, threshold_ms=375)  # half-way through (250, 500]
    assert bad_requests(between, point) == pytest.approx(10.0)
    inf = list(counts)
    inf[-1] = 5  # slower than the last bound: always bad
    assert bad_requests(SloSpec(Objective.LATENCY, 0.99, threshold_ms=20_000),
                        SloPoint(T0, T0 + MIN, 1_005, 0, tuple(inf))) == 5  # fmt: skip
    # 2 % slow against a 1 % budget: a burn of 2
    at = T0 + HOUR
    series = [SloPoint(t, t + MIN, 1_000, 0, tuple(counts)) for t in range(T0, at, MIN)]
    result = evaluate(spec, series, at)
    assert result.pairs[0].long.burn_rate == pytest.approx(2.0)
    assert result.pairs[0].firing is False and result.pairs[2].firing is True
    # the details a monitor result keeps
    details = result.to_details()
    assert details["slo"] == {"objective": "latency", "target": 0.99, "period": "30d",
                              "min_requests": 100, "threshold_ms": 250}  # fmt: skip
    assert details["pairs"][0]["long"]["window"] == "1h"
    assert details["pairs"][2]["firing"] is True
    with pytest.raises(InvalidInput, match="no latency histogram"):
        bad_requests(spec, SloPoint(T0, T0 + MIN, 10, 0))
    with pytest.raises(InvalidInput, match="latency counts; expected"):
        bad_requests(spec, SloPoint(T0, T0 + MIN, 10, 0, (10,)))


def test_window_points_from_the_deployments_domain():
    at = T0 + HOUR
    window_points = [
        WindowPoint(deployment="d-1", label="m@1", start=t, requests=100, errors=5,
                    p50_ms=None, p99_ms=None)
        for t in range(T0, at, 5 * MIN)
    ]  # fmt: skip
    result = evaluate(THREE_NINES, window_points, at, bucket_s=300)
    assert result.pairs[0].long.requests == 1_200 and result.pairs[0].short.requests == 100
    assert result.pairs[0].long.burn_rate == pytest.approx(50.0)
    assert result.severity is BurnSeverity.PAGE
    with pytest.raises(InvalidInput, match="need bucket_s"):
        evaluate(THREE_NINES, window_points, at)
    with pytest.raises(InvalidInput, match=r"more errors \(2\) than requests \(1\)"):
        evaluate(THREE_NINES, [SloPoint(T0, T0 + MIN, 1, 2)], at)


def test_specs_from_monitor_params():
    spec = SloSpec.from_params({"objective": "latency", "target": "99.5%", "threshold_ms": 120})
    assert spec.target == pytest.approx(0.995) and spec.threshold_ms == 120.0
    assert spec.windows == DEFAULT_WINDOWS and spec.period_s == DEFAULT_PERIOD_S
    custom = SloSpec.from_params({
        "target": 0.99, "period": "7d", "min_requests": 10,
        "windows": [{"severity": "page", "long": "1h", "short": "5m", "factor": 16.8}],
    })  # fmt: skip
    assert custom.objective is Objective.ERROR_RATE and custom.period_s == 7 * 86_400
    assert custom.windows == (BurnWindow(BurnSeverity.PAGE, 3_600, 300, 16.8),)
    # 16.8x over 1 h of a 7-day period consumes 10 % of it (the 7-day table's first row)
    assert custom.windows[0].budget_consumed(custom.period_s) == pytest.approx(0.10)
    assert SloSpec.from_params(custom.to_params()) == custom
    sms = {"severity": "sms", "long": "1h", "short": "5m", "factor": 2}
    inverted = {"severity": "page", "long": "5m", "short": "1h", "factor": 2}
    bad = [
        ({"target": 0.999, "objectiv": "latency"}, "unknown SLO parameter"),
        ({"objective": "uptime", "target": 0.9}, "unknown SLO objective"),
        ({"objective": "latency"}, "needs a target"),
        ({"target": 1.0}, "strictly between 0 and 1"),
        ({"target": "ninety"}, "target must be a number"),
        ({"objective": "latency", "target": 0.99}, "needs threshold_ms > 0"),
        ({"target": 0.99, "threshold_ms": 5}, "threshold_ms is for latency SLOs"),
        ({"target": 0.99, "period": "a month"}, "invalid duration"),
        ({"target": 0.99, "min_requests": 0}, "min_requests is at least 1"),
        ({"target": 0.99, "windows": []}, "at least one burn-rate window pair"),
        ({"target": 0.99, "windows": [{"long": "1h"}]}, "an SLO window is"),
        ({"target": 0.99, "windows": [sms]}, "use page or ticket"),
        ({"target": 0.99, "windows": [inverted]}, "short window must be shorter"),
    ]
    for params, message in bad:
        with pytest.raises(InvalidInput, match=message):
            SloSpec.from_params(params)
