"""Alembic environment: migrations run on the connection `Database.upgrade` hands over."""

from __future__ import annotations

from alembic import context

import tandem.audit.tables
import tandem.data.tables
import tandem.evaluation.tables
import tandem.gc.models
import tandem.governance.decisions.tables
import tandem.governance.gates.tables
import tandem.governance.notifications.tables
import tandem.governance.plan.tables
import tandem.governance.registers.tables
import tandem.identity.tables
import tandem.lineage.tables
import tandem.projects.tables
import tandem.registry.tables
import tandem.store.tables
import tandem.tracking.tables  # noqa: F401
from tandem.store.base import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    from sqlalchemy import create_engine

    url = context.config.get_main_option("sqlalchemy.url") or "sqlite:///autogen.db"
    connection = create_engine(url).connect()

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
