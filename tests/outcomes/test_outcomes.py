"""Late labels joined to real logged predictions by request id, realised figures per version and
hourly window (only the affected windows recomputed), CBPE estimates replaced by the realised
figures, business KPIs; bad files change nothing. Through the service, the SDK (embedded and
remote), the REST API and the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from outcome_world import (
    HOUR,
    MODEL,
    START,
    labels_table,
    log,
    open_endpoint,
    parquet_bytes,
    predictions,
)
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tandem import errors
from tandem.cli import output
from tandem.cli.main import app as cli_app
from tandem.core.auth import Action
from tandem.core.config import Settings
from tandem.evaluation.calibration import calibration
from tandem.outcomes import cbpe
from tandem.outcomes.models import ARROW_STREAM, PARQUET, KpiCreate
from tandem.projects.models import ProjectCreate
from tandem.sdk.client import Client
from tandem.server import embedded
from tandem.server.container import Services

URL = "/api/v1/projects/churn/endpoints/prod"
LATER = START + 10 * 24 * HOUR  # when the labels come: ten days on


@pytest.fixture
def churn(services: Services) -> Services:
    """Project churn with endpoint prod, which logged 600 predictions over two hours."""
    services.projects.create(services.owner, ProjectCreate(name="churn"))
    open_endpoint(services, services.owner)
    log(services, predictions(600))
    return services


def realised(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The figures as scikit-learn computes them."""
    predicted = (p >= 0.5).astype(int)
    return {
        "roc_auc": roc_auc_score(y, p),
        "precision": precision_score(y, predicted, zero_division=0),
        "recall": recall_score(y, predicted, zero_division=0),
        "accuracy": accuracy_score(y, predicted),
        "ece": calibration(y, p)["ece"],
    }


def add(services: Services, table: pa.Table, *, now: int = LATER, **options: object):
    return services.outcomes.add_labels(
        services.owner, "churn", "prod", parquet_bytes(table), now=now, **options
    )


def windows_by_key(services: Services) -> dict[tuple[int, int], object]:
    return {
        (w.version, w.start): w
        for w in services.outcomes.window_metrics(services.owner, "churn", "prod")
    }


# -- joining and recomputing ------------------------------------------------------------------


def test_labels_join_the_log_and_give_each_version_and_hour_its_figures(churn: Services) -> None:
    logged = predictions(600)
    y = logged.outcomes()
    first_hour = logged.at < START + HOUR
    hour = logged.where(first_hour)
    receipt = add(churn, labels_table(hour.request_id, y[first_hour]))
    assert (receipt.rows, receipt.matched, receipt.unknown, receipt.duplicates) == (
        len(hour.request_id), len(hour.request_id), 0, 0,
    )  # fmt: skip
    # only the first hour's windows, one per version
    assert sorted((w.version, w.start, w.end) for w in receipt.windows) == [
        (1, START, START + HOUR), (2, START, START + HOUR),
    ]  # fmt: skip

    found = windows_by_key(churn)
    assert set(found) == {(1, START), (2, START)}
    for version in (1, 2):
        mask = first_hour & (logged.version == version)
        window = found[(version, START)]
        assert (window.model, window.kind, window.samples) == (MODEL, "binary", int(mask.sum()))
        assert window.positives == int(y[mask].sum())
        expected = realised(y[mask], logged.p[mask])
        assert window.metrics == pytest.approx(expected, abs=1e-12)
        for metric in ("roc_auc", "precision", "recall", "accuracy"):
            band = window.bands[metric]
            assert band.low <= window.metrics[metric] <= band.high
        curve = calibration(y[mask], logged.p[mask])
        assert window.reliability.count == curve["count"]
        assert window.reliability.positive_rate == pytest.approx(curve["positive_rate"])


