"""RunStore: typed queries over the tracking tables. No rules, no permissions: the service decides.

Hot paths (applying a batch of metric points) go to the DB-API cursor directly: `executemany`
on SQLite and `COPY` on PostgreSQL. Building SQLAlchemy statements per point costs more than the
database does (profiled: ~3x slower for 1,000-point batches).

It returns models and rows; the REST API's JSON is written by `tandem.tracking.serialise`. The
one read of another domain's table is the read model `tables.project_names` (a run's row carries
its project's name and whether the project is deleted: one join on every write and search).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import (
    Connection,
    Float,
    Row,
    Text,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    select,
    update,
)
from sqlalchemy import cast as cast_

from tandem.core.paging import decode_cursor, encode_cursor
from tandem.core.validation import MAX_DOUBLE
from tandem.errors import AlreadyExists, InvalidInput, NotFound
from tandem.store.db import Database, driver_cursor
from tandem.tracking.filters import parse_filter, parse_order_by_list
from tandem.tracking.models import (
    Artifact,
    Environment,
    LatestMetric,
    MetricHistory,
    Run,
    RunSearch,
    RunStatus,
)
from tandem.tracking.search import PreparedSearch, SearchCache, SearchCompiler
from tandem.tracking.tables import (
    RUN_COLUMNS,
    RUNS_WITH_PROJECT,
    artifacts,
    batches,
    latest_metrics,
    metric_keys,
    metrics,
    params,
    project_names,
    runs,
    tags,
)

# What a write to a run reads: its row and whether its project is deleted (a run of a deleted
# project takes no writes, see `tandem.tracking.rules.check_run_writable`).
_RUN_ROW_COLUMNS = (*RUN_COLUMNS, project_names.c.deleted_at.label("project_deleted_at"))


class RunRow(NamedTuple):
    """A run's row as `find_row` reads it (the columns of RUN_COLUMNS, in order)."""

    pk: int
    id: str
    name: str
    status: str
    user: str
    start_time: int
    end_time: int | None
    seed: int | None
    deleted_at: int | None
    project_pk: int
    project: str
    project_deleted_at: int | None = None


AnyRunRow = RunRow | Row[Any]
_Key = TypeVar("_Key", bound=Hashable)

COPY_MIN_POINTS = 1_000  # PostgreSQL: smaller batches go in as one INSERT ... unnest
_STATUSES = {status.value: status for status in RunStatus}  # Enum() lookups are slow


_NAN = float("nan")
# A point's value, NULL for NaN (stored as 0 with the is_nan flag: SQLite has no NaN); the
# reader turns NULL back into NaN.
_VALUE_OR_NULL = "CASE WHEN is_nan THEN NULL ELSE value END"


def newest_points(
    keys: Sequence[_Key], steps: Sequence[int], timestamps: Sequence[int], values: Sequence[float]
) -> dict[_Key, tuple[int, int, float]]:
    """The latest point of each key, as a run's latest metric value is chosen: the highest step,
    then the newest timestamp, then the last given. (step, timestamp, value) by key."""
    newest: dict[_Key, tuple[int, int, float]] = {}
    for key, step, ts, value in zip(keys, steps, timestamps, values, strict=True):
        current = newest.get(key)
        if current is None or (step, ts) >= (current[0], current[1]):
            newest[key] = (step, ts, value)
    return newest


class RunStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._key_ids: dict[str, int] = {}  # metric keys are never deleted, so ids can be cached
        self._key_lock = threading.Lock()
        self._ph = db.placeholder
        self._searches = SearchCache()
        self._run_by_id_sql = (
            str(
                select(*_RUN_ROW_COLUMNS)
                .select_from(RUNS_WITH_PROJECT)
                .where(runs.c.id == bindparam("id"))
                .compile(db.engine)
            )
            .replace(":id", self._ph)
            .replace("%(id)s", self._ph)
        )

    # -- runs -----------------------------------------------------------------------------

    def create(
        self,
        conn: Connection,
        *,
        run_id: str,
        project_pk: int,
        name: str,
        user: str,
        start_time: int,
        seed: int | None,
        environment: Environment,
    ) -> int:
        ph = self._ph
        cursor = driver_cursor(conn)  # every run starts here: no SQLAlchemy result handling
        try:
            cursor.execute(
                'INSERT INTO runs (id, project_pk, name, status, "user", start_time, seed, '
                f"environment) VALUES ({', '.join([ph] * 8)}) RETURNING pk",
                (
                    run_id,
                    project_pk,
                    name,
                    RunStatus.RUNNING.value,
                    user,
                    start_time,
                    seed,
                    environment.model_dump_json(exclude_defaults=True),
                ),
            )
            pk = cursor.fetchone()[0]
        except conn.dialect.loaded_dbapi.IntegrityError:
            raise AlreadyExists(f"run {run_id} already exists", run_id=run_id) from None
        finally:
            cursor.close()
        return int(pk)

    def find_row(self, conn: Connection, run_id: str) -> AnyRunRow | None:
        """The run with this id, or the one run whose id starts with this prefix."""
        if len(run_id) == 32:
            # The hot path of every write: prepared SQL on the driver's own cursor, since
            # SQLAlchemy's result handling costs more than the lookup itself.
            cursor = driver_cursor(conn)
            try:
                cursor.execute(self._run_by_id_sql, (run_id,))
                found = cursor.fetchone()
            finally:
                cursor.close()
            return RunRow(*found) if found is not None else None
        query = select(*_RUN_ROW_COLUMNS).select_from(RUNS_WITH_PROJECT)
        rows = conn.execute(query.where(runs.c.id.startswith(run_id)).limit(2)).all()
        if len(rows) > 1:
            raise InvalidInput(f"run id prefix {run_id!r} is ambiguous: give more digits")
        return cast("Row[Any] | None", rows[0] if rows else None)  # a prefix: not the hot path

    def get_row(self, conn: Connection, run_id: str) -> AnyRunRow:
        row = self.find_row(conn, run_id)
        if row is None:
            raise NotFound(f"run {run_id} does not exist", run_id=run_id)
        return row

    def environment(self, conn: Connection, run_pk: int) -> Environment:
        raw = conn.execute(select(runs.c.environment).where(runs.c.pk == run_pk)).scalar_one()
        return Environment.model_validate_json(raw)

    def update(self, conn: Connection, run_pk: int, **values: Any) -> None:
        """Set columns of a run (names from our code, checked against the table): plain SQL,
        as ending a run is part of every run's last batch."""
        if values:
            ph = self._ph
            sets = ", ".join(f'"{runs.c[name].name}" = {ph}' for name in values)
            driver_cursor(conn).execute(
                f"UPDATE runs SET {sets} WHERE pk = {ph}", (*values.values(), run_pk)
            )

    def to_model(
        self,
        row: AnyRunRow,
        *,
        params: dict[str, str] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
        environment: Environment | None = None,
    ) -> Run:
        # Rows come from our own tables: construct without re-validating every field.
        return Run.model_construct(
            id=row.id,
            project=row.project,
            name=row.name,
            status=_STATUSES[row.status],
            user=row.user,
            start_time=row.start_time,
            end_time=row.end_time,
            seed=row.seed,
            deleted_at=row.deleted_at,
            environment=environment,
            params=params or {},
            metrics=metrics or {},
            tags=tags or {},
        )

    def load_data(
        self,
        conn: Connection,
        run_pks: Sequence[int],
        *,
        param_keys: Iterable[str] | None = None,
        metric_names: Iterable[str] | None = None,
        tag_keys: Iterable[str] | None = None,
        want_params: bool = True,
        want_metrics: bool = True,
        want_tags: bool = True,
    ) -> tuple[dict[int, dict[str, str]], dict[int, dict[str, float]], dict[int, dict[str, str]]]:
        """Params, latest metrics and tags of these runs; `*_keys` narrow to those keys."""
        p_out: dict[int, dict[str, str]] = {pk: {} for pk in run_pks}
        m_out: dict[int, dict[str, float]] = {pk: {} for pk in run_pks}
        t_out: dict[int, dict[str, str]] = {pk: {} for pk in run_pks}
        if not run_pks:
            return p_out, m_out, t_out
        # Raw DBAPI rows: a search page reads a few thousand of them, and building
        # SQLAlchemy Row objects for each would cost more than the query itself.
        cursor = driver_cursor(conn)
        try:
            if want_params:
                for run_pk, key, value in self._fetch(
                    cursor, "SELECT run_pk, key, value FROM params", run_pks, "key", param_keys
                ):
                    p_out[run_pk][key] = value
            if want_tags:
                for run_pk, key, value in self._fetch(
                    cursor, "SELECT run_pk, key, value FROM tags", run_pks, "key", tag_keys
                ):
                    t_out[run_pk][key] = value
            if want_metrics:
                sql = (
                    "SELECT l.run_pk, k.name, CASE WHEN l.is_nan THEN NULL ELSE l.value END "
                    "FROM latest_metrics l "
                    "JOIN metric_keys k ON k.id = l.key_id"
                )
                for run_pk, key, value in self._fetch(
                    cursor, sql, run_pks, "k.name", metric_names, run_column="l.run_pk"
                ):
                    m_out[run_pk][key] = _NAN if value is None else value
        finally:
            cursor.close()
        return p_out, m_out, t_out

    def latest_points(
        self, conn: Connection, run_pks: Sequence[int]
    ) -> dict[int, list[LatestMetric]]:
        """Each run's latest metric points, with their steps and timestamps, by key name."""
        out: dict[int, list[LatestMetric]] = {pk: [] for pk in run_pks}
        if not run_pks:
            return out
        cursor = driver_cursor(conn)
        try:
            rows = self._fetch(
                cursor,
                "SELECT l.run_pk, k.name, CASE WHEN l.is_nan THEN NULL ELSE l.value END, l.step, "
                "l.timestamp FROM latest_metrics l JOIN metric_keys k ON k.id = l.key_id",
                run_pks,
                "k.name",
                None,
                run_column="l.run_pk",
            )
        finally:
            cursor.close()
        for run_pk, key, value, step, stamp in sorted(rows, key=lambda r: (r[0], r[1])):
            out[run_pk].append(LatestMetric(key, _NAN if value is None else value, step, stamp))
        return out

    def json_columns(
        self,
        *,
        param_keys: Iterable[str] | None = None,
        metric_names: Iterable[str] | None = None,
        tag_keys: Iterable[str] | None = None,
        want_params: bool = True,
        want_metrics: bool = True,
        want_tags: bool = True,
    ) -> list[Any]:
        """Columns to add to a search query so each row carries its run's params, metrics and
        tags as JSON text, built by the database in the same query (`serialise.page_json`
        embeds them).

        Floats: PostgreSQL writes the shortest text that reads back exactly; SQLite's JSON
        functions round to 15 digits, so metric values go through printf('%!.17g') there,
        which reads back exactly too."""
        sqlite = self.db.is_sqlite
        columns: list[Any] = []

        def aggregate(key: Any, value: Any) -> Any:
            if sqlite:
                return func.json_group_object(key, value)
            return cast_(func.json_object_agg(key, value), Text)

        for label, table, wanted, keys in (
            ("_params", params, want_params, param_keys),
            ("_tags", tags, want_tags, tag_keys),
        ):
            if not wanted:
                continue
            query = select(aggregate(table.c.key, table.c.value)).where(table.c.run_pk == runs.c.pk)
            if keys is not None:
                query = query.where(table.c.key.in_(sorted(keys)))
            columns.append(query.scalar_subquery().label(label))
        if want_metrics:
            value: Any = latest_metrics.c.value
            if sqlite:
                # printf writes the largest double (a stored infinity, ADR 33) one ulp low
                extreme = func.json(literal(repr(MAX_DOUBLE)))
                value = case(
                    (value == MAX_DOUBLE, extreme),
                    (value == -MAX_DOUBLE, func.json(literal(repr(-MAX_DOUBLE)))),
                    else_=func.json(func.printf("%!.17g", value)),
                )
            # NaN as the JSON string "NaN", as PostgreSQL writes a NaN double and MLflow's
            # proto-JSON writes it (ADR 33).
            nan: Any = func.json_quote("NaN") if sqlite else literal("NaN", Float)
            value = case((latest_metrics.c.is_nan, nan), else_=value)
            query = (
                select(aggregate(metric_keys.c.name, value))
                .select_from(latest_metrics)
                .join(metric_keys, metric_keys.c.id == latest_metrics.c.key_id)
                .where(latest_metrics.c.run_pk == runs.c.pk)
            )
            if metric_names is not None:
                query = query.where(metric_keys.c.name.in_(sorted(metric_names)))
            columns.append(query.scalar_subquery().label("_metrics"))
        return columns

    def search(
        self,
        conn: Connection,
        project_pk: int,
        search: RunSearch,
        limit: int,
        json_of: dict[str, Any] | None = None,
    ) -> tuple[Sequence[Row[Any]], str | None]:
        """One page of a project's runs matching `search` (rows of `RUN_COLUMNS`), and the
        cursor of the next page. `json_of`: the rows also carry these params, metrics and tags
        as JSON (`json_columns`, same keyword arguments). Compiled searches are cached."""
        cache_key = (
            project_pk,
            search.filter,
            tuple(search.order_by),
            search.include_deleted,
            search.cursor,
            limit,
            tuple(search.fields) if search.fields is not None else None,
            json_of is not None,
        )
        prepared = self._searches.get(cache_key)
        if prepared is None:
            expr = parse_filter(search.filter)
            order = parse_order_by_list(search.order_by)
            after = decode_cursor(search.cursor) if search.cursor else None
            compiler = SearchCompiler(
                project_pk, lambda names: self.metric_key_ids(names, create=False)
            )
            extra_columns = (
                self.json_columns(**json_of) if json_of is not None else []
            )  # built only here: a cached search does not need them (~0.1 ms)
            query, keys = compiler.build(
                expr, order, search.include_deleted, after, limit, extra_columns
            )
            prepared = PreparedSearch.compile(query, conn.dialect, len(keys))
            if compiler.cacheable:
                self._searches.put(cache_key, prepared)
        rows = conn.exec_driver_sql(prepared.sql, prepared.params).all()
        page = rows[:limit]
        cursor = None
        if len(rows) > limit:
            last = page[-1]
            cursor = encode_cursor([getattr(last, f"_k{i}") for i in range(prepared.key_count)])
        return page, cursor

    def _fetch(
        self,
        cursor: Any,
        select_sql: str,
        run_pks: Sequence[int],
        key_column: str,
        keys: Iterable[str] | None,
        *,
        run_column: str = "run_pk",
    ) -> list[tuple[Any, ...]]:
        """`select_sql` narrowed to these runs (and keys), as plain tuples."""
        args: list[Any]
        if self.db.is_sqlite:
            sql = f"{select_sql} WHERE {run_column} IN ({','.join('?' * len(run_pks))})"
            args = list(run_pks)
            if keys is not None:
                wanted = list(keys)
                sql += f" AND {key_column} IN ({','.join('?' * len(wanted))})"
                args += wanted
        else:
            # Typed arrays: psycopg would send small ints as smallint[], which stops PostgreSQL
            # from hashing the comparison.
            sql = f"{select_sql} WHERE {run_column} = ANY(%s::integer[])"
            args = [list(run_pks)]
            if keys is not None:
                sql += f" AND {key_column} = ANY(%s::text[])"
                args.append(list(keys))
        cursor.execute(sql, args)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows

    # -- metric keys ----------------------------------------------------------------------

    def metric_key_ids(self, names: Iterable[str], *, create: bool) -> dict[str, int]:
        """Ids of these metric keys, interning new ones in their own committed transaction
        (an unused key name is harmless; a cached id from a rolled-back insert would not be)."""
        wanted = set(names)
        missing = [name for name in wanted if name not in self._key_ids]
        if missing:
            with self.db.read() as conn:
                found = conn.execute(
                    select(metric_keys.c.name, metric_keys.c.id).where(
                        metric_keys.c.name.in_(missing)
                    )
                ).all()
            with self._key_lock:
                self._key_ids.update({row.name: row.id for row in found})
            missing = [name for name in missing if name not in self._key_ids]
            if missing and create:
                with self.db.write() as conn:
                    conn.exec_driver_sql(
                        f"INSERT INTO metric_keys (name) VALUES ({self._ph}) "
                        "ON CONFLICT (name) DO NOTHING",
                        [(name,) for name in missing],
                    )
                return self.metric_key_ids(wanted, create=False)
        return {name: self._key_ids[name] for name in wanted if name in self._key_ids}

    # -- batches --------------------------------------------------------------------------

    def claim_batch(self, conn: Connection, run_pk: int, batch_id: str, now: int) -> bool:
        """Record `batch_id` for this run; False if it was recorded before (a retry)."""
        return bool(self.claim_batches(conn, [(run_pk, batch_id)], now))

    def existing_params(self, conn: Connection, run_pk: int, keys: list[str]) -> dict[str, str]:
        rows = conn.execute(
            select(params.c.key, params.c.value).where(
                params.c.run_pk == run_pk, params.c.key.in_(keys)
            )
        ).all()
        return {row.key: row.value for row in rows}

    def insert_params(
        self, conn: Connection, run_pk: int, values: dict[str, str], *, skip_existing: bool = False
    ) -> None:
        """Insert params; with `skip_existing`, keys the run already has are left as they are."""
        if values:
            conflict = " ON CONFLICT (run_pk, key) DO NOTHING" if skip_existing else ""
            driver_cursor(conn).executemany(
                f"INSERT INTO params (run_pk, key, value) "
                f"VALUES ({self._ph}, {self._ph}, {self._ph}){conflict}",
                [(run_pk, k, v) for k, v in values.items()],
            )

    def upsert_tags(self, conn: Connection, run_pk: int, values: dict[str, str]) -> None:
        if values:
            ph = self._ph
            driver_cursor(conn).executemany(
                f"INSERT INTO tags (run_pk, key, value) VALUES ({ph}, {ph}, {ph}) "
                "ON CONFLICT (run_pk, key) DO UPDATE SET value = excluded.value",
                [(run_pk, k, v) for k, v in values.items()],
            )

    def delete_tag(self, conn: Connection, run_pk: int, key: str) -> bool:
        result = conn.execute(delete(tags).where(tags.c.run_pk == run_pk, tags.c.key == key))
        return result.rowcount > 0

    def insert_points(
        self,
        conn: Connection,
        run_pk: int,
        project_pk: int,
        key_ids: list[int],
        steps: list[int],
        timestamps: list[int],
        values: list[float],
    ) -> None:
        """Append points of one run and move each key's latest value forward."""
        self.insert_points_of_runs(
            conn, [run_pk] * len(values), {run_pk: project_pk}, key_ids, steps, timestamps, values
        )

    def insert_points_of_runs(
        self,
        conn: Connection,
        run_pks: list[int],
        project_of: dict[int, int],
        key_ids: list[int],
        steps: list[int],
        timestamps: list[int],
        values: list[float],
    ) -> None:
        """Append points (one per position of the parallel lists, of any runs; `project_of`
        maps each run to its project) and move each run's and key's latest value forward."""
        n = len(values)
        points: list[Sequence[Any]] = [run_pks, key_ids, steps, timestamps, values]
        names = "run_pk, key_id, step, timestamp, value"
        # The values are finite or NaN (the service clamps the infinities), so the sum is NaN
        # exactly when one of them is: one C loop on the hot path. NaN is stored as MLflow
        # stores it: the value 0 with the is_nan flag (ADR 33).
        if n and math.isnan(sum(values)):
            flags = [v != v for v in values]
            points = [*points[:4], [0.0 if f else v for v, f in zip(values, flags, strict=True)]]
            points.append(flags)
            names += ", is_nan"
        if self.db.is_sqlite:
            marks = ", ".join("?" * len(points))
            driver_cursor(conn).executemany(
                f"INSERT INTO metrics ({names}) VALUES ({marks})",
                list(zip(*points, strict=True)),
            )
        elif n >= COPY_MIN_POINTS:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(f"COPY metrics ({names}) FROM STDIN") as copy:
                for row in zip(*points, strict=True):
                    copy.write_row(row)
        else:
            # Smaller batches in one statement, one round trip: COPY's setup costs more.
            types = ["integer", "integer", "bigint", "bigint", "double precision", "boolean"]
            unnest = ", ".join(f"unnest(%s::{t}[])" for t in types[: len(points)])
            driver_cursor(conn).execute(
                f"INSERT INTO metrics ({names}) SELECT {unnest}", tuple(points)
            )
        newest = newest_points(list(zip(run_pks, key_ids, strict=True)), steps, timestamps, values)
        ph = self._ph
        # In key order, so concurrent writers lock the same rows in the same order (no deadlock).
        driver_cursor(conn).executemany(
            "INSERT INTO latest_metrics (run_pk, key_id, project_pk, step, timestamp, value, "
            f"is_nan) VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph}, {ph}) "
            "ON CONFLICT (run_pk, key_id) DO UPDATE SET step = excluded.step, "
            "timestamp = excluded.timestamp, value = excluded.value, is_nan = excluded.is_nan "
            "WHERE excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step "
            "AND excluded.timestamp >= latest_metrics.timestamp)",
            [
                (run_pk, key_id, project_of[run_pk], s, t, 0.0 if v != v else v, v != v)
                for (run_pk, key_id), (s, t, v) in sorted(newest.items())
            ],
        )

    def claim_batches(
        self, conn: Connection, claims: list[tuple[int, str]], now: int
    ) -> set[tuple[int, str]]:
        """Record each (run, batch id); return those recorded now (the others are retries)."""
        ph = self._ph
        rows = ", ".join([f"({ph}, {ph}, {ph})"] * len(claims))
        cursor = driver_cursor(conn)
        cursor.execute(
            f"INSERT INTO batches (run_pk, batch_id, created_at) VALUES {rows} "
            "ON CONFLICT DO NOTHING RETURNING run_pk, batch_id",
            tuple(x for run_pk, batch_id in claims for x in (run_pk, batch_id, now)),
        )
        return {(row[0], row[1]) for row in cursor.fetchall()}

    def metric_history(self, conn: Connection, run_pk: int, run_id: str, key: str) -> MetricHistory:
        key_id = self.metric_key_ids([key], create=False).get(key)
        history = MetricHistory(run_id=run_id, key=key, step=[], timestamp=[], value=[])
        if key_id is None:
            return history
        rows = conn.exec_driver_sql(
            f"SELECT step, timestamp, {_VALUE_OR_NULL} FROM metrics WHERE run_pk = {self._ph} "
            f"AND key_id = {self._ph} ORDER BY step, timestamp",
            (run_pk, key_id),
        ).all()
        if rows:
            steps, stamps, values = zip(*rows, strict=True)
            if None in values:
                values = tuple(_NAN if v is None else v for v in values)
            history = MetricHistory(
                run_id=run_id, key=key, step=list(steps), timestamp=list(stamps), value=list(values)
            )
        return history

    # -- artifacts ------------------------------------------------------------------------

    def put_artifact(
        self, conn: Connection, run_pk: int, path: str, oid: str, size: int, now: int
    ) -> None:
        ph = self._ph
        driver_cursor(conn).execute(
            "INSERT INTO artifacts (run_pk, path, oid, size, created_at) "
            f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}) ON CONFLICT (run_pk, path) DO UPDATE SET "
            "oid = excluded.oid, size = excluded.size, created_at = excluded.created_at",
            (run_pk, path, oid, size, now),
        )

    def list_artifacts(self, conn: Connection, run_pk: int, prefix: str = "") -> list[Artifact]:
        query = select(artifacts).where(artifacts.c.run_pk == run_pk).order_by(artifacts.c.path)
        if prefix:
            query = query.where(artifacts.c.path.startswith(prefix, autoescape=True))
        return [
            Artifact(path=r.path, oid=r.oid, size=r.size, created_at=r.created_at)
            for r in conn.execute(query)
        ]

    def projects_holding(self, conn: Connection, oid: str) -> set[str]:
        """The names of the projects with an artifact whose content is `oid` (through the read
        model of the projects' names, `tables.project_names`)."""
        ph = self._ph
        rows = conn.exec_driver_sql(
            "SELECT DISTINCT p.name FROM artifacts a JOIN runs r ON r.pk = a.run_pk "
            f"JOIN projects p ON p.pk = r.project_pk WHERE a.oid = {ph}",
            (oid,),
        ).all()
        return {row[0] for row in rows}

    def get_artifact(self, conn: Connection, run_pk: int, path: str) -> Artifact | None:
        row = conn.execute(
            select(artifacts).where(artifacts.c.run_pk == run_pk, artifacts.c.path == path)
        ).first()
        if row is None:
            return None
        return Artifact(path=row.path, oid=row.oid, size=row.size, created_at=row.created_at)

    # -- deletion -------------------------------------------------------------------------

    def set_deleted(self, conn: Connection, run_pk: int, deleted_at: int | None) -> None:
        conn.execute(update(runs).where(runs.c.pk == run_pk).values(deleted_at=deleted_at))

    def live_run_count(self, conn: Connection, project_pk: int) -> int:
        """How many runs of the project are not deleted."""
        count = conn.execute(
            select(func.count())
            .select_from(runs)
            .where(runs.c.project_pk == project_pk, runs.c.deleted_at.is_(None))
        ).scalar_one()
        return int(count)

    def deleted_run_pks(
        self, conn: Connection, cutoff: int, project_pks: Sequence[int] = ()
    ) -> list[int]:
        """Runs deleted at or before `cutoff`, plus every run of the given projects."""
        condition = and_(runs.c.deleted_at.is_not(None), runs.c.deleted_at <= cutoff)
        if project_pks:
            condition = condition | runs.c.project_pk.in_(list(project_pks))
        return list(conn.execute(select(runs.c.pk).where(condition)).scalars())

    def purge(self, conn: Connection, run_pks: Sequence[int]) -> None:
        """Delete these runs and everything that hangs off them, for good."""
        for start in range(0, len(run_pks), 500):
            chunk = list(run_pks[start : start + 500])
            for table in (metrics, latest_metrics, params, tags, batches, artifacts):
                conn.execute(delete(table).where(table.c.run_pk.in_(chunk)))
            conn.execute(delete(runs).where(runs.c.pk.in_(chunk)))

    # -- for other domains (through TrackingService) -------------------------------------

    def live_runs(
        self, conn: Connection, run_pks: Iterable[int]
    ) -> dict[int, tuple[str, str, str]]:
        """pk -> (id, name, project name) of those of these runs that are not deleted."""
        wanted = sorted(set(run_pks))
        found: dict[int, tuple[str, str, str]] = {}
        for start in range(0, len(wanted), 500):
            rows = conn.execute(
                select(runs.c.pk, runs.c.id, runs.c.name, project_names.c.name.label("project"))
                .join(project_names, project_names.c.pk == runs.c.project_pk)
                .where(runs.c.pk.in_(wanted[start : start + 500]), runs.c.deleted_at.is_(None))
            ).all()
            found.update((row.pk, (row.id, row.name, row.project)) for row in rows)
        return found

    def projects_holding_any(self, conn: Connection, oids: Sequence[str]) -> dict[str, set[str]]:
        """For each of these oids, the names of the projects with an artifact holding it."""
        holders: dict[str, set[str]] = {}
        for start in range(0, len(oids), 500):
            rows = conn.execute(
                select(artifacts.c.oid, project_names.c.name)
                .join(runs, runs.c.pk == artifacts.c.run_pk)
                .join(project_names, project_names.c.pk == runs.c.project_pk)
                .where(artifacts.c.oid.in_(list(oids[start : start + 500])))
            ).all()
            for oid, project in rows:
                holders.setdefault(oid, set()).add(project)
        return holders

    def summaries(self, conn: Connection, run_pks: Sequence[int]) -> dict[int, Any]:
        """pk -> (pk, id, name, status, project_pk) of the runs `run_pks` that exist."""
        if not run_pks:
            return {}
        query = select(runs.c.pk, runs.c.id, runs.c.name, runs.c.status, runs.c.project_pk)
        rows = conn.execute(query.where(runs.c.pk.in_(list(run_pks))))
        return {row.pk: row for row in rows}
