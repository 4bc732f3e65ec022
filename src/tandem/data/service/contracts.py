"""Contracts and validation: a dataset's ODCS contract (revision 1, 2, ...), checking a
version against it, and drafting one from a version's profile."""

from __future__ import annotations

from typing import Any

from blake3 import blake3

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.refs import DatasetRef
from tandem.data.frames import table_format
from tandem.data.limits import refuse_disguised
from tandem.data.models import Contract
from tandem.data.service.access import DatasetAccess
from tandem.data.service.catalog import CatalogService
from tandem.data.service.files import DataConfig, materialized
from tandem.data.store import DatasetStore
from tandem.errors import InvalidInput, NotFound
from tandem.store.blobs import BlobStore
from tandem.store.db import Database

MAX_CONTRACT_BYTES = 1 << 20


def check_contract(text: str) -> str:
    """`text` if it is a contract tandem can check (InvalidContract names the line and field)."""
    if len(text.encode()) > MAX_CONTRACT_BYTES:
        raise InvalidInput("the contract is larger than 1 MiB")
    from tandem.data.analysis import parse_contract

    parse_contract(text)  # raises InvalidContract naming the line and field
    return text


def text_digest(text: str) -> str:
    return str(blake3(text.encode()).hexdigest())


class ContractService:
    def __init__(
        self,
        db: Database,
        store: DatasetStore,
        access: DatasetAccess,
        catalog: CatalogService,
        blobs: BlobStore,
        auth: Authorizer,
        audit: AuditLog,
        config: DataConfig,
    ) -> None:
        self.db = db
        self.store = store
        self.access = access
        self.catalog = catalog
        self.blobs = blobs
        self.auth = auth
        self.audit = audit
        self.config = config

    def get_contract(
        self, principal: Principal, project: str, name: str, revision: int | None = None
    ) -> Contract:
        with self.db.read() as conn:
            target = self.access.dataset(conn, principal, project, name, Action.DATA_READ)
            row = (
                self.store.contract(conn, target.dataset_pk, revision)
                if revision is not None
                else self.store.current_contract(conn, target.dataset_pk)
            )
            if row is None:
                which = f"revision {revision}" if revision else "contract"
                raise NotFound(f"dataset {project}/{name} has no {which}")
            return self.store.contract_model(row, project, target.name)

    def set_contract(self, principal: Principal, project: str, name: str, text: str) -> Contract:
        """Make `text` the dataset's contract (a new revision; the same text changes nothing).
        Versions added from now on are checked against it; `validate` checks older ones."""
        self.auth.require(principal, Action.DATA_WRITE, project)  # before parsing the text
        text = check_contract(text)
        with self.db.write() as conn:
            target = self.access.dataset(conn, principal, project, name, Action.DATA_WRITE)
            current = self.store.current_contract(conn, target.dataset_pk)
            if current is None or current.digest != text_digest(text):
                self.store.insert_contract(
                    conn, target.dataset_pk, text, text_digest(text), principal.name, now_ms()
                )
                self.audit.record(conn, principal, "dataset.contract.set", name, project=project)
            row = self.store.current_contract(conn, target.dataset_pk)
            return self.store.contract_model(row, project, target.name)

    def validate(
        self, principal: Principal, ref: str | DatasetRef, project: str | None = None,
        *, contract: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Check a version against the dataset's contract (or `contract`, which then becomes
        the dataset's contract) and store the result with the version."""
        project, parsed = self.access.ref(ref, project)
        if contract is not None:
            self.set_contract(principal, project, parsed.name, contract)
        with self.db.read() as conn:
            target = self.access.dataset(conn, principal, project, parsed.name, Action.DATA_WRITE)
            row = self.access.version_row(conn, target, parsed.version)
            current = self.store.current_contract(conn, target.dataset_pk)
            if current is None:
                raise NotFound(
                    f"dataset {project}/{target.name} has no contract: "
                    "set one with `tandem data contract set` or `--contract`"
                )
            manifest = self.store.files(conn, row.pk)
        from tandem.data.analysis import validate_files

        fmt = table_format([f.path for f in manifest])
        if fmt is None:
            raise InvalidInput(
                f"{project}/{target.name}@v{row.version} is not a table (CSV, Parquet or "
                "JSON Lines files of one kind): there is nothing to validate"
            )
        with materialized(self.blobs, self.config, manifest, None) as paths:
            refuse_disguised([(f.path, p) for f, p in zip(manifest, paths, strict=True)])
            result, passed, blocking = validate_files(
                paths, fmt, current.text, self.config.executor, self.config.limits
            )
        with self.db.write() as conn:
            self.access.dataset(conn, principal, project, parsed.name, Action.DATA_WRITE)
            self.store.insert_validation(
                conn, row.pk, current.revision, result, passed=passed,
                blocking_failed=blocking, by=principal.name, now=now_ms(),
            )  # fmt: skip
            self.audit.record(
                conn, principal, "dataset.validate", f"{target.name}@v{row.version}",
                project=project, passed=passed,
            )  # fmt: skip
        return result

    def draft_contract(
        self, principal: Principal, ref: str | DatasetRef, project: str | None = None
    ) -> str:
        """An ODCS contract drafted from a version's profile, for a person to edit."""
        version = self.catalog.get_version(principal, ref, project)
        if version.profile is None:
            raise InvalidInput(f"{version.ref} is not a table: there is no profile to draft from")
        from tandem.data.analysis import draft_contract

        return draft_contract(version.profile, version.dataset, version.pii or [])
