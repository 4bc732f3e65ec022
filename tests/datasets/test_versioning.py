"""Dataset versions through the SDK, embedded and against a live server: immutable,
content-addressed, stored once, given back byte for byte, linked to runs; bad input changes
nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tandem.core.auth import Principal, Role
from tandem.errors import InvalidInput, NotFound, UnsafePath
from tandem.projects.models import ProjectCreate
from tandem.sdk.client import Client
from tandem.server.container import Services


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "data" / "images"
    write(root / "a.bin", os.urandom(100_000))
    write(root / "sub" / "b.bin", os.urandom(3_000))
    write(root / "sub" / "empty.bin", b"")
    return root


def blob_count(services: Services) -> int:
    return sum(1 for _ in services.blobs.list())


def test_add_versions_a_folder_and_gives_it_back_byte_for_byte(
    client: Client, folder: Path, tmp_path: Path
) -> None:
    client.projects.create("churn")
    v1 = client.data.add("images", folder, project="churn", message="first cut")
    assert (v1.version, v1.created, v1.file_count) == (1, True, 3)
    assert v1.size == 103_000
    assert v1.format is None and v1.profile is None  # not a table: versioned as files

    out = tmp_path / "out"
    written = client.data.download("churn/images@v1", out)
    assert sorted(p.relative_to(out).as_posix() for p in written) == [
        "a.bin", "sub/b.bin", "sub/empty.bin",
    ]  # fmt: skip
    for path in written:
        assert path.read_bytes() == (folder / path.relative_to(out)).read_bytes()

    details = client.data.version("images@v1", "churn")
    assert sorted(f.path for f in details.files or []) == ["a.bin", "sub/b.bin", "sub/empty.bin"]
    assert details.message == "first cut"


def test_unchanged_content_adds_no_version_and_a_change_adds_one(
    client: Client, folder: Path
) -> None:
    client.projects.create("churn")
    v1 = client.data.add("images", folder, project="churn")
    again = client.data.add("images", folder, project="churn")
    assert (again.version, again.created, again.digest) == (1, False, v1.digest)

    write(folder / "sub" / "b.bin", os.urandom(3_000))
    v2 = client.data.add("images", folder, project="churn")
    assert (v2.version, v2.created) == (2, True)
    assert v2.digest != v1.digest
    page = client.data.versions("images", "churn")
    assert [v.version for v in page.items] == [2, 1]
    # v1 is immutable: it still gives back the old bytes
    assert client.data.version("images@v1", "churn").digest == v1.digest


def test_identical_files_are_stored_once(
    client: Client, tmp_path: Path, services: Services
) -> None:
    client.projects.create("churn")
    data = os.urandom(50_000)
    write(tmp_path / "one" / "x.bin", data)
    write(tmp_path / "two" / "y.bin", data)
    before = blob_count(services)
    client.data.add("one", tmp_path / "one", project="churn")
    client.data.add("two", tmp_path / "two", project="churn")
    assert blob_count(services) == before + 1


def test_a_run_links_the_versions_it_used_and_produced(
    client: Client, folder: Path, tmp_path: Path
) -> None:
    client.projects.create("churn")
    with client.start_run(project="churn", name="train") as run:
        used = run.log_dataset(folder, name="images", role="train")
        produced = run.log_dataset(write(tmp_path / "preds.bin", b"\x00" * 10), "preds", "output")
    links = client.data.of_run(run.id)
    assert {(link.dataset, link.version, link.role) for link in links} == {
        ("images", used.version, "train"),
        ("preds", produced.version, "output"),
    }
    runs = client.data.version("churn/images@v1").runs or []
    assert [(r.run_id, r.role) for r in runs] == [(run.id, "train")]

    with client.start_run(project="churn", name="eval") as other:
        other.use_dataset("images@v1", role="test")
    assert [link.role for link in client.data.of_run(other.id)] == ["test"]


def test_catalog_edits_and_search(client: Client, folder: Path) -> None:
    client.projects.create("churn")
    client.data.add("images", folder, project="churn")
    client.data.add("other", folder / "sub", project="churn")
    updated = client.data.update(
        "images", "churn", description="Product photos", owner="ana",
        tags={"domain": "catalog"},
    )  # fmt: skip
    assert (updated.description, updated.owner, updated.tags) == (
        "Product photos", "ana", {"domain": "catalog"},
    )  # fmt: skip
    names = lambda page: [d.name for d in page.items]  # noqa: E731
    assert names(client.data.list("churn")) == ["images", "other"]
    assert names(client.data.list("churn", query="photo")) == ["images"]
    assert names(client.data.list("churn", owner="ana")) == ["images"]
    assert names(client.data.list("churn", tag="domain=catalog")) == ["images"]
    assert names(client.data.list("churn", tag="domain")) == ["images"]
    first = client.data.list("churn", limit=1)
    assert names(first) == ["images"] and first.next_cursor
    assert names(client.data.list("churn", limit=1, cursor=first.next_cursor)) == ["other"]
    cleared = client.data.update("images", "churn", tags={"domain": ""})
    assert cleared.tags == {}


def test_delete_hides_and_restore_brings_back(client: Client, folder: Path) -> None:
    client.projects.create("churn")
    client.data.add("images", folder, project="churn")
    client.data.delete("images", "churn")
    assert client.data.list("churn").items == []
    with pytest.raises(NotFound):
        client.data.version("churn/images@v1")
    client.data.restore("images", "churn")
    assert client.data.version("churn/images@v1").version == 1


# -- bad input -----------------------------------------------------------------------------


def test_bad_references_and_names_are_clear_errors(client: Client, folder: Path) -> None:
    client.projects.create("churn")
    client.data.add("images", folder, project="churn")
    with pytest.raises(NotFound, match="no version v9"):
        client.data.version("churn/images@v9")
    with pytest.raises(InvalidInput, match="invalid dataset version"):
        client.data.version("churn/images@vx")
    with pytest.raises(InvalidInput, match="invalid dataset name"):
        client.data.add("../etc", folder, project="churn")
    with pytest.raises(NotFound):
        client.data.add("images", folder / "missing", project="churn")


def test_symlinks_are_refused_and_nothing_is_stored(
    client: Client, folder: Path, tmp_path: Path, services: Services
) -> None:
    client.projects.create("churn")
    target = write(tmp_path / "secret.txt", b"secret")
    (folder / "link.txt").symlink_to(target)
    before = blob_count(services)
    with pytest.raises(UnsafePath, match="symbolic link"):
        client.data.add("images", folder, project="churn")
    with pytest.raises(UnsafePath, match="symbolic link"):
        client.data.add("images", folder / "link.txt", project="churn")
    assert blob_count(services) == before
    assert client.data.list("churn").items == []


def test_an_empty_folder_is_refused(client: Client, tmp_path: Path) -> None:
    client.projects.create("churn")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="empty folder"):
        client.data.add("nothing", tmp_path / "empty", project="churn")


def test_embedded_reads_only_inside_its_data_roots(settings, tmp_path: Path) -> None:
    """The embedded workspace reads by path only inside the repository folder (or
    TANDEM_DATA_ROOTS), and never its own workspace files."""
    from tandem.server import embedded

    outside = write(tmp_path.parent / f"{tmp_path.name}-outside" / "x.bin", b"x")
    sdk = Client(settings=settings)
    try:
        sdk.projects.create("churn")
        with pytest.raises(UnsafePath, match="outside the folders"):
            sdk.data.add("x", outside, project="churn")
        with pytest.raises(UnsafePath, match="workspace"):
            sdk.data.add("db", settings.home, project="churn")
        assert sdk.data.list("churn").items == []
    finally:
        embedded.close_all()


def test_a_server_never_reads_paths_it_was_not_given(services: Services, folder: Path) -> None:
    """A server with no data roots refuses server-side paths: clients upload."""
    from fastapi.testclient import TestClient

    from tandem.data.models import VersionCreate
    from tandem.server.app import create_app

    with TestClient(
        create_app(services=services, allow_open=True),
        base_url="http://127.0.0.1",
        client=("127.0.0.1", 50000),
        raise_server_exceptions=False,
    ) as api:
        api.post("/api/v1/projects", json={"name": "churn"})
        body = VersionCreate(path=str(folder)).model_dump(exclude_none=True)
        response = api.post("/api/v1/projects/churn/datasets/images/versions", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "unsafe-path"


def test_a_guessed_hash_does_not_open_another_projects_data(
    services: Services, folder: Path
) -> None:
    """Naming content by hash needs read access to a project holding it, or an upload into
    this project: knowing a hash must not be enough."""
    owner = services.owner
    services.projects.create(owner, ProjectCreate(name="secret"))
    services.projects.create(owner, ProjectCreate(name="open"))
    services.data.data_roots = (folder.parent,)
    services.data.add_from_path(owner, "secret", "photos", str(folder))
    files = services.data.get_version(owner, "secret/photos@v1").files or []
    oids = [f.oid for f in files]
    outsider = Principal(name="mallory", roles={"open": Role.DATA_SCIENTIST})
    # told to upload all of it, as if the server had none of it
    assert sorted(services.data.missing_blobs(outsider, "open", oids)) == sorted(set(oids))
    with pytest.raises(NotFound, match="upload it first"):
        services.data.add_from_manifest(outsider, "open", "stolen", files)
    # a member of the project holding it may reuse it without uploading
    insider = Principal(name="ana", roles={"open": Role.DATA_SCIENTIST, "secret": Role.VIEWER})
    assert services.data.missing_blobs(insider, "open", oids) == []
    assert services.data.add_from_manifest(insider, "open", "copy", files).version == 1
