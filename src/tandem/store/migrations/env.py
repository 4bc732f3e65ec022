"""Alembic environment: migrations run on the connection `Database.upgrade` hands over.

The store knows no domain: whoever wants the migrations compared with the tables the code
declares (autogenerate) hands the metadata over too, as `config.attributes["metadata"]`
(`python -m tandem.server.schema` does, with every domain's tables)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    from sqlalchemy import create_engine

    url = context.config.get_main_option("sqlalchemy.url") or "sqlite:///autogen.db"
    connection = create_engine(url).connect()

context.configure(
    connection=connection,
    target_metadata=context.config.attributes.get("metadata"),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
