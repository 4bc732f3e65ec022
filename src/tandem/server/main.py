"""The ASGI app `tandem server` runs (each uvicorn worker imports this module once)."""

from __future__ import annotations

from tandem.server.app import create_app

app = create_app()
