"""Shared CLI plumbing: the client, JSON output, tables, one-line errors and exit codes.

Output rules: results go to stdout (tables, or JSON with `--json`); errors, prompts and
progress bars go to stderr, so `tandem ... --json | jq` always reads clean JSON. User data is
never read as Rich markup or emoji codes: a run named `[red]x` prints as `[red]x`.
"""

from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from tandem import errors

CONSOLE_OPTIONS: dict[str, Any] = {"highlight": False, "markup": False, "emoji": False}
console = Console(**CONSOLE_OPTIONS)
err_console = Console(stderr=True, **CONSOLE_OPTIONS)
F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES: dict[type[errors.TandemError], int] = {
    errors.InvalidInput: 2,
    errors.NotFound: 3,
    errors.AlreadyExists: 4,
    errors.Conflict: 4,
    errors.Unauthenticated: 5,
    errors.PermissionDenied: 5,
    errors.RateLimited: 5,
    errors.TransportError: 6,
}
EXIT_CANNOT_LISTEN = 7  # `tandem server`/`serve`: the port is in use or not allowed


def cannot_listen(host: str, port: int) -> None:
    """Stop with one `error:` line and exit 7 if a server could not listen on host:port (before
    it says it is serving, and before it does any work)."""
    from tandem.core.net import listen_problem

    problem = listen_problem(host, port)
    if problem is not None:
        error_line(problem)
        raise typer.Exit(EXIT_CANNOT_LISTEN)


NO_PROJECT = (
    'no project given: pass --project, set TANDEM_PROJECT, or put project = "..." in tandem.toml'
)
# Set by the root callback on every invocation (`--debug`, `--url`, `--project`).
DEBUG = {"on": False}
OPTIONS: dict[str, str | None] = {"url": None, "project": None, "executor": None}


def reset_consoles() -> None:
    """Detect the terminal again (size, colours): the resident process's child took the
    caller's streams after these consoles were made. Re-initialised in place, because the
    command modules hold references to them."""
    console.__init__(**CONSOLE_OPTIONS)  # type: ignore[misc]
    err_console.__init__(stderr=True, **CONSOLE_OPTIONS)  # type: ignore[misc]


def exit_code(exc: errors.TandemError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


def error_line(message: str) -> None:
    """One line on stderr: `error: <message>`."""
    err_console.print(f"[red]error:[/] {escape(message)}", markup=True, soft_wrap=True)


def os_error_message(exc: OSError) -> str:
    """A local file's error as a sentence (`brief.md: no such file`), not `[Errno 2] ...`."""
    reason = {
        errno.ENOENT: "no such file or folder",
        errno.EACCES: "permission denied",
        errno.EISDIR: "is a folder, not a file",
        errno.ENOTDIR: "a part of the path is not a folder",
    }.get(exc.errno or 0, (exc.strerror or str(exc)).lower())
    return f"{exc.filename}: {reason}" if exc.filename is not None else reason


def caret_lines(text: str, position: int) -> str:
    """The text and a caret under `position`; newlines and tabs shown as spaces so the caret
    lines up."""
    shown = "".join(" " if ch in "\r\n\t\v\f" else ch for ch in text)
    position = max(0, min(int(position), len(shown)))
    return f"  {shown}\n  {' ' * position}^"


def handle_errors(func: F) -> F:
    """Turn tandem errors into one line on stderr and a non-zero exit (traces with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except errors.TandemError as exc:
            if DEBUG["on"]:
                raise
            if isinstance(exc, errors.UserCodeError):  # not tandem's failure: say whose it is
                hint = " (--debug shows its traceback)" if exc.__cause__ is not None else ""
                error_line(f"your code failed: {exc.message}{hint}")
            else:
                error_line(exc.message)
            position = exc.details.get("position")
            text = exc.details.get("filter")
            if isinstance(exc, errors.InvalidFilter) and position is not None and text:
                err_console.print(caret_lines(str(text), int(position)), soft_wrap=True)
            raise typer.Exit(exit_code(exc)) from None
        except OSError as exc:  # a local file or folder: missing, not writable, ...
            if DEBUG["on"]:
                raise
            error_line(os_error_message(exc))
            raise typer.Exit(1) from None
        except Exception as exc:
            if not _is_validation_error(exc):
                raise
            if DEBUG["on"]:
                raise
            problems = exc.errors()  # type: ignore[attr-defined]
            if problems:
                where = ".".join(str(p) for p in problems[0]["loc"])
                message = problems[0]["msg"]
                error_line(f"{where}: {message}" if where else message)
            else:
                error_line(str(exc))
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


# pydantic is not imported here: `tandem --help` should not pay for it.
def _is_validation_error(exc: BaseException) -> bool:
    """A pydantic ValidationError: a model the SDK built from bad input."""
    return type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pydantic")


def _is_model(value: Any) -> bool:
    return callable(getattr(value, "model_dump", None))


@functools.lru_cache(maxsize=1)
def get_client() -> Any:
    """The SDK client for this invocation (`--url` / `--project`, else the environment)."""
    from tandem.core.config import Settings
    from tandem.sdk.client import Client

    settings = Settings.load()
    if OPTIONS["executor"]:
        if OPTIONS["url"] or settings.url:
            raise errors.InvalidInput(
                "--executor applies to the embedded workspace; a server profiles and validates "
                "where its own TANDEM_EXECUTOR says"
            )
        settings = settings.with_(executor=OPTIONS["executor"])
    client = Client(url=OPTIONS["url"], project=OPTIONS["project"], settings=settings)
    client.no_project_message = NO_PROJECT  # the same words from every command (docs/cli.md)
    return client


def reset_client() -> None:
    """Close and forget the cached client (a new invocation may name another workspace)."""
    if get_client.cache_info().currsize:
        get_client().close()
    get_client.cache_clear()


def project_name(project: str | None) -> str:
    """`--project`, or the default project, or a clear error naming the ways to set one."""
    name = project or get_client().settings.project
    if not name:
        raise errors.InvalidInput(NO_PROJECT)
    return str(name)


def say_created_project(name: str) -> None:
    """The one line a command prints when it created the project it was given (on stderr, so
    `--json` output stays clean)."""
    err_console.print(f"created project {name!r}", soft_wrap=True)


def progress_bar() -> Progress:
    """A transfer progress bar on stderr; silent when stderr is not a terminal."""
    return Progress(
        "{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        console=err_console, transient=True, disable=not err_console.is_terminal,
    )  # fmt: skip


def print_json(data: Any) -> None:
    # through the models' own JSON, which writes a NaN metric value as "NaN" (ADR 33)
    if _is_model(data):
        data = orjson.loads(data.model_dump_json())
    elif isinstance(data, list):
        data = [orjson.loads(d.model_dump_json()) if _is_model(d) else d for d in data]
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def short(run_id: str) -> str:
    return run_id[:8]


def fmt_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "NaN" if value != value else f"{value:.6g}"  # a NaN metric value (ADR 33)
    return str(value)