def test_late_labels_recompute_only_the_windows_they_fall_in(churn: Services) -> None:
    logged = predictions(600)
    y = logged.outcomes()
    first = logged.at < START + HOUR
    add(churn, labels_table(logged.where(first).request_id, y[first]), now=LATER)
    before = windows_by_key(churn)

    # days later, the second hour's labels
    second = ~first
    receipt = add(churn, labels_table(logged.where(second).request_id, y[second]), now=LATER + 1)
    assert {w.start for w in receipt.windows} == {START + HOUR}
    after = windows_by_key(churn)
    assert set(after) == {(v, s) for v in (1, 2) for s in (START, START + HOUR)}
    for key in ((1, START), (2, START)):  # untouched: the same row, not recomputed
        assert after[key].updated_at == LATER and after[key] == before[key]
    for version in (1, 2):
        window = after[(version, START + HOUR)]
        mask = second & (logged.version == version)
        assert window.updated_at == LATER + 1
        assert window.metrics["roc_auc"] == pytest.approx(roc_auc_score(y[mask], logged.p[mask]))

    # monitoring asks which windows changed since it last looked
    with churn.db.read() as conn:
        project_pk = churn.projects.access(conn, churn.owner, "churn", Action.MONITOR_READ)
        changed = churn.outcomes.changed_windows(conn, project_pk, "prod", LATER)
        everything = churn.outcomes.changed_windows(conn, project_pk, "prod", 0)
    assert [(c.version, c.start, c.updated_at) for c in changed] == [
        (1, START + HOUR, LATER + 1), (2, START + HOUR, LATER + 1),
    ]  # fmt: skip
    assert len(everything) == 4


def test_unknown_request_ids_are_counted_and_the_rest_joined(churn: Services) -> None:
    logged = predictions(600)
    ids = [*logged.request_id[:50], "nope-1", "nope-2", "nope-3"]
    receipt = add(churn, labels_table(ids, [1, 0] * 25 + [1, 1, 0]))
    assert (receipt.rows, receipt.matched, receipt.unknown) == (53, 50, 3)
    assert sorted(receipt.unknown_sample) == ["nope-1", "nope-2", "nope-3"]
    assert sum(w.samples for w in churn.outcomes.window_metrics(churn.owner, "churn", "prod")) == 50
    (batch,) = churn.outcomes.label_batches(churn.owner, "churn", "prod")
    assert (batch.rows, batch.matched, batch.unknown, batch.id) == (53, 50, 3, receipt.batch)
    assert churn.blobs.exists(batch.oid)  # the labels are kept, the unknown ones too

    # nothing matched at all: counted, no window
    none = add(churn, labels_table(["x-1", "x-2"], [0, 1]))
    assert (none.matched, none.unknown, none.windows) == (0, 2, [])


def test_a_request_labelled_again_keeps_the_last_label_and_the_change_is_audited(
    churn: Services,
) -> None:
    logged = predictions(600)
    y = logged.outcomes()
    first = logged.at < START + HOUR
    hour = logged.where(first)
    add(churn, labels_table(hour.request_id, y[first]))
    # ten of them corrected, and one twice in the same file (the later row wins)
    ids = [*hour.request_id[:10], hour.request_id[0]]
    corrected = [*list(1 - y[first][:10]), int(y[first][0])]
    receipt = add(churn, labels_table(ids, corrected), now=LATER + 5)
    assert (receipt.rows, receipt.matched, receipt.duplicates) == (10, 10, 10)

    final = y[first].copy()
    final[1:10] = 1 - final[1:10]  # the first request's last label is its original one
    for version in (1, 2):
        mask = hour.version == version
        window = windows_by_key(churn)[(version, START)]
        assert window.samples == int(mask.sum())
        assert window.metrics == pytest.approx(realised(final[mask], hour.p[mask]), abs=1e-12)
    events = churn.audit.list(churn.owner, project="churn", action="labels.add").items
    assert len(events) == 2
    latest = events[0].details
    assert (latest["duplicates"], latest["matched"], latest["unknown"]) == (10, 10, 0)
    assert set(latest["replaced"]) == set(hour.request_id[:10])


