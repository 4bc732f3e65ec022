"""Datasets and S3, against a real S3-compatible server (moto's) on loopback: a version added
from an `s3://` prefix, and a workspace whose blobs live in S3 (profiles and validation read
the stored blobs back from it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tandem.core.config import Settings
from tandem.errors import NotFound
from tandem.projects.models import ProjectCreate
from tandem.sdk.client import Client
from tandem.server.container import Services

BUCKET = "lake"
REAL_DATA = Path(os.environ.get("TANDEM_REAL_DATA", "/work/shared/data"))


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)  # the settings fixture clears TANDEM_*
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def test_a_version_from_an_s3_prefix(s3, settings: Settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # the server may read this prefix (TANDEM_DATA_ROOTS=s3://lake/churn)
    services = Services.build(settings.with_(data_s3_roots=(f"s3://{BUCKET}/churn",)))
    telco = (REAL_DATA / "telco-churn.csv").read_bytes()
    half = telco.splitlines(keepends=True)
    header, rows = half[0], half[1:]
    s3.put_object(Bucket=BUCKET, Key="churn/2026/part-1.csv", Body=header + b"".join(rows[:3000]))
    s3.put_object(Bucket=BUCKET, Key="churn/2026/part-2.csv", Body=header + b"".join(rows[3000:]))
    s3.put_object(Bucket=BUCKET, Key="churn/2025/old.csv", Body=header)
    owner = services.owner
    services.projects.create(owner, ProjectCreate(name="churn"))
    version = services.data.add_from_path(owner, "churn", "telco", f"s3://{BUCKET}/churn/2026/")
    assert (version.file_count, version.rows, version.format) == (2, 7043, "csv")
    details = services.data.get_version(owner, "churn/telco@v1")
    assert [f.path for f in details.files or []] == ["part-1.csv", "part-2.csv"]
    again = services.data.add_from_path(owner, "churn", "telco", f"s3://{BUCKET}/churn/2026")
    assert (again.version, again.created) == (1, False)
    with pytest.raises(NotFound, match="no objects"):
        services.data.add_from_path(owner, "churn", "none", f"s3://{BUCKET}/churn/nothing/")
    assert not any((services.settings.home / "tmp").iterdir())  # downloads cleaned up
    services.close()


def test_a_workspace_with_blobs_in_s3(s3, settings: Settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = settings.with_(artifacts=f"s3://{BUCKET}/blobs")
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "telco.csv").write_bytes((REAL_DATA / "telco-churn.csv").read_bytes())
    with Client(settings=settings) as client:
        client.projects.create("churn")
        v1 = client.data.add("telco", folder / "telco.csv", project="churn")
        assert v1.rows == 7043
        stored = s3.list_objects_v2(Bucket=BUCKET, Prefix="blobs/")["KeyCount"]
        assert stored == 1
        # validating reads the stored blob back from S3
        draft = client.data.draft_contract("churn/telco@v1")
        result = client.data.validate("churn/telco@v1", contract=draft)
        assert result["rows"] == 7043
        out = tmp_path / "out"
        client.data.download("churn/telco@v1", out)
        assert (out / "telco.csv").read_bytes() == (folder / "telco.csv").read_bytes()
    from tandem.server import embedded

    embedded.close_all()


def test_storing_a_file_in_s3_and_refusing_one_that_changed(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The store trusts the hash the ingest just took (hash once, upload once); a file that
    changes after it was found is refused and nothing is stored under its old name."""
    from tandem.data import ingest
    from tandem.errors import InvalidInput
    from tandem.store.blobs import open_blob_store

    store = open_blob_store(f"s3://{BUCKET}/blobs")
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "part.bin"
    path.write_bytes(os.urandom(3 << 20))
    [found] = ingest.discover(path, [folder], forbidden=())
    info = ingest.store_file(store, found)
    assert b"".join(store.read(info.oid)) == path.read_bytes()

    [found] = ingest.discover(path, [folder], forbidden=())
    path.write_bytes(os.urandom(1 << 20))  # rewritten after it was found
    with pytest.raises(InvalidInput, match="changed while it was being added"):
        ingest.store_file(store, found)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="blobs/")["KeyCount"] == 1
