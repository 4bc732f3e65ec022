"""The one SQLAlchemy MetaData every domain's tables.py registers its tables on, and the
declaration of which columns hold blob oids.

A column that names a blob is declared where its table is, with `info=BLOB_OID`:

    Column("oid", String(64), nullable=False, info=BLOB_OID)

gc keeps every blob such a column names (`blob_oid_columns`). Every domain's tables module is
listed in `TABLE_MODULES` and loaded before the columns are collected, so the answer never
depends on which services happen to have been imported (tests/security checks the list against
the `tables.py` files there are).
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy import Column, MetaData

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

BLOB_OID: dict[str, Any] = {"blob_oid": True}
"""`Column(..., info=BLOB_OID)`: the column holds blob oids, which gc must keep."""

TABLE_MODULES = (
    "tandem.audit.tables",
    "tandem.data.tables",
    "tandem.evaluation.tables",
    "tandem.governance.plan.tables",
    "tandem.governance.registers.tables",
    "tandem.governance.decisions.tables",
    "tandem.governance.gates.tables",
    "tandem.governance.notifications.tables",
    "tandem.identity.tables",
    "tandem.lineage.tables",
    "tandem.projects.tables",
    "tandem.registry.tables",
    "tandem.store.tables",
    "tandem.tracking.tables",
)
"""Every domain's tables module (each registers its tables on `metadata` when imported)."""


def load_tables() -> MetaData:
    """`metadata`, with every domain's tables registered on it."""
    for name in TABLE_MODULES:
        importlib.import_module(name)
    return metadata


def blob_oid_columns() -> list[Column[Any]]:
    """Every column declared with `info=BLOB_OID`, over every domain's tables."""
    return [
        column
        for table in load_tables().sorted_tables
        for column in table.columns
        if column.info.get("blob_oid") is True
    ]
