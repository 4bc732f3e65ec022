"""`tandem serve ENDPOINT`: the gateway process, on uvicorn (`--backend local`) or Ray Serve.

One gateway code path: `build_app(options)` makes the data plane (the ASGI gateway of
`tandem.serving.app`) and its control plane (`tandem.serving.control.Controller`), tied
together by the ASGI lifespan, so whatever runs the app (uvicorn's workers, a Ray Serve replica)
starts the control plane in the process that serves, and stops it (shipping the prediction log)
when that process stops.

`--workers N` runs N processes on one port (uvicorn binds the socket once and its workers share
it); each is a gateway of its own to the hub (its own policy poller, stats and prediction log),
and the hub merges their windows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from tandem.errors import InvalidInput
from tandem.serving.control import Controller
from tandem.serving.predlog import DEFAULT_CAPACITY, PredictionLog

log = logging.getLogger(__name__)


OPTIONS_VARIABLE = "TANDEM_SERVE_OPTIONS"  # how uvicorn's worker processes learn the options
BACKENDS = ("local", "ray")
HUB_TIMEOUT_S = 10.0  # a hung hub must not stall the poller longer than this
STARTUP_WAIT_S = 300.0  # at most this long loading the first policy before listening


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    """What `tandem serve` was asked to run.

    Args:
        endpoint: the endpoint to serve.
        project: its project.
        host, port: where to listen.
        workers: processes (local) or replicas (Ray) serving the one port.
        backend: "local" (uvicorn) or "ray" (Ray Serve; RAY_ADDRESS names a cluster).
        poll_s: seconds between policy fetches.
        url: the hub's URL (None: TANDEM_URL, or the embedded workspace).
        queue: prediction-log entries held in memory at most.
        cache: the folder model files are downloaded to (None: the workspace's cache).
    """

    endpoint: str
    project: str
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    backend: str = "local"
    poll_s: float = 1.0
    url: str | None = None
    queue: int = DEFAULT_CAPACITY
    cache: str | None = None

    def check(self) -> ServeOptions:
        """These options, or InvalidInput naming the one that is wrong."""
        if not 0 < self.port < 65536:
            raise InvalidInput(f"invalid port {self.port}: use 1-65535")
        if self.workers < 1:
            raise InvalidInput(f"invalid worker count {self.workers}: use 1 or more")
        if self.backend not in BACKENDS:
            raise InvalidInput(f"unknown backend {self.backend!r}: use local or ray")
        if not 0.05 <= self.poll_s <= 3600:
            raise InvalidInput(f"invalid poll interval {self.poll_s:g}s: use 0.05 to 3600")
        if self.queue < 1:
            raise InvalidInput(f"invalid queue size {self.queue}: use 1 or more")
        return self

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeOptions:
        return cls(**json.loads(text))


def open_client(options: ServeOptions) -> Any:
    """The SDK client of the hub this gateway reports to."""
    from tandem.sdk.client import Client

    return Client(url=options.url, project=options.project, timeout=HUB_TIMEOUT_S)


def build_app(options: ServeOptions, client: Any = None) -> Any:
    """The gateway for `options`: its data plane (an ASGI app) with the control plane hooked
    to the ASGI lifespan (started when the server starts, stopped when it stops)."""
    from tandem.serving.app import Gateway
    from tandem.serving.loader import ModelLoader
    from tandem.serving.recorder import WindowRecorder
    from tandem.serving.router import RoutingTable

    client = client or open_client(options)
    predlog = PredictionLog(options.queue)
    recorder = WindowRecorder(predlog.log)
    gateway = Gateway(RoutingTable.empty(options.endpoint), recorder)
    cache = Path(options.cache) if options.cache else client.settings.home / "cache" / "serving"
    loader = ModelLoader(client, options.project, cache)

    def install(policy: Any, predictors: Any) -> None:
        gateway.swap(RoutingTable.build(policy, predictors))

    controller = Controller(
        client,
        options.endpoint,
        options.project,
        load=loader.load,
        install=install,
        windows=recorder.drain,
        predlog=predlog,
        poll_s=options.poll_s,
        state=cache / ".policies" / options.project / f"{options.endpoint}.json",
    )

    async def start() -> None:
        # Accept connections only once the first policy serves: uvicorn (each worker) and Ray
        # Serve (each replica) listen after the lifespan's startup, so no request reaches a
        # gateway that would answer 503 while its models load.
        controller.start()
        if not await asyncio.to_thread(controller.wait_settled, STARTUP_WAIT_S):
            log.warning("gateway %s: listening with no policy serving yet", controller.gateway)

    gateway.on_startup.append(start)
    gateway.on_shutdown.append(controller.stop)
    return gateway


def create_app_from_environment() -> Any:
    """uvicorn's factory in each worker process: the options come in OPTIONS_VARIABLE."""
    configure_logging()
    return build_app(ServeOptions.from_json(os.environ[OPTIONS_VARIABLE]))


def configure_logging() -> None:
    """The control plane's events (policy installed, hub unreachable, load failures) on stderr."""
    logger = logging.getLogger("tandem.serving")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def check_endpoint(options: ServeOptions) -> None:
    """Fail fast on what retrying would not fix (no such endpoint or project, no permission);
    a hub that does not answer yet is only warned about: the gateway keeps trying."""
    from tandem.errors import TransportError

    client = open_client(options)
    try:
        client.deployments.get(options.endpoint, options.project)
    except TransportError as exc:
        log.warning("gateway: %s; serving once the hub answers", exc.message)
    finally:
        client.close()


def _stopped(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def serve(options: ServeOptions) -> None:
    """Run the gateway until it is stopped (SIGINT, SIGTERM)."""
    options.check()
    configure_logging()
    check_endpoint(options)
    if options.backend == "ray":
        from tandem.serving.ray_backend import serve_on_ray

        serve_on_ray(options)
        return
    import uvicorn

    settings: dict[str, Any] = {
        "host": options.host,
        "port": options.port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "server_header": False,  # one header less on every answer
        "log_level": "warning",
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
    }
    # uvicorn stops gracefully on SIGTERM/SIGINT (requests under way finish, the lifespan ships
    # the prediction log), then raises the signal again for the handler it found: a stop that
    # was asked for and done cleanly is exit code 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stopped)
    if options.workers == 1:
        uvicorn.run(build_app(options), **settings)
        return
    os.environ[OPTIONS_VARIABLE] = options.to_json()
    uvicorn.run(
        "tandem.serving.main:create_app_from_environment",
        factory=True,
        workers=options.workers,
        **settings,
    )
