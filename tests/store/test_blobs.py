"""Both blob stores, one suite: a local folder, and S3 served by a real S3-compatible server
(moto's) on loopback."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from blake3 import blake3
from moto.server import ThreadedMotoServer

from tandem.errors import IntegrityError, InvalidInput, NotFound, ServerError
from tandem.store import s3
from tandem.store.blobs import BlobStore, LocalBlobStore, open_blob_store
from tandem.store.oid import Oid
from tandem.store.s3 import S3BlobStore

BUCKET = "tandem-test"
PART = 5 * 2**20  # S3's smallest part size: files above it take the multipart path in these tests


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
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TANDEM_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_endpoint


@pytest.fixture(params=["local", "s3"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BlobStore]:
    if request.param == "local":
        yield open_blob_store(str(tmp_path / "blobs"))
        return
    endpoint = request.getfixturevalue("s3_env")
    monkeypatch.setattr(s3, "MULTIPART_THRESHOLD", PART)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=BUCKET)
    yield open_blob_store(f"s3://{BUCKET}/team/{request.node.name.replace('[', '-')[:40]}")
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])


def corrupt(store: BlobStore, oid: str) -> None:
    """Replace a stored blob's bytes behind the store's back."""
    if isinstance(store, LocalBlobStore):
        path = store.root / oid[:2] / oid[2:]
        path.chmod(0o644)
        path.write_bytes(b"tampered")
    else:
        assert isinstance(store, S3BlobStore)
        store.client.put_object(Bucket=store.bucket, Key=store._key(oid), Body=b"tampered")


def test_round_trip_is_addressed_by_blake3(store: BlobStore) -> None:
    data = b"hello tandem" * 1000
    info = store.put_stream([data[:5000], data[5000:]])
    assert info.oid == blake3(data).hexdigest()
    assert info.size == len(data)
    assert store.exists(info.oid)
    assert store.size(info.oid) == len(data)
    assert b"".join(store.read(info.oid)) == data


def test_same_bytes_are_stored_once(
    store: BlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.put_stream([b"same"])
    inode = None
    if isinstance(store, LocalBlobStore):  # the blob must not be rewritten
        inode = (store.root / first.oid[:2] / first.oid[2:]).stat().st_ino
    else:  # the second put must not upload at all
        assert isinstance(store, S3BlobStore)

        def no_upload(*args: object, **kwargs: object) -> None:
            raise AssertionError("uploaded bytes the bucket already holds")

        monkeypatch.setattr(store.client, "upload_file", no_upload)
    source = tmp_path / "same.txt"
    source.write_bytes(b"same")
    assert store.put_file(source) == first
    assert store.put_stream([b"sa", b"me"]) == first
    assert [blob.oid for blob in store.list()] == [first.oid]
    if isinstance(store, LocalBlobStore):
        assert (store.root / first.oid[:2] / first.oid[2:]).stat().st_ino == inode


@pytest.mark.parametrize("size", [0, 1, PART + 2**20 + 17])
def test_put_file_sizes(store: BlobStore, tmp_path: Path, size: int) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(size))
    info = store.put_file(source)
    assert info.size == size
    assert info.oid == blake3(source.read_bytes()).hexdigest()
    assert store.size(info.oid) == size
    assert b"".join(store.read(info.oid)) == source.read_bytes()
    if isinstance(store, S3BlobStore):  # a multipart upload's ETag ends in -<number of parts>
        etag = store.client.head_object(Bucket=store.bucket, Key=store._key(info.oid))["ETag"]
        assert etag.strip('"').endswith("-2") == (size > PART)


def test_unknown_oid_is_not_found(store: BlobStore) -> None:
    oid = Oid(blake3(b"never stored").hexdigest())
    assert not store.exists(oid)
    with pytest.raises(NotFound):
        store.size(oid)
    with pytest.raises(NotFound):
        b"".join(store.read(oid))
    store.delete(oid)  # deleting what is not there is not an error


def test_corruption_is_detected_on_read(store: BlobStore) -> None:
    info = store.put_stream([b"precious model weights"])
    corrupt(store, info.oid)
    with pytest.raises(IntegrityError, match="corrupt"):
        b"".join(store.read(info.oid))


def test_delete_and_list(store: BlobStore) -> None:
    kept = store.put_stream([b"kept"])
    gone = store.put_stream([b"gone"])
    store.delete(gone.oid)
    assert not store.exists(gone.oid)
    listed = {blob.oid: blob for blob in store.list()}
    assert set(listed) == {kept.oid}
    assert listed[kept.oid].size == 4
    assert listed[kept.oid].modified > 0


def test_failed_stream_leaves_nothing(
    store: BlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"  # where the S3 store spools uploads
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))

    def chunks() -> Iterator[bytes]:
        yield b"partial"
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        store.put_stream(chunks())
    assert list(store.list()) == []
    assert list(spool.iterdir()) == []
    if isinstance(store, LocalBlobStore):
        assert list((store.root / "tmp").iterdir()) == []


@pytest.mark.parametrize("location", ["ftp://host/x", "s3://", "s3:///prefix", "gs://bucket"])
def test_bad_locations(location: str) -> None:
    with pytest.raises(InvalidInput):
        open_blob_store(location)


def test_unreachable_s3_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_S3_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = open_blob_store("s3://nowhere/x")
    with pytest.raises(ServerError, match="nowhere"):
        store.put_stream([b"x"])


def test_custom_endpoint_uploads_without_crc_headers(s3_env: str, tmp_path: Path) -> None:
    """botocore >= 1.36 adds CRC checksum headers that many S3-compatible servers reject."""
    boto3.client("s3", endpoint_url=s3_env).create_bucket(Bucket=BUCKET)
    store = open_blob_store(f"s3://{BUCKET}/crc")
    assert isinstance(store, S3BlobStore)
    sent: list[str] = []
    store.client.meta.events.register(
        "before-send.s3", lambda request, **_: sent.extend(request.headers.keys())
    )
    store.put_stream([b"no crc please"])
    assert sent
    assert not [name for name in sent if "checksum" in name.lower()]


def test_missing_bucket_is_a_clear_error(s3_env: str) -> None:
    store = open_blob_store("s3://no-such-bucket/x")
    with pytest.raises(ServerError, match="no-such-bucket"):
        store.put_stream([b"x"])
    with pytest.raises(ServerError, match="no-such-bucket"):
        list(store.list())


def test_workspace_on_s3_end_to_end(s3_env: str, tmp_path: Path) -> None:
    """The whole product on S3: upload through the SDK, download verified, gc frees."""
    from tandem.core.config import Settings
    from tandem.sdk.client import Client
    from tandem.server import embedded

    boto3.client("s3", endpoint_url=s3_env).create_bucket(Bucket="workspace")
    home = tmp_path / ".tandem"
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'tandem.db'}",
        artifacts="s3://workspace/artifacts",
    )
    client = Client(settings=settings)
    try:
        run = client.runs.create("churn")
        artifact = client.runs.upload_bytes(run.id, b"model bytes", "model/weights.bin")
        assert client.runs.read_artifact(run.id, "model/weights.bin") == b"model bytes"
        keys = [
            item["Key"]
            for item in boto3.client("s3", endpoint_url=s3_env)
            .list_objects_v2(Bucket="workspace")
            .get("Contents", [])
        ]
        assert keys == [f"artifacts/{artifact.oid[:2]}/{artifact.oid[2:]}"]
        client.runs.delete(run.id)
        assert client.gc(grace_seconds=0).blobs_deleted == 1
    finally:
        embedded.close_all()
