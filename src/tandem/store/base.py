"""The one SQLAlchemy MetaData every domain's tables.py registers its tables on, and the
declaration of which columns hold blob oids.

A column that names a blob is declared where its table is, with `info=BLOB_OID`:

    Column("oid", String(64), nullable=False, info=BLOB_OID)

gc keeps every blob such a column names (`blob_oid_columns`). The store knows no domain: the
server lists every domain's tables (`tandem.server.schema`) and hands the columns to
`BlobIndex`, so the answer never depends on which services happen to have been imported.
"""

from __future__ import annotations

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


def blob_oid_columns(tables: MetaData) -> list[Column[Any]]:
    """Every column of `tables` declared with `info=BLOB_OID`."""
    return [
        column
        for table in tables.sorted_tables
        for column in table.columns
        if column.info.get("blob_oid") is True
    ]
