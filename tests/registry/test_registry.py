"""The model registry end to end through the SDK, embedded and against a live server: logging
real scikit-learn models trained on the adult dataset, versions, aliases, stages, loading back,
who may do what, and bad input that changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tandem.core.auth import Principal, Role
from tandem.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tandem.projects.models import ProjectCreate
from tandem.registry.models import ModelUpdate, Stage, VersionCreate
from tandem.sdk.client import Client
from tandem.server.container import Services
from tandem.tracking.models import RunCreate

ADULT = Path("/work/shared/data/adult.csv")
FEATURES = ["age", "education_num", "hr_per_week", "capital_gain"]


@pytest.fixture(scope="module")
def adult() -> tuple[pl.DataFrame, np.ndarray]:
    frame = pl.read_csv(ADULT, infer_schema_length=10_000)
    y = (frame["income"].str.strip_chars() == ">50K").cast(pl.Int64).to_numpy()
    return frame.select(FEATURES), y


def test_log_register_alias_stage_and_load(
    client: Client, adult: tuple[pl.DataFrame, np.ndarray]
) -> None:
    x, y = adult
    first = LogisticRegression(max_iter=500).fit(x.to_numpy(), y)
    second = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x.to_pandas(), y)
    client.projects.create("churn")
    with client.start_run(project="churn", name="lr") as run:
        v1 = run.log_model(first, "income", example=x.to_numpy()[:5], description="baseline")
    with client.start_run(project="churn", name="pipeline") as run2:
        v2 = run2.log_model(second, "income", example=x.to_pandas().head(5))
    assert (v1.version, v2.version) == (1, 2)
    assert (v1.flavor, v1.format, v1.trusted, v1.stage) == ("sklearn", "skops", False, Stage.DRAFT)
    assert v1.run_id == run.id and v1.artifact_path == "models/income"
    assert [f.path for f in v1.files] == ["model.skops", "tandem-model.json"]
    assert [c["name"] for c in v2.signature["inputs"]] == FEATURES  # type: ignore[index]
    assert any(r.startswith("scikit-learn==") for r in v1.requirements)

    model = client.models.set_alias("churn/income", "champion", 2)
    assert model.aliases == {"champion": 2} and model.latest_version == 2
    loaded = client.models.load("churn/income@champion")
    expected = second.predict_proba(x.to_pandas())
    assert np.array_equal(loaded.predict_proba(x.to_pandas()), expected)
    assert np.array_equal(
        client.models.load("income@1", "churn").predict_proba(x.to_numpy()),
        first.predict_proba(x.to_numpy()),
    )
    client.models.set_alias("income", "champion", 1, project="churn")  # an alias moves
    assert client.models.version("churn/income@champion").version == 1
    assert client.models.version("churn/income").version == 2  # no selector: the latest

    with pytest.raises(Conflict, match="goes through a gate"):  # tests/governance/test_gates
        client.models.set_stage("churn/income@2", "ready-for-review")
    assert client.models.set_stage("churn/income@2", "draft").stage == Stage.DRAFT
    assert [v.version for v in client.models.versions("churn/income", stage="draft").items] == [
        2,
        1,
    ]
    page = client.models.versions("churn/income", limit=1)
    assert [v.version for v in page.items] == [2] and page.next_cursor
    assert [
        v.version for v in client.models.versions("churn/income", cursor=page.next_cursor).items
    ] == [1]

    updated = client.models.update(
        "churn/income", description="income > 50K", tags={"team": "risk"}
    )
    assert (updated.description, updated.tags) == ("income > 50K", {"team": "risk"})
    assert [m.name for m in client.models.list("churn", query="50k").items] == ["income"]


def test_pickled_python_models_need_trust_both_ways(client: Client) -> None:
    client.projects.create("lab")

    def score(rows: list[float]) -> list[float]:
        return [2 * r for r in rows]

    with client.start_run(project="lab") as run:
        with pytest.raises(InvalidInput, match="trusted=True"):
            run.log_model(score, "doubler")
        version = run.log_model(score, "doubler", trusted=True)
    assert (version.flavor, version.format, version.trusted) == ("python", "pickle", True)
    with pytest.raises(InvalidInput, match="pickle"):
        client.models.load("lab/doubler@1")
    assert client.models.load("lab/doubler@1", trusted=True)([1.0, 2.5]) == [2.0, 5.0]


def test_registering_from_a_run_checks_the_description(client: Client, tmp_path: Path) -> None:
    client.projects.create("lab")
    with client.start_run(project="lab") as run:
        run.log_text("not a model", "models/x/readme.txt")
        meta = {"flavor": "sklearn", "format": "pickle", "trusted": False, "files": ["m.pkl"]}
        run.log_text(json.dumps(meta), "models/bad/tandem-model.json")
        run.log_text(json.dumps({**meta, "flavor": "tensorflow"}), "models/odd/tandem-model.json")
        run.log_text(json.dumps({**meta, "trusted": True}), "models/gone/tandem-model.json")
        run.log_text("{", "models/broken/tandem-model.json")
    cases = {
        "models/x": "expected models/x/tandem-model.json",
        "models/bad": "trusted must be true exactly for pickle",
        "models/odd": "unknown model flavor 'tensorflow'",
        "models/gone": "names files the run does not have",
        "models/broken": "tandem-model.json",
        "../etc": "must stay inside",
    }
    for path, message in cases.items():
        with pytest.raises(InvalidInput, match=message):
            client.models.register("m", run.id, path, project="lab")
    with pytest.raises(NotFound):
        client.models.get("lab/m")  # nothing was created


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("m@0", "versions are 1, 2"),
        ("m@Champion", "invalid alias"),
        ("a/b/c/d", "invalid model reference"),
    ],
)
def test_bad_references(client: Client, ref: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        client.models.version(ref, "lab")


@pytest.fixture
def registered(services: Services, tmp_path: Path, adult: tuple[pl.DataFrame, np.ndarray]) -> str:
    """Model `risk/income@1`, logged by a run of project `risk` (its run id)."""
    owner = services.owner
    services.projects.create(owner, ProjectCreate(name="risk"))
    run = services.tracking.create_run(owner, "risk", RunCreate(name="fit"))
    from tandem.registry.flavors import save_model

    x, y = adult
    saved = save_model(LogisticRegression(max_iter=300).fit(x.to_numpy(), y), tmp_path / "m")
    services.tracking.upload_artifact(
        owner, run.id, "models/income/model.skops", tmp_path / "m" / "model.skops"
    )
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"flavor": "sklearn", "format": "skops", "trusted": False,
                                "files": saved.files}))  # fmt: skip
    services.tracking.upload_artifact(owner, run.id, "models/income/tandem-model.json", meta)
    services.registry.register(
        owner, "risk", "income", VersionCreate(run_id=run.id, artifact_path="models/income")
    )
    return run.id


def test_who_may_do_what(services: Services, registered: str) -> None:
    reg = services.registry
    viewer = Principal(name="vi", roles={"risk": Role.VIEWER})
    scientist = Principal(name="di", roles={"risk": Role.DATA_SCIENTIST})
    engineer = Principal(name="en", roles={"risk": Role.ML_ENGINEER})
    stranger = Principal(name="st", roles={"other": Role.ADMIN})
    assert reg.get_version(viewer, "risk", "income", "1").version == 1
    with pytest.raises(NotFound):  # a non-member is told the project does not exist
        reg.get_model(stranger, "risk", "income")
    with pytest.raises(PermissionDenied, match="model:write"):
        reg.set_alias(viewer, "risk", "income", "champion", 1)
    with pytest.raises(PermissionDenied, match="model:write"):
        reg.update_model(viewer, "risk", "income", ModelUpdate(description="x"))
    with pytest.raises(PermissionDenied, match="model:write"):
        reg.register(
            viewer,
            "risk",
            "income",
            VersionCreate(run_id=registered, artifact_path="models/income"),
        )
    assert (
        reg.set_stage(scientist, "risk", "income", "1", Stage.READY_FOR_REVIEW).stage
        == Stage.READY_FOR_REVIEW
    )
    with pytest.raises(PermissionDenied, match="model:release"):
        reg.set_stage(scientist, "risk", "income", "1", Stage.PRODUCTION)
    assert (
        reg.set_stage(engineer, "risk", "income", "1", Stage.PRODUCTION).stage == Stage.PRODUCTION
    )
    with pytest.raises(PermissionDenied, match="model:release"):  # nor take it back
        reg.set_stage(scientist, "risk", "income", "1", Stage.DRAFT)
    reg.set_stage(engineer, "risk", "income", "1", Stage.RETIRED)
    with pytest.raises(Conflict, match="retired"):
        reg.set_stage(engineer, "risk", "income", "1", Stage.PRODUCTION)
    events = [e.action for e in services.audit.list(services.owner, project="risk").items]
    assert {"model.version.register", "model.version.stage"} <= set(events)


def test_a_version_keeps_its_files_when_the_run_is_purged(
    services: Services, registered: str
) -> None:
    from tandem.gc.models import GcRequest

    owner = services.owner
    services.tracking.delete_run(owner, registered)
    services.gc.collect(owner, GcRequest(older_than_seconds=0, grace_seconds=0))
    version = services.registry.get_version(owner, "risk", "income", "1")
    assert version.run_id is None and [f.path for f in version.files] == [
        "model.skops",
        "tandem-model.json",
    ]
    found, chunks = services.registry.open_file(owner, "risk", "income", "1", "model.skops")
    assert len(b"".join(chunks)) == found.size > 0
    services.projects.delete(owner, "risk")
    services.gc.collect(owner, GcRequest(older_than_seconds=0, grace_seconds=0))
    assert not list(services.blobs.list())  # the project purged: its model files freed
