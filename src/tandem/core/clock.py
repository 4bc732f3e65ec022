"""Time as integer milliseconds since the epoch, UTC: what runs, metrics and MLflow clients use."""

from __future__ import annotations

import datetime as dt
import re
import time

from tandem.errors import InvalidInput


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def ms_to_datetime(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def format_ms(ms: int | None) -> str:
    if ms is None:
        return "-"
    return ms_to_datetime(ms).strftime("%Y-%m-%d %H:%M:%S")


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """Parse `30s`, `15m`, `2h`, `7d` or `1w` into seconds."""
    match = _DURATION.match(text)
    if not match:
        raise InvalidInput(
            f"invalid duration {text!r}: use a number and a unit, e.g. 30s, 15m, 2h, 7d, 1w"
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
