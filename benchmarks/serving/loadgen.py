"""Load for the serving benchmarks (stdlib only, so any venv can import it).

Closed loop: `wrk` with a Lua POST script, one thread and one connection (= one client that sends
its next request when the answer arrived), pinned to the load core with `taskset`.

Open loop: `open_loop` sends requests at a fixed rate whatever the server does (request i leaves
at start + i / rate, on a free keep-alive connection or a new one), so a stall shows up as
failed or late requests instead of slowing the client down (no coordinated omission). Every
request that gets no 2xx answer, or no answer within the timeout, counts as failed, with the
second it was sent at, so failures can be matched with what the benchmark did then.
"""

from __future__ import annotations

import asyncio
import collections
import http.client
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOAD_CORE = "1"  # wrk and the Python load generators
SERVER_CORE = "0"  # the server under test

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
KEEPALIVE_S = 2.0  # the open-loop client's keep-alive expiry, below the servers' timeouts


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def wrk(
    url: str,
    body: str,
    *,
    seconds: int = 10,
    warmup: int = 2,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST `body` to `url` for `seconds` from one connection (closed loop) and return rps,
    requests, non-2xx, socket errors and the latency percentiles (ms) wrk reports."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = {_lua_string(body)}",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    for name, value in (headers or {}).items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        base = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", "-c1", "-s", script.name]
        warmed = 0
        if warmup:
            done = subprocess.run(
                [*base, f"-d{warmup}s", url], check=True, capture_output=True, text=True
            )
            warmed = parse_wrk(done.stdout)["requests"]
        result = subprocess.run(
            [*base, f"-d{seconds}s", "--latency", url], check=True, capture_output=True, text=True
        )
    finally:
        Path(script.name).unlink(missing_ok=True)
    stats = parse_wrk(result.stdout)
    stats["seconds"] = seconds
    stats["warmup_requests"] = warmed
    stats["output"] = result.stdout
    return stats


def parse_wrk(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in", text)
    out["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    out["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors:.*", text)
    out["socket_errors"] = sum(int(x) for x in re.findall(r"\d+", m.group(0))) if m else 0
    for pct, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        out[f"p{pct}_ms"] = float(value) * _UNITS[unit]
    return out


# -- a few requests, one after another ------------------------------------------------------------


def post(
    host: str, port: int, path: str, body: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One POST on a fresh connection: (status, headers lower-cased, body)."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def count_header(
    host: str,
    port: int,
    path: str,
    body: str,
    n: int,
    header: str,
    request_headers: Callable[[int], dict[str, str]] | None = None,
) -> tuple[collections.Counter[str], list[str], int]:
    """Send `n` requests on one keep-alive connection; (how often each value of the response
    header `header` came back, the values in order, failed requests)."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    seen: collections.Counter[str] = collections.Counter()
    order: list[str] = []
    failed = 0
    try:
        for i in range(n):
            extra = request_headers(i) if request_headers else {}
            conn.request("POST", path, body, {"Content-Type": "application/json", **extra})
            response = conn.getresponse()
            response.read()
            if response.status >= 300:
                failed += 1
            value = response.getheader(header) or "-"
            seen[value] += 1
            order.append(value)
    finally:
        conn.close()
    return seen, order, failed


# -- open loop ------------------------------------------------------------------------------------


@dataclass
class OpenLoopResult:
    rate: float
    seconds: float
    sent: int = 0
    ok: int = 0
    failed: int = 0
    failures: list[tuple[float, str]] = field(default_factory=list)  # (second sent, why)
    late: int = 0  # requests that left more than 10 ms after their slot (the generator lagged)
    latencies_ms: list[float] = field(default_factory=list)
    versions: collections.Counter[str] = field(default_factory=collections.Counter)
    # (second sent, version that answered, latency ms from its slot, HTTP status)
    timeline: list[tuple[float, str, float, int]] = field(default_factory=list)
    expired: int = 0  # keep-alive connections closed here after KEEPALIVE_S idle
    connections: int = 0

    def percentile(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]

    def summary(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "seconds": self.seconds,
            "sent": self.sent,
            "ok": self.ok,
            "failed": self.failed,
            "failures": self.failures[:50],
            "late": self.late,
            "p50_ms": self.percentile(0.5),
            "p99_ms": self.percentile(0.99),
            "max_ms": max(self.latencies_ms) if self.latencies_ms else None,
            "versions": dict(self.versions),
            "connections": self.connections,
            "expired": self.expired,
        }


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(chunk[:-2])
        body = b"".join(parts)
    else:
        body = b""
    return status, headers, body


async def _open_loop(
    host: str,
    port: int,
    path: str,
    body: bytes,
    rate: float,
    seconds: float,
    timeout: float,
    version_header: str,
    events: list[tuple[float, Callable[[], Any]]],
) -> OpenLoopResult:
    result = OpenLoopResult(rate=rate, seconds=seconds)
    # (reader, writer, when it became idle): like any HTTP client's pool, a connection idle
    # longer than KEEPALIVE_S is closed here rather than reused, since the server closes idle
    # connections after its own keep-alive timeout (uvicorn: 5 s) and a request sent on one it
    # is closing fails for a reason that has nothing to do with what is measured.
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def one(slot: float) -> None:
        at = loop.time() - start
        if at - slot > 0.010:
            result.late += 1
        conn = None
        while idle and conn is None:
            reader, writer, since = idle.pop()
            if loop.time() - since > KEEPALIVE_S:
                writer.close()
                result.expired += 1
            else:
                conn = (reader, writer)
        try:
            if conn is None:
                conn = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
                result.connections += 1
            reader, writer = conn
            writer.write(request)
            status, headers, _ = await asyncio.wait_for(_read_response(reader), timeout)
        except Exception as exc:  # refused, reset, timed out: a failed request
            result.failed += 1
            result.failures.append((round(at, 3), type(exc).__name__))
            if conn is not None:
                conn[1].close()
            return
        latency = (loop.time() - start - slot) * 1000  # from its slot: queueing included
        result.latencies_ms.append(latency)
        version = headers.get(version_header, "-")
        result.versions[version] += 1
        result.timeline.append((round(at, 3), version, latency, status))
        if status >= 300:
            result.failed += 1
            result.failures.append((round(at, 3), f"HTTP {status}"))
        else:
            result.ok += 1
        if headers.get("connection", "").lower() == "close":
            conn[1].close()
        else:
            idle.append((conn[0], conn[1], loop.time()))

    tasks = []
    pending_events = sorted(events, key=lambda e: e[0])
    total = int(rate * seconds)
    for i in range(total):
        slot = i / rate
        while pending_events and pending_events[0][0] <= slot:
            _, action = pending_events.pop(0)
            # the action (a promote, a rollback) runs in a thread: the load keeps its pace
            tasks.append(asyncio.ensure_future(asyncio.to_thread(action)))
        delay = start + slot - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(slot)))
        result.sent += 1
    await asyncio.gather(*tasks, return_exceptions=True)
    for _, writer, _ in idle:
        writer.close()
    return result


def open_loop(
    host: str,
    port: int,
    path: str,
    body: str,
    *,
    rate: float = 200,
    seconds: float = 10,
    timeout: float = 5.0,
    version_header: str = "x-tandem-version",
    events: list[tuple[float, Callable[[], Any]]] | None = None,
) -> OpenLoopResult:
    """Send `rate` requests/s for `seconds`; `events` are (second, action) run in a thread at
    that second, while the load goes on."""
    return asyncio.run(
        _open_loop(
            host,
            port,
            path,
            body.encode(),
            rate,
            seconds,
            timeout,
            version_header.lower(),
            events or [],
        )
    )


if __name__ == "__main__":  # a quick check against any server: loadgen.py HOST PORT PATH BODY
    import sys

    host, port, path, body_file = sys.argv[1:5]
    outcome = open_loop(host, int(port), path, Path(body_file).read_text(), seconds=3)
    print(json.dumps(outcome.summary()))
