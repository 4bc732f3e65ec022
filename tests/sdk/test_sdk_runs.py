"""The SDK end to end, run twice: embedded (in process) and remote (HTTP to a live server)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tandem import errors
from tandem.core.validation import MAX_DOUBLE
from tandem.sdk.client import Client
from tandem.tracking.models import RunStatus


def test_start_run_records_everything(client: Client) -> None:
    with client.start_run("churn", "baseline", seed=7) as run:
        run.log_params({"model": "gbm", "depth": 6})
        for step in range(100):
            run.log_metrics({"loss": 1 / (step + 1), "auc": step / 100}, step=step)
        run.set_tags({"team": "retention"})
    stored = client.runs.get(run.id)
    assert stored.status is RunStatus.FINISHED
    assert stored.name == "baseline"
    assert stored.seed == 7
    assert stored.params == {"model": "gbm", "depth": "6"}
    assert stored.metrics == {"loss": pytest.approx(0.01), "auc": pytest.approx(0.99)}
    assert stored.tags == {"team": "retention"}
    assert stored.end_time is not None and stored.end_time >= stored.start_time
    env = stored.environment
    assert env is not None
    assert env.python and env.platform and env.packages_hash and env.command
    history = client.runs.metric_history(run.id, "auc")
    assert history.step == list(range(100))
    assert history.value[-1] == pytest.approx(0.99)
    paths = [a.path for a in client.runs.list_artifacts(run.id)]
    assert "environment/packages.txt" in paths


def test_exception_marks_failed_and_keeps_what_was_logged(client: Client) -> None:
    with pytest.raises(ZeroDivisionError), client.start_run("churn") as run:
        run.log_metric("loss", 0.5, step=1)
        run.log_param("model", "gbm")
        _ = 1 / 0
    stored = client.runs.get(run.id)
    assert stored.status is RunStatus.FAILED
    assert stored.metrics == {"loss": 0.5}
    assert stored.params == {"model": "gbm"}


def test_keyboard_interrupt_marks_killed(client: Client) -> None:
    with pytest.raises(KeyboardInterrupt), client.start_run("churn") as run:
        raise KeyboardInterrupt
    assert client.runs.get(run.id).status is RunStatus.KILLED


def test_param_logged_twice_with_another_value_is_refused(client: Client) -> None:
    with client.start_run("churn") as run:
        run.log_params({"depth": 6})
        run.log_params({"depth": 6})  # the same value again is fine
        with pytest.raises(errors.Conflict, match="already '6'"):
            run.log_params({"depth": 7})
    # and the server refuses too, for a client that did not know
    with pytest.raises(errors.Conflict):
        client.runs.log_batch(run.id, params={"depth": 8})
    assert client.runs.get(run.id).params == {"depth": "6"}


def test_non_finite_metric_values_are_stored_as_mlflow_stores_them(client: Client) -> None:
    # ADR 33: NaN is kept, the infinities become the largest finite double
    with client.start_run("churn") as run:
        run.log_metric("loss", math.nan)
        run.log_metrics({"up": math.inf, "down": -math.inf}, step=1)
        client.runs.log_batch(run.id, metrics={"acc": math.nan, "auc": math.inf})
    metrics = client.runs.get(run.id).metrics
    assert math.isnan(metrics.pop("loss")) and math.isnan(metrics.pop("acc"))
    assert metrics == {"up": MAX_DOUBLE, "down": -MAX_DOUBLE, "auc": MAX_DOUBLE}
    assert math.isnan(client.runs.metric_history(run.id, "loss").value[0])
    with pytest.raises(errors.InvalidInput, match="must be a number"):
        run.log_metric("loss", "high")  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["", "x" * 251, "a\x00b", "new\nline"])
def test_bad_keys_are_refused(client: Client, key: str) -> None:
    run = client.runs.create("churn")
    for call in (
        lambda: client.runs.log_batch(run.id, params={key: 1}),
        lambda: client.runs.log_batch(run.id, tags={key: "x"}),
        lambda: client.runs.log_batch(run.id, metrics={key: 1.0}),
    ):
        with pytest.raises(errors.InvalidInput):
            call()
    stored = client.runs.get(run.id)
    assert (stored.params, stored.tags, stored.metrics) == ({}, {}, {})


def test_unicode_values_and_keys_round_trip(client: Client) -> None:
    with client.start_run("churn", "modèle ünïcödé 模型") as run:
        run.log_params({"région": "Île-de-France 🚀"})
        run.set_tag("équipe", "rétention")
        run.log_metric("précision", 0.5)
    stored = client.runs.get(run.id)
    assert stored.name == "modèle ünïcödé 模型"
    assert stored.params == {"région": "Île-de-France 🚀"}
    assert stored.tags == {"équipe": "rétention"}
    assert stored.metrics == {"précision": 0.5}


def test_unknown_ids_are_not_found(client: Client) -> None:
    with pytest.raises(errors.NotFound):
        client.runs.get("0" * 32)
    with pytest.raises(errors.NotFound):
        client.projects.get("nope")
    with pytest.raises(errors.InvalidInput):
        client.runs.get("not-an-id!")


def test_batch_id_makes_a_retry_harmless(client: Client) -> None:
    run = client.runs.create("churn")
    points = {"key": ["a", "a"], "value": [1.0, 2.0], "step": [0, 1]}
    first = client.runs.log_batch(run.id, metrics=points, batch_id="b-1")
    again = client.runs.log_batch(run.id, metrics=points, batch_id="b-1")
    assert (first.applied, again.applied) == (True, False)
    assert client.runs.metric_history(run.id, "a").value == [1.0, 2.0]


def test_search_filter_order_and_pagination(client: Client) -> None:
    for i in range(25):
        model = "gbm" if i % 2 else "lr"
        client.runs.log_batch(
            client.runs.create("churn").id,
            params={"model": model, "i": i},
            metrics={"auc": i / 25},
        )
    seen: list[float] = []
    cursor = None
    while True:
        page = client.runs.search(
            "churn",
            "metrics.auc > 0.2 and params.model = 'gbm'",
            order_by=["-metrics.auc"],
            limit=4,
            cursor=cursor,
        )
        seen.extend(run.metrics["auc"] for run in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    expected = sorted((i / 25 for i in range(25) if i % 2 and i / 25 > 0.2), reverse=True)
    assert seen == pytest.approx(expected)
    listed = list(client.runs.iter_search("churn", "params.model = 'lr'", limit=3))
    assert len(listed) == 13


def test_search_returns_only_the_fields_asked_for(client: Client) -> None:
    run = client.runs.create("churn")
    client.runs.log_batch(
        run.id, params={"a": 1, "b": 2}, metrics={"x": 1.0, "y": 2.0}, tags={"t": "v"}
    )
    page = client.runs.search("churn", fields=["metrics.x", "params.b"])
    (found,) = page.items
    assert found.metrics == {"x": 1.0}
    assert found.params == {"b": "2"}
    assert found.tags == {}


def test_malformed_filter_reports_its_position(client: Client) -> None:
    client.runs.create("churn")
    with pytest.raises(errors.InvalidFilter) as caught:
        client.runs.search("churn", "metrics.auc >> 1")
    assert caught.value.details["position"] == 13


def test_compare_shows_differing_params(client: Client) -> None:
    ids = []
    for depth in (4, 6):
        run = client.runs.create("churn")
        client.runs.log_batch(
            run.id, params={"model": "gbm", "depth": depth}, metrics={"auc": depth / 10}
        )
        ids.append(run.id)
    comparison = client.runs.compare(ids)
    assert comparison.params_differ == ["depth"]
    assert comparison.params_same == ["model"]
    assert comparison.metric_keys == ["auc"]


def test_soft_delete_and_restore(client: Client) -> None:
    run = client.runs.create("churn")
    client.runs.delete(run.id)
    assert client.runs.search("churn").items == []
    assert client.runs.get(run.id).deleted_at is not None
    with pytest.raises(errors.Conflict):
        client.runs.log_batch(run.id, params={"a": 1})
    client.runs.restore(run.id)
    assert [r.id for r in client.runs.search("churn").items] == [run.id]


def test_run_reference_forms(client: Client) -> None:
    run = client.runs.create("churn")
    assert client.runs.get(run.id[:8]).id == run.id
    assert client.runs.get(f"churn/runs/{run.id}").id == run.id
    assert client.runs.get(f"churn/{run.id}").id == run.id
    with pytest.raises(errors.NotFound):
        client.runs.get(f"other/runs/{run.id}")


def test_default_project_from_settings(client: Client, tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidInput, match="no project given"):
        client.runs.create()
    client.settings = client.settings.with_(project="churn")
    assert client.runs.create().project == "churn"


def test_artifacts_upload_download_and_dedup(client: Client, tmp_path: Path) -> None:
    source = tmp_path / "plots"
    (source / "sub").mkdir(parents=True)
    (source / "roc.png").write_bytes(b"\x89PNG fake" * 1000)
    (source / "sub" / "same.png").write_bytes(b"\x89PNG fake" * 1000)
    with client.start_run("churn", capture_environment=False) as run:
        run.log_artifacts(source, "plots")
        run.log_text("hello", "notes/readme.txt")
    artifacts = {a.path: a for a in client.runs.list_artifacts(run.id)}
    assert set(artifacts) == {"plots/roc.png", "plots/sub/same.png", "notes/readme.txt"}
    assert artifacts["plots/roc.png"].oid == artifacts["plots/sub/same.png"].oid
    target = tmp_path / "out"
    client.runs.download_artifacts(run.id, target)
    assert (target / "plots" / "sub" / "same.png").read_bytes() == b"\x89PNG fake" * 1000
    assert (target / "notes" / "readme.txt").read_text() == "hello"


@pytest.mark.parametrize(
    "path",
    ["../evil", "/etc/passwd", "a\\b", "a/%2e%2e/b", "a/%2F/b", "a/./b", "a//b", "C:/x", ""],
)
def test_unsafe_artifact_paths_are_refused(client: Client, path: str) -> None:
    run = client.runs.create("churn")
    with pytest.raises(errors.InvalidInput):
        client.runs.upload_bytes(run.id, b"x", path)
    assert client.runs.list_artifacts(run.id) == []


def test_symlinks_are_not_followed_on_upload(client: Client, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "ok.txt").write_text("ok")
    (folder / "link.txt").symlink_to(outside)
    run = client.start_run("churn", capture_environment=False)
    with pytest.raises(errors.UnsafePath, match="symlink"):
        run.log_artifacts(folder)
    run.end()
    assert client.runs.list_artifacts(run.id) == []


@pytest.mark.parametrize("token", ["tók3n", "tok\nen"])
def test_a_token_no_header_can_carry_is_a_clear_error(token: str, tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidInput, match="copy it again"):
        Client("http://127.0.0.1:9", token=token, home=tmp_path)
