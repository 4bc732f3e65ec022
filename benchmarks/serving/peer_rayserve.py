"""Ray Serve, local: one deployment (one replica) that loads the MLflow-saved skops file and
answers MLflow's `dataframe_split` JSON on /invocations. Runs in its own venv
(/tmp/benchenv-rayserve: ray[serve], scikit-learn, skops, pandas). A local Ray is started here and
shut down on SIGTERM, so stopping this process stops every Ray process it started.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

import pandas as pd
import ray
import skops.io
from ray import serve
from starlette.requests import Request


@serve.deployment(num_replicas=1)
class Model:
    def __init__(self, path: str) -> None:
        self.model = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))

    async def __call__(self, request: Request) -> dict[str, Any]:
        split = (await request.json())["dataframe_split"]
        frame = pd.DataFrame(split["data"], columns=split["columns"])
        return {"predictions": self.model.predict(frame).tolist()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="the skops file")
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    ray.init(include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": a.port})
    serve.run(Model.bind(a.model), route_prefix="/invocations")

    def stop(*_: Any) -> None:
        serve.shutdown()
        ray.shutdown()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
