"""Every domain's tables, declared in one place: the schema the migrations build
(`tandem/store/migrations/env.py` is handed it) and the columns that hold blob oids, which gc
keeps (`BlobIndex`). A domain with tables adds its `tables` module here (tests/security
checks the list against the `tables.py` files there are).

`python -m tandem.server.schema "message"` writes a new migration from the difference between
these tables and the database at TANDEM_DATABASE_URL (run on a database at the newest revision).
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from sqlalchemy import Column, MetaData

import tandem.alerting.tables
import tandem.audit.tables
import tandem.data.tables
import tandem.deployments.tables
import tandem.evaluation.tables
import tandem.governance.decisions.tables
import tandem.governance.gates.tables
import tandem.governance.notifications.tables
import tandem.governance.plan.tables
import tandem.governance.registers.tables
import tandem.identity.tables
import tandem.lineage.tables
import tandem.monitoring.tables
import tandem.outcomes.tables
import tandem.predictions.tables
import tandem.projects.tables
import tandem.registry.tables
import tandem.store.tables
import tandem.tracking.tables
from tandem.store.base import blob_oid_columns, metadata

TABLE_MODULES: tuple[ModuleType, ...] = (
    tandem.alerting.tables,
    tandem.audit.tables,
    tandem.data.tables,
    tandem.deployments.tables,
    tandem.evaluation.tables,
    tandem.governance.decisions.tables,
    tandem.governance.gates.tables,
    tandem.governance.notifications.tables,
    tandem.governance.plan.tables,
    tandem.governance.registers.tables,
    tandem.identity.tables,
    tandem.lineage.tables,
    tandem.monitoring.tables,
    tandem.outcomes.tables,
    tandem.predictions.tables,
    tandem.projects.tables,
    tandem.registry.tables,
    tandem.store.tables,
    tandem.tracking.tables,
)
"""Every domain's tables module; each registers its tables on `tandem.store.base.metadata`."""


def schema() -> MetaData:
    """The metadata with every domain's tables on it."""
    return metadata


def blob_references() -> list[Column[Any]]:
    """Every column, over every domain's tables, that holds blob oids (`info=BLOB_OID`)."""
    return blob_oid_columns(schema())


def autogenerate(message: str, database_url: str) -> None:  # pragma: no cover - a dev tool
    """Write a migration from the difference between the tables and the database."""
    from alembic import command
    from alembic.config import Config

    from tandem.store.db import MIGRATIONS, Database

    db = Database(database_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with db.engine.begin() as conn:
            config.attributes["connection"] = conn
            config.attributes["metadata"] = schema()
            command.revision(config, message, autogenerate=True)
    finally:
        db.dispose()


if __name__ == "__main__":  # pragma: no cover
    from tandem.core.config import Settings

    autogenerate(" ".join(sys.argv[1:]) or "schema change", Settings.load().database_url)
