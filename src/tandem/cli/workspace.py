"""Workspace commands: `tandem server`, `tandem gc`, `tandem sync`."""

from __future__ import annotations

from typing import Annotated

import typer

from tandem.cli.output import console, err_console, get_client, handle_errors, print_json

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def register(app: typer.Typer) -> None:
    app.command()(server)
    app.command()(gc)
    app.command()(sync)


@handle_errors
def server(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8765,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Serve the REST API on the workspace (SQLite and local blobs by default; PostgreSQL with
    TANDEM_DATABASE_URL, S3 with TANDEM_ARTIFACTS=s3://bucket/prefix)."""
    import uvicorn

    from tandem.core.config import Settings
    from tandem.errors import InvalidInput
    from tandem.store.db import open_database

    if host not in LOOPBACK:
        raise InvalidInput(
            f"refusing to listen on {host}: until authentication is configured tandem serves "
            "only loopback (127.0.0.1)"
        )
    settings = Settings.load()
    settings.home.mkdir(parents=True, exist_ok=True)
    open_database(settings.database_url).dispose()  # migrate once, before workers start
    err_console.print(f"tandem serving {settings.home} on http://{host}:{port}/api/v1")
    uvicorn.run(
        "tandem.server.main:app",
        factory=False,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


@handle_errors
def gc(
    older_than: Annotated[str, typer.Option("--older-than", help="purge only what was deleted at least this long ago, e.g. 7d")] = "0s",
    grace: Annotated[str, typer.Option("--grace", help="keep unreferenced blobs younger than this")] = "1h",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report what would go, change nothing")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:  # fmt: skip
    """Purge soft-deleted runs and projects for good, then free blobs nothing references."""
    from tandem.core.clock import parse_duration

    client = get_client()
    older, grace_s = parse_duration(older_than), parse_duration(grace)
    if not dry_run and not yes:
        preview = client.gc(older_than_seconds=older, grace_seconds=grace_s, dry_run=True)
        if not (preview.runs_purged or preview.projects_purged or preview.blobs_deleted):
            console.print("nothing to collect")
            return
        typer.confirm(
            f"purge {preview.runs_purged} runs and {len(preview.projects_purged)} projects "
            f"for good, and free about {preview.blobs_deleted} blobs?",
            abort=True,
        )
    report = client.gc(older_than_seconds=older, grace_seconds=grace_s, dry_run=dry_run)
    if as_json:
        print_json(report)
        return
    verb = "would purge" if dry_run else "purged"
    console.print(
        f"{verb} {report.runs_purged} runs, {len(report.projects_purged)} projects; "
        f"{'would free' if dry_run else 'freed'} {report.blobs_deleted} blobs "
        f"({report.bytes_freed} bytes)"
    )


@handle_errors
def sync(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Ship points that crashed processes left in the local spool, and end their runs."""
    report = get_client().sync()
    if as_json:
        print_json({"runs": report.runs, "points": report.points})
    else:
        console.print(f"shipped {report.points} points of {len(report.runs)} runs")
