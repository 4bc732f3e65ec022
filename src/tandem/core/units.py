"""Quantities as people read them, the same in every face (CLI, web)."""

from __future__ import annotations

from tandem.errors import InvalidInput


def format_bytes(size: int | None, missing: str = "") -> str:
    """Bytes in powers of 1000, as disks are sold: ``970.5 kB``, ``1.2 GB``; `missing` for None."""
    if size is None:
        return missing
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def format_figure(value: object, spec: str = ".4f", missing: str = "-") -> str:
    """A number formatted with `spec` (``+.4f``, ``,.0f``, ...); `missing` for None or anything
    that is not a number (a report's undefined figures are null)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return missing
    return format(value, spec)


def parse_percent(text: str, *, fraction: bool = False) -> float:
    """`25%`, `25` or `2.5%` as a percentage in [0, 100]; with `fraction`, as a share in [0, 1]
    (then `0.25` without a sign is read as a share too, `25%` as a percentage)."""
    cleaned = text.strip()
    percent = cleaned.endswith("%")
    number = cleaned[:-1].strip() if percent else cleaned
    try:
        value = float(number)
    except ValueError:
        value = float("nan")
    if fraction and not percent and 0 <= value <= 1:
        value *= 100
    if not 0 <= value <= 100:  # NaN fails too
        raise InvalidInput(f"invalid percentage {text!r}: use a number from 0 to 100, e.g. 25%")
    return value / 100 if fraction else value
