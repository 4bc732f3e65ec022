"""A drift monitor on a column the model does not have is refused whole, with one clear error
naming the column and what the model reads, in every face: the service, the SDK, REST
(problem+json), the CLI (one `error:` line) and project.yaml; likewise a column its explicit
reference (`params.reference`) lacks, a pinned version's, and a prediction-drift monitor,
which takes no columns. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from monitor_world import PROJECT
from typer.testing import CliRunner

from tandem import errors
from tandem.cli import output
from tandem.cli.main import app as cli_app
from tandem.governance.plan.spec import ProjectSpec
from tandem.monitoring.models import MonitorSpec
from tandem.server import embedded

URL = f"/api/v1/projects/{PROJECT}/monitors"
LACKS = "churn-lr@1 has no column 'income': it reads age, charges, tenure"


def drift(**fields) -> dict:
    return {"name": "d", "endpoint": "prod", "kind": "feature-drift", **fields}


def nothing_written(world) -> None:
    owner = world.services.owner
    assert world.services.monitoring.list_monitors(owner, PROJECT) == []
    page = world.services.audit.list(owner, project=PROJECT, limit=1000)
    assert "monitor.create" not in [e.action for e in page.items][:1]


def test_every_face_refuses_a_column_the_model_does_not_have(world, settings, monkeypatch):
    monitoring, owner = world.services.monitoring, world.services.owner
    spec = MonitorSpec.model_validate(drift(params={"columns": ["tenure", "income"]}))
    with pytest.raises(errors.InvalidInput, match=LACKS) as refused:
        monitoring.create(owner, PROJECT, spec)
    assert refused.value.details.get("columns") == ["income"]

    with pytest.raises(errors.InvalidInput, match=LACKS):
        world.sdk.monitors.create("d", endpoint="prod", kind="feature-drift",
                                  params={"columns": ["income"]}, project=PROJECT)  # fmt: skip

    answer = world.api.post(URL, json=drift(params={"columns": ["income"]}))
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "invalid-input" and LACKS in answer.json()["detail"]

    with pytest.raises(errors.InvalidInput, match=r"monitors\[0\] \(d\): " + LACKS):
        world.services.plan.apply(
            owner, PROJECT, ProjectSpec(monitors=[drift(params={"columns": ["income"]})])
        )

    for key, value in {"TANDEM_HOME": str(settings.home), "TANDEM_PROJECT": PROJECT,
                       "TANDEM_DATABASE_URL": settings.database_url,
                       "TANDEM_ARTIFACTS": settings.artifacts}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    output.reset_client()
    output.OPTIONS.update(url=None, project=None)
    try:
        done = CliRunner().invoke(cli_app, [
            "monitors", "create", "d", "--endpoint", "prod", "--kind", "feature-drift",
            "--param", 'columns=["income"]',
        ])  # fmt: skip
    finally:
        output.reset_client()
        embedded.close_all()
    assert done.exit_code == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"error: {LACKS}"]
    nothing_written(world)


def test_a_pinned_version_an_explicit_reference_and_prediction_drift(world) -> None:
    monitoring, owner = world.services.monitoring, world.services.owner
    pinned = drift(version="churn-lr@1", params={"columns": ["income"]})
    with pytest.raises(errors.InvalidInput, match=LACKS):
        monitoring.create(owner, PROJECT, MonitorSpec.model_validate(pinned))
    # the reference is the training data: it holds the label too, but not an unknown column
    referenced = drift(params={"columns": ["churn"], "reference": "train@v1"})
    with pytest.raises(errors.InvalidInput, match="churn-lr@1 has no column 'churn'"):
        monitoring.create(owner, PROJECT, MonitorSpec.model_validate(referenced))
    nowhere = drift(params={"columns": ["tenure"], "reference": "train@v9"})
    with pytest.raises(errors.NotFound):
        monitoring.create(owner, PROJECT, MonitorSpec.model_validate(nowhere))
    scores = {"name": "p", "endpoint": "prod", "kind": "prediction-drift",
              "params": {"columns": ["tenure"]}}  # fmt: skip
    with pytest.raises(errors.InvalidInput, match="takes no parameter columns"):
        monitoring.create(owner, PROJECT, MonitorSpec.model_validate(scores))
    nothing_written(world)
    ok = drift(params={"columns": ["tenure"], "reference": "train@v1"})
    assert monitoring.create(owner, PROJECT, MonitorSpec.model_validate(ok)).params == ok["params"]
