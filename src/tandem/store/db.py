"""Engine, transactions and migrations for SQLite (embedded default) and PostgreSQL (teams).

SQLite runs in WAL mode with `synchronous=NORMAL`: a crash of the process loses nothing that was
committed, readers never block the writer, and a commit costs ~50 us instead of an fsync each.
Write transactions start with `BEGIN IMMEDIATE`, so concurrent writers queue on `busy_timeout`
instead of failing with "database is locked" when a read lock cannot be upgraded. Writers also
queue on locks first, a thread lock within a process and a file lock (`flock`) beside the
database across processes: SQLite's busy handler polls with sleeps of up to 100 ms, which under
load turns into a long tail of waits (a server's group committer, always having the next group
ready, would take the database back before another process's handler woke: p99 0.5-1 s with
two workers); a lock hands over in microseconds.

The WAL is copied back into the database (checkpointed) on a thread of its own, so no write
waits for it: left to SQLite, the commit that crosses 1,000 pages does it inline, with two
fsyncs, and one small write in forty took ~4 ms. Writers still checkpoint inline as a backstop
if the WAL grows past `BACKSTOP_PAGES`, so it stays bounded whatever that thread manages.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, OperationalError, ProgrammingError

from tandem.errors import InvalidInput, ServerError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD_REVISION = "0021"  # tests check this matches the newest file in migrations/versions
_PG_MIGRATION_LOCK = 7_316_426_001  # arbitrary, fixed key for pg_advisory_lock
# Rows written, as SQLite counts them, between background checkpoints: a small run is ~30.
CHECKPOINT_ROWS = 2_000
BACKSTOP_PAGES = 10_000  # a writer's own checkpoint, if the background one falls behind
# PostgreSQL: a pooled connection idle for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 2.0


class Database:
    """An engine plus the transaction helpers every store uses."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise InvalidInput(f"invalid database URL: {exc}") from exc
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        # The DB-API parameter marker for plain SQL on the hot paths (`exec_driver_sql`).
        self.placeholder = "?" if self.is_sqlite else "%s"
        self._write_lock = threading.Lock()
        self._lock_file: Any = None
        self._lock_pid = 0
        self._writer: Connection | None = None  # SQLite: the process's one write connection
        self._writer_pid = 0
        self._checkpointer: Checkpointer | None = None
        self._rows_at_checkpoint = 0
        # The SQLite database's file (None: PostgreSQL, or SQLite in memory): locks sit beside it.
        self._sqlite_file: str | None = None
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                self._sqlite_file = parsed.database
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                self._checkpointer = Checkpointer(parsed.database)
            self.engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 60}, pool_size=pool_size
            )
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            self.engine = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_use_lifo=True
            )
            event.listen(self.engine, "checkout", functools.partial(_ping_if_idle, self.engine))
            event.listen(self.engine, "checkin", _note_checkin)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self, *, pipelined: bool = False) -> Iterator[Connection]:
        """A transaction that commits on success and rolls back on any error.

        `pipelined` (PostgreSQL): statements go out without waiting for each one's answer, up
        to one whose rows are read and then the commit (psycopg's pipeline mode), so the
        transaction costs a few round trips instead of one per statement. An error then
        surfaces at the next sync rather than at its statement: only for a transaction that is
        abandoned whole on any error (the group commit, ADR 17)."""
        if not self.is_sqlite:
            with self.engine.connect() as conn:
                pipeline: Any = contextlib.nullcontext()
                if pipelined:
                    pipeline = conn.connection.driver_connection.pipeline()  # type: ignore[union-attr]
                with pipeline, conn.begin():
                    yield conn
            return
        with self._write_lock, self._process_lock():
            conn = self._write_connection()
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                if conn.invalidated or conn.closed:  # a broken connection: open another
                    self._writer = None
                raise
            if self._checkpointer is not None:
                rows = conn.connection.dbapi_connection.total_changes  # type: ignore[union-attr]
                if rows - self._rows_at_checkpoint >= CHECKPOINT_ROWS:
                    self._rows_at_checkpoint = rows
                    self._checkpointer.nudge()

    def _write_connection(self) -> Connection:
        """The connection SQLite writes go through (called under the write locks): one per
        process, kept open, as there is one writer at a time anyway; checking a connection out
        of the pool and back for every transaction cost as much as the commit of a small one."""
        if self._writer is None or self._writer_pid != os.getpid():
            self._writer = self.engine.connect()
            self._writer.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            self._writer_pid = os.getpid()
            self._rows_at_checkpoint = 0
            if self._checkpointer is not None:
                driver = self._writer.connection.dbapi_connection
                driver.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")  # type: ignore[union-attr]
        return self._writer

    @contextlib.contextmanager
    def _process_lock(self) -> Iterator[None]:
        """The file lock that queues writers of other processes (called under `_write_lock`)."""
        handle = self._lock_handle()
        if handle is None:
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

    def _lock_handle(self) -> Any:
        # Opened per process: a forked child shares its parent's open file, and so its lock.
        if self._lock_file is None or self._lock_pid != os.getpid():
            if self._sqlite_file is None:
                return None
            try:
                self._lock_file = open(f"{self._sqlite_file}.write.lock", "a")  # noqa: SIM115 - kept
            except OSError:  # a read-only folder: SQLite's own locking still applies
                return None
            self._lock_pid = os.getpid()
        return self._lock_file

    def dispose(self) -> None:
        with self._write_lock:
            if self._writer is not None and self._writer_pid == os.getpid():
                self._writer.close()
            self._writer = None
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- migrations ---------------------------------------------------------------------------

    def current_revision(self) -> str | None:
        try:
            with self.read() as conn:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (OperationalError, ProgrammingError):
            return None

    def upgrade(self) -> None:
        """Bring the schema to the newest revision. Safe when several servers start at once:
        one migrates under a lock (advisory lock on PostgreSQL, a file lock beside SQLite), the
        others wait and then find nothing to do."""
        # SQLite: take the file lock before the first connection. A connection's setup
        # (journal mode) can fail with "database is locked" while another process migrates a
        # new file, so nobody may even look until the migrating process is done.
        if not self.is_sqlite and self.current_revision() == HEAD_REVISION:
            return
        with self._migration_lock():
            if self.current_revision() == HEAD_REVISION:
                return
            from alembic import command
            from alembic.config import Config

            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            with self.engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
            log.info("database migrated to %s", HEAD_REVISION)

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.is_sqlite:
            if self._sqlite_file is None:
                yield
                return
            with open(f"{self._sqlite_file}.migrate.lock", "w") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        else:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                    conn.commit()


