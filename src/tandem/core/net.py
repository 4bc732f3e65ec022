"""Network helpers."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 possibly in brackets) is this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def safe_next(target: str | None) -> str:
    """Where to send a browser after signing in: a path on this site only (no `//host`, no
    scheme, no backslashes or control characters that browsers might read as another host)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or any(ord(c) < 32 or c == "\\" for c in target)
    ):
        return "/"
    return target
