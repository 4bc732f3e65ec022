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
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError

from tandem.errors import InvalidInput, ServerError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD_REVISION = "0011"  # tests check this matches the newest file in migrations/versions
_PG_MIGRATION_LOCK = 7_316_426_001  # arbitrary, fixed key for pg_advisory_lock


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
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 60}, pool_size=pool_size
            )
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            self.engine = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that commits on success and rolls back on any error."""
        if not self.is_sqlite:
            with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        with self._write_lock, self._process_lock(), self.engine.connect() as conn:
            conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with conn.begin():
                yield conn

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
            database = make_url(self.url).database
            if not database or database == ":memory:":
                return None
            try:
                self._lock_file = open(f"{database}.write.lock", "a")  # noqa: SIM115 - kept
            except OSError:  # a read-only folder: SQLite's own locking still applies
                return None
            self._lock_pid = os.getpid()
        return self._lock_file

    def dispose(self) -> None:
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
        if self.current_revision() == HEAD_REVISION:
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
            database = make_url(self.url).database
            if not database or database == ":memory:":
                yield
                return
            with open(f"{database}.migrate.lock", "w") as handle:
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


def driver_cursor(conn: Connection) -> Any:
    """The DB-API cursor under `conn`, in its transaction: for statements on the hot paths,
    where SQLAlchemy's work per statement (~5-8 us) costs more than SQLite's."""
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


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
    conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))


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
