"""The recorder's windows and the Prometheus exposition count every request once, in the
histogram buckets the hub merges by (LatencyBuckets.BOUNDS_MS)."""

from __future__ import annotations

import threading

from tandem.deployments.models import LatencyBuckets
from tandem.serving.metrics import RequestMetrics
from tandem.serving.recorder import WindowRecorder, bucket_of


def test_buckets_follow_prometheus_le() -> None:
    assert bucket_of(0.1) == 0 and bucket_of(0.25) == 0 and bucket_of(0.26) == 1
    assert bucket_of(10_000.0) == len(LatencyBuckets.BOUNDS_MS) - 1
    assert bucket_of(99_999.0) == len(LatencyBuckets.BOUNDS_MS)  # +Inf


def test_windows_count_requests_errors_latency_and_shadow_and_drain_empties() -> None:
    clock = iter(range(1_000, 10_000, 10))
    logged: list[tuple] = []
    recorder = WindowRecorder(logged.append, clock=lambda: next(clock))
    for status, latency in [(200, 0.2), (200, 4.0), (500, 30.0), (422, 1.0)]:
        recorder.observe("d-1", status, latency)
    recorder.observe_shadow("d-2", True, 0.1, 2.0, False)
    recorder.observe_shadow("d-2", False, 0.3, 4.0, False)
    recorder.observe_shadow("d-2", False, 0.0, 1.0, True)
    recorder.log(("r", 1, "d-1", "churn", 1, 200, 0.2, "{}", "[1]"))
    windows = {w.deployment: w for w in recorder.drain(5_000)}
    primary, shadow = windows["d-1"], windows["d-2"]
    assert (primary.requests, primary.errors, primary.start, primary.end) == (4, 1, 1_000, 5_000)
    assert sum(primary.latency_counts) == 4 and primary.latency_counts[bucket_of(30.0)] == 1
    assert shadow.requests == 0 and shadow.shadow is not None
    assert (shadow.shadow.compared, shadow.shadow.agreed, shadow.shadow.errors) == (3, 1, 1)
    assert shadow.shadow.abs_diff_sum == 0.4 and shadow.shadow.latency_ms_sum == 7.0
    assert logged == [("r", 1, "d-1", "churn", 1, 200, 0.2, "{}", "[1]")]
    assert recorder.drain() == []


def test_no_request_is_lost_between_threads_and_drains() -> None:
    recorder = WindowRecorder()
    drained: list[int] = []

    def observe() -> None:
        for _ in range(20_000):
            recorder.observe("d-1", 200, 1.0)

    threads = [threading.Thread(target=observe) for _ in range(3)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        drained += [w.requests for w in recorder.drain()]
    drained += [w.requests for w in recorder.drain()]
    assert sum(drained) == 60_000


def test_the_prometheus_exposition() -> None:
    metrics = RequestMetrics("prod")
    metrics.observe("churn@1", 200, 0.4)
    metrics.observe("churn@1", 200, 3.0)
    metrics.observe("churn@1", 422, 1.0)
    metrics.observe('we"ird@2', 500, 20_000.0)
    text = metrics.render().decode()
    assert 'tandem_requests_total{endpoint="prod",version="churn@1",status="200"} 2' in text
    assert 'tandem_requests_total{endpoint="prod",version="churn@1",status="422"} 1' in text
    assert 'version="we\\"ird@2"' in text
    assert (
        'tandem_request_duration_seconds_bucket{endpoint="prod",version="churn@1",le="0.0005"} 1'
        in text
    )
    assert (
        'tandem_request_duration_seconds_bucket{endpoint="prod",version="churn@1",le="+Inf"} 3'
        in text
    )
    assert 'tandem_request_duration_seconds_count{endpoint="prod",version="churn@1"} 3' in text
    assert 'tandem_request_duration_seconds_sum{endpoint="prod",version="churn@1"} 0.004400' in text
    assert "# TYPE tandem_request_duration_seconds histogram" in text
