"""Evidence that cannot be trusted is refused, not served: evaluation reports are checked on the
way in and read defensively on the way out (and admins can delete a bad one); blobs are verified
before they are served and never read through a symbolic link; gc knows which columns reference
blobs whatever was imported, and refuses to run knowing none.

Over HTTP against a real uvicorn server on loopback (`live_url`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from evidence_world import LARGE, SMALL, World, build_world, full_report, overwrite
from sqlalchemy import select, update

from tandem.core.config import Settings
from tandem.errors import IntegrityError, PermissionDenied
from tandem.evaluation.tables import evaluations
from tandem.lineage.models import NodeKind
from tandem.lineage.tables import lineage_nodes
from tandem.sdk.client import Client
from tandem.server.container import Services
from tandem.server.schema import TABLE_MODULES, blob_references
from tandem.store.blob_index import BlobIndex

API = "/api/v1/projects/churn"
PAGE = "/projects/churn/models/churn/versions/1"
CARD = API + "/models/churn/versions/1/card"
FORM_TOKEN = "evidence-form-token"


@pytest.fixture
def world(services: Services, tmp_path: Path) -> World:
    return build_world(services, tmp_path)


@pytest.fixture
def http(live_url: str) -> Any:
    with httpx.Client(base_url=live_url, timeout=60) as client:
        yield client


def evaluation_ids(world: World) -> list[str]:
    with world.services.db.read() as conn:
        return list(conn.execute(select(evaluations.c.id).order_by(evaluations.c.pk)).scalars())


def record_body(report: Any) -> dict[str, Any]:
    return {"model": "churn@1", "dataset": "holdout@v1", "target": "y", "report": report}


# -- evaluation reports --------------------------------------------------------------------------


def test_a_report_that_does_not_fit_the_schema_is_refused_and_nothing_stored(
    world: World, http: httpx.Client
) -> None:
    before = evaluation_ids(world)
    good = full_report()
    no_count = json.loads(json.dumps(good))
    del no_count["slices"]["gender"]["F"]["count"]
    text_figure = {**good, "overall": {**good["overall"], "roc_auc": "0.9"}}
    broken_fairness = {**good, "fairness": {"gender": {"groups": {}}}}
    stray_key = {**good, "remarks": "looks fine"}
    no_task = {k: v for k, v in good.items() if k != "task"}
    for report, where in [
        (no_count, "report.slices.gender.F"),
        (text_figure, "report.overall.roc_auc"),
        (broken_fairness, "report.fairness.gender"),
        (stray_key, "report.remarks"),
        (no_task, "report.task"),
    ]:
        response = http.post(
            API + "/evaluations", json=record_body(report), headers=world.headers("ds")
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "invalid-input"
        assert problem["detail"].startswith(where)
        assert any(e["location"].startswith(where) for e in problem["details"]["errors"])
    # permission comes first: a viewer hears 403 whatever the report holds
    refused = http.post(
        API + "/evaluations", json=record_body(no_count), headers=world.headers("viewer")
    )
    assert refused.status_code == 403
    assert evaluation_ids(world) == before
    accepted = http.post(API + "/evaluations", json=record_body(good), headers=world.headers("ds"))
    assert accepted.status_code == 201, accepted.text


OLD_SHAPE = {
    "task": "binary",
    "rows": 400,
    "threshold": 0.5,
    "overall": {"roc_auc": 0.81, "f1": 0.7},
    "slices": {
        "gender": {"F": {"roc_auc": 0.8}, "M": {"roc_auc": 0.82}},  # no count
        "region": {"north": {"count": 10.0, "roc_auc": 0.7}},
    },
    "fairness": {"gender": {"demographic_parity_difference": None}},  # no groups
    "calibration": {"ece": "small"},
    "bootstrap": {"confidence": 0.95, "metrics": {"roc_auc": {"low": 0.7}}},
    "baseline": {"difference": {"roc_auc": {"mean": None, "p_value": 0.2}}},
    "latency": {"p50_ms": "fast", "p99_ms": 2.0},
    "curves": [1, 2],
}


def store_directly(world: World, evaluation_id: str, text: str) -> None:
    """Overwrite a stored report, bypassing the service (data from before it checked)."""
    with world.services.db.write() as conn:
        conn.execute(
            update(evaluations).where(evaluations.c.id == evaluation_id).values(report=text)
        )


@pytest.mark.parametrize("stored", ["old-shape", "not-json"])
def test_a_stored_report_from_before_validation_does_not_break_the_page_or_card(
    world: World, http: httpx.Client, stored: str
) -> None:
    text = orjson.dumps(OLD_SHAPE).decode() if stored == "old-shape" else '{"task": "bin'
    store_directly(world, world.evaluation_id, text)
    headers = world.headers("viewer")
    page = http.get(PAGE, headers=headers)
    assert page.status_code == 200, page.text[-2000:]
    assert "left out as unreadable" in page.text
    for fmt in ("json", "markdown", "html"):
        card = http.get(CARD, params={"format": fmt}, headers=headers)
        assert card.status_code == 200, (fmt, card.text[-2000:])
    assert http.get("/projects/churn/models/churn", headers=headers).status_code == 200
    got = http.get(f"{API}/evaluations/{world.evaluation_id}", headers=headers).json()
    if stored == "not-json":
        assert got["report"] == {} and got["unreadable"] == ["report"]
        return
    # what fits is kept; what does not is named, and left out
    assert got["report"]["overall"] == OLD_SHAPE["overall"]
    assert got["report"]["slices"] == {"region": OLD_SHAPE["slices"]["region"]}
    assert set(got["unreadable"]) == {
        "slices.gender", "fairness.gender", "calibration", "bootstrap", "baseline", "latency",
        "curves",
    }  # fmt: skip
    markdown = http.get(CARD, params={"format": "markdown"}, headers=headers).text
    assert "| north | 10 |" in markdown and "slices.gender" in markdown
    scorecard = http.get(f"{API}/models/churn/versions/1/scorecard", headers=headers)
    assert scorecard.status_code == 200, scorecard.text


def test_null_figures_in_a_valid_report_render(world: World, http: httpx.Client) -> None:
    """Undefined figures are null in JSON; the page and card show a dash, not a 500."""
    report = full_report()
    report["latency"] = {"p50_ms": None, "p99_ms": None, "rows_per_second": None}
    report["calibration"]["ece"] = None
    report["fairness"]["gender"]["demographic_parity_difference"] = None
    for figures in report["baseline"]["difference"].values():
        figures["mean"] = None
    recorded = http.post(
        API + "/evaluations", json=record_body(report), headers=world.headers("ds")
    )
    assert recorded.status_code == 201, recorded.text
    assert http.get(PAGE, headers=world.headers("viewer")).status_code == 200
    card = http.get(CARD, params={"format": "markdown"}, headers=world.headers("viewer"))
    assert card.status_code == 200 and "p50 - ms" in card.text


def test_admins_delete_an_evaluation_and_nobody_else_may(
    world: World, http: httpx.Client, live_url: str, settings: Settings
) -> None:
    target = f"{API}/evaluations/{world.evaluation_id}"
    for who in ("viewer", "ds"):
        response = http.delete(target, headers=world.headers(who))
        assert response.status_code == 403, (who, response.text)
        assert response.json()["code"] == "permission-denied"
        page = http.get(PAGE, headers=world.headers(who)).text
        assert world.evaluation_id in page and "Delete evaluation" not in page
    assert evaluation_ids(world) == [world.evaluation_id]

    # the project admin sees the button on the page, and the form deletes it
    page = http.get(PAGE, headers=world.headers("padmin")).text
    action = f"/projects/churn/evaluations/{world.evaluation_id}/delete"
    assert "Delete evaluation" in page and action in page
    http.cookies.set("tandem_login_csrf", FORM_TOKEN)  # the double-submit cookie of a form
    forged = http.post(action, data={"csrf_token": "wrong"}, headers=world.headers("padmin"))
    assert forged.status_code == 403 and evaluation_ids(world) == [world.evaluation_id]
    posted = http.post(action, data={"csrf_token": FORM_TOKEN}, headers=world.headers("padmin"))
    assert posted.status_code == 303 and posted.headers["location"].startswith(PAGE)
    after = http.get(posted.headers["location"], headers=world.headers("padmin"))
    assert world.evaluation_id not in after.text and "The evaluation was deleted" in after.text
    assert evaluation_ids(world) == []
    assert http.get(target, headers=world.headers("padmin")).status_code == 404
    assert http.delete(target, headers=world.headers("padmin")).status_code == 404
    with world.services.db.read() as conn:  # its lineage node went with it
        nodes = conn.execute(
            select(lineage_nodes.c.pk).where(lineage_nodes.c.kind == NodeKind.EVALUATION.value)
        ).all()
    assert nodes == []

    # the workspace admin, through the REST API and the SDK
    report = full_report()
    ids = [
        http.post(API + "/evaluations", json=record_body(report), headers=world.headers("ds"))
        .json()["id"] for _ in range(2)
    ]  # fmt: skip
    response = http.delete(f"{API}/evaluations/{ids[0]}", headers=world.headers("wsadmin"))
    assert response.status_code == 204
    with (
        Client(live_url, world.tokens["ds"], settings=settings) as ds,
        pytest.raises(PermissionDenied),
    ):
        ds.evaluations.delete(ids[1], project="churn")
    with Client(live_url, world.tokens["padmin"], settings=settings) as padmin:
        padmin.evaluations.delete(ids[1], project="churn")
        assert padmin.evaluations.list("churn/churn") == []

    events = http.get(
        "/api/v1/audit", params={"project": "churn", "action": "evaluation.delete"},
        headers=world.headers("padmin"),
    ).json()["items"]  # fmt: skip
    deleted = {(e["target"], e["actor"], e["outcome"]) for e in events}
    assert deleted == {
        (world.evaluation_id, "padmin", "ok"), (ids[0], "wsadmin", "ok"), (ids[1], "padmin", "ok")
    }  # fmt: skip
    assert all(e["details"]["model"] == "churn@1" for e in events)


def test_the_cli_deletes_an_evaluation(
    world: World, live_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "cli"))
    from cli_helpers import run_cli

    from tandem.cli import output

    monkeypatch.setenv("TANDEM_URL", live_url)
    monkeypatch.setenv("TANDEM_PROJECT", "churn")
    output.OPTIONS.update(url=None, project=None)
    try:
        monkeypatch.setenv("TANDEM_TOKEN", world.tokens["ds"])
        output.reset_client()
        refused = run_cli("models", "delete-evaluation", world.evaluation_id)
        assert refused.code == 5 and len(refused.stderr_lines) == 1
        assert "may not project:write" in refused.stderr
        monkeypatch.setenv("TANDEM_TOKEN", world.tokens["padmin"])
        output.reset_client()
        done = run_cli("models", "delete-evaluation", world.evaluation_id)
        assert done.code == 0, done.stderr
        assert f"deleted evaluation {world.evaluation_id}" in done.stdout
    finally:
        output.reset_client()
    assert evaluation_ids(world) == []


# -- blobs ---------------------------------------------------------------------------------------


def artifact_url(world: World, path: str) -> str:
    return f"/api/v1/runs/{world.run_id}/artifacts/{path}"


def test_untouched_blobs_are_served_whole(world: World, http: httpx.Client) -> None:
    for path, data in (("small.txt", SMALL), ("large.bin", LARGE)):
        response = http.get(artifact_url(world, path), headers=world.headers("viewer"))
        assert response.status_code == 200 and response.content == data


def test_a_small_tampered_blob_is_an_error_before_any_byte(
    world: World, http: httpx.Client, live_url: str
) -> None:
    tampered = SMALL.replace(b"recorded", b"tampered")
    overwrite(world.blob_path(SMALL), tampered)
    response = http.get(artifact_url(world, "small.txt"), headers=world.headers("viewer"))
    assert response.status_code == 500
    assert response.json()["code"] == "integrity-error"
    assert b"tampered" not in response.content
    # curl, as a user would fetch it: an HTTP error, none of the wrong bytes
    curl = subprocess.run(
        ["curl", "-sS", "--fail", "-H", f"authorization: Bearer {world.tokens['viewer']}",
         live_url + artifact_url(world, "small.txt")],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert curl.returncode == 22 and b"tampered" not in curl.stdout


def test_a_large_tampered_blob_is_cut_short(
    world: World, http: httpx.Client, live_url: str
) -> None:
    tampered = bytearray(LARGE)
    tampered[len(LARGE) // 2] ^= 0xFF  # same size, one byte changed
    overwrite(world.blob_path(LARGE), bytes(tampered))
    url = artifact_url(world, "large.bin")
    received = bytearray()
    with http.stream("GET", url, headers=world.headers("viewer")) as response:
        assert response.status_code == 200  # the status line went out before the end was read
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in response.iter_raw():
                received += chunk
    assert len(received) < len(LARGE)  # never the whole of the wrong bytes
    curl = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-H",
         f"authorization: Bearer {world.tokens['viewer']}", live_url + url],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert curl.returncode == 18, curl.stderr  # "transfer closed with outstanding read data"


def test_the_embedded_sdk_raises_the_integrity_error(world: World, settings: Settings) -> None:
    """In process there is no connection to cut: the error itself reaches the caller."""
    from tandem.server import embedded

    tampered = bytearray(LARGE)
    tampered[7] ^= 0xFF
    overwrite(world.blob_path(LARGE), bytes(tampered))
    overwrite(world.blob_path(SMALL), SMALL.upper())
    sdk = Client(settings=settings)
    try:
        for path in ("large.bin", "small.txt"):
            with pytest.raises(IntegrityError, match="corrupt"):
                sdk.runs.read_artifact(world.run_id, path)
    finally:
        sdk.close()
        embedded.close_all()


def test_a_symlink_planted_in_the_store_is_not_followed(
    world: World, http: httpx.Client, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not a blob: the server's own secrets")
    blob = world.blob_path(SMALL)
    blob.unlink()
    blob.symlink_to(secret)
    response = http.get(artifact_url(world, "small.txt"), headers=world.headers("viewer"))
    assert response.status_code == 500 and response.json()["code"] == "integrity-error"
    assert b"secrets" not in response.content and "symbolic link" in response.json()["detail"]

    # the fan-out directory replaced by a link to a copy elsewhere: refused too
    folder = world.blob_path(LARGE).parent
    elsewhere = tmp_path / "elsewhere"
    folder.rename(elsewhere)
    folder.symlink_to(elsewhere, target_is_directory=True)
    response = http.get(artifact_url(world, "large.bin"), headers=world.headers("viewer"))
    assert response.status_code == 500 and response.json()["code"] == "integrity-error"
    assert len(response.content) < 1000


def test_a_tampered_blob_previews_as_an_error(world: World, http: httpx.Client) -> None:
    overwrite(world.blob_path(SMALL), SMALL.replace(b"recorded", b"tampered"))
    page = http.get(
        f"/projects/churn/runs/{world.run_id}", params={"preview": "small.txt"},
        headers=world.headers("viewer"),
    )  # fmt: skip
    assert page.status_code == 200
    assert "failed verification" in page.text and "tampered" not in page.text
    image = http.get(
        f"/projects/churn/runs/{world.run_id}/preview/small.txt", headers=world.headers("viewer")
    )
    assert image.status_code == 409 and "failed verification" in image.text
    # a large blob's head is shown only once the whole of it has been verified
    tampered = bytearray(LARGE)
    tampered[-1] ^= 0xFF
    overwrite(world.blob_path(LARGE), bytes(tampered))
    page = http.get(
        f"/projects/churn/runs/{world.run_id}", params={"preview": "large.bin"},
        headers=world.headers("viewer"),
    )  # fmt: skip
    assert page.status_code == 200 and "failed verification" in page.text


# -- gc ------------------------------------------------------------------------------------------

GC_ALONE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import tandem.gc.service as gc
    from tandem.audit.service import AuditLog
    from tandem.audit.store import AuditStore
    from tandem.core.auth import Authorizer, Principal
    from tandem.gc.models import GcRequest
    from tandem.server.schema import blob_references
    from tandem.store.blob_index import BlobIndex
    from tandem.store.blobs import LocalBlobStore
    from tandem.store.db import Database

    services = sorted(m for m in sys.modules if m.startswith("tandem.") and m.endswith(".service"))
    db = Database(sys.argv[1])
    auth = Authorizer()
    collector = gc.GcService(
        db, LocalBlobStore(Path(sys.argv[2])), BlobIndex(db, blob_references()), auth,
        AuditLog(db, AuditStore(db), auth),
    )
    report = collector.collect(Principal.local_owner(), GcRequest(grace_seconds=0))
    print(json.dumps({"services": services, "deleted": report.blobs_deleted}))
    """
)


