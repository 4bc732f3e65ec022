"""A gateway process for the tests: the real `Gateway` served by uvicorn (httptools, uvloop)
on loopback, with the models of a policy file downloaded from a real hub through the SDK.

It stands in for the control plane (lane gwops' `tandem serve`) with the least that lets the
data plane be tested for real: it reads the policy from a JSON file, loads the routes' models
with `ModelLoader`, swaps in a new `RoutingTable` whenever the file changes (writes
`swapped <policy_version>` or `failed <reason>` to stdout), and every 100 ms writes the
recorder's drained windows and the prediction-log entries as JSON lines into --out.

    python gateway_child.py --hub URL --project P --policy FILE --port N --cache DIR --out DIR
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import threading
import time
from pathlib import Path

import uvicorn

from tandem.deployments.models import Policy
from tandem.sdk.client import Client
from tandem.serving.app import Gateway, Limits
from tandem.serving.loader import ModelLoader
from tandem.serving.predictor import Predictor
from tandem.serving.recorder import WindowRecorder
from tandem.serving.router import RoutingTable


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--hub", "--project", "--policy", "--cache", "--out"):
        parser.add_argument(name, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-body", type=int, default=Limits().max_body_bytes)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logged: collections.deque[tuple] = collections.deque(maxlen=1_000_000)
    recorder = WindowRecorder(logged.append)
    loader = ModelLoader(Client(args.hub), args.project, Path(args.cache))
    loaded: dict[str, Predictor] = {}
    policy_file = Path(args.policy)
    first = Policy.model_validate_json(policy_file.read_bytes())
    gateway = Gateway(RoutingTable.empty(first.endpoint), recorder,
                      limits=Limits(max_body_bytes=args.max_body))  # fmt: skip

    def apply(text: bytes) -> None:
        policy = Policy.model_validate_json(text)
        try:
            for route in policy.routes:
                if route.deployment not in loaded:
                    loaded[route.deployment] = loader.load(route)
            gateway.swap(RoutingTable.build(policy, loaded))
            print("swapped", policy.policy_version, flush=True)
        except Exception as exc:  # the old table keeps serving
            print("failed", str(exc).replace("\n", " "), flush=True)

    def watch() -> None:
        seen = b""
        while True:
            text = policy_file.read_bytes()
            if text != seen:
                seen = text
                apply(text)
            time.sleep(0.05)

    def write() -> None:
        while True:
            time.sleep(0.1)
            with (out / "windows.jsonl").open("a") as file:
                for window in recorder.drain():
                    file.write(window.model_dump_json() + "\n")
            with (out / "log.jsonl").open("a") as file:
                while logged:
                    file.write(json.dumps(logged.popleft()) + "\n")

    threading.Thread(target=watch, daemon=True).start()
    threading.Thread(target=write, daemon=True).start()
    config = uvicorn.Config(
        gateway, host="127.0.0.1", port=args.port, http="httptools", loop="uvloop",
        access_log=False, log_level="warning", lifespan="on",
    )  # fmt: skip
    uvicorn.Server(config).run()
    sys.exit(0)


if __name__ == "__main__":
    main()
