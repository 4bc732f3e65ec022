"""The governance tests' shared pieces (a module of its own: test folders that each have a
conftest cannot import theirs by that name)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from tandem.core.auth import Principal, Role
from tandem.server.container import Services

TELCO = Path("/work/shared/data/telco-churn.csv")
CONTRACT = Path(__file__).resolve().parents[2] / "examples" / "contracts" / "telco-churn.yaml"
NUMERIC = ["tenure", "MonthlyCharges"]
CATEGORICAL = ["Contract", "InternetService", "gender", "SeniorCitizen"]
ROLES = {
    "pm": Role.PRODUCT_MANAGER,
    "ds": Role.DATA_SCIENTIST,
    "mle": Role.ML_ENGINEER,
    "comp": Role.COMPLIANCE,
    "viewer": Role.VIEWER,
    "padmin": Role.ADMIN,
}


@dataclass
class Team:
    services: Services
    principals: dict[str, Principal] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}


class Hook:
    """A webhook receiver on loopback that keeps what it was sent."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
