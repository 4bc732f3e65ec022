"""SQLite writers of different processes queue on a file lock beside the database, not on
SQLite's busy handler, whose sleeps of up to 100 ms let one busy process starve another."""

from __future__ import annotations

import fcntl
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from tandem.store.db import BACKSTOP_PAGES, CHECKPOINT_ROWS, Database


def _insert(url: str, started: Any, done: Any) -> None:
    db = Database(url)
    try:
        started.set()
        with db.write() as conn:
            conn.execute(text("INSERT INTO t (x) VALUES (2)"))
        done.set()
    finally:
        db.dispose()


def test_a_writer_in_another_process_waits_for_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    url = f"sqlite:///{path}"
    db = Database(url)
    try:
        with db.write() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t (x) VALUES (1)"))
        context = multiprocessing.get_context("spawn")
        started, done = context.Event(), context.Event()
        with open(f"{path}.write.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # as another process's writer holds it
            writer = context.Process(target=_insert, args=(url, started, done))
            writer.start()
            try:
                assert started.wait(60)
                assert not done.wait(1.0), "the writer did not wait for the lock"
                with db.read() as conn:  # readers are not held up
                    assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
            assert done.wait(60)
            writer.join(60)
        assert writer.exitcode == 0
        with db.read() as conn:
            assert sorted(conn.execute(text("SELECT x FROM t")).scalars()) == [1, 2]
    finally:
        db.dispose()


def test_the_lock_is_taken_per_process(tmp_path: Path) -> None:
    """A forked child shares its parent's open files, and so a lock taken through them: the
    child must open the lock file again, or it would write while the parent holds the lock."""
    path = tmp_path / "fork.db"
    db = Database(f"sqlite:///{path}")
    try:
        with db.write() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        parent_handle = db._lock_handle()
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=lambda: queue.put(db._lock_handle() is parent_handle))
        child.start()
        assert queue.get(timeout=60) is False
        child.join(60)
        assert db._lock_handle() is parent_handle
    finally:
        db.dispose()


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tandem-sqlite-checkpoint"]


def test_the_wal_is_checkpointed_in_the_background(tmp_path: Path) -> None:
    """Writers leave the WAL to a thread of their own: after `CHECKPOINT_ROWS` rows it copies
    them into the database file, though the WAL is far below SQLite's 1,000-page mark at which
    a writer would have done it inline, and the writers' own mark is higher still."""
    path = tmp_path / "wal.db"
    db = Database(f"sqlite:///{path}")
    try:
        with db.write() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER, payload TEXT)"))
            backstop = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert backstop == BACKSTOP_PAGES
        size_before = path.stat().st_size
        rows = CHECKPOINT_ROWS + 100
        for start in range(0, rows, 100):  # 200 bytes a row: ~130 pages in all
            with db.write() as conn:
                conn.execute(
                    text("INSERT INTO t (x, payload) VALUES (:x, :p)"),
                    [{"x": i, "p": "p" * 200} for i in range(start, start + 100)],
                )
        deadline = time.monotonic() + 30
        while path.stat().st_size < size_before + rows * 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size >= size_before + rows * 200, "the WAL was not checkpointed"
        assert len(_checkpointers()) == 1
        with db.read() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == rows
    finally:
        db.dispose()
    assert _checkpointers() == []