def test_fairness_across_a_slice_per_window(churn: Services) -> None:
    logged = predictions(600)
    y = logged.outcomes()
    add(churn, labels_table(logged.request_id, y), slices=["sex"])
    window = windows_by_key(churn)[(1, START)]
    mask = (logged.version == 1) & (logged.at < START + HOUR)
    (sliced,) = window.fairness
    assert sliced.slice == "sex" and set(sliced.groups) == {"f", "m"}
    rates = {s: float((logged.p[mask & (logged.sex == s)] >= 0.5).mean()) for s in ("f", "m")}
    assert sliced.groups["f"]["selection_rate"] == pytest.approx(rates["f"])
    assert sliced.demographic_parity_difference == pytest.approx(abs(rates["f"] - rates["m"]))


# -- CBPE -------------------------------------------------------------------------------------


def test_cbpe_is_close_to_the_realised_figures_of_a_calibrated_model() -> None:
    rng = np.random.default_rng(5)
    for n in (2_000, 20_000):
        p = 1 / (1 + np.exp(-rng.normal(0, 2, n)))
        y = (rng.random(n) < p).astype(int)
        estimated = cbpe.estimate(p)
        truth = {"roc_auc": roc_auc_score(y, p), "accuracy": accuracy_score(y, p >= 0.5)}
        for metric, value in truth.items():
            figure = estimated[metric]
            assert figure.value == pytest.approx(value, abs=0.02), (n, metric)
            assert figure.low < figure.value < figure.high
    # the 95% band holds the realised figure of most chunks (NannyML's chunks: 40 of 1,000)
    covered = {"roc_auc": 0, "accuracy": 0}
    for _ in range(40):
        p = 1 / (1 + np.exp(-rng.normal(0, 2, 1_000)))
        y = (rng.random(1_000) < p).astype(int)
        estimated = cbpe.estimate(p)
        truth = {"roc_auc": roc_auc_score(y, p), "accuracy": accuracy_score(y, p >= 0.5)}
        for metric, value in truth.items():
            covered[metric] += estimated[metric].low <= value <= estimated[metric].high
    assert min(covered.values()) >= 34, covered
    with pytest.raises(ValueError, match="probabilities"):
        cbpe.estimate(np.array([0.2, 1.4]))
    assert cbpe.estimate(np.array([])) == {
        "roc_auc": cbpe.Estimated(None, None, None), "accuracy": cbpe.Estimated(None, None, None),
    }  # fmt: skip


def test_estimates_until_labels_come_then_the_realised_figure(churn: Services) -> None:
    logged = predictions(600)
    y = logged.outcomes()
    span = {"since": START, "until": START + 2 * HOUR}
    estimated = churn.outcomes.estimates(churn.owner, "churn", "prod", **span)
    assert {(e.version, e.start, e.metric) for e in estimated} == {
        (v, s, m) for v in (1, 2) for s in (START, START + HOUR) for m in ("roc_auc", "accuracy")
    }
    for e in estimated:
        assert e.estimated and e.band.low <= e.value <= e.band.high
        mask = (logged.version == e.version) & (logged.at >= e.start) & (logged.at < e.end)
        assert e.samples == int(mask.sum())
        assert e.value == pytest.approx(cbpe.estimate(logged.p[mask])[e.metric].value)

    first = logged.at < START + HOUR
    add(churn, labels_table(logged.where(first).request_id, y[first]))
    mixed = churn.outcomes.estimates(churn.owner, "churn", "prod", **span, version=f"{MODEL}@1")
    by_start = {(e.start, e.metric): e for e in mixed}
    assert {e.version for e in mixed} == {1}
    realised_auc = by_start[(START, "roc_auc")]
    assert not realised_auc.estimated
    assert realised_auc.value == windows_by_key(churn)[(1, START)].metrics["roc_auc"]
    assert by_start[(START + HOUR, "roc_auc")].estimated  # no labels there yet
    with pytest.raises(errors.InvalidInput, match="92 days"):
        churn.outcomes.estimates(churn.owner, "churn", "prod", since=START, until=START)


# -- KPIs -------------------------------------------------------------------------------------


