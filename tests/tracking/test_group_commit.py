"""Group commit (ADR 17): batches applied together give each the result or error `log_batch`
would have given it alone, and store exactly what those would have stored."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Connection

from tandem.core.auth import Principal, Role
from tandem.errors import Conflict, HiddenNotFound, InvalidInput, NotFound, PermissionDenied
from tandem.server.container import Services
from tandem.store.db import driver_cursor
from tandem.tracking.group_commit import GroupCommitter
from tandem.tracking.models import BatchResult, MetricColumns, RunBatch, RunCreate


def points(keys: list[str], values: list[float], step: int, batch_id: str | None) -> RunBatch:
    return RunBatch(
        batch_id=batch_id,
        metrics=MetricColumns(key=keys, value=values, step=[step] * len(keys)),
    )


def test_a_group_gives_each_batch_its_own_result(services: Services) -> None:
    owner = services.owner
    tracking = services.tracking
    a = tracking.create_run(owner, "churn", RunCreate(create_project=True, params={"m": "gbm"}))
    b = tracking.create_run(owner, "churn", RunCreate())
    gone = tracking.create_run(owner, "churn", RunCreate())
    tracking.delete_run(owner, gone.id)
    tracking.log_batch(owner, a.id, points(["auc"], [0.1], 0, "retried"))
    viewer = Principal(name="vi", roles={"churn": Role.VIEWER})
    outsider = Principal(name="mal", roles={})

    results = tracking.log_batches(
        [
            (owner, a.id, points(["auc", "loss"], [0.5, 2.0], 1, "a1")),
            (owner, b.id, points(["auc"], [0.7], 3, "b1")),
            (owner, a.id, points(["auc"], [0.6], 2, "a2")),
            (owner, a.id, points(["auc"], [0.6], 2, "a2")),  # the same batch twice in a group
            (owner, a.id, points(["auc"], [0.1], 0, "retried")),  # applied before
            (owner, f"churn/{b.id}", points(["loss"], [1.5], 4, None)),
            (owner, a.id, points(["auc"], [0.2], -1, "negative")),
            (owner, "0" * 32, points(["auc"], [0.1], 0, "x")),
            (owner, gone.id, points(["auc"], [0.1], 0, "x")),
            (viewer, a.id, points(["auc"], [0.9], 9, "v")),
            (outsider, a.id, points(["auc"], [0.9], 9, "o")),
            (owner, f"other/{a.id}", points(["auc"], [0.9], 9, "p")),
            (owner, a.id, RunBatch(batch_id="param", params={"m": "lr"})),  # alone: Conflict
            (owner, b.id, RunBatch(batch_id="tag", tags={"team": "x"})),  # alone: applied
        ]
    )

    assert results[:6] == [
        BatchResult(applied=True, points=2),
        BatchResult(applied=True, points=1),
        BatchResult(applied=True, points=1),
        BatchResult(applied=False, points=1),
        BatchResult(applied=False, points=1),
        BatchResult(applied=True, points=1),
    ]
    assert isinstance(results[6], InvalidInput)
    assert isinstance(results[7], NotFound)
    assert isinstance(results[8], Conflict)
    assert isinstance(results[9], PermissionDenied)
    assert isinstance(results[10], HiddenNotFound)
    assert isinstance(results[11], NotFound)
    assert isinstance(results[12], Conflict)
    assert results[13] == BatchResult(applied=True, points=0)

    auc = tracking.metric_history(owner, a.id, "auc")
    assert (auc.step, auc.value) == ([0, 1, 2], [0.1, 0.5, 0.6])
    run_a, run_b = tracking.get_run(owner, a.id), tracking.get_run(owner, b.id)
    assert run_a.metrics == {"auc": 0.6, "loss": 2.0}
    assert run_b.metrics == {"auc": 0.7, "loss": 1.5}
    assert run_b.tags["team"] == "x"
    logged = services.audit.list(owner, action="run.log", limit=100).items
    # one event per applied batch: the first lone one, four of the group, the tag batch
    assert sorted(e.details["points"] for e in logged) == [0, 1, 1, 1, 1, 2]


def test_a_failed_group_applies_each_batch_alone(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the shared transaction fails (here: the audit insert, after the points), nothing of
    it stays and every batch is applied in its own transaction instead."""
    owner = services.owner
    tracking = services.tracking
    run = tracking.create_run(owner, "churn", RunCreate(create_project=True))

    def broken(*_: object) -> None:
        raise RuntimeError("connection lost")

    monkeypatch.setattr(services.audit, "record_many", broken)
    results = tracking.log_batches(
        [(owner, run.id, points(["auc"], [0.1 * i], i, f"b{i}")) for i in range(3)]
    )
    assert results == [BatchResult(applied=True, points=1)] * 3
    assert tracking.metric_history(owner, run.id, "auc").step == [0, 1, 2]
    assert len(services.audit.list(owner, action="run.log").items) == 3


