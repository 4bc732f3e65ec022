"""SQL for datasets: the only module that reads or writes the dataset tables (gc purges
through it too). Methods take the caller's connection, so a service call is one transaction."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from tandem.core.paging import Page, decode_cursor, encode_cursor
from tandem.data.models import ColumnInfo, Contract, Dataset, DatasetVersion, ManifestFile, RunLink
from tandem.data.tables import (
    dataset_columns,
    dataset_contracts,
    dataset_files,
    dataset_uploads,
    dataset_validations,
    dataset_versions,
    datasets,
    run_datasets,
)
from tandem.errors import InvalidInput
from tandem.projects.tables import projects
from tandem.tracking.tables import artifacts, runs

_VERSION_SUMMARY = [
    dataset_versions.c.pk,
    dataset_versions.c.version,
    dataset_versions.c.digest,
    dataset_versions.c.format,
    dataset_versions.c.rows,
    dataset_versions.c.size,
    dataset_versions.c.file_count,
    dataset_versions.c.source,
    dataset_versions.c.message,
    dataset_versions.c.created_at,
    dataset_versions.c.created_by,
    dataset_versions.c.contract_revision,
    dataset_versions.c.schema,
]


def _latest_validation_passed() -> Any:
    return (
        select(dataset_validations.c.passed)
        .where(dataset_validations.c.version_pk == dataset_versions.c.pk)
        .order_by(dataset_validations.c.pk.desc())
        .limit(1)
        .scalar_subquery()
    )


def version_model(row: Any, project: str, dataset: str) -> DatasetVersion:
    m = row._mapping
    passed = m.get("validation_passed")
    return DatasetVersion(
        project=project,
        dataset=dataset,
        version=m["version"],
        digest=m["digest"],
        format=m["format"],
        rows=m["rows"],
        size=m["size"],
        file_count=m["file_count"],
        source=m["source"],
        message=m["message"],
        created_at=m["created_at"],
        created_by=m["created_by"],
        contract_revision=m["contract_revision"],
        schema=orjson.loads(m["schema"]),
        validation_passed=None if passed is None else bool(passed),
    )


class DatasetStore:
    # -- datasets -------------------------------------------------------------------------

    def find(
        self, conn: Connection, project_pk: int, name: str, *, include_deleted: bool = False
    ) -> Any:
        query = select(datasets).where(datasets.c.project_pk == project_pk, datasets.c.name == name)
        if not include_deleted:
            query = query.where(datasets.c.deleted_at.is_(None))
        return conn.execute(query).first()

    def create(self, conn: Connection, project_pk: int, name: str, by: str, now: int) -> int:
        return int(
            conn.execute(
                insert(datasets).values(
                    project_pk=project_pk,
                    name=name,
                    description="",
                    owner="",
                    tags="{}",
                    created_at=now,
                    created_by=by,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )

    def update(self, conn: Connection, pk: int, **values: Any) -> None:
        if values:
            conn.execute(update(datasets).where(datasets.c.pk == pk).values(**values))

    def model(self, conn: Connection, row: Any, project: str) -> Dataset:
        m = row._mapping
        latest = conn.execute(
            select(func.max(dataset_versions.c.version), func.count()).where(
                dataset_versions.c.dataset_pk == m["pk"]
            )
        ).one()
        contract = self.current_contract(conn, m["pk"])
        latest_row = self.version(conn, m["pk"], latest[0]) if latest[0] else None
        described = {c.name: c for c in self.columns(conn, m["pk"])}
        schema = orjson.loads(latest_row.schema) if latest_row is not None else []
        columns = [
            ColumnInfo(
                name=col["name"],
                type=col.get("type", ""),
                description=described[col["name"]].description if col["name"] in described else "",
                owner=described[col["name"]].owner if col["name"] in described else "",
            )
            for col in schema
        ]
        return Dataset(
            project=project,
            name=m["name"],
            description=m["description"],
            owner=m["owner"],
            tags=orjson.loads(m["tags"]),
            created_at=m["created_at"],
            created_by=m["created_by"],
            deleted_at=m["deleted_at"],
            latest_version=latest[0],
            version_count=latest[1],
            contract_revision=contract.revision if contract else None,
            columns=columns,
        )

    def list(
        self,
        conn: Connection,
        project_pks: dict[int, str],
        *,
        query: str | None = None,
        column: str | None = None,
        owner: str | None = None,
        tag: str | None = None,
        include_deleted: bool = False,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Dataset]:
        """Datasets in these projects, by project then name; `query` matches the name or the
        description, `column` a column name (of the latest version) or its catalog entry."""
        stmt = select(datasets).where(datasets.c.project_pk.in_(list(project_pks)))
        if not include_deleted:
            stmt = stmt.where(datasets.c.deleted_at.is_(None))
        if query:
            like = f"%{_escape_like(query.lower())}%"
            stmt = stmt.where(
                or_(
                    func.lower(datasets.c.name).like(like, escape="\\"),
                    func.lower(datasets.c.description).like(like, escape="\\"),
                )
            )
        if owner:
            stmt = stmt.where(datasets.c.owner == owner)
        if tag:
            key, _, value = tag.partition("=")
            needle = orjson.dumps({key: value}).decode()[1:-1] if value else f'"{key}":'
            stmt = stmt.where(datasets.c.tags.contains(needle, autoescape=True))
        if column:
            latest = (
                select(dataset_versions.c.schema)
                .where(dataset_versions.c.dataset_pk == datasets.c.pk)
                .order_by(dataset_versions.c.version.desc())
                .limit(1)
                .scalar_subquery()
            )
            needle = orjson.dumps({"name": column}).decode()[1:-1]
            stmt = stmt.where(latest.contains(needle, autoescape=True))
        if cursor:
            position = decode_cursor(cursor)
            if len(position) != 2:
                raise InvalidInput("invalid cursor")
            stmt = stmt.where(
                or_(
                    datasets.c.project_pk > position[0],
                    and_(datasets.c.project_pk == position[0], datasets.c.name > position[1]),
                )
            )
        rows = conn.execute(
            stmt.order_by(datasets.c.project_pk, datasets.c.name).limit(limit + 1)
        ).all()
        items = [self.model(conn, row, project_pks[row.project_pk]) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor([last.project_pk, last.name])
        return Page(items=items, next_cursor=next_cursor)

    def set_deleted(self, conn: Connection, pk: int, deleted_at: int | None) -> None:
        conn.execute(update(datasets).where(datasets.c.pk == pk).values(deleted_at=deleted_at))

    # -- versions -------------------------------------------------------------------------

    def resolve(self, conn: Connection, dataset_pk: int, version: int | None) -> Any:
        """Version `version`, or the latest when it is None (None if there is none)."""
        if version is None:
            return self.latest(conn, dataset_pk)
        return self.version(conn, dataset_pk, version)

    def latest(self, conn: Connection, dataset_pk: int) -> Any:
        return conn.execute(
            select(*_VERSION_SUMMARY)
            .where(dataset_versions.c.dataset_pk == dataset_pk)
            .order_by(dataset_versions.c.version.desc())
            .limit(1)
        ).first()

    def version(self, conn: Connection, dataset_pk: int, version: int) -> Any:
        return conn.execute(
            select(*_VERSION_SUMMARY, _latest_validation_passed().label("validation_passed"))
            .where(dataset_versions.c.dataset_pk == dataset_pk)
            .where(dataset_versions.c.version == version)
        ).first()

    def version_details(self, conn: Connection, version_pk: int) -> tuple[Any, Any]:
        """The stored profile and PII findings (parsed JSON, or None)."""
        row = conn.execute(
            select(dataset_versions.c.profile, dataset_versions.c.pii).where(
                dataset_versions.c.pk == version_pk
            )
        ).one()
        return (
            orjson.loads(row.profile) if row.profile else None,
            orjson.loads(row.pii) if row.pii else None,
        )

    def versions(
        self, conn: Connection, dataset_pk: int, *, cursor: str | None, limit: int
    ) -> tuple[builtins.list[Any], str | None]:
        """Newest first."""
        stmt = select(
            *_VERSION_SUMMARY, _latest_validation_passed().label("validation_passed")
        ).where(dataset_versions.c.dataset_pk == dataset_pk)
        if cursor:
            position = decode_cursor(cursor)
            if len(position) != 1 or not isinstance(position[0], int):
                raise InvalidInput("invalid cursor")
            stmt = stmt.where(dataset_versions.c.version < position[0])
        rows = conn.execute(stmt.order_by(dataset_versions.c.version.desc()).limit(limit + 1)).all()
        next_cursor = encode_cursor([rows[limit - 1].version]) if len(rows) > limit else None
        return builtins.list(rows[:limit]), next_cursor

    def insert_version(self, conn: Connection, files: Sequence[ManifestFile], **values: Any) -> int:
        pk = int(
            conn.execute(insert(dataset_versions).values(**values)).inserted_primary_key[0]  # type: ignore[index]
        )
        for start in range(0, len(files), 1000):
            conn.execute(
                insert(dataset_files),
                [
                    {"version_pk": pk, "path": f.path, "oid": f.oid, "size": f.size}
                    for f in files[start : start + 1000]
                ],
            )
        return pk

    def files(self, conn: Connection, version_pk: int) -> builtins.list[ManifestFile]:
        rows = conn.execute(
            select(dataset_files.c.path, dataset_files.c.oid, dataset_files.c.size)
            .where(dataset_files.c.version_pk == version_pk)
            .order_by(dataset_files.c.path)
        ).all()
        return [ManifestFile(path=r.path, oid=r.oid, size=r.size) for r in rows]

    # -- contracts and validations --------------------------------------------------------

    def current_contract(self, conn: Connection, dataset_pk: int) -> Any:
        return conn.execute(
            select(dataset_contracts)
            .where(dataset_contracts.c.dataset_pk == dataset_pk)
            .order_by(dataset_contracts.c.revision.desc())
            .limit(1)
        ).first()

    def contract(self, conn: Connection, dataset_pk: int, revision: int) -> Any:
        return conn.execute(
            select(dataset_contracts).where(
                dataset_contracts.c.dataset_pk == dataset_pk,
                dataset_contracts.c.revision == revision,
            )
        ).first()

    def insert_contract(
        self, conn: Connection, dataset_pk: int, text: str, digest: str, by: str, now: int
    ) -> int:
        current = self.current_contract(conn, dataset_pk)
        revision = (current.revision if current else 0) + 1
        conn.execute(
            insert(dataset_contracts).values(
                dataset_pk=dataset_pk,
                revision=revision,
                text=text,
                digest=digest,
                created_at=now,
                created_by=by,
            )
        )
        return revision

    @staticmethod
    def contract_model(row: Any, project: str, dataset: str) -> Contract:
        return Contract(
            project=project,
            dataset=dataset,
            revision=row.revision,
            text=row.text,
            digest=row.digest,
            created_at=row.created_at,
            created_by=row.created_by,
        )

    def insert_validation(
        self,
        conn: Connection,
        version_pk: int,
        revision: int,
        result: dict[str, Any],
        *,
        passed: bool,
        blocking_failed: bool,
        by: str,
        now: int,
    ) -> None:
        conn.execute(
            insert(dataset_validations).values(
                version_pk=version_pk,
                contract_revision=revision,
                passed=passed,
                blocking_failed=blocking_failed,
                result=orjson.dumps(result).decode(),
                created_at=now,
                created_by=by,
            )
        )

    def latest_validation(self, conn: Connection, version_pk: int) -> dict[str, Any] | None:
        row = conn.execute(
            select(dataset_validations.c.result)
            .where(dataset_validations.c.version_pk == version_pk)
            .order_by(dataset_validations.c.pk.desc())
            .limit(1)
        ).first()
        return orjson.loads(row.result) if row else None

    # -- catalog --------------------------------------------------------------------------

    def columns(self, conn: Connection, dataset_pk: int) -> builtins.list[ColumnInfo]:
        rows = conn.execute(
            select(dataset_columns).where(dataset_columns.c.dataset_pk == dataset_pk)
        ).all()
        return [
            ColumnInfo(name=r.name, type="", description=r.description, owner=r.owner) for r in rows
        ]

    def set_column(self, conn: Connection, dataset_pk: int, name: str, **values: str) -> None:
        key = (dataset_columns.c.dataset_pk == dataset_pk) & (dataset_columns.c.name == name)
        if conn.execute(select(dataset_columns.c.name).where(key)).first() is None:
            row = {"description": "", "owner": "", **values}
            conn.execute(insert(dataset_columns).values(dataset_pk=dataset_pk, name=name, **row))
        else:
            conn.execute(update(dataset_columns).where(key).values(**values))

    # -- runs -----------------------------------------------------------------------------

    def link_run(self, conn: Connection, run_pk: int, version_pk: int, role: str, now: int) -> None:
        exists = conn.execute(
            select(run_datasets.c.role).where(
                run_datasets.c.run_pk == run_pk,
                run_datasets.c.version_pk == version_pk,
                run_datasets.c.role == role,
            )
        ).first()
        if exists is None:
            conn.execute(
                insert(run_datasets).values(
                    run_pk=run_pk, version_pk=version_pk, role=role, created_at=now
                )
            )

    def runs_of_version(self, conn: Connection, version_pk: int, project: str, dataset: str,
                        version: int) -> builtins.list[RunLink]:  # fmt: skip
        """The live runs linked to a version, each with its own project (which may not be the
        dataset's `project`)."""
        rows = conn.execute(
            select(
                runs.c.id,
                runs.c.name,
                projects.c.name.label("run_project"),
                run_datasets.c.role,
                run_datasets.c.created_at,
            )
            .join(runs, runs.c.pk == run_datasets.c.run_pk)
            .join(projects, projects.c.pk == runs.c.project_pk)
            .where(run_datasets.c.version_pk == version_pk, runs.c.deleted_at.is_(None))
            .order_by(run_datasets.c.created_at)
        ).all()
        return [
            RunLink(
                run_id=r.id,
                run_name=r.name,
                run_project=r.run_project,
                project=project,
                dataset=dataset,
                version=version,
                role=r.role,
                created_at=r.created_at,
            )
            for r in rows
        ]

    def datasets_of_run(
        self, conn: Connection, run_pk: int, run_project: str
    ) -> builtins.list[RunLink]:
        rows = conn.execute(
            select(
                projects.c.name.label("project"),
                datasets.c.name.label("dataset"),
                dataset_versions.c.version,
                run_datasets.c.role,
                run_datasets.c.created_at,
                runs.c.id,
                runs.c.name.label("run_name"),
            )
            .join(dataset_versions, dataset_versions.c.pk == run_datasets.c.version_pk)
            .join(datasets, datasets.c.pk == dataset_versions.c.dataset_pk)
            .join(projects, projects.c.pk == datasets.c.project_pk)
            .join(runs, runs.c.pk == run_datasets.c.run_pk)
            .where(run_datasets.c.run_pk == run_pk, datasets.c.deleted_at.is_(None))
            .order_by(run_datasets.c.created_at)
        ).all()
        return [
            RunLink(
                run_id=r.id,
                run_name=r.run_name,
                run_project=run_project,
                project=r.project,
                dataset=r.dataset,
                version=r.version,
                role=r.role,
                created_at=r.created_at,
            )
            for r in rows
        ]

    # -- content --------------------------------------------------------------------------

    def record_upload(self, conn: Connection, project_pk: int, oid: str, now: int) -> None:
        key = (dataset_uploads.c.project_pk == project_pk) & (dataset_uploads.c.oid == oid)
        if conn.execute(select(dataset_uploads.c.oid).where(key)).first() is None:
            conn.execute(
                insert(dataset_uploads).values(project_pk=project_pk, oid=oid, uploaded_at=now)
            )
        else:
            conn.execute(update(dataset_uploads).where(key).values(uploaded_at=now))

    def uploaded(self, conn: Connection, project_pk: int, oids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(oids), 500):
            chunk = builtins.list(oids[start : start + 500])
            found.update(
                conn.execute(
                    select(dataset_uploads.c.oid).where(
                        dataset_uploads.c.project_pk == project_pk,
                        dataset_uploads.c.oid.in_(chunk),
                    )
                ).scalars()
            )
        return found

    def projects_holding(self, conn: Connection, oids: Sequence[str]) -> dict[str, set[str]]:
        """For each oid, the projects with a dataset file or run artifact holding it."""
        holders: dict[str, set[str]] = {}
        for start in range(0, len(oids), 500):
            chunk = builtins.list(oids[start : start + 500])
            in_datasets = (
                select(dataset_files.c.oid, projects.c.name)
                .join(dataset_versions, dataset_versions.c.pk == dataset_files.c.version_pk)
                .join(datasets, datasets.c.pk == dataset_versions.c.dataset_pk)
                .join(projects, projects.c.pk == datasets.c.project_pk)
                .where(dataset_files.c.oid.in_(chunk))
            )
            in_runs = (
                select(artifacts.c.oid, projects.c.name)
                .join(runs, runs.c.pk == artifacts.c.run_pk)
                .join(projects, projects.c.pk == runs.c.project_pk)
                .where(artifacts.c.oid.in_(chunk))
            )
            for oid, project in conn.execute(in_datasets.union(in_runs)).all():
                holders.setdefault(oid, set()).add(project)
        return holders

    # -- purging (gc) ---------------------------------------------------------------------

    def deleted_before(self, conn: Connection, cutoff: int) -> builtins.list[int]:
        return builtins.list(
            conn.execute(
                select(datasets.c.pk).where(
                    datasets.c.deleted_at.is_not(None), datasets.c.deleted_at <= cutoff
                )
            ).scalars()
        )

    def purge_datasets(self, conn: Connection, dataset_pks: Sequence[int]) -> None:
        """Delete these datasets, their versions, manifests and everything hanging off them."""
        for pk in dataset_pks:
            version_pks = builtins.list(
                conn.execute(
                    select(dataset_versions.c.pk).where(dataset_versions.c.dataset_pk == pk)
                ).scalars()
            )
            for table in (dataset_files, dataset_validations, run_datasets):
                conn.execute(delete(table).where(table.c.version_pk.in_(version_pks)))
            conn.execute(delete(dataset_versions).where(dataset_versions.c.dataset_pk == pk))
            for table in (dataset_contracts, dataset_columns):
                conn.execute(delete(table).where(table.c.dataset_pk == pk))
            conn.execute(delete(datasets).where(datasets.c.pk == pk))

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        pks = builtins.list(
            conn.execute(select(datasets.c.pk).where(datasets.c.project_pk == project_pk)).scalars()
        )
        self.purge_datasets(conn, pks)
        conn.execute(delete(dataset_uploads).where(dataset_uploads.c.project_pk == project_pk))

    def purge_run_links(self, conn: Connection, run_pks: Sequence[int]) -> None:
        for start in range(0, len(run_pks), 500):
            chunk = builtins.list(run_pks[start : start + 500])
            conn.execute(delete(run_datasets).where(run_datasets.c.run_pk.in_(chunk)))

    def forget_uploads_before(self, conn: Connection, cutoff: int) -> None:
        conn.execute(delete(dataset_uploads).where(dataset_uploads.c.uploaded_at <= cutoff))

    def versions_by_pk(self, conn: Connection, version_pks: Sequence[int]) -> dict[int, Any]:
        """pk -> (pk, project_pk, name, version) of the dataset versions that exist."""
        if not version_pks:
            return {}
        rows = conn.execute(
            select(dataset_versions.c.pk, datasets.c.project_pk, datasets.c.name,
                   dataset_versions.c.version)
            .join(datasets, datasets.c.pk == dataset_versions.c.dataset_pk)
            .where(dataset_versions.c.pk.in_(builtins.list(version_pks)))
        )  # fmt: skip
        return {row.pk: row for row in rows}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