def register(settings: Settings, count: int = 2, client: Client | None = None) -> None:
    """Versions 1..count of churn-lr, real scikit-learn models (through `client`, else an
    embedded one of its own)."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(100, 1))
    y = (x[:, 0] > 0).astype(int)
    sdk = client or Client(settings=settings)
    try:
        for c in (1.0, 0.1)[:count]:
            with sdk.start_run(project="churn") as run:
                run.log_model(LogisticRegression(C=c).fit(x, y), MODEL, example=x[:3])
    finally:
        if client is None:
            sdk.close()
            embedded.close_all()


def test_kpis_for_the_endpoint_and_a_version_that_exists(
    churn: Services, settings: Settings
) -> None:
    register(settings)
    owner = churn.owner
    at = START + 24 * HOUR
    plain = churn.outcomes.push_kpi(
        owner, "churn", "prod", KpiCreate(name="retention_rate", value=0.91, at=at), now=LATER
    )
    assert (plain.name, plain.value, plain.at, plain.model, plain.version) == (
        "retention_rate", 0.91, at, None, None,
    )  # fmt: skip
    churn.outcomes.push_kpi(
        owner, "churn", "prod",
        KpiCreate(name="retention_rate", value=0.88, at=at + HOUR, version=f"{MODEL}@2"),
    )  # fmt: skip
    with pytest.raises(errors.NotFound, match=f"{MODEL}@9 does not exist"):
        churn.outcomes.push_kpi(
            owner, "churn", "prod", KpiCreate(name="retention_rate", value=0.5, at=at,
                                              version=f"{MODEL}@9"),
        )  # fmt: skip
    with pytest.raises(errors.NotFound):
        churn.outcomes.push_kpi(
            owner, "churn", "prod", KpiCreate(name="x", value=0.5, at=at, version="other@1")
        )
    with pytest.raises(errors.InvalidInput, match="finite"):
        churn.outcomes.push_kpi(
            owner, "churn", "prod", KpiCreate(name="x", value=float("nan"), at=at)
        )
    with pytest.raises(errors.InvalidInput, match="invalid KPI name"):
        churn.outcomes.push_kpi(owner, "churn", "prod", KpiCreate(name="9 lives", value=1, at=at))
    found = churn.outcomes.kpis(owner, "churn", "prod", name="retention_rate")
    assert [(k.value, k.model, k.version) for k in found] == [(0.91, None, None), (0.88, MODEL, 2)]
    assert churn.outcomes.kpis(owner, "churn", "prod", since=at + 1) == found[1:]
    events = churn.audit.list(owner, project="churn", action="kpis.push").items
    assert len(events) == 2  # the refused ones wrote nothing


# -- the SDK, REST and CLI faces --------------------------------------------------------------


def test_the_sdk_adds_a_csv_and_reads_figures_and_kpis(
    client: Client, churn: Services, settings: Settings, tmp_path
) -> None:
    logged = predictions(600)
    y = logged.outcomes()
    csv = tmp_path / "labels.csv"
    rows = ["request_id,label,at"] + [
        f"{rid},{'true' if label else 'false'},2026-12-05T10:00:00Z"
        for rid, label in zip(logged.request_id, y.tolist(), strict=True)
    ]
    csv.write_text("\n".join(rows) + "\nghost-1,1,2026-12-05T10:00:00Z\n")
    receipt = client.outcomes.add_labels("prod", csv, project="churn")
    assert (receipt.rows, receipt.matched, receipt.unknown) == (601, 600, 1)
    assert len(receipt.windows) == 4
    windows = client.outcomes.performance("prod", project="churn", version=f"{MODEL}@2")
    assert [(w.version, w.start) for w in windows] == [(2, START), (2, START + HOUR)]
    mask = (logged.version == 2) & (logged.at < START + HOUR)
    assert windows[0].metrics["roc_auc"] == pytest.approx(roc_auc_score(y[mask], logged.p[mask]))
    late = client.outcomes.performance("prod", project="churn", since=START + HOUR)
    assert {w.start for w in late} == {START + HOUR}
    estimates = client.outcomes.estimates(
        "prod", project="churn", since=START, until=START + 2 * HOUR
    )
    assert len(estimates) == 8 and not any(e.estimated for e in estimates)
    (batch,) = client.outcomes.label_batches("prod", project="churn")
    assert batch.id == receipt.batch

    register(settings, count=1, client=client)
    kpi = client.outcomes.push_kpi(
        "prod", "retention_rate", 0.91, project="churn", at=START, version=f"{MODEL}@1"
    )
    assert (kpi.at, kpi.version) == (START, 1)
    with pytest.raises(errors.NotFound, match="does not exist"):
        client.outcomes.push_kpi("prod", "retention_rate", 0.9, project="churn", version="x@3")
    assert [k.value for k in client.outcomes.kpis("prod", project="churn")] == [0.91]


def test_rest_takes_an_arrow_stream_or_parquet(api: TestClient, churn: Services) -> None:
    logged = predictions(600)
    table = labels_table(logged.request_id[:20], [0, 1] * 10)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    answer = api.post(URL + "/labels", content=sink.getvalue().to_pybytes(),
                      headers={"content-type": ARROW_STREAM})  # fmt: skip
    assert answer.status_code == 201, answer.text
    assert (answer.json()["matched"], answer.json()["unknown"]) == (20, 0)
    again = api.post(
        URL + "/labels", content=parquet_bytes(table), headers={"content-type": PARQUET}
    )
    assert again.status_code == 201 and again.json()["duplicates"] == 20
    listed = api.get(URL + "/labels")
    assert listed.status_code == 200 and len(listed.json()) == 2
    performance = api.get(URL + "/performance", params={"since": START, "until": START + HOUR})
    assert performance.status_code == 200 and {w["start"] for w in performance.json()} == {START}
    missing = api.post("/api/v1/projects/churn/endpoints/nope/labels",
                       content=parquet_bytes(table), headers={"content-type": PARQUET})  # fmt: skip
    assert missing.status_code == 404 and missing.json()["code"] == "not-found"
    kpi = api.post(URL + "/kpis", json={"name": "revenue", "value": 10.5, "at": START})
    assert kpi.status_code == 201 and kpi.json()["value"] == 10.5
    unknown = api.post(URL + "/kpis", json={"name": "revenue", "value": 1, "at": START,
                                            "version": "churn-lr@7"})  # fmt: skip
    assert unknown.status_code == 404 and unknown.json()["code"] == "not-found"
    assert [k["name"] for k in api.get(URL + "/kpis").json()] == ["revenue"]


def bad_files() -> list[tuple[str, bytes, str, int, str, str]]:
    """(name, body, content type, status, code, words of the message)."""
    good = labels_table(["r000001", "r000002"], [0, 1])
    return [
        ("not parquet", b"request_id,label\nr1,1\n", PARQUET, 422, "unreadable-data",
         "not a Parquet file"),
        ("not arrow", b"garbage", ARROW_STREAM, 422, "unreadable-data", "not an Arrow IPC"),
        ("empty", b"", PARQUET, 422, "unreadable-data", "the body is empty"),
        ("csv as text", b"request_id,label\n", "text/csv", 415, "unsupported-media-type",
         "Parquet"),
        ("no label", parquet_bytes(good.drop_columns(["label"])), PARQUET, 422, "invalid-input",
         "missing: label"),
        ("unknown column", parquet_bytes(good.append_column("labels", pa.array([1, 0]))),
         PARQUET, 422, "invalid-input", "unknown: labels"),
        ("words for labels", parquet_bytes(pa.table({"request_id": ["a", "b"],
                                                     "label": ["churned", "1"]})),
         PARQUET, 422, "invalid-input", "not numbers, e.g. 'churned'"),
        ("empty id", parquet_bytes(pa.table({"request_id": ["a", None], "label": [1, 0]})),
         PARQUET, 422, "invalid-input", "'request_id' has 1 empty"),
        ("no label value", parquet_bytes(pa.table({"request_id": ["a", "b"],
                                                   "label": pa.array([1, None], pa.int64())})),
         PARQUET, 422, "invalid-input", "'label' has 1 empty"),
        ("bad time", parquet_bytes(good.append_column("at", pa.array(["soon", "later"]))),
         PARQUET, 422, "invalid-input", "'at' has 2 values that are not times"),
        ("no rows", parquet_bytes(good.slice(0, 0)), PARQUET, 422, "invalid-input", "no rows"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "words"),
    [case[1:] for case in bad_files()],
    ids=[case[0] for case in bad_files()],
)
def test_a_bad_label_file_is_refused_and_changes_nothing(
    api: TestClient, churn: Services, body: bytes, content_type: str, status: int, code: str,
    words: str,
) -> None:  # fmt: skip
    answer = api.post(URL + "/labels", content=body, headers={"content-type": content_type})
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code and words in answer.json()["detail"]
    assert churn.outcomes.label_batches(churn.owner, "churn", "prod") == []
    assert churn.outcomes.window_metrics(churn.owner, "churn", "prod") == []
    assert churn.audit.list(churn.owner, project="churn", action="labels.add").items == []


@pytest.fixture
def tandem(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    """`tandem(*args)`: the CLI in process on the test's workspace."""
    monkeypatch.setenv("TANDEM_HOME", str(settings.home))
    monkeypatch.setenv("TANDEM_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TANDEM_ARTIFACTS", settings.artifacts)
    monkeypatch.setenv("COLUMNS", "250")
    output.reset_client()
    output.OPTIONS.update(url=None, project=None)

    def run(*args: str):
        return CliRunner().invoke(cli_app, list(args))

    yield run
    output.reset_client()
    embedded.close_all()


