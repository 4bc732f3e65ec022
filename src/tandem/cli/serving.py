"""`tandem serve ENDPOINT`: run the endpoint's serving gateway (tandem.serving.main)."""

from __future__ import annotations

from typing import Annotated

import typer

from tandem.cli.output import OPTIONS, cannot_listen, handle_errors, project_name


@handle_errors
def serve(
    endpoint: Annotated[str, typer.Argument(help="the endpoint to serve")],
    project: Annotated[str | None, typer.Option("--project", "-p", help="project (default: TANDEM_PROJECT / tandem.toml)")] = None,
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port")] = 8080,
    workers: Annotated[int, typer.Option("--workers", help="processes (local) or replicas (ray) serving the port")] = 1,
    backend: Annotated[str, typer.Option("--backend", help="local (uvicorn) or ray (Ray Serve; RAY_ADDRESS names a cluster)")] = "local",
    poll: Annotated[float, typer.Option("--poll", help="seconds between policy fetches")] = 1.0,
    queue: Annotated[int, typer.Option("--queue", help="prediction-log entries held in memory at most; more are dropped and counted")] = 100_000,
    cache: Annotated[str | None, typer.Option("--cache", help="folder for downloaded model files (default: the workspace's cache)")] = None,
) -> None:  # fmt: skip
    """Serve an endpoint's models: MLflow's /invocations, the Open Inference Protocol v2,
    /metrics; the traffic policy follows the hub's without a restart.

    The gateway fetches the endpoint's policy every --poll seconds, loads new versions in the
    background and switches to them without failing a request; a version that fails to load is
    reported to the hub and the old one keeps serving. When the hub is unreachable it keeps
    serving the last policy and retries. Predictions are logged to the hub in batches every
    second: a gateway killed without a clean stop (kill -9) loses what it had not shipped yet
    (about the last second, more while the hub was unreachable).
    """
    from tandem.serving.main import ServeOptions
    from tandem.serving.main import serve as run

    options = ServeOptions(
        endpoint=endpoint, project=project_name(project), host=host, port=port,
        workers=workers, backend=backend.strip().lower(), poll_s=poll, url=OPTIONS["url"],
        queue=queue, cache=cache,
    )  # fmt: skip
    options = options.check()
    if backend.strip().lower() == "local":
        cannot_listen(host, port)
    run(options)
