"""Migrations: the schema they build is the schema the code declares, on both databases, and
several servers starting at once migrate exactly once."""

from __future__ import annotations

import multiprocessing
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from tandem.store.base import metadata
from tandem.store.db import HEAD_REVISION, Database

PG_URL = os.environ.get("TANDEM_TEST_DATABASE_URL")


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A brand-new database: a file on SQLite, a throwaway database on PostgreSQL."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"tandem_migrate_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# SQLite's reflection cannot read an index on an expression (lower(name)); the test below
# checks that one by its effect.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_upgrade_builds_the_declared_schema(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        assert db.current_revision() is None
        db.upgrade()
        assert db.current_revision() == HEAD_REVISION
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        db.upgrade()  # a second start finds nothing to do
        assert db.current_revision() == HEAD_REVISION
    finally:
        db.dispose()


def _upgrade(url: str, barrier: Any) -> None:
    barrier.wait()
    db = Database(url)
    try:
        db.upgrade()
    finally:
        db.dispose()


@pytest.mark.slow
def test_servers_starting_at_once_migrate_safely(empty_database_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    workers = [
        context.Process(target=_upgrade, args=(empty_database_url, barrier)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    db = Database(empty_database_url)
    try:
        assert db.current_revision() == HEAD_REVISION
        with db.engine.connect() as conn:
            versions = conn.execute(text("SELECT count(*) FROM alembic_version")).scalar()
        assert versions == 1
    finally:
        db.dispose()


def test_unreachable_database_is_a_clear_error() -> None:
    from tandem.errors import ServerError
    from tandem.store.db import open_database

    with pytest.raises(ServerError, match="cannot open the database"):
        open_database("postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2")


def _upgrade_to(db: Database, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from tandem.store.db import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def test_model_names_that_differ_only_by_case_become_one_name(empty_database_url: str) -> None:
    """0012: two models whose names differed only by case (allowed before) keep working, the
    newer renamed; from then on the database itself refuses such a pair."""
    from sqlalchemy.exc import IntegrityError

    db = Database(empty_database_url)
    try:
        _upgrade_to(db, "0011")
        model = (
            "INSERT INTO registered_models (project_pk, name, description, tags, created_at, "
            "created_by) VALUES (1, :name, '', '{}', 0, 'ann')"
        )
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO projects (name, description, created_at) "
                              "VALUES ('churn', '', 0)"))  # fmt: skip
            for name in ("Churn", "churn", "other"):
                conn.execute(text(model), {"name": name})
        db.upgrade()
        with db.engine.connect() as conn:
            names = conn.execute(text("SELECT name FROM registered_models ORDER BY pk")).scalars()
            assert list(names) == ["Churn", "churn-renamed-2", "other"]
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            conn.execute(text(model), {"name": "OTHER"})
        with db.engine.connect() as conn:
            count = conn.execute(text("SELECT count(*) FROM registered_models")).scalar()
        assert count == 3
    finally:
        db.dispose()