def test_the_cli_adds_labels_pushes_kpis_and_shows_figures(
    tandem, churn: Services, settings: Settings, tmp_path
) -> None:
    logged = predictions(600)
    path = tmp_path / "labels.parquet"
    labels = labels_table([*logged.request_id[:300], "ghost"], [*logged.outcomes()[:300], 1])
    path.write_bytes(parquet_bytes(labels))
    added = tandem("labels", "add", str(path), "--endpoint", "prod", "-p", "churn", "--json")
    assert added.exit_code == 0, added.stderr
    assert '"unknown": 1' in added.stdout and '"matched": 300' in added.stdout
    said = tandem("labels", "add", str(path), "--endpoint", "prod", "-p", "churn")
    assert said.exit_code == 0
    assert (
        "301 labels, 300 joined to logged predictions, 1 unknown request ids, 300 " in said.stdout
    )
    shown = tandem("performance", "show", "--endpoint", "prod", "-p", "churn")
    assert shown.exit_code == 0 and f"{MODEL}@1" in shown.stdout

    register(settings, count=1)
    pushed = tandem("metrics", "push", "retention_rate", "0.91", "--endpoint", "prod",
                    "--at", "2026-12-01", "--version", f"{MODEL}@1", "-p", "churn")  # fmt: skip
    assert pushed.exit_code == 0, pushed.stderr
    assert "retention_rate = 0.91 at 2026-12-01" in pushed.stdout
    refused = tandem("metrics", "push", "retention_rate", "0.91", "--endpoint", "prod",
                     "--version", f"{MODEL}@3", "-p", "churn")  # fmt: skip
    assert refused.exit_code != 0 and refused.stdout == ""
    assert refused.stderr.strip().count("\n") == 0 and "does not exist" in refused.stderr
    listed = tandem("metrics", "list", "--endpoint", "prod", "-p", "churn", "--json")
    assert listed.exit_code == 0 and '"retention_rate"' in listed.stdout

    wrong = tmp_path / "labels.txt"
    wrong.write_text("request_id,label\n")
    bad = tandem("labels", "add", str(wrong), "--endpoint", "prod", "-p", "churn")
    assert bad.exit_code != 0 and "a label file is .csv or .parquet" in bad.stderr


