"""What the routes share sits below the domains: `tandem.http` imports neither the server that
assembles the app nor any domain, so every domain's router can use it without a cycle."""

from __future__ import annotations

import json
import subprocess
import sys

LOADED = """
import json, sys
import tandem.http.deps, tandem.http.errors, tandem.http.policy
print(json.dumps(sorted(m for m in sys.modules if m.startswith("tandem."))))
"""


def test_tandem_http_imports_no_server_and_no_domain() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOADED], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(done.stdout)
    layers = {name.split(".")[1] for name in loaded}
    assert layers <= {"http", "core", "errors"}, loaded
