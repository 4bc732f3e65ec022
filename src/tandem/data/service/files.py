"""Where the data operations read and keep bytes: the settings they run under (`DataConfig`),
the staging folder of uploads, and local copies of a version's files for analysis."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tandem.core.s3uri import S3Location, is_s3
from tandem.data.ingest import SourceFile
from tandem.data.limits import DataLimits
from tandem.data.models import ManifestFile
from tandem.store.blobs import BlobStore, LocalBlobStore
from tandem.store.oid import Oid


@dataclass
class DataConfig:
    """The settings every data operation shares, one object for all of them (so changing
    `data_roots` or `limits` on `DataService` changes them everywhere)."""

    data_roots: tuple[Path, ...]
    workspace: Path
    executor: str = "local"  # where profiles and validations run: "local" or "ray"
    # Server-side sources: local folders and s3:// prefixes an administrator allowed, never
    # the workspace or the blob store (whose bytes belong to every project).
    s3_roots: tuple[S3Location, ...] = ()
    blob_location: S3Location | None = None
    forbidden: tuple[Path, ...] = ()
    limits: DataLimits = field(default_factory=DataLimits)

    @classmethod
    def of(
        cls,
        *,
        data_roots: Sequence[Path],
        workspace: Path,
        executor: str = "local",
        s3_roots: Sequence[str] = (),
        artifacts: str | None = None,
        limits: DataLimits | None = None,
    ) -> DataConfig:
        """The configuration from settings: `artifacts` is the blob store's location."""
        local_blobs = (Path(artifacts).resolve(),) if artifacts and not is_s3(artifacts) else ()
        return cls(
            data_roots=tuple(data_roots),
            workspace=workspace,
            executor=executor,
            s3_roots=tuple(S3Location.parse(root) for root in s3_roots),
            blob_location=S3Location.parse(artifacts) if artifacts and is_s3(artifacts) else None,
            forbidden=(workspace, *local_blobs),
            limits=limits or DataLimits(),
        )

    def scratch(self) -> Path:
        folder = self.workspace / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def staged(self, oid: str) -> Path:
        """Where an upload waits for its version (`tandem gc` clears old ones)."""
        return self.workspace / "staging" / oid


def staged_source(path: str, local: Path) -> SourceFile:
    st = local.stat()
    return SourceFile(path, local, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


@contextlib.contextmanager
def materialized(
    blobs: BlobStore,
    config: DataConfig,
    manifest: list[ManifestFile],
    local: dict[str, Path] | None,
) -> Iterator[list[Path]]:
    """Local files holding the manifest's bytes, in manifest order: the source files (or
    staged uploads) in `local`, the local store's blobs, or copies downloaded from remote
    storage into a scratch folder."""
    local = local or {}
    folder: Path | None = None
    try:
        paths = []
        for i, f in enumerate(manifest):
            if f.path in local:
                paths.append(local[f.path])
            elif isinstance(blobs, LocalBlobStore):
                paths.append(blobs.local_path(Oid(f.oid)))
            else:
                folder = folder or Path(tempfile.mkdtemp(dir=config.scratch()))
                target = folder / f"{i:06d}"
                with target.open("wb") as out:
                    for chunk in blobs.read(Oid(f.oid)):
                        out.write(chunk)
                paths.append(target)
        yield paths
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
