"""Personal data: which columns of a version readers must not see the values of, and which
the PII scan flagged that no contract has declared yet."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from tandem.core.auth import Action, Principal
from tandem.core.refs import DatasetRef
from tandem.data.service.access import DatasetAccess, Target
from tandem.data.store import DatasetStore
from tandem.store.db import Database


class PrivacyService:
    def __init__(self, db: Database, store: DatasetStore, access: DatasetAccess) -> None:
        self.db = db
        self.store = store
        self.access = access
        # contract digest -> the columns it classifies as sensitive (parsing takes ~30 ms)
        self._sensitive: dict[str, frozenset[str]] = {}

    def unresolved_pii(
        self, principal: Principal, ref: str | DatasetRef, project: str | None = None
    ) -> list[str]:
        """Columns of a version that its PII scan flagged and no contract (the one it was
        checked against, or the current one) classifies as sensitive: personal data nobody has
        declared yet."""
        project, parsed = self.access.ref(ref, project)
        with self.db.read() as conn:
            target = self.access.dataset(conn, principal, project, parsed.name, Action.DATA_READ)
            row = self.access.version_row(conn, target, parsed.version)
            _, pii = self.store.version_details(conn, row.pk)
            declared = self.sensitive_columns(conn, target, row.contract_revision, None)
        return sorted({str(finding["column"]) for finding in pii or ()} - declared)

    def personal_columns(
        self, principal: Principal, ref: str | DatasetRef, project: str | None = None
    ) -> list[str]:
        """Columns of a version whose values readers must not see (`sensitive_columns`): what
        a log of a model's inputs masks, e.g. the serving gateway's prediction log."""
        project, parsed = self.access.ref(ref, project)
        with self.db.read() as conn:
            target = self.access.dataset(conn, principal, project, parsed.name, Action.DATA_READ)
            row = self.access.version_row(conn, target, parsed.version)
            _, pii = self.store.version_details(conn, row.pk)
            return sorted(self.sensitive_columns(conn, target, row.contract_revision, pii))

    def sensitive_columns(
        self, conn: Connection, target: Target, revision: int | None, pii: Any
    ) -> set[str]:
        """Columns whose values readers must not see: flagged by the version's PII scan, or
        classified as sensitive by the contract it was checked against or the current one."""
        columns = {str(finding["column"]) for finding in pii or ()}
        contracts = [self.store.current_contract(conn, target.dataset_pk)]
        if revision is not None and (contracts[0] is None or contracts[0].revision != revision):
            contracts.append(self.store.contract(conn, target.dataset_pk, revision))
        for contract in contracts:
            if contract is None:
                continue
            if contract.digest not in self._sensitive:
                from tandem.data.contract import parse_contract

                parsed = parse_contract(contract.text)
                self._sensitive[contract.digest] = frozenset(
                    prop.column for obj in parsed.schema for prop in obj.properties
                    if prop.is_sensitive
                )  # fmt: skip
            columns |= self._sensitive[contract.digest]
        return columns
