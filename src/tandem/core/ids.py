"""Identifiers. Run ids are 32 hex characters (uuid4), the shape MLflow clients expect. Blob
ids are the store's (`tandem.store.oid`)."""

from __future__ import annotations

import re
import uuid
from typing import NewType

RunId = NewType("RunId", str)
BatchId = NewType("BatchId", str)

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_RUN_ID_PREFIX = re.compile(r"^[0-9a-f]{6,32}$")


def new_run_id() -> RunId:
    return RunId(uuid.uuid4().hex)


def is_run_id(value: str) -> bool:
    return bool(_RUN_ID.match(value))


def is_run_id_prefix(value: str) -> bool:
    return bool(_RUN_ID_PREFIX.match(value))
