"""NaN and infinite metric values, stored as MLflow stores them (ADR 33): NaN as the value 0
with the is_nan flag, read back as NaN; +-infinity as the largest finite double."""

from __future__ import annotations

import math

import orjson
import pytest

from tandem.core.validation import MAX_DOUBLE
from tandem.server.container import Services
from tandem.tracking.models import MetricColumns, RunBatch, RunCreate, RunSearch
from tandem.tracking.serialise import page_json

API = "/api/v1"


def log(services: Services, run_id: str, key: str, values: list[float], steps: list[int]) -> None:
    columns = MetricColumns(key=[key] * len(values), value=values, step=steps)
    services.tracking.log_batch(services.owner, run_id, RunBatch(metrics=columns))


@pytest.fixture
def runs(services: Services) -> dict[str, str]:
    """Runs whose latest loss is NaN, 0, 0.5, +inf, and one diverged then recovered."""
    made = {}
    for name, values in {
        "nan": [0.4, math.nan],
        "zero": [math.nan, 0.0],
        "half": [0.5],
        "inf": [1.0, math.inf],
        "ninf": [-math.inf],
    }.items():
        run = services.tracking.create_run(
            services.owner, "churn", RunCreate(name=name, create_project=True)
        )
        log(services, run.id, "loss", values, list(range(len(values))))
        made[name] = run.id
    return made


def test_values_read_back_as_mlflow_stores_them(services: Services, runs: dict[str, str]) -> None:
    get = services.tracking.get_run
    owner = services.owner
    assert math.isnan(get(owner, runs["nan"]).metrics["loss"])
    assert get(owner, runs["zero"]).metrics == {"loss": 0.0}
    assert get(owner, runs["inf"]).metrics == {"loss": MAX_DOUBLE}
    assert get(owner, runs["ninf"]).metrics == {"loss": -MAX_DOUBLE}
    history = services.tracking.metric_history(owner, runs["zero"], "loss")
    assert math.isnan(history.value[0]) and history.value[1] == 0.0
    latest = services.tracking.latest_metrics(owner, [runs["nan"]])[runs["nan"]]
    assert [(p.key, p.step) for p in latest] == [("loss", 1)]
    assert math.isnan(latest[0].value) and latest[0].timestamp > 0


def test_a_later_point_replaces_a_nan_and_a_nan_replaces_it(
    services: Services, runs: dict[str, str]
) -> None:
    run_id = runs["nan"]
    log(services, run_id, "loss", [0.3], [5])
    assert services.tracking.get_run(services.owner, run_id).metrics == {"loss": 0.3}
    log(services, run_id, "loss", [math.nan], [6])
    assert math.isnan(services.tracking.get_run(services.owner, run_id).metrics["loss"])


@pytest.mark.parametrize(
    ("filter_text", "names"),
    [
        ("metrics.loss = 0", {"zero"}),
        ("metrics.loss <= 0", {"zero", "ninf"}),
        ("metrics.loss < 0.6", {"zero", "half", "ninf"}),
        ("metrics.loss > 0.1", {"half", "inf"}),
        ("metrics.loss >= -1", {"zero", "half", "inf"}),
        ("metrics.loss != 0.5", {"zero", "inf", "ninf"}),
        ("metrics.loss in (0, 0.5)", {"zero", "half"}),
        ("metrics.loss not in (0.5)", {"zero", "inf", "ninf"}),
        ("metrics.loss is not null", {"nan", "zero", "half", "inf", "ninf"}),
    ],
)
def test_comparisons_never_match_nan(
    services: Services, runs: dict[str, str], filter_text: str, names: set[str]
) -> None:
    for order in ([], ["metrics.loss"], ["metrics.loss DESC"]):
        search = RunSearch(project="churn", filter=filter_text, order_by=order)
        page = services.tracking.search_runs(services.owner, search)
        assert {run.name for run in page.items} == names, (filter_text, order)


def test_search_json_writes_nan_as_a_string(services: Services, runs: dict[str, str]) -> None:
    rows, cursor = services.tracking.search_run_rows(services.owner, RunSearch(project="churn"))
    page = orjson.loads(page_json(rows, cursor))
    losses = {run["name"]: run["metrics"]["loss"] for run in page["items"]}
    assert losses == {
        "nan": "NaN",
        "zero": 0.0,
        "half": 0.5,
        "inf": MAX_DOUBLE,
        "ninf": -MAX_DOUBLE,
    }


def test_rest_takes_and_gives_nan_as_proto_json_does(api, services: Services) -> None:
    run = api.post(f"{API}/projects/churn/runs", json={"create_project": True}).json()
    body = {"metrics": {"key": ["loss"] * 4, "value": [1.0, "Infinity", "-Infinity", "NaN"],
                        "step": [0, 1, 2, 3]}}  # fmt: skip
    assert api.post(f"{API}/runs/{run['id']}/batch", json=body).status_code == 200
    # Python's json writes the NaN token; it is taken too
    token = b'{"metrics": {"key": ["acc"], "value": [NaN]}}'
    sent = api.post(f"{API}/runs/{run['id']}/batch", content=token,
                    headers={"content-type": "application/json"})  # fmt: skip
    assert sent.status_code == 200, sent.text
    history = api.get(f"{API}/runs/{run['id']}/metrics/loss")
    assert orjson.loads(history.content)["value"] == [1.0, MAX_DOUBLE, -MAX_DOUBLE, "NaN"]
    got = api.get(f"{API}/runs/{run['id']}")
    assert got.status_code == 200, got.text
    assert orjson.loads(got.content)["metrics"] == {"loss": "NaN", "acc": "NaN"}
    found = api.post(f"{API}/runs/search", json={"project": "churn"})
    assert orjson.loads(found.content)["items"][0]["metrics"] == {"loss": "NaN", "acc": "NaN"}
    other = api.post(f"{API}/projects/churn/runs", json={}).json()
    compared = api.get(f"{API}/runs/compare", params={"ids": [run["id"], other["id"]]})
    assert compared.status_code == 200, compared.text
    assert orjson.loads(compared.content)["runs"][0]["metrics"]["loss"] == "NaN"
    bad = {"metrics": {"key": ["loss"], "value": ["nan"]}}
    refused = api.post(f"{API}/runs/{run['id']}/batch", json=bad)
    assert refused.status_code == 422, refused.text


def test_a_large_batch_with_nan_points(services: Services) -> None:
    # PostgreSQL takes 1,000 points and more through COPY: the flag goes that way too
    run = services.tracking.create_run(services.owner, "big", RunCreate(create_project=True))
    values = [math.nan if i % 7 == 0 else i / 10 for i in range(3000)]
    log(services, run.id, "loss", values, list(range(3000)))
    history = services.tracking.metric_history(services.owner, run.id, "loss")
    assert [i for i, v in enumerate(history.value) if math.isnan(v)] == list(range(0, 3000, 7))
    assert history.value[1] == 0.1 and history.value[-1] == 299.9
