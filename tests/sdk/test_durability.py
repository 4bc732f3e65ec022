"""Durability for real: `kill -9` of the training process and of the server, with real
subprocesses and real signals, on whichever database the suite runs against.

* A training process killed after `log_*` returned loses nothing: `tandem sync`, or the next
  `start_run` in another process, ships every point exactly once, however often it runs.
* A server killed in the middle of big batches applies each batch wholly or not at all, and a
  client resending the same batch ids fills the gaps without duplicating anything.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import DEADLINE, Processes, ServerProcess, workspace_env

from tandem import errors
from tandem.core.config import Settings
from tandem.sdk.client import Client
from tandem.sdk.spool import parse_spool
from tandem.server import embedded
from tandem.tracking.models import RunStatus

pytestmark = pytest.mark.slow


# The training process: logs N points and some tags, says so once every `log_*` returned,
# then blocks until it is killed.
TRAIN = """
import sys, time
from tandem.sdk.client import Client

n, project = int(sys.argv[1]), sys.argv[2]
client = Client()
run = client.start_run(project, "victim", params={"n": n}, capture_environment=False)
for i in range(n):
    run.log_metric("loss", i * 0.5, step=i)
    if i % 1000 == 0:
        run.set_tags({"progress": str(i)})
run.log_metrics({"auc": 0.75, "f1": 0.5}, step=n)
run.set_tags({"stage": "logged"})
print("logged", run.id, flush=True)
time.sleep(600)
"""

# The same, but the process never records that a shipped batch was acknowledged: the server has
# applied it, the spool still shows it on its way (as when a process dies between the two).
# Holding the acknowledgement back makes that certain; killing at the right instant would not.
TRAIN_UNACKNOWLEDGED = (
    """
import time
import tandem.sdk.spool as spool
spool.Spool.mark_ack = lambda self, batch_id: time.sleep(600)
"""
    + TRAIN
)

# The next training process: its `start_run` recovers what the killed one left behind, in the
# background; it ends its own run when told to on stdin.
NEXT = """
import sys
from tandem.sdk.client import Client

client = Client()
run = client.start_run(sys.argv[1], "next", capture_environment=False)
run.log_metric("loss", 1.0)
print("started", run.id, flush=True)
sys.stdin.readline()
run.end()
print("ended", flush=True)
"""

# A run whose creation was deferred (ADR 19): the process created a run in the project first,
# so the victim's creation waits in its spool with its points; nothing ships before the kill.
WARMED_UP = (
    'client = Client()\nclient.start_run(project, "warm-up", capture_environment=False).end()\n'
)
TRAIN_DEFERRED = "import tandem.sdk.spool as spool\nspool.SHIP_INTERVAL = 3600\n" + TRAIN.replace(
    "client = Client()\n", WARMED_UP
)

# The same, shipped: the server created the run with its first batch, but the process never
# recorded that (it dies before writing the creation's acknowledgement).
TRAIN_DEFERRED_UNACKNOWLEDGED = (
    "import time\nimport tandem.sdk.spool as spool\n"
    "spool.Spool.mark_created = lambda self: time.sleep(600)\n"
    + TRAIN.replace("client = Client()\n", WARMED_UP)
)

# A worker attached to a run that someone else owns: logs, says so, then waits for stdin.
ATTACHED = """
import sys
from tandem.sdk.client import Client

run_id, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Client().attach_run(run_id) as run:
    for i in range(n):
        run.log_metric(key, i * 0.5, step=i)
    print("logged", flush=True)
    sys.stdin.readline()
print("detached", flush=True)
"""


@pytest.fixture
def processes(tmp_path: Path, settings: Settings) -> Iterator[Processes]:
    running = Processes(tmp_path, workspace_env(settings))
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def store(settings: Settings) -> Iterator[Client]:
    """The test's own view of the workspace (embedded, in process)."""
    sdk = Client(settings=settings)
    try:
        yield sdk
    finally:
        embedded.close_all()


