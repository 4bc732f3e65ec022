"""gc and datasets: a deleted dataset is purged and frees the blobs only it held, never one
another dataset or a run still holds; uploads staged for a version that never came are freed."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tandem.sdk.client import Client
from tandem.server.container import Services


def blob_oids(services: Services) -> set[str]:
    return {blob.oid for blob in services.blobs.list()}


def test_gc_purges_a_deleted_dataset_and_keeps_shared_content(
    client: Client, tmp_path: Path, services: Services
) -> None:
    client.projects.create("churn")
    shared, own = os.urandom(1000), os.urandom(1000)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "shared.bin").write_bytes(shared)
    (tmp_path / "a" / "own.bin").write_bytes(own)
    (tmp_path / "b" / "shared.bin").write_bytes(shared)
    doomed = client.data.add("doomed", tmp_path / "a", project="churn")
    client.data.add("kept", tmp_path / "b", project="churn")
    oids = {f.path: f.oid for f in client.data.version("churn/doomed@v1").files or []}
    with client.start_run(project="churn", name="r") as run:
        run.use_dataset("doomed@v1", role="train")
    assert doomed.version == 1

    client.data.delete("doomed", "churn")
    report = client.gc(older_than_seconds=0, grace_seconds=0)
    assert report.blobs_deleted >= 1
    remaining = blob_oids(services)
    assert oids["own.bin"] not in remaining  # only the purged dataset held it
    assert oids["shared.bin"] in remaining  # "kept" still holds it
    assert client.data.of_run(run.id) == []  # the run's link went with the dataset
    out = tmp_path / "out"
    client.data.download("churn/kept@v1", out)
    assert (out / "shared.bin").read_bytes() == shared


def test_gc_frees_uploads_staged_for_a_version_that_never_came(
    services: Services, tmp_path: Path
) -> None:
    from tandem.projects.models import ProjectCreate

    owner = services.owner
    services.projects.create(owner, ProjectCreate(name="churn"))
    upload = tmp_path / "upload.bin"
    upload.write_bytes(os.urandom(5000))
    staged = services.data.upload_blob(owner, "churn", upload)
    staging = services.settings.home / "staging"
    assert (staging / staged.oid).is_file()
    assert staged.oid not in blob_oids(services)  # staged, not stored

    from tandem.gc.models import GcRequest

    time.sleep(0.01)
    report = services.gc.collect(owner, GcRequest(older_than_seconds=0, grace_seconds=0))
    assert report.blobs_deleted == 1 and report.bytes_freed == 5000
    assert not (staging / staged.oid).exists()
    assert services.data.missing_blobs(owner, "churn", [staged.oid]) == [staged.oid]
