"""The embedded workspace: the same ASGI app, mounted in process behind an httpx client, so the
SDK has one code path (the REST API) whether or not a server runs. One app per workspace per
process, shared by every Client that opens it."""

from __future__ import annotations

import atexit
import threading
import warnings

import httpx

with warnings.catch_warnings():
    # Starlette 1.x nudges TestClient users toward httpx2; its in-process transport over httpx
    # is what we want here (one event-loop portal, lifespan handled), and it works unchanged.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from tandem.core.config import Settings
from tandem.server.app import create_app

_lock = threading.Lock()
_clients: dict[tuple[str, str, str], TestClient] = {}


def embedded_client(settings: Settings) -> httpx.Client:
    """An httpx client over the app for this workspace, started once and reused."""
    key = (str(settings.home), settings.database_url, settings.artifacts)
    with _lock:
        client = _clients.get(key)
        if client is None:
            app = create_app(settings)
            client = TestClient(app, base_url="http://embedded", raise_server_exceptions=False)
            client.__enter__()  # runs the lifespan and keeps one event-loop portal
            _clients[key] = client
        return client


def close_all() -> None:
    with _lock:
        for client in _clients.values():
            client.__exit__(None, None, None)
        _clients.clear()


atexit.register(close_all)
