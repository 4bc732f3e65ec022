"""Runs linked to dataset versions across projects: each side is shown only to those who may
read it, and a link needs the right to write the run and to read the dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem.core.auth import Principal, Role
from tandem.errors import NotFound, PermissionDenied
from tandem.projects.models import ProjectCreate
from tandem.server.container import Services
from tandem.tracking.models import RunCreate


@pytest.fixture
def linked(services: Services, tmp_path: Path) -> str:
    """Dataset `shared/table@v1`, used by a run of project `lab` (the run's id)."""
    owner = services.owner
    for project in ("shared", "lab"):
        services.projects.create(owner, ProjectCreate(name=project))
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "table.csv").write_text("id,x\n1,2\n3,4\n")
    services.data.data_roots = (folder,)
    services.data.add_from_path(owner, "shared", "table", str(folder / "table.csv"))
    run = services.tracking.create_run(owner, "lab", RunCreate(name="secret-experiment"))
    link = services.data.link_run(owner, run.id, "shared/table@v1", "train")
    assert (link.run_project, link.project, link.dataset, link.role) == (
        "lab",
        "shared",
        "table",
        "train",
    )
    return run.id


def test_a_version_lists_only_the_runs_the_caller_may_read(services: Services, linked: str) -> None:
    owner_view = services.data.get_version(services.owner, "shared/table@v1")
    assert [(r.run_id, r.run_project, r.project) for r in owner_view.runs or []] == [
        (linked, "lab", "shared")
    ]
    reader = Principal(name="rita", roles={"shared": Role.VIEWER})
    assert services.data.get_version(reader, "shared/table@v1").runs == []
    both = Principal(name="bo", roles={"shared": Role.VIEWER, "lab": Role.VIEWER})
    assert [r.run_name for r in services.data.get_version(both, "shared/table@v1").runs or []] == [
        "secret-experiment"
    ]
    # and a run's datasets only those the caller may read
    lab_only = Principal(name="lee", roles={"lab": Role.VIEWER})
    assert services.data.run_datasets(lab_only, linked) == []
    assert [link.dataset for link in services.data.run_datasets(both, linked)] == ["table"]


def test_linking_needs_write_on_the_run_and_read_on_the_dataset(
    services: Services, linked: str, tmp_path: Path
) -> None:
    data = services.data
    # may write the run, may not see the dataset
    runner = Principal(name="ron", roles={"lab": Role.DATA_SCIENTIST})
    with pytest.raises(NotFound, match="does not exist"):
        data.link_run(runner, linked, "shared/table@v1", "test")
    # may read both, may not write the run
    viewer = Principal(name="vi", roles={"shared": Role.VIEWER, "lab": Role.VIEWER})
    with pytest.raises(PermissionDenied, match="run:write"):
        data.link_run(viewer, linked, "shared/table@v1", "test")
    # may read the dataset, may not see the run
    reader = Principal(name="rita", roles={"shared": Role.DATA_SCIENTIST})
    with pytest.raises(NotFound, match=f"run {linked} does not exist"):
        data.link_run(reader, linked, "shared/table@v1", "test")
    # adding a version for a run the caller may not write is refused before anything is stored
    (tmp_path / "data" / "more.csv").write_text("id,x\n5,6\n")
    blobs = sum(1 for _ in services.blobs.list())
    with pytest.raises(NotFound, match=f"run {linked} does not exist"):
        data.add_from_path(reader, "shared", "table", str(tmp_path / "data" / "more.csv"),
                           run_id=linked)  # fmt: skip
    assert [v.version for v in data.list_versions(services.owner, "shared", "table").items] == [1]
    assert sum(1 for _ in services.blobs.list()) == blobs
    assert [r.role for r in data.get_version(services.owner, "shared/table@v1").runs or []] == [
        "train"
    ]
    # write on the run and read on the dataset: linked
    builder = Principal(name="bea", roles={"shared": Role.VIEWER, "lab": Role.DATA_SCIENTIST})
    link = data.link_run(builder, linked, "shared/table@v1", "test")
    assert (link.run_project, link.project, link.role) == ("lab", "shared", "test")
    roles = [r.role for r in data.get_version(builder, "shared/table@v1").runs or []]
    assert roles == ["train", "test"]
