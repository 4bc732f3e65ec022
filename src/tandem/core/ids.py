"""Identifiers. Run ids are 32 hex characters (uuid4), the shape MLflow clients expect."""

from __future__ import annotations

import re
import uuid
from typing import NewType

RunId = NewType("RunId", str)
BatchId = NewType("BatchId", str)
Oid = NewType("Oid", str)  # a blob's BLAKE3 digest, 64 hex characters

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_RUN_ID_PREFIX = re.compile(r"^[0-9a-f]{6,32}$")
_OID = re.compile(r"^[0-9a-f]{64}$")


def new_run_id() -> RunId:
    return RunId(uuid.uuid4().hex)


def is_run_id(value: str) -> bool:
    return bool(_RUN_ID.match(value))


def is_run_id_prefix(value: str) -> bool:
    return bool(_RUN_ID_PREFIX.match(value))


def is_oid(value: str) -> bool:
    return bool(_OID.match(value))
