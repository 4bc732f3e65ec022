"""Workers as real processes on one workspace (SQLite or PostgreSQL), a webhook receiver on
loopback, a controllable clock (`--at`):

- two `tandem worker --once` at once evaluate every window exactly once between them;
- a worker killed with -9 mid-evaluation (every window claimed, none written) loses nothing:
  a run while its leases live skips those windows, a run after they expire evaluates each once,
  and every alert's message reaches the receiver exactly once;
- a worker killed with -9 while a receiver holds its POST: the message is sent again after the
  delivery's lease expires (at least once, ADR 24) and recorded as sent once.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from processes import DEADLINE, Processes
from sqlalchemy import text
from worker_world import AT_TEXT, SLOS, expected_windows, seed
from worker_world import windows_evaluated as evaluated

from tandem.core.clock import parse_instant
from tandem.core.config import Settings
from tandem.governance.notifications.models import WebhookSet
from tandem.sdk.client import Client
from tandem.server import embedded
from tandem.server.container import Services

pytestmark = pytest.mark.slow

LATER = "2026-12-01T00:16"  # past the claims' 10-minute leases, no new window closed
TOTAL = 3 * 24


class Receiver:
    """A Slack-compatible webhook on loopback: keeps every body it is sent; while `holding`, a
    request waits (the sender blocked in its POST) until released."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.holding = threading.Event()
        self.release = threading.Event()
        self.held = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.bodies.append(body)
                if receiver.holding.is_set():
                    receiver.held.set()
                    receiver.release.wait(DEADLINE)
                try:
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender was killed while we held its request

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self) -> Counter[str]:
        return Counter(str(body.get("text")) for body in self.bodies)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


@pytest.fixture
def hub(settings: Settings, receiver: Receiver) -> Iterator[Services]:
    """The seeded workspace whose project sends its alerts to the receiver (allowed)."""
    allowed = dataclasses.replace(settings, outbound_allow_hosts=(f"127.0.0.1:{receiver.port}",))
    services = Services.build(allowed)
    client = Client(settings=settings)
    seed(services, client)
    services.notifier.set_webhook(services.owner, "churn", WebhookSet(url=receiver.url))
    yield services
    client.close()
    services.close()
    embedded.close_all()


@pytest.fixture
def worker_env(env: dict[str, str], receiver: Receiver) -> dict[str, str]:
    return {**env, "TANDEM_OUTBOUND_ALLOW_HOSTS": f"127.0.0.1:{receiver.port}"}


