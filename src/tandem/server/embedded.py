"""The embedded workspace: the same ASGI app, called in process behind an httpx client, so the
SDK has one code path (the REST API) whether or not a server runs. One app per workspace per
process, shared by every Client that opens it.

`InProcessTransport` runs each request in the calling thread, on one event loop the transport
owns (one request at a time; the embedded store has one writer anyway), so a call costs one ASGI
round trip and no thread hop (Starlette's TestClient hands every request to a portal thread,
which costs milliseconds). A thread already inside a running event loop (a notebook, an async
app) gets its requests run on a helper thread instead.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from fastapi import FastAPI

from tandem.core.config import Settings
from tandem.errors import TandemError
from tandem.http.deps import inline_calls
from tandem.server.app import bind_services, build_app
from tandem.server.container import Services

Message = MutableMapping[str, Any]


def prepare_app() -> None:
    """Build the embedded app's routes now, for the next workspace this process opens."""
    WORKSPACES.prepare_app()


def _resolve_routes(routes: Any) -> None:
    """FastAPI resolves an included router's routes (dependencies, models) on the first request
    that walks past them; resolve them all now. Best effort: a FastAPI without this lazy step
    has nothing to resolve."""
    for route in routes:
        candidates = getattr(route, "effective_candidates", None)
        if callable(candidates):
            _resolve_routes(candidates())


class InProcessTransport(httpx.BaseTransport):
    """An httpx transport that calls an ASGI app directly, in the calling thread."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._loop = asyncio.new_event_loop()
        self._loop_lock = threading.Lock()
        self._helper: ThreadPoolExecutor | None = None
        self._helper_lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._run(request)
        with self._helper_lock:  # called from async code: do not nest event loops
            if self._helper is None:
                self._helper = ThreadPoolExecutor(1, thread_name_prefix="tandem-embedded")
        return self._helper.submit(self._run, request).result()

    def _run(self, request: httpx.Request) -> httpx.Response:
        with self._loop_lock:
            if self._loop.is_closed():
                raise RuntimeError("the embedded workspace was closed")
            return self._loop.run_until_complete(self._call(request))

    async def _call(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme or "http",
            "path": url.path,
            "raw_path": url.raw_path.split(b"?", 1)[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": ("127.0.0.1", 0),
            "server": ("embedded", 80),
            "extensions": {},
        }
        body: Iterator[bytes] = iter(request.stream)  # type: ignore[arg-type]
        pending: bytes | None = next(body, b"")
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        finished = asyncio.Event()
        complete = False

        async def receive() -> Message:
            nonlocal pending
            if pending is None:
                # The client stays connected until the response is complete: a streaming
                # response listens for a disconnect and would stop early.
                await finished.wait()
                return {"type": "http.disconnect"}
            chunk, pending = pending, next(body, None)
            return {"type": "http.request", "body": chunk, "more_body": pending is not None}

        async def send(message: Message) -> None:
            nonlocal status, headers, complete
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    complete = True
                    finished.set()

        try:
            with inline_calls():
                await self.app(scope, receive, send)
        except Exception as exc:
            # Starlette re-raises an unexpected error after its handler has sent the 500
            # problem response; a server would keep serving, so the embedded client answers
            # with that response too, and the SDK raises ServerError like it does remotely.
            if not status:
                raise
            # A response that failed half-way (a blob failing verification as it streams) is
            # cut short on a server; here its error is raised, never a truncated body
            # (Starlette wraps a tandem error raised after the response started).
            if not complete:
                if isinstance(exc.__cause__, TandemError):
                    raise exc.__cause__ from None
                raise
        finally:
            finished.set()
        return httpx.Response(status, headers=headers, content=b"".join(chunks), request=request)

    def close(self) -> None:
        if self._helper is not None:
            self._helper.shutdown(wait=True)
        with self._loop_lock:
            if not self._loop.is_closed():
                self._loop.run_until_complete(self._loop.shutdown_default_executor())
                self._loop.close()


class EmbeddedWorkspaces:
    """The workspaces a process has open in process: one app (and its services) per
    workspace, shared by every Client that opens it, and an app built ahead of its workspace
    (the resident process, ADR 16)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str, str], tuple[httpx.Client, Services]] = {}
        self._spare: list[FastAPI] = []

    def prepare_app(self) -> None:
        """Build the embedded app's routes now, for the next workspace opened."""
        with self._lock:
            if not self._spare:
                app = build_app(embedded=True)
                _resolve_routes(app.router.routes)
                self._spare.append(app)

    def client(self, settings: Settings) -> httpx.Client:
        """An httpx client over the app for this workspace, started once and reused."""
        key = (str(settings.home), settings.database_url, settings.artifacts)
        with self._lock:
            entry = self._clients.get(key)
            if entry is None:
                services = Services.build(settings, embedded=True)
                app = self._spare.pop() if self._spare else build_app(embedded=True)
                bind_services(app, services)
                client = httpx.Client(transport=InProcessTransport(app), base_url="http://embedded")
                entry = (client, services)
                self._clients[key] = entry
            return entry[0]

    def close_all(self) -> None:
        """Close every workspace opened (tests call it between cases)."""
        with self._lock:
            for client, services in self._clients.values():
                client.close()
                services.close()
            self._clients.clear()


# The process's own: every Client without a server URL opens its workspace here (ADR 3).
WORKSPACES = EmbeddedWorkspaces()
atexit.register(WORKSPACES.close_all)


def embedded_client(settings: Settings) -> httpx.Client:
    """An httpx client over the app for this workspace, started once and reused."""
    return WORKSPACES.client(settings)


def close_all() -> None:
    """Close every embedded workspace this process opened (tests call it between cases)."""
    WORKSPACES.close_all()
