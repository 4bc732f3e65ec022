"""The REST API's JSON for the tracking hot paths, written straight from the store's rows.

A page of 100 full runs is ~2x cheaper to write from the search rows (which carry each run's
params, metrics and tags as JSON text the database built, `RunStore.json_columns`) than to build
and serialize models. `tests/tracking/test_search.py` checks it equals the models' JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Row

_EMPTY = orjson.Fragment(b"{}")


def page_json(rows: Sequence[Row[Any]], next_cursor: str | None) -> bytes:
    """The JSON of `Page[Run]` for search rows that carry `json_columns`, without building a
    model: each run's params, metrics and tags are embedded as the database wrote them."""
    items = []
    if rows:
        # positions, not attribute lookups: a Row's attribute access costs ~1 us a field
        at = {name: i for i, name in enumerate(rows[0]._fields)}
        i_id, i_name, i_status = at["id"], at["name"], at["status"]
        i_user, i_start, i_end, i_seed = (
            at["user"],
            at["start_time"],
            at["end_time"],
            at["seed"],
        )
        i_deleted, i_project = at["deleted_at"], at["project"]
        i_params, i_metrics, i_tags = at.get("_params"), at.get("_metrics"), at.get("_tags")

        def fragment(row: Row[Any], index: int | None) -> orjson.Fragment:
            text = row[index] if index is not None else None
            return orjson.Fragment(text) if text else _EMPTY

        for row in rows:
            items.append(
                {
                    "id": row[i_id],
                    "project": row[i_project],
                    "name": row[i_name],
                    "status": row[i_status],
                    "user": row[i_user],
                    "start_time": row[i_start],
                    "end_time": row[i_end],
                    "seed": row[i_seed],
                    "environment": None,
                    "deleted_at": row[i_deleted],
                    "params": fragment(row, i_params),
                    "metrics": fragment(row, i_metrics),
                    "tags": fragment(row, i_tags),
                }
            )
    return orjson.dumps({"items": items, "next_cursor": next_cursor})
