"""`tandem serve ENDPOINT --backend ray`: the same gateway as a Ray Serve deployment.

Ray is a backend, not a second implementation: each replica builds the very ASGI app that
uvicorn serves locally (`tandem.serving.main.build_app`), data plane and control plane, and Ray
Serve's proxy listens on `--host`/`--port` and spreads requests over `--workers` replicas. Each
replica is a gateway of its own to the hub (its policy poller, stats reports and prediction log),
started and stopped by the ASGI lifespan that Ray Serve runs in the replica.

Without RAY_ADDRESS, Ray starts a local instance (what the tests use); with it, the gateway
joins that cluster (`RAY_ADDRESS=ray://head:10001`). Needs `tandem[ray]` (`ray[serve]`).
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from tandem.errors import InvalidInput
from tandem.serving.main import OPTIONS_VARIABLE, ServeOptions

APPLICATION = "tandem-gateway"


def gateway_deployment(options: ServeOptions) -> Any:
    """The Ray Serve application of the gateway for `options` (bound, not running)."""
    from ray import serve

    options_json = options.to_json()

    def build() -> Any:  # runs in each replica, when it starts
        from tandem.serving.main import build_app, configure_logging

        configure_logging()
        return build_app(ServeOptions.from_json(options_json))

    ingress = serve.ingress(build)()
    deployment: Any = serve.deployment(
        ingress,
        name=f"gateway-{options.endpoint}",
        num_replicas=options.workers,
        # The gateway is I/O-bound per request; a CPU reservation would only keep replicas
        # from being scheduled on a small machine.
        ray_actor_options={"num_cpus": 0},
        logging_config={"enable_access_log": False},
        max_ongoing_requests=1000,
        health_check_period_s=2,
    )
    return deployment.bind()


def serve_on_ray(options: ServeOptions, *, block: bool = True) -> None:
    """Run the gateway on Ray Serve until SIGINT/SIGTERM (or return at once, `block=False`)."""
    try:
        import ray as ray_module
        from ray import serve as serve_module
    except ImportError as exc:
        raise InvalidInput(
            f"--backend ray needs Ray Serve ({exc.name} is not installed): "
            "pip install 'tandem[ray]'"
        ) from None
    ray: Any = ray_module  # partly typed: some of its calls are untyped
    serve: Any = serve_module
    if not ray.is_initialized():
        # The replicas inherit the gateway's settings (hub URL, token, workspace, project).
        env = {k: v for k, v in os.environ.items() if k.startswith("TANDEM_") or k == "PYTHONPATH"}
        env[OPTIONS_VARIABLE] = options.to_json()
        ray.init(
            address=os.environ.get("RAY_ADDRESS") or None,
            include_dashboard=False,
            log_to_driver=True,
            runtime_env={"env_vars": env},
        )
    serve.start(http_options={"host": options.host, "port": options.port})
    serve.run(gateway_deployment(options), name=APPLICATION, route_prefix="/")
    if not block:
        return
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    try:
        stopped.wait()
    finally:
        serve.delete(APPLICATION)  # replicas stop: their lifespans ship the prediction logs
        serve.shutdown()
        ray.shutdown()
