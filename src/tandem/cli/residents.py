"""`tandem resident status|stop`: the resident processes that run commands (ADR 16)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tandem.cli import launcher
from tandem.cli.output import console, handle_errors, print_json
from tandem.core.clock import format_ms

resident_app = typer.Typer(
    help="The resident process that starts commands fast: show it, stop it.",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
STOP_WAIT_SECONDS = 10.0


def _is_resident(pid: int) -> bool:
    """Whether `pid` is a live resident process of this user (not a reused pid)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # no /proc (not Linux): the live pid is all there is to go on
        return True
    return b"tandem.cli.resident" in cmdline


def residents() -> list[dict[str, Any]]:
    """Every resident of this user, from the `.json` each leaves beside its socket; the files of
    one that died without cleaning up (killed) are removed on the way."""
    folder = Path(launcher.socket_dir())
    mine = launcher.socket_path()
    stamp = launcher.code_stamp()
    found = []
    for info_file in sorted(folder.glob("*.json")):
        try:
            info = json.loads(info_file.read_text())
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        socket_file = info_file.with_suffix(".sock")
        if not _is_resident(pid):
            for leftover in (info_file, socket_file, *folder.glob(f"{socket_file.stem}.*.help")):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            continue
        this = str(socket_file) == mine
        found.append(
            {
                "pid": pid,
                "python": info.get("python"),
                "tandem": info.get("tandem"),
                "started": int(float(info.get("started", 0)) * 1000),
                "idle_seconds": info.get("idle_seconds"),
                "socket": str(socket_file),
                "this_environment": this,
                "current": this and info.get("stamp") == stamp,
            }
        )
    return found


@resident_app.command("status")
@handle_errors
def status(as_json: JsonOpt = False) -> None:
    """Show the residents running for you: one per Python environment (and tandem install);
    `this` marks the one your commands use, `outdated` one the next command replaces."""
    found = residents()
    enabled = launcher._enabled()
    if as_json:
        print_json({"enabled": enabled, "residents": found})
        return
    if not enabled:
        console.print("the resident is off here (TANDEM_RESIDENT=0): every command starts afresh")
    if not found:
        console.print("no resident running (the next command starts one)")
        return
    table = Table("pid", "python", "started", "leaves after idle", "")
    for item in found:
        note = ("this" if item["current"] else "this, outdated") if item["this_environment"] else ""
        idle = item["idle_seconds"]
        table.add_row(
            str(item["pid"]), str(item["python"]), format_ms(item["started"]),
            f"{idle:g} s" if isinstance(idle, (int, float)) else "-", note,
        )  # fmt: skip
    console.print(table)


@resident_app.command("stop")
@handle_errors
def stop(
    every: Annotated[bool, typer.Option("--all", help="every resident of yours, not only this environment's")] = False,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Stop the resident (it removes its socket and files); the next command starts another.
    Commands it is running go on to their end."""
    chosen = [item for item in residents() if every or item["this_environment"]]
    for item in chosen:
        with contextlib.suppress(ProcessLookupError):
            os.kill(item["pid"], signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while any(_is_resident(i["pid"]) for i in chosen) and time.monotonic() < deadline:
        time.sleep(0.02)
    stopped = [i["pid"] for i in chosen if not _is_resident(i["pid"])]
    if as_json:
        print_json({"stopped": stopped})
    elif not chosen:
        console.print("no resident running")
    else:
        console.print(f"stopped {len(stopped)} resident(s): {', '.join(map(str, stopped))}")
    if len(stopped) < len(chosen):
        raise typer.Exit(1)
