"""Pages and opaque cursors. A cursor is the keyset position after the last item of a page,
encoded so clients treat it as a token rather than something to build by hand."""

from __future__ import annotations

import base64
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel

from tandem.errors import InvalidInput

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of results; `next_cursor` is None on the last page."""

    items: list[T]
    next_cursor: str | None = None


def encode_cursor(position: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = orjson.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidInput("invalid cursor: pass back the next_cursor of a previous page") from exc
    if not isinstance(position, list):
        raise InvalidInput("invalid cursor: pass back the next_cursor of a previous page")
    return position


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit
