"""The rules a new run's name, seed, params and tags must follow, in one place: the service
enforces them, and the SDK checks them before it defers a run's creation (ADR 19), so a bad
value still fails at `start_run` rather than at the first background ship."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tandem.core.ids import is_run_id
from tandem.core.validation import (
    MAX_NAME_LENGTH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    check_key,
    check_text,
)
from tandem.errors import Conflict, InvalidInput


def param_text(value: Any) -> str:
    """Params are stored as text: `6` and `"6"` are the same param value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


# Params and tags per request (a batch, or a run's creation), as MLflow's log-batch caps them;
# the SDK splits larger sets of params and tags into several batches.
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100


def _check_count(raw: Mapping[str, Any], limit: int, what: str) -> None:
    if len(raw) > limit:
        raise InvalidInput(
            f"{len(raw)} {what} in one request: at most {limit}; send the rest in further batches"
        )


def check_params(raw: Mapping[str, Any]) -> dict[str, str]:
    _check_count(raw, MAX_BATCH_PARAMS, "params")
    return {
        check_key(key, "param"): check_text(
            param_text(value), f"param {key!r}", MAX_PARAM_VALUE_LENGTH
        )
        for key, value in raw.items()
    }


def check_tags(raw: Mapping[str, Any]) -> dict[str, str]:
    _check_count(raw, MAX_BATCH_TAGS, "tags")
    return {
        check_key(key, "tag"): check_text(str(value), f"tag {key!r}", MAX_TAG_VALUE_LENGTH)
        for key, value in raw.items()
    }


def check_new_run(run_id: str, name: str | None, seed: int | None) -> str:
    """Check a new run's id and seed; return its name (given, or derived from the id)."""
    if not is_run_id(run_id):
        raise InvalidInput(f"a run id is 32 lowercase hex digits, not {run_id[:40]!r}")
    if seed is not None and not -(2**63) <= seed < 2**63:
        raise InvalidInput("seed must fit in 64 bits")
    return check_text(name or f"run-{run_id[:8]}", "run name", MAX_NAME_LENGTH)


def check_run_writable(row: Any, doing: str = "writing to it", *, run_too: bool = True) -> None:
    """Raise Conflict unless the run `row` (a `RunStore.find_row` row) takes writes: it is not
    deleted (unless `run_too` is false: deleting or restoring it) and neither is its project.
    Every write to a run passes here, whichever domain makes it (tracking, data links,
    registering a model), and a deleted project stays as it was until it is restored."""
    if row.project_deleted_at is not None:
        raise Conflict(
            f"run {row.id} is in project {row.project!r}, which is deleted: restore the project "
            f"before {doing}",
            run_id=row.id,
        )
    if run_too and row.deleted_at is not None:
        raise Conflict(f"run {row.id} is deleted: restore it before {doing}", run_id=row.id)
