"""Prometheus text exposition of the gateway's requests, written by hand (no client library on
the request path): `tandem_requests_total{endpoint,version,status}` and the histogram
`tandem_request_duration_seconds{endpoint,version}` over `LatencyBuckets.BOUNDS_MS`.

Each worker process keeps its own counts (a scrape reads the worker that answers it); the
hub's stats windows are the figures summed over every worker and gateway.
"""

from __future__ import annotations

import threading

from tandem.serving.recorder import BOUNDS_MS, bucket_of

_LE = [f"{bound / 1000:g}" for bound in BOUNDS_MS] + ["+Inf"]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class RequestMetrics:
    """Counts per (version label, status) and a latency histogram per version label."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, int], int] = {}
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}

    def observe(self, version: str, status: int, latency_ms: float) -> None:
        """One answered request; `version` is `model@version` ("" before routing)."""
        key = (version, status)
        with self._lock:
            self._requests[key] = self._requests.get(key, 0) + 1
            counts = self._buckets.get(version)
            if counts is None:
                counts = self._buckets[version] = [0] * (len(BOUNDS_MS) + 1)
                self._sums[version] = 0.0
            counts[bucket_of(latency_ms)] += 1
            self._sums[version] += latency_ms / 1000.0

    def render(self) -> bytes:
        """The exposition (text format 0.0.4)."""
        with self._lock:
            requests = sorted(self._requests.items())
            buckets = {k: list(v) for k, v in sorted(self._buckets.items())}
            sums = dict(self._sums)
        endpoint = _label(self.endpoint)
        lines = [
            "# HELP tandem_requests_total Prediction requests answered, by version and status.",
            "# TYPE tandem_requests_total counter",
        ]
        for (version, status), count in requests:
            lines.append(
                f'tandem_requests_total{{endpoint="{endpoint}",version="{_label(version)}",'
                f'status="{status}"}} {count}'
            )
        lines += [
            "# HELP tandem_request_duration_seconds Time to answer a prediction request.",
            "# TYPE tandem_request_duration_seconds histogram",
        ]
        for version, counts in buckets.items():
            labels = f'endpoint="{endpoint}",version="{_label(version)}"'
            running = 0
            for le, count in zip(_LE, counts, strict=True):
                running += count
                lines.append(
                    f'tandem_request_duration_seconds_bucket{{{labels},le="{le}"}} {running}'
                )
            lines.append(f"tandem_request_duration_seconds_sum{{{labels}}} {sums[version]:.6f}")
            lines.append(f"tandem_request_duration_seconds_count{{{labels}}} {running}")
        return ("\n".join(lines) + "\n").encode()
