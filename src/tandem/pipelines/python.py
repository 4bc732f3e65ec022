"""Pipelines declared in Python, for teams that prefer code to YAML:

    # pipeline.py
    from tandem.pipelines import stage

    PROJECT = "churn"   # optional, like `project:` in tandem.yaml
    SEED = 42           # optional, like `seed:`

    @stage(deps=["data/raw.csv", "datasets/customers@v3"], params=["prepare.split"],
           outs=["data/features.parquet"])
    def prepare():
        ...

    @stage(deps=["data/features.parquet"], outs=["model/"], metrics=["metrics.json"])
    def train():
        ...

`tandem run --file pipeline.py` runs them exactly as it runs tandem.yaml stages: each function
is called in a fresh process (`python -m tandem.pipelines.call pipeline.py train`), and the
file itself is a dependency of every stage, since their code lives in it.
"""

from __future__ import annotations

import runpy
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tandem.errors import InvalidInput, UserCodeError

F = TypeVar("F", bound=Callable[..., Any])
_registry: list[dict[str, Any]] | None = None


def stage(
    name: str | None = None,
    *,
    deps: Sequence[str] = (),
    outs: Sequence[str] = (),
    params: Sequence[str | dict[str, Sequence[str]]] = (),
    metrics: Sequence[str] = (),
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> Callable[[F], F]:
    """Declare the decorated function a pipeline stage (named after it unless `name` is given);
    the arguments mean what the keys of a tandem.yaml stage mean."""

    def register(fn: F) -> F:
        if _registry is not None:  # only while tandem reads the file; a plain import is inert
            declared: dict[str, Any] = {"name": name or fn.__name__, "function": fn.__name__}
            declared |= {"deps": list(deps), "outs": list(outs), "params": list(params)}
            declared |= {"metrics": list(metrics), "timeout": timeout, "env": dict(env or {})}
            _registry.append(declared)
        return fn

    return register


def read_python_pipeline(file: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run `file` and collect its stages: (module globals, stage declarations)."""
    global _registry
    _registry = []
    sys.path.insert(0, str(file.parent))
    try:
        namespace = runpy.run_path(str(file), run_name="__tandem_pipeline__")
        declared = _registry
    except SyntaxError as exc:
        raise InvalidInput(f"{file.name}, line {exc.lineno}: {exc.msg}") from None
    except Exception as exc:  # the file's own code raised: the traceback stays in __cause__
        raise UserCodeError(
            f"{file.name} failed while tandem read its stages: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        _registry = None
        sys.path.remove(str(file.parent))
    return namespace, declared


def command(file: Path, function: str) -> str:
    return shlex.join([sys.executable, "-m", "tandem.pipelines.call", file.name, function])
