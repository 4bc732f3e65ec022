"""The ASGI app `tandem server` runs (each uvicorn worker imports this module once).

`tandem server` passes the address it listens on in TANDEM_SERVER_HOST: only on loopback may a
workspace without users be used without signing in."""

from __future__ import annotations

import os

from tandem.core.net import is_loopback
from tandem.server.app import create_app

app = create_app(allow_open=is_loopback(os.environ.get("TANDEM_SERVER_HOST", "127.0.0.1")))
