"""The alerting tests' shared pieces (a module of its own: test folders that each have a
conftest cannot import theirs by that name)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Connection

from tandem.alerting.models import ResultInput
from tandem.core.auth import Principal
from tandem.core.clock import parse_instant
from tandem.server.container import Services

T0 = parse_instant("2026-12-01T10:00")
S = 1000
M = 60 * S
RUNBOOK = "https://wiki.example.com/runbooks/drift"


class Feed:
    """Monitor results as monitoring's `results_since` hands them over: in order, after a
    cursor (here the position in the list)."""

    def __init__(self) -> None:
        self.results: list[ResultInput] = []

    def add(
        self,
        monitor: str = "drift",
        *,
        at: int,
        breached: bool | None = True,
        endpoint: str | None = "prod",
        severity: str = "ticket",
        value: float | None = 0.31,
        for_s: int = 0,
        keep_firing_for_s: int = 0,
        project: str = "churn",
    ) -> None:
        self.results.append(
            ResultInput(
                project=project,
                monitor=monitor,
                endpoint=endpoint,
                version="3",
                severity=severity,  # type: ignore[arg-type]
                breached=breached,
                value=value,
                window_end=at,
                for_s=for_s,
                keep_firing_for_s=keep_firing_for_s,
                annotations={"summary": "drifted_share >= 0.25"},
                runbook=RUNBOOK,
            )
        )

    def __call__(self, conn: Connection, cursor: str | None) -> tuple[list[ResultInput], str]:
        start = int(cursor or 0)
        return self.results[start:], str(len(self.results))


class Receiver:
    """An HTTP server on loopback that keeps what it is sent. `answers` is the queue of status
    codes for the next requests (then `status`); `delay` makes each answer that slow."""

    def __init__(self, path: str = "/hook", status: int = 200) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.status = status
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                body = json.loads(self.rfile.read(length))
                if outer.delay:
                    time.sleep(outer.delay)
                status = outer.answers.pop(0) if outer.answers else outer.status
                outer.received.append({"path": self.path, "status": status, "body": body})
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"status": "success"}')
                except OSError:  # the client gave up waiting
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self, status: int | None = None) -> list[dict[str, Any]]:
        return [r["body"] for r in self.received if status is None or r["status"] == status]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class World:
    services: Services
    feed: Feed
    worker: Principal
    people: dict[str, Principal] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def alerts(self) -> Any:
        return self.services.alerts

    def auth(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}

    def inbox(self, who: str) -> list[Any]:
        return self.services.notifier.mine(self.people[who])
