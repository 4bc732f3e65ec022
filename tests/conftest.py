"""Shared fixtures. The whole suite runs against SQLite by default, and against PostgreSQL when
TANDEM_TEST_DATABASE_URL is set (CI runs it both ways). An unreachable PostgreSQL fails the
run: it never skips.

The suite runs in parallel (pytest-xdist, `-n auto` in scripts/test). Each process gets a
database of its own for the run, so that neither two workers nor two runs on one machine share
one: on PostgreSQL, TANDEM_TEST_DATABASE_URL names the server and the base of the names
(`.../test` gives `test_<run>_<worker>`, created when the worker starts and dropped when the run
ends; leftovers of crashed runs older than a day are dropped too); each test empties it. On
SQLite every test gets a file of its own under its tmp_path, copied from one migrated per
process."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from tandem.core.config import Settings
from tandem.sdk.client import Client
from tandem.server.app import create_app
from tandem.server.container import Services
from tandem.store.base import metadata
from tandem.store.db import Database

# pytest-xdist's workers start with COLUMNS=80 and LINES set, which a plain run does not have
# (and Rich reads once, when tandem.cli.output is imported): the same output either way.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)
# Commands the tests start as processes run in those processes: the resident process (ADR 16)
# has its own tests, which turn it back on in a private directory.
os.environ["TANDEM_RESIDENT"] = "0"
# Read at the start of the run; pytest_configure points it at this process's own database.
PG_URL = os.environ.get("TANDEM_TEST_DATABASE_URL")
# Variables the `settings` fixture leaves in place (it clears every other TANDEM_*).
SUITE_VARIABLES = ("TANDEM_TEST_DATABASE_URL", "TANDEM_UPDATE_SNAPSHOTS", "TANDEM_TEST_FULL")
STALE_SECONDS = 24 * 3600
_pg_empty: str | None = None  # the statement that empties this process's PostgreSQL database
# What this process drops at the end: the run's databases (a regular expression for their names;
# the xdist controller drops its workers', which are stopped before they could finish a slow
# DROP) and the server to drop them on.
_to_drop: tuple[str, str] | None = None
_sqlite_template: Path | None = None  # a migrated SQLite file each test copies


def full_form() -> bool:
    """TANDEM_TEST_FULL=1: the long forms of the tests that have a short one for CI (chaos,
    schemathesis, the authorisation matrix's hostile requests)."""
    return os.environ.get("TANDEM_TEST_FULL", "") == "1"


# -- a database per worker and per run ---------------------------------------------------------


def _maintenance_url(url: str) -> str:
    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


def _admin(url: str) -> Any:
    """An AUTOCOMMIT engine on the server's maintenance database; an unreachable server is a
    UsageError, which fails the run (it is never a skip)."""
    engine = create_engine(_maintenance_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        shown = make_url(url).render_as_string(hide_password=True)
        raise pytest.UsageError(
            f"PostgreSQL is unreachable at {shown} (TANDEM_TEST_DATABASE_URL): {exc}"
        ) from exc
    return engine


def _run_id() -> str:
    """When the run started (to find leftovers) and a random part (two runs in one second)."""
    return f"{int(time.time())}x{secrets.token_hex(3)}"


def _database_name(base: str, run: str, worker: str) -> str:
    suffix = f"_{run}_{worker}"
    return base[: 63 - len(suffix)] + suffix  # PostgreSQL names are at most 63 bytes


def _drop_stale(engine: Any, base: str) -> None:
    """Drop databases of this naming left by runs that crashed more than a day ago."""
    pattern = re.compile(re.escape(base[:30]) + r".*_(\d{10})x[0-9a-f]{6}_(gw\d+|main)")
    with engine.connect() as conn:
        names = conn.execute(text("SELECT datname FROM pg_database")).scalars().all()
        for name in names:
            found = pattern.fullmatch(name)
            if found and int(found.group(1)) < time.time() - STALE_SECONDS:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _is_controller(config: pytest.Config) -> bool:
    """The xdist process that hands tests to the workers (and runs none itself)."""
    distributing = getattr(config.option, "dist", "no") != "no"
    return distributing and bool(getattr(config.option, "numprocesses", 0))


def pytest_configure(config: pytest.Config) -> None:
    global PG_URL, _to_drop
    if not PG_URL:
        return
    workerinput = getattr(config, "workerinput", None)
    base = make_url(PG_URL).database or "test"
    if workerinput is None:  # the controller, or a run without workers
        engine = _admin(PG_URL)
        try:
            _drop_stale(engine, base)
        finally:
            engine.dispose()
        run = config.tandem_run_id = _run_id()  # type: ignore[attr-defined]
        if _is_controller(config):  # the workers make their own databases
            _to_drop = (PG_URL, rf".*_{run}_gw\d+")
            return
        worker = "main"
    else:
        run, worker = workerinput["tandem_run_id"], workerinput["workerid"]
    name = _database_name(base, run, worker)
    engine = _admin(PG_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    if workerinput is None:
        _to_drop = (PG_URL, re.escape(name))
    PG_URL = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    # test modules, and the processes tests start, read the variable: they see this database
    os.environ["TANDEM_TEST_DATABASE_URL"] = PG_URL


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: every worker of this run learns the run's id."""
    node.workerinput["tandem_run_id"] = getattr(node.config, "tandem_run_id", None) or _run_id()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _to_drop is not None:
        server, pattern = _to_drop
        engine = _admin(server)
        try:
            with engine.connect() as conn:
                names = conn.execute(text("SELECT datname FROM pg_database")).scalars().all()
                for name in names:
                    if re.fullmatch(pattern, name):
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            engine.dispose()
    if _sqlite_template is not None:
        shutil.rmtree(_sqlite_template.parent, ignore_errors=True)


def _migrated_sqlite() -> Path:
    """This process's migrated, empty SQLite file (made once: migrating takes a quarter second,
    copying a millisecond)."""
    global _sqlite_template
    if _sqlite_template is None:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="tandem-test-template-"))
        db = Database(f"sqlite:///{folder / 'tandem.db'}")
        try:
            db.upgrade()
        finally:
            db.dispose()
        assert not (folder / "tandem.db-wal").exists(), "the template's WAL was not merged"
        _sqlite_template = folder / "tandem.db"
    return _sqlite_template


def _emptying_statement(db: Database) -> str:
    """One round trip that empties every table and restarts every sequence, as `TRUNCATE ...
    RESTART IDENTITY` would, in a tenth of its time: TRUNCATE makes new files for all 48 tables
    (more than a second a test here), DELETE on a test's few rows does not. Tables whose
    triggers refuse DELETE (the append-only audit log) are truncated."""
    with db.read() as conn:
        guarded = set(
            conn.execute(
                text(
                    "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c"
                    " ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
                )
            ).scalars()
        )
    steps = [f'TRUNCATE "{name}" CASCADE;' for name in sorted(guarded)]
    steps += [
        f'DELETE FROM "{table.name}";'  # children before their parents
        for table in reversed(metadata.sorted_tables)
        if table.name not in guarded
    ]
    restart = (
        "FOR s IN SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND n.nspname = current_schema()"
        " LOOP EXECUTE 'ALTER SEQUENCE ' || s || ' RESTART'; END LOOP;"
    )
    return "DO $$ DECLARE s regclass; BEGIN " + " ".join([*steps, restart]) + " END $$"


def database_url(tmp_path: Path) -> str:
    """A fresh, migrated, empty database for one test."""
    global _pg_empty
    if not PG_URL:
        target = tmp_path / "tandem.db"
        if not target.exists():  # a second call for the same folder: the same database
            shutil.copyfile(_migrated_sqlite(), target)
        return f"sqlite:///{target}"
    db = Database(PG_URL)
    try:
        if _pg_empty is None:
            db.upgrade()
            _pg_empty = _emptying_statement(db)
        with db.write() as conn:
            conn.execute(text(_pg_empty))
    finally:
        db.dispose()
    return PG_URL


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("TANDEM_") and key not in SUITE_VARIABLES:
            monkeypatch.delenv(key)
    home = tmp_path / ".tandem"
    return Settings(home=home, database_url=database_url(tmp_path), artifacts=str(home / "blobs"))


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = Services.build(settings)
    yield built
    built.close()


@pytest.fixture
def owner(services: Services):
    return services.owner


@pytest.fixture
def app(services: Services):
    """The served app, open as `tandem server` on loopback is (no users: no sign-in)."""
    return create_app(services=services, allow_open=True)


@pytest.fixture
def api(app) -> Iterator[TestClient]:
    """The app in process, called as from loopback (TestClient's own peer and Host are not)."""
    with TestClient(
        app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000), raise_server_exceptions=False
    ) as client:
        yield client


class LiveServer:
    """The real app served by uvicorn on a free loopback port, in a thread."""

    def __init__(self, app, port: int = 0) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_url(app) -> Iterator[str]:
    with LiveServer(app) as url:
        yield url


@pytest.fixture(params=["embedded", "remote"])
def client(
    request: pytest.FixtureRequest, settings: Settings, services: Services
) -> Iterator[Client]:
    """The SDK, once embedded (the app in process on the workspace) and once remote (HTTP to a
    real server on loopback): one suite, both ways."""
    if request.param == "embedded":
        from tandem.server import embedded

        sdk = Client(settings=settings)
        yield sdk
        embedded.close_all()
    else:
        with LiveServer(create_app(services=services, allow_open=True)) as url:
            sdk = Client(url, settings=settings)
            yield sdk
            sdk.close()


@pytest.fixture
def serve() -> type[LiveServer]:
    """`with serve(app) as url:` serves any app on loopback (tests in folders with their own
    conftest cannot import this one by name)."""
    return LiveServer


@pytest.fixture
def fresh_database_url():
    """`fresh_database_url(folder)`: another fresh, migrated, empty database."""
    return database_url