def wait_for(check: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def spools(settings: Settings) -> list[Path]:
    """The spool files holding anything: an emptied one a client keeps for its next run holds
    nothing to recover."""
    return sorted(path for path in settings.spool_dir.glob("*.spool") if path.stat().st_size)


def assert_all_there_once(client: Client, run_id: str, n: int) -> None:
    """Every point of the killed run is stored exactly once, with its value."""
    history = client.runs.metric_history(run_id, "loss")
    assert len(history.step) == n
    assert history.step == list(range(n))
    assert history.value == [i * 0.5 for i in range(n)]
    run = client.runs.get(run_id)
    assert run.params == {"n": str(n)}
    assert run.tags == {"progress": str((n - 1) // 1000 * 1000), "stage": "logged"}
    assert run.metrics == {"loss": (n - 1) * 0.5, "auc": 0.75, "f1": 0.5}
    for key, value in (("auc", 0.75), ("f1", 0.5)):
        assert client.runs.metric_history(run_id, key).value == [value]
    assert run.status is RunStatus.KILLED
    assert run.end_time is not None


# -- kill -9 of the training process ----------------------------------------------------------


def test_sync_ships_what_a_killed_process_logged_exactly_once(
    processes: Processes, store: Client, settings: Settings
) -> None:
    n = 5_000
    child = processes.python(TRAIN, str(n), "dur")
    run_id = child.expect("logged")
    child.kill()

    first = processes.cli("sync")
    assert first["runs"] == [run_id]
    assert first["points"] <= n + 2  # only what the dead process had not shipped
    assert spools(settings) == []
    assert_all_there_once(store, run_id, n)

    second = processes.cli("sync")
    assert second == {"runs": [], "points": 0}
    assert_all_there_once(store, run_id, n)


def test_kill_while_the_shipper_is_mid_flight(
    processes: Processes, store: Client, settings: Settings
) -> None:
    n = 200_000
    child = processes.python(TRAIN_UNACKNOWLEDGED, str(n), "dur")
    run_id = child.expect("logged")
    child.kill()

    # A batch was marked as on its way and never acknowledged (though the server applied it),
    # and the store holds only part of the run.
    [path] = spools(settings)
    orphan = parse_spool(path)
    assert orphan is not None and orphan.run_id == run_id
    assert [b for b, _ in orphan.batches if b not in orphan.acked], "nothing was in flight"
    shipped_before = len(store.runs.metric_history(run_id, "loss").step)
    assert shipped_before < n

    report = processes.cli("sync")
    assert report["runs"] == [run_id]
    assert report["points"] > 0
    assert processes.cli("sync") == {"runs": [], "points": 0}
    assert_all_there_once(store, run_id, n)


def test_a_killed_process_s_deferred_run_is_created_by_sync(
    processes: Processes, store: Client, settings: Settings
) -> None:
    n = 5_000
    child = processes.python(TRAIN_DEFERRED, str(n), "dur")
    run_id = child.expect("logged")
    child.kill()
    with pytest.raises(errors.NotFound):  # the run existed only in the spool
        store.runs.get(run_id)

    assert processes.cli("sync") == {"runs": [run_id], "points": n + 2}
    assert spools(settings) == []
    assert_all_there_once(store, run_id, n)
    assert store.runs.get(run_id).name == "victim"
    assert processes.cli("sync") == {"runs": [], "points": 0}
    assert_all_there_once(store, run_id, n)


def test_a_deferred_creation_applied_but_not_acknowledged_is_not_repeated(
    processes: Processes, store: Client, settings: Settings
) -> None:
    n = 5_000
    child = processes.python(TRAIN_DEFERRED_UNACKNOWLEDGED, str(n), "dur")
    run_id = child.expect("logged")

    def created_with_points() -> bool:
        try:
            return len(store.runs.metric_history(run_id, "loss").step) == n
        except errors.NotFound:
            return False

    wait_for(created_with_points, "the run's creation with its first batch")
    child.kill()
    [path] = spools(settings)
    orphan = parse_spool(path)
    assert orphan is not None and orphan.create is not None and not orphan.created

    report = processes.cli("sync")  # creates it again (acknowledged), resends the batch (too)
    assert report["runs"] == [run_id]
    assert processes.cli("sync") == {"runs": [], "points": 0}
    assert_all_there_once(store, run_id, n)


def test_next_start_run_recovers_in_the_background(
    processes: Processes, store: Client, settings: Settings
) -> None:
    n = 20_000
    victim = processes.python(TRAIN, str(n), "dur")
    run_id = victim.expect("logged")
    victim.kill()

    successor = processes.python(NEXT, "dur", stdin=True)
    next_id = successor.expect("started")
    wait_for(
        lambda: store.runs.get(run_id).status is RunStatus.KILLED,
        "the next start_run to recover the killed run",
    )
    assert_all_there_once(store, run_id, n)
    [own] = spools(settings)  # the killed run's spool is gone; the live run's is there
    live = parse_spool(own)
    assert live is not None and live.run_id == next_id

    successor.send("\n")
    successor.expect("ended")
    assert successor.proc.wait(DEADLINE) == 0
    assert spools(settings) == []
    assert store.runs.get(next_id).status is RunStatus.FINISHED
    assert processes.cli("sync") == {"runs": [], "points": 0}


def test_a_remote_spool_is_shipped_only_to_its_own_server(
    processes: Processes, live_url: str, settings: Settings
) -> None:
    n = 60_000
    child = processes.python(TRAIN, str(n), "dur", TANDEM_URL=live_url)
    run_id = child.expect("logged")
    child.kill()

    [path] = spools(settings)
    orphan = parse_spool(path)
    assert orphan is not None and orphan.target == live_url

    # The embedded workspace is another target: its sync leaves the server's spool alone.
    assert processes.cli("sync") == {"runs": [], "points": 0}
    assert spools(settings) == [path]

    report = processes.cli("--url", live_url, "sync")
    assert report["runs"] == [run_id]
    assert spools(settings) == []
    with Client(live_url, settings=settings) as remote:
        again = remote.sync()  # the SDK's own sync finds nothing left either
        assert (again.runs, again.points) == ([], 0)
        assert_all_there_once(remote, run_id, n)


def test_a_killed_attached_process_leaves_the_shared_run_running(
    processes: Processes, store: Client, settings: Settings
) -> None:
    """A worker attached to a run does not end it when it leaves; nor when it is killed."""
    run_id = store.runs.create("dur").id
    n = 20_000
    doomed = processes.python(ATTACHED, run_id, "doomed", str(n), stdin=True)
    survivor = processes.python(ATTACHED, run_id, "survivor", str(n), stdin=True)
    doomed.expect("logged")
    survivor.expect("logged")
    doomed.kill()

    report = processes.cli("sync")  # the survivor is alive: its spool is left alone
    assert report["runs"] == [run_id]
    assert len(spools(settings)) == 1
    assert store.runs.get(run_id).status is RunStatus.RUNNING

    survivor.send("\n")
    survivor.expect("detached")
    assert survivor.proc.wait(DEADLINE) == 0
    assert spools(settings) == []
    assert store.runs.finish(run_id).status is RunStatus.FINISHED  # its owner ends it
    for key in ("doomed", "survivor"):
        history = store.runs.metric_history(run_id, key)
        assert history.step == list(range(n))
        assert history.value == [i * 0.5 for i in range(n)]


# -- kill -9 of the server --------------------------------------------------------------------

BATCH = 50_000


def batch_points(index: int) -> dict[str, list[Any]]:
    """Batch `index`: key b<index>, steps 0..BATCH-1, values telling batch and step apart."""
    steps = list(range(BATCH))
    return {
        "key": [f"b{index}"] * BATCH,
        "value": [index * 1_000_000.0 + step for step in steps],
        "step": steps,
        "timestamp": [1_700_000_000_000 + step for step in steps],
    }


def _log_until_killed(
    server: ServerProcess, settings: Settings, run_id: str, columns: list[dict[str, list[Any]]]
) -> dict[int, str]:
    """Three threads log the batches to the run; the server is killed once one was applied.
    Each batch's outcome: applied, refused (sent after the kill) or cut off (in flight)."""
    outcomes: dict[int, str] = {}
    acked = threading.Event()
    todo = queue.Queue[int]()
    for i in range(len(columns)):
        todo.put(i)
    with Client(server.url, settings=settings) as client:

        def sender() -> None:
            while True:
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                outcomes[i] = "sending"
                try:
                    client.runs.log_batch(run_id, metrics=columns[i], batch_id=f"batch-{i}")
                except errors.TransportError as exc:
                    refused = isinstance(exc.__cause__, httpx.ConnectError)
                    outcomes[i] = "refused" if refused else "cut off"
                    return
                outcomes[i] = "applied"
                acked.set()

        threads = [threading.Thread(target=sender) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            assert acked.wait(DEADLINE), "no batch got through before the kill"
            time.sleep(0.2)  # let the next requests get well under way
            server.kill()
        finally:
            for thread in threads:
                thread.join(DEADLINE)
    assert "sending" not in outcomes.values()
    return outcomes


def test_server_killed_mid_batch_applies_each_batch_wholly_or_not_at_all(
    processes: Processes, settings: Settings
) -> None:
    server = processes.server()
    batches = 8
    columns = [batch_points(i) for i in range(batches)]
    # The kill must find a batch in flight. When every sender happened to be between requests
    # (nothing cut off), that try showed nothing: start the server again and kill it again.
    for _attempt in range(5):
        with Client(server.url, settings=settings) as client:
            run_id = client.runs.create("dur").id
        outcomes = _log_until_killed(server, settings, run_id, columns)
        if "cut off" in outcomes.values():
            break
        server.start()
    else:
        pytest.fail(f"nothing was in flight at the kill in 5 tries: {outcomes}")

    server.start()  # same port, same workspace
    with Client(server.url, settings=settings) as client:
        present = set()
        for i in range(batches):
            history = client.runs.metric_history(run_id, f"b{i}")
            assert len(history.step) in (0, BATCH), f"batch {i} is half there"
            if history.step:
                assert history.step == list(range(BATCH))
                assert history.value == columns[i]["value"]
                present.add(i)
        assert {i for i, outcome in outcomes.items() if outcome == "applied"} <= present
        assert len(present) < batches

        # The client retries every batch under its id: the missing ones land, nothing doubles.
        for i in range(batches):
            result = client.runs.log_batch(run_id, metrics=columns[i], batch_id=f"batch-{i}")
            assert result.applied is (i not in present), i
            assert result.points == BATCH
        for i in range(batches):
            history = client.runs.metric_history(run_id, f"b{i}")
            assert history.step == list(range(BATCH))
            assert history.value == columns[i]["value"]


def test_shipper_rides_out_a_server_restart(
    processes: Processes, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tandem.sdk.spool")
    server = processes.server()
    n = 100_000
    restarted = threading.Event()

    def restart() -> None:
        server.start()
        restarted.set()

    with Client(server.url, settings=settings) as client:
        run = client.start_run("dur", "survivor", capture_environment=False)
        run_id = run.id
        for i in range(n):
            run.log_metric("loss", i * 0.5, step=i)
            if i == n // 10:
                run.flush()  # the server has some of it ...
                shipped = len(client.runs.metric_history(run_id, "loss").step)
                assert shipped == i + 1
            elif i == n // 2:
                server.kill()  # ... then dies while the shipper is busy sending ...
                helper = threading.Thread(target=restart)
                helper.start()  # ... and comes back on the same port while we keep logging
        helper.join(DEADLINE)
        assert restarted.is_set()
        run.set_tags({"stage": "done"})
        run.end()
        assert spools(settings) == []

        assert any("retrying batch" in r.getMessage() for r in caplog.records)
        history = client.runs.metric_history(run_id, "loss")
        assert len(history.step) == n
        assert history.step == list(range(n))
        assert history.value == [i * 0.5 for i in range(n)]
        stored = client.runs.get(run_id)
        assert stored.status is RunStatus.FINISHED
        assert stored.tags == {"stage": "done"}


def test_a_deleted_run_does_not_hold_up_the_others(
    processes: Processes, store: Client, settings: Settings
) -> None:
    n = 3_000
    store.projects.create("dur")
    victims = [processes.python(TRAIN, str(n), "dur") for _ in range(2)]
    run_ids = [victim.expect("logged") for victim in victims]
    for victim in victims:
        victim.kill()
    deleted, kept = run_ids
    store.runs.delete(deleted)

    report = processes.cli("sync")
    assert report["runs"] == [kept]
    assert_all_there_once(store, kept, n)
    [left] = spools(settings)  # kept until its run is restored, or purged
    spooled = parse_spool(left)
    assert spooled is not None and spooled.run_id == deleted

    store.runs.restore(deleted)
    assert processes.cli("sync")["runs"] == [deleted]
    assert_all_there_once(store, deleted, n)
    assert spools(settings) == []


def test_logging_after_the_end_is_refused_and_writes_to_no_other_file(
    store: Client, tmp_path: Path
) -> None:
    with store.start_run("dur", capture_environment=False) as run:
        run.log_metric("loss", 1.0)
    checkpoint = tmp_path / "checkpoint.bin"
    with checkpoint.open("wb") as handle:  # takes the file descriptor the spool had
        handle.write(b"weights")
        handle.flush()
        with pytest.raises(errors.Conflict, match="ended"):
            run.log_metric("loss", 2.0, step=1)
        with pytest.raises(errors.Conflict, match="ended"):
            run.set_tags({"late": "yes"})
    assert checkpoint.read_bytes() == b"weights"
    assert store.runs.metric_history(run.id, "loss").value == [1.0]
    assert store.runs.get(run.id).tags == {}
