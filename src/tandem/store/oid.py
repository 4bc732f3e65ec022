"""Blob identifiers: a blob is named by its BLAKE3 digest, 64 hex characters (ADR 4)."""

from __future__ import annotations

import re
from typing import NewType

Oid = NewType("Oid", str)

_OID = re.compile(r"^[0-9a-f]{64}$")


def is_oid(value: str) -> bool:
    return bool(_OID.match(value))