def test_a_database_error_in_a_group_abandons_it_whole(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement the database refuses, after the points were sent. On PostgreSQL the group's
    statements are pipelined, so the error surfaces only at the commit: the group is still
    abandoned whole, each batch is applied alone (once), and the next group goes through."""
    owner = services.owner
    tracking = services.tracking
    run = tracking.create_run(owner, "churn", RunCreate(create_project=True))
    record_many = services.audit.record_many

    def refused(conn: Connection, _events: object) -> None:
        driver_cursor(conn).execute("INSERT INTO no_such_table VALUES (1)")

    monkeypatch.setattr(services.audit, "record_many", refused)
    results = tracking.log_batches(
        [(owner, run.id, points(["auc"], [0.1 * i], i, f"b{i}")) for i in range(3)]
    )
    assert results == [BatchResult(applied=True, points=1)] * 3
    monkeypatch.setattr(services.audit, "record_many", record_many)
    results = tracking.log_batches(
        [(owner, run.id, points(["auc"], [0.1 * i], i, f"b{i}")) for i in range(2, 5)]
    )
    assert (
        results
        == [BatchResult(applied=False, points=1)] + [BatchResult(applied=True, points=1)] * 2
    )
    assert tracking.metric_history(owner, run.id, "auc").step == [0, 1, 2, 3, 4]
    assert len(services.audit.list(owner, action="run.log").items) == 5  # 3 alone, 2 together


def test_concurrent_submits_share_transactions_and_lose_nothing(services: Services) -> None:
    owner = services.owner
    tracking = services.tracking
    runs = [tracking.create_run(owner, "churn", RunCreate(create_project=True)) for _ in range(3)]
    futures = []
    lock = threading.Lock()

    def send(worker: int) -> None:
        for step in range(50):
            run = runs[(worker + step) % 3]
            batch = points(["auc", "loss"], [step / 100, 1 - step / 100], step, f"w{worker}-{step}")
            future = tracking.submit_batch(owner, run.id, batch)
            with lock:
                futures.append(future)

    threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [f.result(timeout=30) for f in futures] == [BatchResult(applied=True, points=2)] * 400
    stored = sum(len(tracking.metric_history(owner, run.id, "auc").step) for run in runs)
    assert stored == 400
    assert all(tracking.get_run(owner, run.id).metrics["auc"] == 0.49 for run in runs)


def test_the_committer_hands_each_caller_its_result_or_error() -> None:
    groups: list[list[int]] = []
    release = threading.Event()

    def apply(items: list[int]) -> list[int | Exception]:
        release.wait(5)
        groups.append(list(items))
        return [ValueError(item) if item % 5 == 0 else item * 2 for item in items]

    committer: GroupCommitter[int, int] = GroupCommitter(apply)
    futures = [committer.submit(item) for item in range(1, 11)]
    release.set()
    for item, future in zip(range(1, 11), futures, strict=True):
        if item % 5 == 0:
            with pytest.raises(ValueError):
                future.result(5)
        else:
            assert future.result(5) == item * 2
    # items queued while a group was being applied went together, in order
    assert [item for group in groups for item in group] == list(range(1, 11))
    assert len(groups) < 10
    committer.close()
    with pytest.raises(RuntimeError, match="closed"):
        committer.submit(1)


def test_an_apply_that_raises_fails_its_group_not_the_committer() -> None:
    calls = 0

    def apply(items: list[int]) -> list[int | Exception]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk gone")
        return list(items)

    committer: GroupCommitter[int, int] = GroupCommitter(apply)
    with pytest.raises(OSError):
        committer.submit(1).result(5)
    assert committer.submit(2).result(5) == 2
    committer.close()
