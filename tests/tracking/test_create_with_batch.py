"""Creating a run with a client-chosen id and its first batch, in one transaction (ADR 19):
what the SDK sends for a short run. A retry is acknowledged and changes nothing; another
run's id, or a batch that cannot be applied, is refused and leaves no trace."""

from __future__ import annotations

import uuid

import pytest
from starlette.testclient import TestClient

from tandem.core.auth import Principal, Role
from tandem.errors import Conflict, InvalidInput, PermissionDenied
from tandem.server.container import Services
from tandem.tracking.models import MetricColumns, RunBatch, RunCreate, RunSearch, RunStatus

API = "/api/v1"


def short_run(run_id: str, **extra: object) -> dict[str, object]:
    """The body the SDK sends for a short run: the creation, its points and its end."""
    return {
        "id": run_id,
        "name": "short",
        "create_project": True,
        "params": {"model": "gbm", "depth": 6},
        "tags": {"team": "retention"},
        "batch": {
            "batch_id": f"{run_id}-spool-1-end",
            "metrics": {
                "key": ["auc", "auc", "loss"],
                "value": [0.7, 0.8, 0.3],
                "step": [1, 2, 2],
                "timestamp": [1_700_000_000_000] * 3,
            },
            "tags": {"stage": "done"},
            "end_status": "finished",
            "end_time": 1_700_000_000_500,
        },
        **extra,
    }


def count_points(services: Services, run_id: str) -> int:
    return len(services.tracking.metric_history(services.owner, run_id, "auc").step)


def test_one_request_creates_logs_and_ends_a_run(api: TestClient, services: Services) -> None:
    run_id = uuid.uuid4().hex
    response = api.post(f"{API}/projects/churn/runs", json=short_run(run_id))
    assert response.status_code == 201, response.text
    created = response.json()
    stored = api.get(f"{API}/runs/{run_id}").json()
    for answer in (created, stored):
        assert answer["id"] == run_id and answer["name"] == "short"
        assert answer["status"] == "finished" and answer["end_time"] == 1_700_000_000_500
        assert answer["params"] == {"model": "gbm", "depth": "6"}
        assert answer["tags"] == {"team": "retention", "stage": "done"}
        assert answer["metrics"] == {"auc": 0.8, "loss": 0.3}  # the latest step of each key
    assert count_points(services, run_id) == 2


def test_a_retried_create_is_acknowledged_and_applies_nothing_twice(
    api: TestClient, services: Services
) -> None:
    run_id = uuid.uuid4().hex
    first = api.post(f"{API}/projects/churn/runs", json=short_run(run_id))
    again = api.post(f"{API}/projects/churn/runs", json=short_run(run_id))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert count_points(services, run_id) == 2
    # The creation alone, as recovery sends it before replaying a spool: also harmless.
    alone = {k: v for k, v in short_run(run_id).items() if k != "batch"}
    assert api.post(f"{API}/projects/churn/runs", json=alone).json()["status"] == "finished"
    page = services.tracking.search_runs(services.owner, RunSearch(project="churn"))
    assert [run.id for run in page.items] == [run_id]


def test_another_runs_id_is_refused(services: Services) -> None:
    tracking, owner = services.tracking, services.owner
    taken = tracking.create_run(owner, "churn", RunCreate(create_project=True)).id
    tracking.create_run(owner, "other", RunCreate(create_project=True))
    colleague = Principal(name="ann", roles={"churn": Role.DATA_SCIENTIST})
    batch = RunBatch(batch_id="b", metrics=MetricColumns(key=["auc"], value=[0.9]))
    with pytest.raises(Conflict, match="is taken"):  # someone else's run
        tracking.create_run(colleague, "churn", RunCreate(id=taken, batch=batch))
    with pytest.raises(Conflict, match="is taken"):  # a run of another project
        tracking.create_run(owner, "other", RunCreate(id=taken, batch=batch))
    viewer = Principal(name="vi", roles={"churn": Role.VIEWER})
    with pytest.raises(PermissionDenied):
        tracking.create_run(viewer, "churn", RunCreate(id=uuid.uuid4().hex, batch=batch))
    assert tracking.get_run(owner, taken).metrics == {}


@pytest.mark.parametrize("run_id", ["", "x" * 32, "ABCDEF" * 5 + "AB", "0" * 31, "0" * 33])
def test_a_malformed_id_is_refused(api: TestClient, run_id: str) -> None:
    response = api.post(f"{API}/projects/churn/runs", json={"id": run_id, "create_project": True})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid-input"


@pytest.mark.parametrize(
    "batch",
    [
        {"batch_id": "b", "params": {"model": "lr"}},  # the creation says gbm
        {"batch_id": "b", "metrics": {"key": [""], "value": [1.0]}},
        {"batch_id": "b", "metrics": {"key": ["auc"], "value": [1.0], "step": [-1]}},
    ],
)
def test_a_bad_batch_leaves_no_run(services: Services, batch: dict[str, object]) -> None:
    tracking, owner = services.tracking, services.owner
    tracking.create_run(owner, "churn", RunCreate(create_project=True))
    run_id = uuid.uuid4().hex
    body = RunCreate(id=run_id, params={"model": "gbm"}, batch=RunBatch.model_validate(batch))
    with pytest.raises((Conflict, InvalidInput)):
        tracking.create_run(owner, "churn", body)
    page = tracking.search_runs(owner, RunSearch(project="churn"))
    assert run_id not in [run.id for run in page.items] and len(page.items) == 1


def test_a_created_run_answers_as_it_is_stored(services: Services) -> None:
    tracking, owner = services.tracking, services.owner
    run_id = uuid.uuid4().hex
    body = RunCreate.model_validate(short_run(run_id))
    created = tracking.create_run(owner, "churn", body)
    assert created == tracking.get_run(owner, run_id)
    assert created.status is RunStatus.FINISHED
