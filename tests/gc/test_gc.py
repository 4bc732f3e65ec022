"""gc frees what nothing references, and never what something still does."""

from __future__ import annotations

import os
import time

import pytest

from tandem import errors
from tandem.sdk.client import Client
from tandem.server.container import Services


def blob_count(services: Services) -> int:
    return sum(1 for _ in services.blobs.list())


def test_gc_frees_only_unreferenced_blobs(client: Client, services: Services) -> None:
    doomed = client.runs.create("churn")
    kept = client.runs.create("churn")
    client.runs.upload_bytes(doomed.id, b"only in the doomed run", "a.txt")
    client.runs.upload_bytes(doomed.id, b"shared by both runs", "shared.txt")
    client.runs.upload_bytes(kept.id, b"shared by both runs", "copy.txt")
    assert blob_count(services) == 2

    # Soft delete first: nothing is freed while the run can still be restored.
    client.runs.delete(doomed.id)
    report = client.gc(older_than_seconds=3600, grace_seconds=0)
    assert report.runs_purged == 0 and report.blobs_deleted == 0
    assert blob_count(services) == 2

    dry = client.gc(grace_seconds=0, dry_run=True)
    assert dry.dry_run and dry.runs_purged == 1
    assert dry.blobs_deleted == 1  # exactly what the real run frees, below
    assert client.runs.get(doomed.id).deleted_at is not None  # a dry run changes nothing
    assert blob_count(services) == 2

    report = client.gc(grace_seconds=0)
    assert report.runs_purged == 1
    assert report.blobs_deleted == 1
    assert report.bytes_freed == len(b"only in the doomed run")
    assert blob_count(services) == 1
    with pytest.raises(errors.NotFound):
        client.runs.get(doomed.id)
    assert client.runs.read_artifact(kept.id, "copy.txt") == b"shared by both runs"


def test_grace_period_protects_recent_blobs(client: Client, services: Services) -> None:
    run = client.runs.create("churn")
    client.runs.upload_bytes(run.id, b"soon gone", "x.txt")
    client.runs.delete(run.id)
    report = client.gc()  # default grace: one hour
    assert report.runs_purged == 1 and report.blobs_deleted == 0
    assert blob_count(services) == 1
    assert client.gc(grace_seconds=0).blobs_deleted == 1


def test_orphan_files_are_swept_after_the_grace_period(client: Client, services: Services) -> None:
    info = services.blobs.put_stream([b"left behind by a crash"])
    assert client.gc(grace_seconds=3600).blobs_deleted == 0
    if hasattr(services.blobs, "root"):  # age the file past the grace period
        path = services.blobs.root / info.oid[:2] / info.oid[2:]
        old = time.time() - 7200
        os.utime(path, (old, old))
    assert client.gc(grace_seconds=3600).blobs_deleted == 1
    assert not services.blobs.exists(info.oid)


def test_deleted_project_is_purged_with_its_runs(client: Client, services: Services) -> None:
    run = client.runs.create("scratch")
    client.runs.upload_bytes(run.id, b"scratch data", "x.txt")
    client.projects.delete("scratch")
    report = client.gc(grace_seconds=0)
    assert report.projects_purged == ["scratch"]
    assert report.runs_purged == 1
    assert report.blobs_deleted == 1
    with pytest.raises(errors.NotFound):
        client.projects.get("scratch")


def test_packages_blob_shared_by_runs_survives_deleting_one(
    client: Client, services: Services
) -> None:
    first = client.start_run("churn")
    first.end()
    second = client.start_run("churn")
    second.end()
    oids = {
        a.oid
        for run in (first, second)
        for a in client.runs.list_artifacts(run.id)
        if a.path == "environment/packages.txt"
    }
    assert len(oids) == 1  # uploaded once, linked by the second run
    client.runs.delete(first.id)
    client.gc(grace_seconds=0)
    (oid,) = oids
    assert services.blobs.exists(oid)
    assert client.runs.read_artifact(second.id, "environment/packages.txt")