def test_gc_imported_alone_keeps_every_referenced_blob(
    world: World, services: Services, settings: Settings
) -> None:
    garbage = services.blobs.put_stream([b"referenced by nothing"])
    with services.db.write() as conn:
        services.tracking.blob_index.touch(conn, garbage.oid, garbage.size, 0)
    referenced = [world.blob_path(SMALL), world.blob_path(LARGE)]
    store = Path(settings.artifacts)
    referenced += [store / o[:2] / o[2:] for o in (world.dataset_oid, world.model_oid)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", GC_ALONE, settings.database_url, settings.artifacts],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # none of the services that hold blobs was imported (they used to register the references)
    assert "tandem.gc.service" in result["services"]
    assert not {"tandem.tracking.service", "tandem.data.service", "tandem.registry.service"} & set(
        result["services"]
    )
    assert result["deleted"] == 1  # the garbage, and nothing else
    assert all(path.is_file() for path in referenced)
    assert not (store / garbage.oid[:2] / garbage.oid[2:]).exists()


def test_gc_refuses_to_run_knowing_no_references(
    world: World, services: Services, http: httpx.Client
) -> None:
    services.gc.blob_index = BlobIndex(services.db, references=())
    services.tracking.delete_run(services.owner, world.run_id)
    response = http.post("/api/v1/gc", json={"grace_seconds": 0}, headers=world.headers("wsadmin"))
    assert response.status_code == 500
    assert "refusing to run" in response.json()["detail"]
    assert world.blob_path(SMALL).is_file() and world.blob_path(LARGE).is_file()
    run = http.get(f"/api/v1/runs/{world.run_id}", headers=world.headers("wsadmin"))
    assert run.status_code == 200  # not purged either: gc did nothing at all


def test_every_tables_module_is_loaded_for_the_references() -> None:
    root = Path(__file__).parents[2] / "src"
    found = {
        ".".join(p.relative_to(root).with_suffix("").parts)
        for p in (root / "tandem").rglob("tables.py")
    }
    assert found == {module.__name__ for module in TABLE_MODULES}
    names = {f"{c.table.name}.{c.name}" for c in blob_references()}
    assert names == {
        "artifacts.oid",
        "dataset_files.oid",
        "model_version_files.oid",
        "prediction_segments.oid",
        "outcome_label_batches.oid",
    }


# -- blobs in S3 ---------------------------------------------------------------------------------


@pytest.fixture
def s3_services(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A workspace whose blobs live in moto's S3 server on loopback."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)  # the settings fixture clears TANDEM_*
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="evidence")
    built = Services.build(settings.with_(artifacts="s3://evidence/blobs"))
    try:
        yield built, s3
    finally:
        built.close()
        server.stop()


def test_blobs_in_s3_are_verified_before_they_are_served(
    s3_services: Any, serve: Any, tmp_path: Path
) -> None:
    from blake3 import blake3

    from tandem.projects.models import ProjectCreate
    from tandem.server.app import create_app
    from tandem.tracking.models import RunCreate

    services, s3 = s3_services
    owner = services.owner
    services.projects.create(owner, ProjectCreate(name="churn"))
    run = services.tracking.create_run(owner, "churn", RunCreate(name="s3"))
    for name, data in (("small.txt", SMALL), ("large.bin", LARGE)):
        (tmp_path / name).write_bytes(data)
        services.tracking.upload_artifact(owner, run.id, name, tmp_path / name)
    with (
        serve(create_app(services=services, allow_open=True)) as url,
        httpx.Client(base_url=url) as http,
    ):
        assert http.get(f"/api/v1/runs/{run.id}/artifacts/small.txt").content == SMALL
        for data in (SMALL, LARGE):  # tampered in the bucket, same size
            oid = blake3(data).hexdigest()
            changed = bytearray(data)
            changed[len(data) // 2] ^= 0xFF
            s3.put_object(Bucket="evidence", Key=f"blobs/{oid[:2]}/{oid[2:]}", Body=bytes(changed))
        response = http.get(f"/api/v1/runs/{run.id}/artifacts/small.txt")
        assert response.status_code == 500 and response.json()["code"] == "integrity-error"
        received = bytearray()
        with (
            http.stream("GET", f"/api/v1/runs/{run.id}/artifacts/large.bin") as response,
            pytest.raises(httpx.RemoteProtocolError),
        ):
            for chunk in response.iter_raw():
                received += chunk
        assert len(received) < len(LARGE)
