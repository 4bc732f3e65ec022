"""PredictionStore: the SQL over segments and the request-id index. No rules, no permissions:
PredictionService checks those first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection, delete, func, insert, literal, select

from tandem.predictions.models import Segment
from tandem.predictions.profiles import BucketProfile
from tandem.predictions.tables import prediction_index, prediction_profiles, prediction_segments
from tandem.store.db import driver_cursor

_segment = prediction_segments.c
_index = prediction_index.c
_profile = prediction_profiles.c


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """What a retried upload is compared with."""

    segment: str
    rows: int
    digest: str


@dataclass(frozen=True, slots=True)
class IndexHit:
    """A segment row the index points at for a request key."""

    segment: str
    oid: str
    position: int
    created_at: int


class PredictionStore:
    def __init__(self, *, is_sqlite: bool) -> None:
        self._is_sqlite = is_sqlite

    def find_batch(
        self, conn: Connection, project_pk: int, endpoint: str, gateway: str, batch: str
    ) -> StoredBatch | None:
        found = conn.execute(
            select(_segment.id, _segment.rows, _segment.digest).where(
                _segment.project_pk == project_pk,
                _segment.endpoint == endpoint,
                _segment.gateway == gateway,
                _segment.batch == batch,
            )
        ).first()
        return StoredBatch(found.id, found.rows, found.digest) if found is not None else None

    def insert_segment(
        self,
        conn: Connection,
        *,
        segment_id: str,
        project_pk: int,
        endpoint: str,
        gateway: str,
        batch: str,
        digest: str,
        rows: int,
        first_at: int,
        last_at: int,
        versions: dict[str, int],
        size: int,
        oid: str,
        by: str,
        now: int,
    ) -> int:
        """Insert a segment's row; its pk. Raises SQLAlchemy's IntegrityError if the batch is
        stored already (`uq_prediction_segments_batch`)."""
        inserted = conn.execute(
            insert(prediction_segments)
            .values(
                id=segment_id, project_pk=project_pk, endpoint=endpoint, gateway=gateway,
                batch=batch, digest=digest, rows=rows, first_at=first_at, last_at=last_at,
                versions=orjson.dumps(versions).decode(), size=size, oid=oid, created_at=now,
                created_by=by,
            )
            .returning(_segment.pk)
        )  # fmt: skip
        return int(inserted.scalar_one())

    def insert_index(self, conn: Connection, segment_pk: int, keys: Sequence[int]) -> None:
        """Index a segment's rows: `keys[i]` is the request key of row i. In bulk: SQLite's
        executemany, PostgreSQL's COPY (a hundred thousand rows in a fraction of a second)."""
        cursor = driver_cursor(conn)
        if self._is_sqlite:
            cursor.executemany(
                "INSERT INTO prediction_index (request_key, segment_pk, position) VALUES (?, ?, ?)",
                [(key, segment_pk, position) for position, key in enumerate(keys)],
            )
            return
        with cursor.copy(
            "COPY prediction_index (request_key, segment_pk, position) FROM STDIN"
        ) as copy:
            for position, key in enumerate(keys):
                copy.write_row((key, segment_pk, position))

    def hits(self, conn: Connection, project_pk: int, endpoint: str, key: int) -> list[IndexHit]:
        """The rows the index holds for `key` in the endpoint's segments, newest segment first
        (more than one: the id was logged twice, or a hash collision the caller sorts out)."""
        # Two statements, not a join: a join leaves the order to the planner, and PostgreSQL
        # (its statistics behind a bulk load) would walk every segment of the endpoint and
        # probe the index for each. The key first makes every lookup a few B-tree descents.
        positions = conn.execute(
            select(_index.segment_pk, _index.position).where(_index.request_key == key)
        ).all()
        if not positions:
            return []
        segments = {
            row.pk: row
            for row in conn.execute(
                select(_segment.pk, _segment.id, _segment.oid, _segment.created_at).where(
                    _segment.pk.in_({p.segment_pk for p in positions}),
                    _segment.project_pk == project_pk,
                    _segment.endpoint == endpoint,
                )
            )
        }
        hits = [
            IndexHit(s.id, s.oid, p.position, s.created_at)
            for p in sorted(positions, key=lambda p: -p.segment_pk)
            if (s := segments.get(p.segment_pk)) is not None
        ]
        return hits

    def segments(
        self,
        conn: Connection,
        project_pk: int,
        endpoint: str,
        *,
        since: int | None,
        until: int | None,
        limit: int,
    ) -> list[Segment]:
        """The endpoint's segments holding predictions made in [since, until), by their last
        prediction's time."""
        query = select(prediction_segments).where(
            _segment.project_pk == project_pk, _segment.endpoint == endpoint
        )
        if since is not None:
            query = query.where(_segment.last_at >= since)
        if until is not None:
            query = query.where(_segment.first_at < until)
        rows = conn.execute(query.order_by(_segment.last_at, _segment.pk).limit(limit)).all()
        return [_segment_model(row) for row in rows]

    def overlapping(
        self, conn: Connection, project_pk: int, endpoint: str, since: int, until: int
    ) -> list[tuple[str, str]]:
        """(id, oid) of every segment of the endpoint holding a prediction made in
        [since, until), in the order of their first prediction: no limit (a read of the log
        reads them all)."""
        rows = conn.execute(
            select(_segment.id, _segment.oid)
            .where(
                _segment.project_pk == project_pk,
                _segment.endpoint == endpoint,
                _segment.last_at >= since,
                _segment.first_at < until,
            )
            .order_by(_segment.first_at, _segment.pk)
        ).all()
        return [(row.id, row.oid) for row in rows]

    def first_at(self, conn: Connection, project_pk: int, endpoint: str, since: int) -> int | None:
        """When the endpoint's first prediction at or after `since` was made (None: none)."""
        first = conn.execute(
            select(func.min(_segment.first_at)).where(
                _segment.project_pk == project_pk,
                _segment.endpoint == endpoint,
                _segment.last_at >= since,
            )
        ).scalar()
        return None if first is None else max(int(first), since)

    def segment(
        self, conn: Connection, project_pk: int, endpoint: str, segment_id: str
    ) -> Segment | None:
        row = conn.execute(
            select(prediction_segments).where(
                _segment.project_pk == project_pk,
                _segment.endpoint == endpoint,
                _segment.id == segment_id,
            )
        ).first()
        return _segment_model(row) if row is not None else None

    def insert_profiles(
        self, conn: Connection, segment_pk: int, project_pk: int, endpoint: str,
        profiles: Sequence[BucketProfile],
    ) -> None:  # fmt: skip
        """A segment's bucket profiles (`tandem.predictions.profiles`)."""
        if not profiles:
            return
        conn.execute(insert(prediction_profiles), [
            {"segment_pk": segment_pk, "project_pk": project_pk, "endpoint": endpoint,
             "model": p.model, "version": p.version, "bucket_start": p.bucket_start,
             "rows": p.rows, "inputs": p.inputs, "scores": p.scores}
            for p in profiles
        ])  # fmt: skip

    def unprofiled(
        self, conn: Connection, project_pk: int, endpoint: str, since: int, until: int
    ) -> int:
        """How many segments holding a prediction made in [since, until) have no stored
        profile (shipped before profiles were stored, or their inputs did not profile)."""
        has = select(_profile.segment_pk).where(_profile.segment_pk == _segment.pk).exists()
        return int(conn.execute(
            select(func.count()).select_from(prediction_segments).where(
                _segment.project_pk == project_pk, _segment.endpoint == endpoint,
                _segment.last_at >= since, _segment.first_at < until, ~has,
            )
        ).scalar_one())  # fmt: skip

    def profiles(
        self, conn: Connection, project_pk: int, endpoint: str, since: int, until: int, *,
        with_inputs: bool,
    ) -> list[BucketProfile]:  # fmt: skip
        """The endpoint's bucket profiles with `since <= bucket_start < until`, in order."""
        columns = [_profile.model, _profile.version, _profile.bucket_start, _profile.rows,
                   _profile.inputs if with_inputs else literal(""), _profile.scores]  # fmt: skip
        rows = conn.execute(
            select(*columns).where(
                _profile.project_pk == project_pk, _profile.endpoint == endpoint,
                _profile.bucket_start >= since, _profile.bucket_start < until,
            ).order_by(_profile.bucket_start, _profile.segment_pk, _profile.model,
                       _profile.version)
        ).all()  # fmt: skip
        return [BucketProfile(r[0], int(r[1]), int(r[2]), int(r[3]), r[4], r[5]) for r in rows]

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """A purged project's segments, their index rows and profiles (gc then sweeps their
        files)."""
        of_project = select(_segment.pk).where(_segment.project_pk == project_pk)
        conn.execute(delete(prediction_profiles).where(_profile.project_pk == project_pk))
        conn.execute(delete(prediction_index).where(_index.segment_pk.in_(of_project)))
        conn.execute(delete(prediction_segments).where(_segment.project_pk == project_pk))


def _segment_model(row: object) -> Segment:
    r = row._mapping  # type: ignore[attr-defined]
    return Segment(
        id=r["id"],
        endpoint=r["endpoint"],
        gateway=r["gateway"],
        batch=r["batch"],
        rows=r["rows"],
        first_at=r["first_at"],
        last_at=r["last_at"],
        versions=orjson.loads(r["versions"]),
        size=r["size"],
        oid=r["oid"],
        created_at=r["created_at"],
    )
