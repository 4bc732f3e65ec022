"""DataService: every rule about datasets, their versions, contracts, validation and catalog.

The REST API, and through it the SDK, CLI and web UI, call these methods; nothing else writes
dataset data. Each method takes the acting principal and checks it first.

`DataService` is the domain's one entry, for the faces and for other domains: it answers each
operation with the service that owns it, one module each, all sharing one `DatasetStore`:

    versions.py   adding versions (from a path, an s3:// prefix or uploads)  VersionService
    uploads.py    staging uploads, which content a manifest may name         UploadService
    catalog.py    finding, reading and editing datasets and versions         CatalogService
    contracts.py  contracts, validation, drafting a contract                  ContractService
    privacy.py    personal columns: masked values, undeclared PII             PrivacyService
    diff.py       comparing two versions (schema, rows, drift)                DiffService
    runs.py       run links, through TrackingService and LineageLinks       RunLinkService
    readmodel.py  what other domains read in their transaction (no checks)  DatasetReadModel
    access.py     the project (ProjectService.access), dataset and version a call acts on
    files.py      the settings they share (DataConfig), staging, local copies of a version
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tandem.audit.service import AuditLog
from tandem.core.auth import Authorizer
from tandem.data.ingest import HashCache
from tandem.data.limits import DataLimits
from tandem.data.service.access import DatasetAccess
from tandem.data.service.catalog import CatalogService
from tandem.data.service.contracts import ContractService
from tandem.data.service.diff import DiffService
from tandem.data.service.files import DataConfig
from tandem.data.service.privacy import PrivacyService
from tandem.data.service.purge import DatasetPurge
from tandem.data.service.readmodel import DatasetReadModel
from tandem.data.service.runs import RunLinkService
from tandem.data.service.uploads import UploadService
from tandem.data.service.versions import VersionService
from tandem.data.store import DatasetStore
from tandem.lineage.service import LineageLinks
from tandem.projects.service import ProjectService
from tandem.store.blob_index import BlobIndex
from tandem.store.blobs import BlobStore
from tandem.store.db import Database
from tandem.tracking.service import TrackingService

if TYPE_CHECKING:
    from tandem.data.contract import Contract as ParsedContract
    from tandem.data.contract import parse_contract
    from tandem.data.drift import DriftReport, DriftThresholds, Statistic, compare_profiles
    from tandem.data.profile import Profile, merge_profiles, profile_frame
    from tandem.data.validate import ValidationResult
    from tandem.data.validate import validate as validate_frame


class DataService:
    def __init__(
        self,
        *,
        versions: VersionService,
        uploads: UploadService,
        catalog: CatalogService,
        contracts: ContractService,
        privacy: PrivacyService,
        diffs: DiffService,
        links: RunLinkService,
        reads: DatasetReadModel,
        purge: DatasetPurge,
        config: DataConfig,
    ) -> None:
        self.versions = versions
        self.uploads = uploads
        self.catalog = catalog
        self.contracts = contracts
        self.privacy = privacy
        self.diffs = diffs
        self.links = links
        self.reads = reads
        self.config = config
        self.hash_cache = versions.hash_cache
        # What the faces call, each answered by the service that owns it.
        self.add_from_path = versions.add_from_path
        self.add_from_manifest = versions.add_from_manifest
        self.missing_blobs = uploads.missing_blobs
        self.check_upload = uploads.check_upload
        self.upload_blob = uploads.upload_blob
        self.get_dataset = catalog.get_dataset
        self.list_datasets = catalog.list_datasets
        self.list_versions = catalog.list_versions
        self.get_version = catalog.get_version
        self.open_file = catalog.open_file
        self.update_dataset = catalog.update_dataset
        self.delete_dataset = catalog.delete_dataset
        self.restore_dataset = catalog.restore_dataset
        self.get_contract = contracts.get_contract
        self.set_contract = contracts.set_contract
        self.validate = contracts.validate
        self.draft_contract = contracts.draft_contract
        self.unresolved_pii = privacy.unresolved_pii
        self.personal_columns = privacy.personal_columns
        self.diff = diffs.diff
        self.stored_profile = diffs.stored_profile
        self.link_run = links.link_run
        self.run_datasets = links.run_datasets
        # What other domains read inside their own transaction (they check permissions).
        self.dataset_in = reads.dataset_in
        self.dataset_version_of = reads.dataset_version_of
        self.dataset_version_in = reads.dataset_version_in
        self.versions_by_pk = reads.versions_by_pk
        self.lineage_labels = reads.lineage_labels
        # What gc purges, inside its transaction (gc checked the caller).
        self.forget_runs = purge.forget_runs
        self.purge_expired = purge.purge_expired
        self.purge_project = purge.purge_project

    @classmethod
    def build(
        cls,
        db: Database,
        store: DatasetStore,
        projects: ProjectService,
        tracking: TrackingService,
        lineage: LineageLinks,
        blobs: BlobStore,
        blob_index: BlobIndex,
        auth: Authorizer,
        audit: AuditLog,
        *,
        data_roots: Sequence[Path],
        workspace: Path,
        hash_cache: HashCache,
        executor: str = "local",
        s3_roots: Sequence[str] = (),
        artifacts: str | None = None,
        limits: DataLimits | None = None,
    ) -> DataService:
        """The operation services over these collaborators, wired together (`artifacts`: the
        blob store's location, whose bytes are never a server-side source)."""
        config = DataConfig.of(
            data_roots=data_roots, workspace=workspace, executor=executor, s3_roots=s3_roots,
            artifacts=artifacts, limits=limits,
        )  # fmt: skip
        access = DatasetAccess(store, projects, auth)
        privacy = PrivacyService(db, store, access)
        links = RunLinkService(db, store, access, tracking, lineage, audit)
        uploads = UploadService(db, store, access, tracking, blobs, blob_index, auth, config)
        catalog = CatalogService(db, store, access, privacy, links, blobs, auth, audit)
        return cls(
            versions=VersionService(
                db, store, access, uploads, links, blobs, blob_index, audit, config, hash_cache
            ),
            uploads=uploads,
            catalog=catalog,
            contracts=ContractService(db, store, access, catalog, blobs, auth, audit, config),
            privacy=privacy,
            diffs=DiffService(db, store, access, privacy),
            links=links,
            reads=DatasetReadModel(store),
            purge=DatasetPurge(store),
            config=config,
        )

    # Settings an administrator (or a test) may change on a running service.

    @property
    def data_roots(self) -> tuple[Path, ...]:
        """Server-side folders `add_from_path` may read."""
        return self.config.data_roots

    @data_roots.setter
    def data_roots(self, roots: Sequence[Path]) -> None:
        self.config.data_roots = tuple(roots)

    @property
    def limits(self) -> DataLimits:
        """How many columns, and how long, profiling and validation may take."""
        return self.config.limits

    @limits.setter
    def limits(self, limits: DataLimits) -> None:
        self.config.limits = limits


_ENGINES = {
    "ParsedContract": ("tandem.data.contract", "Contract"),
    "parse_contract": ("tandem.data.contract", "parse_contract"),
    "DriftReport": ("tandem.data.drift", "DriftReport"),
    "DriftThresholds": ("tandem.data.drift", "DriftThresholds"),
    "Statistic": ("tandem.data.drift", "Statistic"),
    "compare_profiles": ("tandem.data.drift", "compare_profiles"),
    "Profile": ("tandem.data.profile", "Profile"),
    "profile_frame": ("tandem.data.profile", "profile_frame"),
    "merge_profiles": ("tandem.data.profile", "merge_profiles"),
    "ValidationResult": ("tandem.data.validate", "ValidationResult"),
    "validate_frame": ("tandem.data.validate", "validate"),
}


def __getattr__(name: str) -> Any:
    """The engines, imported on first use (Polars and SciPy stay out of a server that never
    compares anything, and out of the CLI)."""
    if name in _ENGINES:
        module, attribute = _ENGINES[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The data domain's pure engines, for other domains (monitoring compares live inputs with a
# version's stored profile and checks them against its contract): they import them from here,
# never from the modules inside the domain.
__all__ = [
    "DataService",
    "DriftReport",
    "DriftThresholds",
    "ParsedContract",
    "Profile",
    "Statistic",
    "ValidationResult",
    "compare_profiles",
    "merge_profiles",
    "parse_contract",
    "profile_frame",
    "validate_frame",
]