# -- what monitors read -----------------------------------------------------------------------


def test_window_figures_for_monitors(churn: Services, settings: Settings) -> None:
    logged = predictions(600)
    y = logged.outcomes()
    owner = churn.owner
    two_hours = {"start": START, "end": START + 2 * HOUR}

    def figures(kind: str, metric: str, version: str | None = None, **span: int):
        return churn.outcomes.window_figures(
            owner, "churn", "prod", kind=kind, metric=metric, version=version,
            **(span or two_hours),
        )  # fmt: skip

    nothing = figures("performance", "roc_auc")
    assert (nothing.judged, nothing.samples) == (False, 0)
    estimated = figures("estimated-performance", "roc_auc", f"{MODEL}@1")
    ones = logged.version == 1
    assert estimated.estimated and estimated.judged and estimated.samples == int(ones.sum())
    assert estimated.figures["roc_auc"] == pytest.approx(
        cbpe.estimate(logged.p[ones])["roc_auc"].value
    )
    assert estimated.band[0] < estimated.figures["roc_auc"] < estimated.band[1]

    add(churn, labels_table(logged.request_id, y))
    # a two-hour window of version 1 (monitors' windows need not be an hour)
    realised = figures("estimated-performance", "roc_auc", f"{MODEL}@1")
    assert not realised.estimated and realised.samples == int(ones.sum())
    assert realised.figures["roc_auc"] == pytest.approx(roc_auc_score(y[ones], logged.p[ones]))
    both = figures("performance", "recall")
    assert both.samples == 600 and both.band[0] <= both.figures["recall"] <= both.band[1]

    register(settings, count=1)
    churn.outcomes.push_kpi(owner, "churn", "prod",
                            KpiCreate(name="retention_rate", value=0.8, at=START + 10))  # fmt: skip
    churn.outcomes.push_kpi(owner, "churn", "prod",
                            KpiCreate(name="retention_rate", value=0.7, at=START + 20))  # fmt: skip
    kpi = figures("kpi", "retention_rate")
    assert (kpi.figures["value"], kpi.samples, kpi.judged) == (0.7, 2, True)
    assert not figures("kpi", "retention_rate", f"{MODEL}@1").judged  # none for that version
    with pytest.raises(errors.InvalidInput, match="no figures of kind"):
        figures("feature-drift", "x")


