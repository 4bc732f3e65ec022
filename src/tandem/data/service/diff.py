"""Comparing two versions: schema, rows and drift per column, from their stored profiles."""

from __future__ import annotations

from typing import Any

from tandem.core.auth import Action, Principal
from tandem.data.models import DatasetVersion
from tandem.data.pii import mask_value
from tandem.data.service.access import DatasetAccess
from tandem.data.service.privacy import PrivacyService
from tandem.data.store import DatasetStore, version_model
from tandem.store.db import Database


class DiffService:
    def __init__(
        self, db: Database, store: DatasetStore, access: DatasetAccess, privacy: PrivacyService
    ) -> None:
        self.db = db
        self.store = store
        self.access = access
        self.privacy = privacy

    def diff(
        self, principal: Principal, ref_a: str, ref_b: str, project: str | None = None
    ) -> dict[str, Any]:
        """What changed from version A to version B: schema, rows and drift per column,
        computed from the two stored profiles. The categories of personal columns (as
        `get_version` hides them, on either side) are masked in the drift charts."""
        a, profile_a, sensitive_a = self._version_and_profile(principal, ref_a, project)
        b, profile_b, sensitive_b = self._version_and_profile(principal, ref_b, project)
        from tandem.data.analysis import compare_versions

        report = compare_versions(a, profile_a, b, profile_b)
        if report.get("drift"):
            _mask_drift(report["drift"], sensitive_a | sensitive_b)
        return report

    def stored_profile(
        self, principal: Principal, ref: str, project: str | None = None
    ) -> tuple[DatasetVersion, dict[str, Any] | None, set[str]]:
        """A version, its stored profile with the sketches drift needs (None when it has
        none), and its personal columns (monitoring compares live inputs with it; it must not
        show their values)."""
        return self._version_and_profile(principal, ref, project)

    def _version_and_profile(
        self, principal: Principal, ref: str, project: str | None
    ) -> tuple[DatasetVersion, dict[str, Any] | None, set[str]]:
        """A version, its stored profile with the sketches drift needs, and the columns whose
        values must not be shown."""
        project, parsed = self.access.ref(ref, project)
        with self.db.read() as conn:
            target = self.access.dataset(conn, principal, project, parsed.name, Action.DATA_READ)
            row = self.access.version_row(conn, target, parsed.version)
            profile, pii = self.store.version_details(conn, row.pk)
            sensitive = self.privacy.sensitive_columns(conn, target, row.contract_revision, pii)
            return version_model(row, project, target.name), profile, sensitive


def _mask_drift(drift: dict[str, Any], columns: set[str]) -> None:
    """Mask, in place, the categories that a drift report's charts show for `columns`."""
    from tandem.data.drift import OTHER

    for column in drift.get("columns") or []:
        chart = column.get("chart") or {}
        if column.get("column") in columns and "categories" in chart:
            chart["categories"] = [c if c == OTHER else mask_value(c) for c in chart["categories"]]
