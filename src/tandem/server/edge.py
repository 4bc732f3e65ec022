"""The served app's edge: checks made on the raw ASGI scope before any routing, so that they
cost well under a microsecond on the hot routes (no `Request` object is built).

- **Host** (421 misdirected-request): only the names the server answers to, so that a page
  on another site cannot reach a loopback server through DNS rebinding. The loopback names
  (localhost, 127.0.0.1, [::1], with any port) and TANDEM_ALLOWED_HOSTS ("*" for any).
- **Body size** (413 payload-too-large): a `Content-Length` over the limit is refused before a
  byte of the body is read; a body without one (chunked) is counted as it streams. Uploads
  (the routes declaring an `application/octet-stream` body, `deps.UPLOAD_BODY`) may be up to
  TANDEM_MAX_UPLOAD_BYTES, every other body up to TANDEM_MAX_BODY_BYTES.

The embedded app (in process, no network) has no edge. The JSON content-type rule (415) and
the same-origin rule of open mode live in `deps` (they depend on the route and the caller).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tandem.core.config import Settings
from tandem.errors import MisdirectedRequest, PayloadTooLarge, TandemError
from tandem.http.errors import problem

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class EdgePolicy:
    """What the edge lets through: the Host names (None: any) and the body limits."""

    hosts: frozenset[bytes] | None
    max_body: int
    max_upload: int
    uploads: tuple[re.Pattern[str], ...] = ()  # the paths of the upload routes

    @classmethod
    def of(cls, settings: Settings, uploads: Sequence[re.Pattern[str]] = ()) -> EdgePolicy:
        names = (*LOOPBACK_HOSTS, *settings.allowed_hosts)
        hosts = None if "*" in names else frozenset(n.encode() for n in names)
        return cls(hosts, settings.max_body_bytes, settings.max_upload_bytes, tuple(uploads))

    def limit(self, scope: Scope) -> int:
        """The body limit of this request: uploads get the larger one."""
        if scope["method"] in _BODY_METHODS and any(p.match(scope["path"]) for p in self.uploads):
            return self.max_upload
        return self.max_body


def host_name(host: bytes) -> bytes:
    """The name in a Host header, without its port, lowercased (`[::1]:8765` -> `[::1]`)."""
    if host.startswith(b"["):
        return host.partition(b"]")[0].lower() + b"]"
    return host.partition(b":")[0].lower()


class Edge:
    """ASGI middleware applying the app's `EdgePolicy` (`app.state.edge`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy: EdgePolicy = scope["app"].state.edge
        host = length = None
        streamed = False
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                streamed = True
        if policy.hosts is not None and (host is None or host_name(host) not in policy.hosts):
            shown = host.decode("latin-1") if host is not None else "(none)"
            await refuse(
                scope,
                send,
                MisdirectedRequest(
                    f"this server does not answer to the host {shown!r}: add the name to "
                    "TANDEM_ALLOWED_HOSTS (or tandem server --allowed-host)"
                ),
            )
            return
        if length is not None:
            size = int(length) if length.isdigit() else 0
            if size > policy.max_body and size > (limit := policy.limit(scope)):
                await refuse(scope, send, too_large(limit))
                return
        if streamed:  # chunked: counted as it arrives (a lone Content-Length frames the body)
            await self.app(scope, _counted(receive, policy.limit(scope)), send)
            return
        await self.app(scope, receive, send)


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than this server's limit of {limit} bytes",
        limit=limit,
    )


class BodyTooLarge(HTTPException):
    """Raised while reading a body that outgrew its limit. An `HTTPException`, so that FastAPI
    passes it on from its own body reading, and the app's handler answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit).message)


def _counted(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise BodyTooLarge(limit)
        return message

    return counted


async def refuse(scope: Scope, send: Send, error: TandemError) -> None:
    """Answer `error` as problem+json without reading the body (the server then closes the
    connection rather than read what is left of it)."""
    response = problem(
        error.status, error.code, error.title, error.message, scope["path"], error.details
    )
    response.headers["connection"] = "close"
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