def test_a_request_of_several_rows_takes_a_label_per_row(churn: Services) -> None:
    import io
    import json

    table = pa.table({
        "request_id": ["multi-1"], "at": pa.array([START + 5], pa.int64()),
        "deployment": [f"{MODEL}@1"], "model": [MODEL], "version": pa.array([1], pa.int64()),
        "status": pa.array([200], pa.int32()), "latency_ms": [1.0],
        "inputs": [json.dumps({"columns": ["tenure", "sex"], "data": [[1, "f"], [2, "m"]]},
                              separators=(",", ":"))],
        "output": [json.dumps([[0.2, 0.8], [0.9, 0.1]])],
    })  # fmt: skip
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    churn.predictions.ship(churn.owner, "churn", "prod", gateway="gw-2", batch="m-1",
                           body=sink.getvalue())  # fmt: skip
    receipt = add(churn, labels_table(["multi-1", "multi-1", "multi-1"], [1, 0, 1],
                                      row=pa.array([0, 1, 2], pa.int64())))  # fmt: skip
    assert (receipt.rows, receipt.matched, receipt.unknown) == (3, 2, 1)  # no third row
    window = windows_by_key(churn)[(1, START)]
    assert (window.samples, window.positives, window.metrics["accuracy"]) == (2, 1, 1.0)


def test_a_performance_monitor_reads_the_realised_figure(
    churn: Services, settings: Settings
) -> None:
    from tandem.monitoring.models import MonitorSpec, SignalKind

    register(settings, count=1)
    logged = predictions(600)
    y = logged.outcomes()
    first = logged.at < START + HOUR
    add(churn, labels_table(logged.where(first).request_id, y[first]))
    churn.monitoring.create(churn.owner, "churn", MonitorSpec(
        name="auc", endpoint="prod", version=f"{MODEL}@1", kind=SignalKind.PERFORMANCE,
        window="1h", params={"metric": "roc_auc", "min_samples": 1},
        condition="roc_auc < 0.5",
    ))  # fmt: skip
    summary = churn.monitoring.check(churn.owner, "churn", "auc", now=START + 2 * HOUR + 120_000)
    by_start = {r.window_start: r for r in summary.results}
    ones = first & (logged.version == 1)
    labelled = by_start[START]
    assert labelled.value == pytest.approx(roc_auc_score(y[ones], logged.p[ones]))
    assert labelled.breached is False and labelled.samples == int(ones.sum())
    assert by_start[START + HOUR].breached is None  # no labels there yet: no data
