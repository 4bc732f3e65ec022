"""Quantities as people read them, the same in every face (CLI, web)."""

from __future__ import annotations


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
