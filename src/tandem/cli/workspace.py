"""Workspace commands: `tandem server`, `tandem gc`, `tandem sync`."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from tandem.cli.output import (
    EXIT_CANNOT_LISTEN,
    cannot_listen,
    console,
    err_console,
    error_line,
    get_client,
    handle_errors,
    print_json,
)
from tandem.core.net import is_loopback
from tandem.errors import InvalidInput


def register(app: typer.Typer) -> None:
    app.command()(server)
    app.command()(gc)
    app.command()(sync)


def confirm(question: str) -> bool:
    """Ask on stderr (stdout stays clean for --json), read the answer from stdin; no is the
    default, and so is the end of input."""
    err_console.print(f"{question} [y/N]: ", end="")
    try:
        answer = input()
    except EOFError:
        answer = ""
    if not sys.stdin.isatty():  # the answer was not echoed: end the prompt's line
        err_console.print()
    return answer.strip().lower() in {"y", "yes"}


@handle_errors
def server(
    host: Annotated[str, typer.Option("--host", help="address to listen on; beyond loopback only once an admin user exists")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port")] = 8765,
    workers: Annotated[int, typer.Option("--workers", help="worker processes")] = 1,
    allowed_host: Annotated[list[str] | None, typer.Option("--allowed-host", help="another Host name the server answers to (repeatable; * for any); the loopback names and --host always are")] = None,
    with_worker: Annotated[bool, typer.Option("--with-worker", help="also run the monitoring worker (tandem worker) in this process")] = False,
    worker_interval: Annotated[str, typer.Option("--worker-interval", help="with --with-worker: time from one tick to the next")] = "30s",
) -> None:  # fmt: skip
    """Serve the REST API on the workspace (SQLite and local blobs by default; PostgreSQL with
    TANDEM_DATABASE_URL, S3 with TANDEM_ARTIFACTS=s3://bucket/prefix) and the web UI.

    On loopback, a workspace with no users needs no sign-in (from loopback callers and pages
    of the server's own origin). Any other address needs sign-in, so tandem refuses it until an
    admin user exists (`tandem users create NAME --role admin`).

    Requests whose Host is not a name the server answers to get 421 (TANDEM_ALLOWED_HOSTS,
    comma-separated, adds names as --allowed-host does). Request bodies are limited (413):
    uploads to TANDEM_MAX_UPLOAD_BYTES (default 10 GiB), other bodies to
    TANDEM_MAX_BODY_BYTES (default 16 MiB).

    --with-worker runs the monitoring worker (see `tandem worker`) in a thread of this process,
    with the executor TANDEM_EXECUTOR names; it stops after its tick when the server stops.
    """
    if not 0 < port < 65536:
        raise InvalidInput(f"invalid port {port}: use 1-65535")
    if workers < 1:
        raise InvalidInput(f"invalid worker count {workers}: use 1 or more")
    import uvicorn

    from tandem.core.config import Settings
    from tandem.server.container import Services

    settings = Settings.load()
    services = Services.build(settings)  # migrates once, before workers start
    try:
        has_admin = services.identity.has_active_admin()
    finally:
        services.close()
    if not is_loopback(host) and not has_admin:
        raise InvalidInput(
            f"refusing to listen on {host}: nobody could sign in. Create an admin first "
            "(tandem users create NAME --role admin --password-stdin), or listen on loopback (127.0.0.1)"
        )
    cannot_listen(host, port)  # before it says it serves, and before the worker starts
    # The workers read these: open access only on loopback, and the names to answer to.
    if is_loopback(host):
        os.environ["TANDEM_OPEN"] = "1"
    else:
        os.environ.pop("TANDEM_OPEN", None)
    names = [*settings.allowed_hosts, *(allowed_host or [])]
    if host not in ("0.0.0.0", "::"):  # a wildcard is no name a client would send
        names.append(f"[{host}]" if ":" in host else host)
    os.environ["TANDEM_ALLOWED_HOSTS"] = ",".join(
        dict.fromkeys(n.strip() for n in names if n.strip())
    )
    shown = f"[{host}]" if ":" in host else host
    background = None
    if with_worker:
        from tandem.cli.worker import parse_interval
        from tandem.server.worker import WorkerThread, build_worker, configure_logging

        configure_logging()
        running, close = build_worker(interval_s=parse_interval(worker_interval))
        background = WorkerThread(running, close=close).start()
        err_console.print(f"tandem worker {running.id}: every {running.interval_s:g} s")
    err_console.print(f"tandem serving {settings.home} on http://{shown}:{port}/")
    if not is_loopback(host):
        known = os.environ["TANDEM_ALLOWED_HOSTS"] or "none"
        err_console.print(f"answering to the Host names {known} and loopback (--allowed-host)")
    try:
        uvicorn.run(
            "tandem.server.main:app",
            factory=False,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
        )
    except SystemExit as exc:  # uvicorn could not start (the port taken since we looked)
        if exc.code != 3:  # uvicorn's STARTUP_FAILURE: it has logged why
            raise
        error_line(f"could not serve on {shown}:{port}: pick another port with --port")
        raise typer.Exit(EXIT_CANNOT_LISTEN) from None
    finally:
        if background is not None:
            background.stop()  # after the tick under way


@handle_errors
def gc(
    older_than: Annotated[str, typer.Option("--older-than", help="purge only what was deleted at least this long ago, e.g. 7d")] = "0s",
    grace: Annotated[str, typer.Option("--grace", help="keep unreferenced blobs younger than this (uploads in flight)")] = "1h",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report what would go, change nothing")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:  # fmt: skip
    """Purge soft-deleted runs and projects for good, then free blobs nothing references.

    Durations: a number and a unit, s m h d w (30s, 15m, 2h, 7d, 1w).
    """
    from tandem.core.clock import parse_duration

    client = get_client()
    older, grace_s = parse_duration(older_than), parse_duration(grace)
    if not dry_run and not yes:
        preview = client.gc(older_than_seconds=older, grace_seconds=grace_s, dry_run=True)
        if not (preview.runs_purged or preview.projects_purged or preview.blobs_deleted):
            if as_json:
                print_json(preview.model_copy(update={"dry_run": False}))
            else:
                console.print("nothing to collect")
            return
        question = (
            f"purge {preview.runs_purged} runs and {len(preview.projects_purged)} projects "
            "for good, and free the blobs nothing references any more?"
        )
        if not confirm(question):
            err_console.print("not confirmed: nothing was purged")
            raise typer.Exit(1)
    report = client.gc(older_than_seconds=older, grace_seconds=grace_s, dry_run=dry_run)
    if as_json:
        print_json(report)
        return
    if dry_run:
        # A dry run cannot count the blobs that only the purged runs reference.
        console.print(
            f"would purge {report.runs_purged} runs, {len(report.projects_purged)} projects; "
            f"would free {report.blobs_deleted} blobs ({report.bytes_freed} bytes)"
        )
    else:
        console.print(
            f"purged {report.runs_purged} runs, {len(report.projects_purged)} projects; "
            f"freed {report.blobs_deleted} blobs ({report.bytes_freed} bytes)"
        )


@handle_errors
def sync(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Ship points that crashed processes left in the local spool, and end their runs."""
    report = get_client().sync()
    if as_json:
        print_json({"runs": report.runs, "points": report.points})
    elif not report.runs:
        console.print("nothing to sync")
    else:
        console.print(f"shipped {report.points} points of {len(report.runs)} runs")
