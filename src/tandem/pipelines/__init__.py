"""Pipelines: stages declared in `tandem.yaml` (or in Python with `@stage`), run in dependency
order, skipped when their inputs are unchanged, each execution a tracked run with its outputs in
the blob store."""

from __future__ import annotations

from typing import Any

__all__ = ["stage"]


def __getattr__(name: str) -> Any:
    if name == "stage":  # the CLI imports this package: keep it light
        from tandem.pipelines.python import stage

        return stage
    raise AttributeError(name)
