"""Everyday tracking calls of the real `mlflow` client, run by tests/compat/test_mlflow_client.py
with the python of an MLflow virtual environment (scripts/mlflow-venvs), against a tandem server
named by MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN. Nothing here is tandem's code: it is what
a user's training script does. Exits non-zero (an AssertionError) on the first surprise."""

import math
import sys
import time

import mlflow
import mlflow.data
import pandas
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType


def main(experiment_name: str) -> None:
    mlflow.set_experiment(experiment_name)
    experiment = mlflow.get_experiment_by_name(experiment_name)
    assert experiment is not None and experiment.name == experiment_name, experiment
    names = {e.name for e in mlflow.search_experiments()}
    assert {experiment_name, "Default"} <= names, names
    client = MlflowClient()

    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_params({"depth": 3, "lr": 0.1})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"rmse": 0.7, "mae": 0.2}, step=1)
        mlflow.set_tag("team", "retention")
        frame = pandas.DataFrame({"x": [1.0, 2.0], "y": [0.0, 1.0]})
        mlflow.log_input(mlflow.data.from_pandas(frame, name="train"), context="training")
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("loss", 0.3)
        now = int(time.time() * 1000)
        client.log_batch(
            parent.info.run_id,
            metrics=[Metric("acc", 0.5 + i / 10_000, now, i) for i in range(1000)],
            params=[Param("batch", "yes")],
            tags=[RunTag("stage", "dev")],
        )
    parent_id, child_id = parent.info.run_id, child.info.run_id

    run = client.get_run(parent_id)
    assert run.info.status == "FINISHED", run.info
    assert run.info.run_name == "parent", run.info
    assert run.info.experiment_id == experiment.experiment_id, run.info
    params = {"alpha": "0.5", "depth": "3", "lr": "0.1", "batch": "yes"}
    assert run.data.params == params, run.data.params
    assert run.data.metrics["loss"] == 0.2, run.data.metrics
    assert run.data.metrics["acc"] == 0.5 + 999 / 10_000, run.data.metrics
    assert run.data.tags["team"] == "retention" and run.data.tags["stage"] == "dev", run.data.tags

    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "train", dataset_input
    assert {t.key: t.value for t in dataset_input.tags} == {"mlflow.data.context": "training"}

    history = client.get_metric_history(parent_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(5)], history
    assert len(client.get_metric_history(parent_id, "acc")) == 1000

    found = mlflow.search_runs(
        experiment_ids=[experiment.experiment_id],
        filter_string="metrics.loss < 1",
        order_by=["metrics.loss ASC"],
        output_format="list",
    )
    assert [r.info.run_id for r in found] == [parent_id, child_id], found
    nested = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    assert [r.info.run_id for r in nested] == [child_id], nested
    finished = client.search_runs(
        [experiment.experiment_id],
        filter_string="attributes.status = 'FINISHED' and params.depth = '3'",
    )
    assert [r.info.run_id for r in finished] == [parent_id], finished

    client.delete_run(child_id)
    assert client.get_run(child_id).info.lifecycle_stage == "deleted"
    active = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in active] == [parent_id], active
    deleted = client.search_runs([experiment.experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [child_id], deleted
    client.restore_run(child_id)
    assert client.get_run(child_id).info.lifecycle_stage == "active"

    # A diverged loss: NaN and infinity are values, read back as MLflow's own server does
    with mlflow.start_run(run_name="diverged") as diverged:
        mlflow.log_metric("loss", 0.9, step=0)
        mlflow.log_metric("loss", float("inf"), step=1)
        mlflow.log_metric("loss", float("nan"), step=2)
        mlflow.log_metrics({"score": float("nan"), "gain": float("-inf")}, step=3)
    run = client.get_run(diverged.info.run_id)
    assert math.isnan(run.data.metrics["loss"]) and math.isnan(run.data.metrics["score"]), run
    assert run.data.metrics["gain"] == -sys.float_info.max, run.data.metrics
    steps = {m.key: (m.step, m.timestamp > 0) for m in run.data._metric_objs}
    assert steps == {"loss": (2, True), "score": (3, True), "gain": (3, True)}, steps
    history = client.get_metric_history(diverged.info.run_id, "loss")
    values = [m.value for m in history]
    assert values[:2] == [0.9, sys.float_info.max] and math.isnan(values[2]), history
    found = client.search_runs([experiment.experiment_id], filter_string="metrics.score < 1")
    assert len(found) == 0, found  # a NaN matches no comparison
    client.delete_run(diverged.info.run_id)

    try:
        client.search_runs([experiment.experiment_id], filter_string="metrics.loss <")
    except mlflow.exceptions.MlflowException as error:
        assert error.error_code == "INVALID_PARAMETER_VALUE", error
    else:
        raise AssertionError("a malformed filter was taken")
    print(f"ok mlflow {mlflow.__version__}")


if __name__ == "__main__":
    main(sys.argv[1])
