"""What other domains read about datasets inside their own transaction (evaluation resolves
the version a model was measured on; lineage resolves and labels dataset-version nodes).
No permission is checked here: the calling service checks it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from tandem.data.store import DatasetStore


class DatasetReadModel:
    def __init__(self, store: DatasetStore) -> None:
        self.store = store

    def dataset_in(self, conn: Connection, project_pk: int, name: str) -> Any:
        """Live dataset `name`'s row (pk, name, ...), or None."""
        return self.store.find(conn, project_pk, name)

    def dataset_version_of(self, conn: Connection, dataset_pk: int, version: int | None) -> Any:
        """Version `version` (None: the latest) of dataset `dataset_pk`, or None."""
        return self.store.resolve(conn, dataset_pk, version)

    def dataset_version_in(
        self, conn: Connection, project_pk: int, name: str, version: int | None
    ) -> Any:
        """Version `version` (None: the latest) of live dataset `name`, or None."""
        dataset = self.store.find(conn, project_pk, name)
        return self.store.resolve(conn, dataset.pk, version) if dataset is not None else None

    def versions_by_pk(self, conn: Connection, version_pks: Sequence[int]) -> dict[int, Any]:
        """pk -> row (project_pk, name, version) of the dataset versions that exist."""
        return self.store.versions_by_pk(conn, version_pks)

    def lineage_labels(
        self, conn: Connection, version_pks: Sequence[int]
    ) -> dict[int, tuple[int, str, str, str | None]]:
        """The lineage graph's read model of dataset versions: pk -> (project pk, ref in the
        project, label, status)."""
        return {
            pk: (row.project_pk, f"datasets/{row.name}@v{row.version}",
                 f"{row.name}@v{row.version}", None)
            for pk, row in self.store.versions_by_pk(conn, version_pks).items()
        }  # fmt: skip