def once(env: dict[str, str], cwd: Path, at: str, name: str) -> dict[str, Any]:
    """`tandem worker --once --at AT --name NAME --json` to the end: its tick."""
    done = subprocess.run(
        [sys.executable, "-m", "tandem.cli.main", "worker", "--once", "--at", at, "--name",
         name, "--json"],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=DEADLINE * 2, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    tick: dict[str, Any] = json.loads(done.stdout)
    return tick


def evaluate_summary(tick: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = tick["steps"]["evaluate"]["summary"]
    return summary


def claims(services: Services, worker: str) -> int:
    with services.db.read() as conn:
        found = conn.execute(
            text("SELECT count(*) FROM monitor_claims WHERE worker = :w"), {"w": worker}
        ).scalar()
    return int(found or 0)


def test_two_worker_processes_evaluate_each_window_once(
    hub: Services, processes: Processes, worker_env: dict[str, str], tmp_path: Path
):
    code = (
        "import sys, subprocess\n"
        "print('ready', flush=True); sys.stdin.readline()\n"
        "done = subprocess.run([sys.executable, '-m', 'tandem.cli.main', 'worker', '--once',"
        " '--at', sys.argv[1], '--name', sys.argv[2], '--json'], capture_output=True, text=True)\n"
        "assert done.returncode == 0, done.stderr\n"
        "print('done', done.stdout.replace(chr(10), ' '), flush=True)\n"
    )
    processes.env = worker_env
    children = [processes.python(code, AT_TEXT, name, stdin=True) for name in ("w-a", "w-b")]
    ticks = [json.loads(line) for line in processes.all_at_once(children)]
    summaries = [evaluate_summary(tick) for tick in ticks]
    assert sum(s["evaluated"] for s in summaries) == TOTAL
    assert all(s["failed"] == 0 for s in summaries)
    counts = evaluated(hub)
    assert set(counts) == expected_windows() and set(counts.values()) == {1}
    # the alerts: one page per monitor, each message sent once (a later run delivers what the
    # group wait held back)
    once(worker_env, tmp_path, LATER, "w-c")
    assert sorted(a.name for a in hub.alerts.list_alerts(hub.owner, "churn", state="firing")) \
        == sorted(SLOS)  # fmt: skip


def test_a_worker_killed_mid_evaluation_loses_nothing_and_does_nothing_twice(
    hub: Services, processes: Processes, worker_env: dict[str, str], receiver: Receiver,
    tmp_path: Path,
):  # fmt: skip
    processes.env = worker_env
    doomed = processes._start(
        ["-m", "tandem.cli.main", "worker", "--once", "--at", AT_TEXT, "--name", "w-dead"],
        False, {}, "worker",
    )  # fmt: skip
    deadline = time.monotonic() + DEADLINE
    while claims(hub, "w-dead") < TOTAL:  # every window claimed: evaluation under way
        assert doomed.proc.poll() is None, doomed.stderr()
        assert time.monotonic() < deadline, doomed.stderr()
        time.sleep(0.01)
    doomed.kill()
    written = sum(evaluated(hub).values())
    assert written < TOTAL  # killed before it finished
    # while its leases live, another worker leaves those windows alone
    during = evaluate_summary(once(worker_env, tmp_path, AT_TEXT, "w-early"))
    assert during["evaluated"] == 0 and during["skipped"] == TOTAL - written
    # once they expired, the next run evaluates each of them, once
    after = evaluate_summary(once(worker_env, tmp_path, LATER, "w-next"))
    assert after["evaluated"] == TOTAL - written and after["failed"] == 0
    counts = evaluated(hub)
    assert set(counts) == expected_windows() and set(counts.values()) == {1}
    assert claims(hub, "w-dead") == 0
    # and the alerts: each monitor's page reached the receiver exactly once
    once(worker_env, tmp_path, "2026-12-01T00:20", "w-last")
    firing = hub.alerts.list_alerts(hub.owner, "churn", state="firing")
    assert sorted(a.name for a in firing) == sorted(SLOS)
    texts = receiver.texts()
    assert set(texts.values()) == {1}
    for name in SLOS:
        assert sum(1 for t in texts if f"alertname={name}," in t) == 1, texts


def test_a_worker_killed_inside_a_post_sends_that_message_again(
    hub: Services, processes: Processes, worker_env: dict[str, str], receiver: Receiver,
    tmp_path: Path,
):  # fmt: skip
    processes.env = worker_env
    first = evaluate_summary(once(worker_env, tmp_path, AT_TEXT, "w-1"))
    assert first["evaluated"] == TOTAL
    receiver.bodies.clear()
    receiver.holding.set()  # the next POST hangs in the receiver
    stuck = processes._start(
        ["-m", "tandem.cli.main", "worker", "--once", "--at", "2026-12-01T00:07", "--name",
         "w-stuck"],
        False, {}, "worker",
    )  # fmt: skip
    assert receiver.held.wait(DEADLINE), stuck.stderr()
    stuck.kill()  # the receiver has the message; the hub never heard it was taken
    receiver.holding.clear()
    receiver.release.set()
    held = receiver.bodies[0]["text"]
    # within the delivery's lease nobody sends it again; after it, the next worker does
    once(worker_env, tmp_path, "2026-12-01T00:08", "w-2")
    assert receiver.texts()[held] == 1
    once(worker_env, tmp_path, "2026-12-01T00:10", "w-3")
    assert receiver.texts()[held] == 2  # at least once: the one duplicate ADR 24 allows
    hooks = [d for d in hub.alerts.list_deliveries(hub.owner, "churn") if d.channel == "webhook"]
    stuck_at = parse_instant("2026-12-01T00:07")
    claimed = [d for d in hooks if d.created_at == stuck_at]  # queued by the killed worker
    assert len(claimed) == len(SLOS)  # one page message per monitor
    # each recorded once, as sent: those the killed worker had claimed on their second attempt
    for delivery in hooks:
        assert delivery.state.value == "sent"
        assert delivery.attempts == (2 if delivery in claimed else 1)
    # every other message went once
    assert all(count == 1 for body, count in receiver.texts().items() if body != held)


@pytest.mark.xdist_group("ray")
def test_a_worker_process_on_ray_evaluates_every_window(
    hub: Services, worker_env: dict[str, str], tmp_path: Path
):
    # a local Ray cluster of its own, started by the worker and stopped when it exits
    env = {**worker_env, "RAY_ADDRESS": "", "RAY_DISABLE_IMPORT_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tandem.cli.main", "worker", "--once", "--at", AT_TEXT,
         "--executor", "ray", "--name", "w-ray", "--json"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE * 3, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    tick = json.loads(done.stdout)
    assert tick["ok"] is True
    assert evaluate_summary(tick)["evaluated"] == TOTAL
    counts = evaluated(hub)
    assert set(counts) == expected_windows() and set(counts.values()) == {1}
