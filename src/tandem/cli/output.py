"""Shared CLI plumbing: the client, JSON output, tables, one-line errors and exit codes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
import typer
from pydantic import BaseModel
from rich.console import Console

from tandem import errors

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES: dict[type[errors.TandemError], int] = {
    errors.InvalidInput: 2,
    errors.NotFound: 3,
    errors.AlreadyExists: 4,
    errors.Conflict: 4,
    errors.Unauthenticated: 5,
    errors.PermissionDenied: 5,
    errors.TransportError: 6,
}
DEBUG = {"on": False}


def exit_code(exc: errors.TandemError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


def handle_errors(func: F) -> F:
    """Turn tandem errors into one line on stderr and a non-zero exit (traces with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except errors.TandemError as exc:
            if DEBUG["on"]:
                raise
            position = (
                exc.details.get("position") if isinstance(exc, errors.InvalidFilter) else None
            )
            err_console.print(f"[red]error:[/] {exc.message}", markup=True, soft_wrap=True)
            if position is not None and exc.details.get("filter"):
                text = str(exc.details["filter"])
                err_console.print(f"  {text}\n  {' ' * int(position)}^", markup=False)
            raise typer.Exit(exit_code(exc)) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


@functools.lru_cache(maxsize=1)
def get_client() -> Any:
    from tandem.sdk.client import Client

    return Client()


def print_json(data: Any) -> None:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    elif isinstance(data, list):
        data = [d.model_dump(mode="json") if isinstance(d, BaseModel) else d for d in data]
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def short(run_id: str) -> str:
    return run_id[:8]


def fmt_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
