"""SQL for the registry: the only module that reads or writes the registry tables (gc purges
through it too). Methods take the caller's connection, so a service call is one transaction."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, insert, select, update

from tandem.core.paging import decode_cursor, encode_cursor
from tandem.core.refs import ModelRef
from tandem.errors import InvalidInput
from tandem.registry.models import Model, ModelFile, ModelVersion, Stage
from tandem.registry.tables import (
    model_aliases,
    model_card_texts,
    model_version_files,
    model_versions,
    registered_models,
)


class RegistryStore:
    # -- models ---------------------------------------------------------------------------

    def find(self, conn: Connection, project_pk: int, name: str) -> Any:
        return conn.execute(
            select(registered_models).where(
                registered_models.c.project_pk == project_pk, registered_models.c.name == name
            )
        ).first()

    def find_casefold(self, conn: Connection, project_pk: int, name: str) -> Any:
        """The model whose name equals `name` but for case (names are ASCII)."""
        return conn.execute(
            select(registered_models).where(
                registered_models.c.project_pk == project_pk,
                func.lower(registered_models.c.name) == name.lower(),
            )
        ).first()

    def create(self, conn: Connection, project_pk: int, name: str, by: str, now: int) -> int:
        values = {"project_pk": project_pk, "name": name, "description": "", "tags": "{}"}
        result = conn.execute(
            insert(registered_models).values(**values, created_at=now, created_by=by)
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def update(self, conn: Connection, pk: int, **values: Any) -> None:
        if values:
            conn.execute(
                update(registered_models).where(registered_models.c.pk == pk).values(**values)
            )

    def page(
        self, conn: Connection, project_pk: int, *, q: str | None, cursor: str | None, limit: int
    ) -> tuple[builtins.list[Any], str | None]:
        """By name."""
        stmt = select(registered_models).where(registered_models.c.project_pk == project_pk)
        if q:
            pattern = f"%{q.lower()}%"
            stmt = stmt.where(
                func.lower(registered_models.c.name).like(pattern)
                | func.lower(registered_models.c.description).like(pattern)
            )
        if cursor:
            position = decode_cursor(cursor)
            if len(position) != 1 or not isinstance(position[0], str):
                raise InvalidInput("invalid cursor")
            stmt = stmt.where(registered_models.c.name > position[0])
        rows = conn.execute(stmt.order_by(registered_models.c.name).limit(limit + 1)).all()
        next_cursor = encode_cursor([rows[limit - 1].name]) if len(rows) > limit else None
        return builtins.list(rows[:limit]), next_cursor

    def model(self, conn: Connection, row: Any, project: str) -> Model:
        latest, count = conn.execute(
            select(func.max(model_versions.c.version), func.count()).where(
                model_versions.c.model_pk == row.pk
            )
        ).one()
        aliases = conn.execute(
            select(model_aliases.c.alias, model_versions.c.version)
            .join(model_versions, model_versions.c.pk == model_aliases.c.version_pk)
            .where(model_aliases.c.model_pk == row.pk)
            .order_by(model_aliases.c.alias)
        ).all()
        return Model(
            project=project,
            name=row.name,
            description=row.description,
            tags=orjson.loads(row.tags),
            created_at=row.created_at,
            created_by=row.created_by,
            latest_version=latest,
            version_count=count,
            aliases={a.alias: a.version for a in aliases},
        )

    # -- versions -------------------------------------------------------------------------

    def next_version(self, conn: Connection, model_pk: int) -> int:
        latest = conn.execute(
            select(func.max(model_versions.c.version)).where(model_versions.c.model_pk == model_pk)
        ).scalar()
        return int(latest or 0) + 1

    def insert_version(self, conn: Connection, files: Sequence[ModelFile], **values: Any) -> int:
        result = conn.execute(insert(model_versions).values(**values))
        pk = int(result.inserted_primary_key[0])  # type: ignore[index]
        conn.execute(
            insert(model_version_files),
            [{"version_pk": pk, "path": f.path, "oid": f.oid, "size": f.size} for f in files],
        )
        return pk

    def version(self, conn: Connection, model_pk: int, version: int) -> Any:
        return conn.execute(
            self._version_query().where(
                model_versions.c.model_pk == model_pk, model_versions.c.version == version
            )
        ).first()

    def version_by_pk(self, conn: Connection, version_pk: int) -> Any:
        return conn.execute(self._version_query().where(model_versions.c.pk == version_pk)).first()

    def latest(self, conn: Connection, model_pk: int) -> Any:
        return conn.execute(
            self._version_query()
            .where(model_versions.c.model_pk == model_pk)
            .order_by(model_versions.c.version.desc())
            .limit(1)
        ).first()

    def resolve(self, conn: Connection, model_pk: int, ref: ModelRef) -> Any:
        """The version `ref` names: by number, by alias, or the latest (None if there is none)."""
        if ref.version is not None:
            return self.version(conn, model_pk, ref.version)
        if ref.alias is not None:
            return self.by_alias(conn, model_pk, ref.alias)
        return self.latest(conn, model_pk)

    def by_alias(self, conn: Connection, model_pk: int, alias: str) -> Any:
        return conn.execute(
            self._version_query()
            .join(model_aliases, model_aliases.c.version_pk == model_versions.c.pk)
            .where(model_aliases.c.model_pk == model_pk, model_aliases.c.alias == alias)
        ).first()

    @staticmethod
    def _version_query() -> Any:
        return select(model_versions)

    def versions(
        self,
        conn: Connection,
        model_pk: int,
        *,
        stage: Stage | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[builtins.list[Any], str | None]:
        """Newest first."""
        stmt = self._version_query().where(model_versions.c.model_pk == model_pk)
        if stage is not None:
            stmt = stmt.where(model_versions.c.stage == stage.value)
        if cursor:
            position = decode_cursor(cursor)
            if len(position) != 1 or not isinstance(position[0], int):
                raise InvalidInput("invalid cursor")
            stmt = stmt.where(model_versions.c.version < position[0])
        rows = conn.execute(stmt.order_by(model_versions.c.version.desc()).limit(limit + 1)).all()
        next_cursor = encode_cursor([rows[limit - 1].version]) if len(rows) > limit else None
        return builtins.list(rows[:limit]), next_cursor

    def update_version(self, conn: Connection, version_pk: int, **values: Any) -> None:
        conn.execute(
            update(model_versions).where(model_versions.c.pk == version_pk).values(**values)
        )

    def files(self, conn: Connection, version_pk: int) -> builtins.list[ModelFile]:
        rows = conn.execute(
            select(model_version_files)
            .where(model_version_files.c.version_pk == version_pk)
            .order_by(model_version_files.c.path)
        )
        return [ModelFile(path=r.path, oid=r.oid, size=r.size) for r in rows]

    def aliases_of(self, conn: Connection, version_pk: int) -> builtins.list[str]:
        return builtins.list(
            conn.execute(
                select(model_aliases.c.alias)
                .where(model_aliases.c.version_pk == version_pk)
                .order_by(model_aliases.c.alias)
            ).scalars()
        )

    def version_model(
        self,
        conn: Connection,
        row: Any,
        project: str,
        model: str,
        *,
        run_id: str | None,
        files: bool = False,
    ) -> ModelVersion:
        """`run_id`: the id of the run `row.run_pk` (None once it is purged)."""
        return ModelVersion(
            project=project,
            model=model,
            version=row.version,
            flavor=row.flavor,
            format=row.format,
            trusted=bool(row.trusted),
            run_id=run_id,
            artifact_path=row.artifact_path,
            signature=orjson.loads(row.signature) if row.signature else None,
            requirements=orjson.loads(row.requirements),
            library_version=row.library_version,
            stage=Stage(row.stage),
            description=row.description,
            aliases=self.aliases_of(conn, row.pk),
            created_at=row.created_at,
            created_by=row.created_by,
            stage_changed_at=row.stage_changed_at,
            stage_changed_by=row.stage_changed_by,
            files=self.files(conn, row.pk) if files else [],
        )

    def version_pks(self, conn: Connection, model_pk: int) -> builtins.list[int]:
        query = select(model_versions.c.pk).where(model_versions.c.model_pk == model_pk)
        return [int(pk) for pk in conn.execute(query).scalars()]

    def versions_by_pk(self, conn: Connection, version_pks: Sequence[int]) -> dict[int, Any]:
        """pk -> (pk, project_pk, model_pk, name, version, stage) of the versions that exist."""
        if not version_pks:
            return {}
        rows = conn.execute(
            select(model_versions.c.pk, registered_models.c.project_pk, model_versions.c.model_pk,
                   registered_models.c.name, model_versions.c.version, model_versions.c.stage)
            .join(registered_models, registered_models.c.pk == model_versions.c.model_pk)
            .where(model_versions.c.pk.in_(builtins.list(version_pks)))
        )  # fmt: skip
        return {row.pk: row for row in rows}

    # -- aliases --------------------------------------------------------------------------

    def set_alias(
        self, conn: Connection, model_pk: int, alias: str, version_pk: int, by: str, now: int
    ) -> None:
        conn.execute(
            delete(model_aliases).where(
                model_aliases.c.model_pk == model_pk, model_aliases.c.alias == alias
            )
        )
        conn.execute(
            insert(model_aliases).values(
                model_pk=model_pk,
                alias=alias,
                version_pk=version_pk,
                updated_at=now,
                updated_by=by,
            )
        )

    def delete_alias(self, conn: Connection, model_pk: int, alias: str) -> bool:
        result = conn.execute(
            delete(model_aliases).where(
                model_aliases.c.model_pk == model_pk, model_aliases.c.alias == alias
            )
        )
        return bool(result.rowcount)

    # -- model card texts ------------------------------------------------------------------

    def card_texts(self, conn: Connection, model_pk: int) -> dict[str, str]:
        rows = conn.execute(
            select(model_card_texts.c.section, model_card_texts.c.text).where(
                model_card_texts.c.model_pk == model_pk
            )
        )
        return {r.section: r.text for r in rows}

    def set_card_text(
        self, conn: Connection, model_pk: int, section: str, text: str, by: str, now: int
    ) -> None:
        conn.execute(
            delete(model_card_texts).where(
                model_card_texts.c.model_pk == model_pk, model_card_texts.c.section == section
            )
        )
        if text:
            conn.execute(
                insert(model_card_texts).values(
                    model_pk=model_pk, section=section, text=text, updated_at=now, updated_by=by
                )
            )

    def version_names(
        self, conn: Connection, version_pks: builtins.set[int]
    ) -> dict[int, tuple[str, int]]:
        """{version pk: (model name, version number)} of the versions among `version_pks`."""
        if not version_pks:
            return {}
        rows = conn.execute(
            select(model_versions.c.pk, registered_models.c.name, model_versions.c.version)
            .join(registered_models, registered_models.c.pk == model_versions.c.model_pk)
            .where(model_versions.c.pk.in_(sorted(version_pks)))
        ).all()
        return {r.pk: (r.name, r.version) for r in rows}

    # -- purging (gc) ---------------------------------------------------------------------

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        model_pks = builtins.list(
            conn.execute(
                select(registered_models.c.pk).where(registered_models.c.project_pk == project_pk)
            ).scalars()
        )
        if not model_pks:
            return
        version_pks = select(model_versions.c.pk).where(model_versions.c.model_pk.in_(model_pks))
        conn.execute(
            delete(model_version_files).where(model_version_files.c.version_pk.in_(version_pks))
        )
        conn.execute(delete(model_aliases).where(model_aliases.c.model_pk.in_(model_pks)))
        conn.execute(delete(model_card_texts).where(model_card_texts.c.model_pk.in_(model_pks)))
        conn.execute(delete(model_versions).where(model_versions.c.model_pk.in_(model_pks)))
        conn.execute(delete(registered_models).where(registered_models.c.pk.in_(model_pks)))

    def forget_runs(self, conn: Connection, run_pks: Sequence[int]) -> None:
        """Purged runs: versions keep their files (copied at registration), lose the link."""
        for start in range(0, len(run_pks), 500):
            chunk = builtins.list(run_pks[start : start + 500])
            conn.execute(
                update(model_versions).where(model_versions.c.run_pk.in_(chunk)).values(run_pk=None)
            )
