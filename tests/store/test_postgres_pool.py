"""PostgreSQL's pool pings a connection only after it sat idle: one lost meanwhile is replaced
unseen, while a connection in steady use costs no round trip before each transaction."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tandem.store import db as db_module
from tandem.store.db import Database

PG_URL = os.environ.get("TANDEM_TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(
    not PG_URL, reason="the PostgreSQL pool's behaviour: runs in the PostgreSQL pass"
)


def _backend_pid(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pid: int) -> None:
    admin = create_engine(str(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()
    time.sleep(0.2)  # the backend is gone once its socket is closed


def test_a_connection_lost_while_idle_is_replaced_unseen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.1)
    db = Database(str(PG_URL), pool_size=1)
    try:
        lost = _backend_pid(db)
        _terminate(lost)  # as a restarted server or a firewall would, while it sat in the pool
        assert _backend_pid(db) != lost
    finally:
        db.dispose()


def test_a_connection_in_steady_use_is_not_pinged() -> None:
    """The trade-off: a connection used a moment ago goes out unchecked. If the server dropped
    it, that one transaction fails (the SDK retries it: batch ids make that safe) and the pool
    opens a new connection for the next."""
    db = Database(str(PG_URL), pool_size=1)
    try:
        lost = _backend_pid(db)
        _terminate(lost)
        with pytest.raises(OperationalError):
            _backend_pid(db)
        assert _backend_pid(db) != lost
    finally:
        db.dispose()
