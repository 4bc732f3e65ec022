"""Shared fixtures. The whole suite runs against SQLite by default, and against PostgreSQL when
TANDEM_TEST_DATABASE_URL is set (CI runs it both ways). An unreachable PostgreSQL fails the
run: it never skips."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import text
from starlette.testclient import TestClient

from tandem.core.config import Settings
from tandem.sdk.client import Client
from tandem.server.app import create_app
from tandem.server.container import Services
from tandem.store.base import metadata
from tandem.store.db import Database

# Commands the tests start as processes run in those processes: the resident process (ADR 16)
# has its own tests, which turn it back on in a private directory.
os.environ["TANDEM_RESIDENT"] = "0"
PG_URL = os.environ.get("TANDEM_TEST_DATABASE_URL")
_pg_ready = False


def database_url(tmp_path: Path) -> str:
    """A fresh, migrated, empty database for one test."""
    global _pg_ready
    if not PG_URL:
        return f"sqlite:///{tmp_path / 'tandem.db'}"
    db = Database(PG_URL)
    try:
        if not _pg_ready:
            db.upgrade()
            _pg_ready = True
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        with db.write() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        db.dispose()
    return PG_URL


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("TANDEM_") and key not in (
            "TANDEM_TEST_DATABASE_URL",
            "TANDEM_UPDATE_SNAPSHOTS",
        ):
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
