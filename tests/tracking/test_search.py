"""Search against a reference: random runs, many filters and orders, every page followed.

The SQL compiler has fast paths (driving from the metric index, keyset pagination with nulls
last); this test checks them all against a plain Python evaluation of the same query.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from tandem.core.paging import Page
from tandem.server.container import Services
from tandem.tracking.models import MetricColumns, Run, RunBatch, RunCreate, RunSearch, RunStatus
from tandem.tracking.serialise import page_json

N_RUNS = 60


@pytest.fixture
def runs(services: Services) -> list[dict[str, Any]]:
    """N_RUNS runs with partly missing metrics, params and tags, and many ties."""
    rng = random.Random(7)
    owner = services.owner
    made = []
    for i in range(N_RUNS):
        params = {"model": rng.choice(["gbm", "lr", "x"]), "i": str(i)}
        if rng.random() < 0.7:
            params["depth"] = str(rng.choice([4, 6, 8]))
        tags = {"team": rng.choice(["a", "b"])} if rng.random() < 0.6 else {}
        run = services.tracking.create_run(
            owner, "churn", RunCreate(params=params, tags=tags, create_project=True, seed=i)
        )
        metrics: dict[str, float] = {}
        if rng.random() < 0.85:
            metrics["acc"] = rng.choice([0.1, 0.5, 0.5, 0.7, 0.9, rng.random()])
        if rng.random() < 0.5:
            metrics["loss"] = round(rng.random(), 2)
        if metrics:
            services.tracking.log_batch(
                owner,
                run.id,
                RunBatch(
                    metrics=MetricColumns(key=list(metrics), value=list(metrics.values())),
                    end_status=rng.choice([None, RunStatus.FINISHED, RunStatus.FAILED]),
                ),
            )
        stored = services.tracking.get_run(owner, run.id)
        made.append(
            {
                "id": run.id,
                "start_time": stored.start_time,
                "status": stored.status.value,
                "params": params,
                "tags": tags,
                "metrics": metrics,
                "seq": i,
            }
        )
    return made


FILTERS: list[tuple[str | None, Any]] = [
    (None, lambda r: True),
    ("metrics.acc > 0.5", lambda r: r["metrics"].get("acc", -1) > 0.5),
    ("metrics.acc >= 0.5 and params.model = 'gbm'",
     lambda r: r["metrics"].get("acc", -1) >= 0.5 and r["params"]["model"] == "gbm"),
    ("metrics.acc = 0.5 or tags.team = 'a'",
     lambda r: r["metrics"].get("acc") == 0.5 or r["tags"].get("team") == "a"),
    ("not params.model = 'x'", lambda r: r["params"]["model"] != "x"),
    ("params.depth is null", lambda r: "depth" not in r["params"]),
    # != (like not in, not like) also matches runs without the key: "depth is not 6"
    ("params.depth != '6'", lambda r: r["params"].get("depth") != "6"),
    ("metrics.acc != 0.5", lambda r: r["metrics"].get("acc") != 0.5),
    ("params.depth in (4, 8) and metrics.loss is not null",
     lambda r: r["params"].get("depth") in {"4", "8"} and "loss" in r["metrics"]),
    ("status = 'failed' or status = 'running'", lambda r: r["status"] in {"failed", "running"}),
    # two conditions on the ordered metric, both compared in its index scan when it drives
    ("metrics.acc > 0.1 and metrics.acc <= 0.7 and params.model != 'lr'",
     lambda r: 0.1 < r["metrics"].get("acc", -1) <= 0.7 and r["params"]["model"] != "lr"),
    ("metrics.acc in (0.5, 0.9) and metrics.loss < 0.5",
     lambda r: r["metrics"].get("acc") in {0.5, 0.9} and r["metrics"].get("loss", 1) < 0.5),
    ("tags.team like 'a%' and not metrics.acc < 0.5",
     lambda r: r["tags"].get("team", "").startswith("a")
     and not r["metrics"].get("acc", 1) < 0.5),
]  # fmt: skip

ORDERS: list[tuple[list[str], Any]] = [
    ([], lambda r: (-r["start_time"], -r["seq"])),
    (["metrics.acc DESC"], None),
    (["metrics.acc"], None),
    (["metrics.loss DESC", "params.model"], None),
    (["params.depth", "metrics.acc DESC"], None),
    (["start_time"], lambda r: (r["start_time"], r["seq"])),
]


def _sort_key(run: dict[str, Any], order: list[str]) -> tuple[Any, ...]:
    """Nulls last in either direction; ties broken by creation order, newest-first when the
    first key descends (the pk tiebreak follows the first key's direction)."""
    key: list[Any] = []
    for item in order:
        field, _, direction = item.partition(" ")
        kind, _, name = field.partition(".")
        value = run["metrics" if kind == "metrics" else "params"].get(name)
        descending = direction == "DESC"
        if value is None:
            key.append((1, 0))
        elif isinstance(value, float):
            key.append((0, -value if descending else value))
        else:
            key.append((0, _Reverse(value) if descending else value))
    first_desc = order[0].endswith("DESC")
    key.append(-run["seq"] if first_desc else run["seq"])
    return tuple(key)


class _Reverse:
    def __init__(self, value: str) -> None:
        self.value = value

    def __lt__(self, other: _Reverse) -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and self.value == other.value


@pytest.mark.parametrize(("text", "predicate"), FILTERS)
@pytest.mark.parametrize(("order", "reference_key"), ORDERS)
def test_search_matches_reference(
    services: Services,
    runs: list[dict[str, Any]],
    text: str | None,
    predicate: Any,
    order: list[str],
    reference_key: Any,
) -> None:
    expected_runs = [run for run in runs if predicate(run)]
    key = reference_key or (lambda run: _sort_key(run, order))
    expected = [run["id"] for run in sorted(expected_runs, key=key)]
    for _attempt in ("compiled", "from the search cache"):
        assert _all_pages(services, text, order) == expected


def _all_pages(services: Services, text: str | None, order: list[str]) -> list[str]:
    got: list[str] = []
    cursor = None
    for _ in range(N_RUNS + 1):
        search = RunSearch(project="churn", filter=text, order_by=order, limit=7, cursor=cursor)
        page = services.tracking.search_runs(services.owner, search)
        # the REST path writes the same page's JSON straight from rows: it must be identical
        raw = page_json(*services.tracking.search_run_rows(services.owner, search))
        assert Page[Run].model_validate_json(raw) == page
        assert orjson.loads(raw) == orjson.loads(page.model_dump_json())
        got.extend(run.id for run in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    return got


def test_deleted_runs_only_on_request(services: Services, runs: list[dict[str, Any]]) -> None:
    victim = runs[0]["id"]
    services.tracking.delete_run(services.owner, victim)
    visible = services.tracking.search_runs(services.owner, RunSearch(project="churn", limit=1000))
    assert victim not in {run.id for run in visible.items}
    everything = services.tracking.search_runs(
        services.owner, RunSearch(project="churn", limit=1000, include_deleted=True)
    )
    assert victim in {run.id for run in everything.items}


def test_filter_on_unknown_metric_matches_nothing(
    services: Services, runs: list[dict[str, Any]]
) -> None:
    page = services.tracking.search_runs(
        services.owner, RunSearch(project="churn", filter="metrics.never_logged > 0")
    )
    assert page.items == []


@pytest.mark.parametrize(
    "fields", [["params.model"], ["metrics.auc", "tags.*"], ["name"], ["params.*", "metrics.*"]]
)
def test_json_page_matches_the_models_with_fields(
    services: Services, runs: list[dict[str, Any]], fields: list[str]
) -> None:
    search = RunSearch(project="churn", order_by=["metrics.auc DESC"], limit=50, fields=fields)
    page = services.tracking.search_runs(services.owner, search)
    raw = page_json(*services.tracking.search_run_rows(services.owner, search))
    assert orjson.loads(raw) == orjson.loads(page.model_dump_json())


def test_a_cached_search_sees_a_metric_logged_after_it(services: Services) -> None:
    """A search naming a metric nobody has logged is not cached, so it finds the first run
    that logs it."""
    owner = services.owner
    search = RunSearch(project="late", filter="metrics.brand_new > 0")
    services.tracking.create_run(owner, "late", RunCreate(create_project=True))
    assert services.tracking.search_runs(owner, search).items == []
    run = services.tracking.create_run(owner, "late", RunCreate())
    batch = RunBatch(metrics=MetricColumns(key=["brand_new"], value=[1.0]))
    services.tracking.log_batch(owner, run.id, batch)
    assert [r.id for r in services.tracking.search_runs(owner, search).items] == [run.id]