class Checkpointer:
    """Checkpoints a SQLite database's WAL on a thread of its own, when nudged (by writers, after
    every `CHECKPOINT_ROWS` rows). PASSIVE checkpoints: readers and writers carry on meanwhile,
    and what a reader still needs stays in the WAL until the next one. A forked child starts
    its own thread on its first nudge."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopping = False

    def nudge(self) -> None:
        with self._lock:
            if self._stopping:
                return
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="tandem-sqlite-checkpoint", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        """Let a checkpoint in progress finish, and end the thread."""
        with self._lock:
            self._stopping = True
            thread = self._thread if self._pid == os.getpid() else None
        self._wake.set()
        if thread is not None:
            thread.join(timeout=60)

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        except sqlite3.Error as exc:  # writers' backstop checkpoints still apply
            log.warning("background checkpoints are off for %s: %s", self.path, exc)
            return
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # a busy or read-only database: try next time
                    log.debug("background checkpoint of %s: %s", self.path, exc)
        finally:
            connection.close()


def driver_cursor(conn: Connection) -> Any:
    """The DB-API cursor under `conn`, in its transaction: for statements on the hot paths,
    where SQLAlchemy's work per statement (~5-8 us) costs more than SQLite's."""
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["tandem_idle_since"] = time.monotonic()


def _ping_if_idle(engine: Engine, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Check a PostgreSQL connection that sat idle in the pool (a restarted server or a
    firewall may have dropped it) before it is used; a lost one is replaced, transparently.
    SQLAlchemy's `pool_pre_ping` pings on every checkout: a round trip before each transaction,
    an eighth of a busy server's time. A connection in steady use is not pinged: if the server
    went away under it, that request fails, the pool is refreshed, and the client's retry
    (idempotent by batch id) goes through."""
    idle_since = record.info.get("tandem_idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        alive = engine.dialect.do_ping(dbapi_connection)
    except Exception:
        alive = False
    if not alive:
        raise DisconnectionError("the pooled connection was lost while idle")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module so _sqlite_on_begin decides.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # Straight to the driver: SQLAlchemy's statement machinery cost more than the BEGIN.
    statement = conn.get_execution_options().get("sqlite_begin", "BEGIN")
    conn.connection.dbapi_connection.execute(statement)  # type: ignore[union-attr]


def open_database(url: str) -> Database:
    """Open and migrate the database at `url`, with a clear error when it cannot be reached."""
    database = Database(url)
    try:
        database.upgrade()
    except OperationalError as exc:
        database.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ServerError(f"cannot open the database: {reason}") from exc
    return database
