"""tandem's gateway data plane alone, without a hub: the same `Gateway` app, routing table,
predictors and recorder that `tandem serve` runs, on uvicorn with `tandem serve`'s settings,
serving a policy given as JSON (every route loads the same prepared model folder).

For measuring before the hub side (lane dep) exists and to separate the data plane's cost from
the control plane's. The prediction log is queued and batched to Arrow every second, as the
shipper does, but not sent anywhere (there is no hub); windows are drained and discarded.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import uvicorn

from tandem.deployments.models import Policy, PolicyRoute
from tandem.registry.models import MODEL_META
from tandem.serving.app import Gateway
from tandem.serving.loader import load_predictor
from tandem.serving.predlog import PredictionLog, to_arrow
from tandem.serving.recorder import WindowRecorder
from tandem.serving.router import RoutingTable


def policy_of(spec: dict, meta: dict) -> Policy:  # type: ignore[type-arg]
    routes = [
        PolicyRoute(
            flavor=meta["flavor"],
            format=meta["format"],
            trusted=False,
            signature=meta["signature"],
            **route,
        )
        for route in spec["routes"]
    ]
    return Policy(
        project="bench",
        endpoint="bench",
        policy_version=1,
        production=False,
        sticky_key=spec.get("sticky_key"),
        routes=routes,
    )


def drain_forever(recorder: WindowRecorder, predlog: PredictionLog) -> None:
    while True:
        time.sleep(1.0)
        recorder.drain()
        entries = predlog.take(100_000)
        if entries:
            to_arrow(entries, predlog.masked_columns)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="tandem_model.prepare's folder")
    ap.add_argument("--policy", type=Path, required=True)
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    meta = json.loads((a.model / MODEL_META).read_text())
    policy = policy_of(json.loads(a.policy.read_text()), meta)
    predictors = {route.deployment: load_predictor(a.model, route) for route in policy.routes}
    predlog = PredictionLog()
    recorder = WindowRecorder(predlog.log)
    gateway = Gateway(RoutingTable.build(policy, predictors), recorder)
    threading.Thread(target=drain_forever, args=(recorder, predlog), daemon=True).start()
    uvicorn.run(
        gateway,
        host="127.0.0.1",
        port=a.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="on",
    )


if __name__ == "__main__":
    main()
