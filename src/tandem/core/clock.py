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


def parse_instant(text: str) -> int:
    """A moment as milliseconds since the epoch: ISO-8601 (`2026-11-03T14:00`, `2026-11-03
    14:00:05Z`, `2026-11-03`; without an offset it is UTC, as every time tandem prints) or
    milliseconds since the epoch (`1793714400000`)."""
    cleaned = text.strip()
    if cleaned.isdigit():
        return int(cleaned)
    try:
        moment = dt.datetime.fromisoformat(cleaned.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"invalid time {text!r}: use ISO-8601 (UTC unless it has an offset), e.g. "
            "2026-11-03T14:00, or milliseconds since the epoch"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)
