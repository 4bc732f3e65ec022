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


def listen_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on `host`:`port` (in use, not allowed, no such address),
    or None if it can. Binds and closes a socket as uvicorn would (SO_REUSEADDR), so a port in
    use is found before a server announces itself."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot listen on {host}: {exc.strerror or exc}"
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"port {port} on {host} is already in use: stop what listens there, "
                    "or pick another port with --port"
                )
            if exc.errno == errno.EACCES:
                return (
                    f"port {port} on {host} is not allowed for this user: "
                    "pick one above 1023 with --port"
                )
            return f"cannot listen on {host} port {port}: {exc.strerror or exc}"
    return None
