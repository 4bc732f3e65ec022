"""The ASGI app `tandem server` runs (each uvicorn worker imports this module once).

Closed by default: a request must sign in. Only with TANDEM_OPEN=1, which `tandem server` sets
when it listens on loopback, may a loopback caller use a workspace that has no users without
signing in; `uvicorn tandem.server.main:app` behind a process manager stays closed."""

from __future__ import annotations

import gc
import os

from tandem.server.app import create_app

app = create_app(allow_open=os.environ.get("TANDEM_OPEN") == "1")

# The app's hundreds of thousands of objects (routes, schemas, models) live as long as the
# process: out of the collector's sight, a full collection under load takes under 5 ms, not 60-90 ms
# of stopping every request once a second (measured: PostgreSQL p99 95 -> 10 ms under wrk).
gc.freeze()
