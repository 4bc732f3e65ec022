"""TrackingService: every rule about runs, their params, metrics, tags and artifacts.

The REST API, and through it the SDK, CLI and web UI, call these methods; nothing else writes
tracking data. Each method takes the acting principal and checks it first.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Row

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.ids import is_run_id, new_run_id
from tandem.core.paging import Page, check_limit
from tandem.core.paths import check_artifact_path
from tandem.core.refs import RunRef, parse_run_ref
from tandem.core.validation import (
    MAX_NAME_LENGTH,
    MAX_STEP,
    check_key,
    check_text,
    clamp_metric_value,
)
from tandem.errors import Conflict, HiddenNotFound, InvalidInput, NotFound, TandemError
from tandem.projects.service import ProjectService
from tandem.store.blob_index import BlobIndex
from tandem.store.blobs import BlobStore, check_oid, hash_file
from tandem.store.db import Database
from tandem.store.oid import Oid
from tandem.tracking.group_commit import GroupCommitter
from tandem.tracking.models import (
    Artifact,
    BatchResult,
    LatestMetric,
    MetricColumns,
    MetricHistory,
    Run,
    RunBatch,
    RunComparison,
    RunCreate,
    RunSearch,
    RunStatus,
    RunUpdate,
)
from tandem.tracking.rules import (
    check_new_run,
    check_params,
    check_run_writable,
    check_tags,
    param_text,
)
from tandem.tracking.store import AnyRunRow, RunRow, RunStore, newest_points

MAX_BATCH_POINTS = 100_000
MAX_BATCH_KEYS = 1_000


# A batch's metric points, checked: key ids, steps, timestamps and values.
_Points = tuple[list[int], list[int], list[int], list[float]]


class _PreparedBatch(NamedTuple):
    """A batch checked before its transaction."""

    batch: RunBatch
    params: dict[str, str]
    tags: dict[str, str]
    points: _Points

    def latest_metrics(self) -> dict[str, float]:
        """The value each metric key of the batch ends at (for a run that had none before)."""
        columns = self.batch.metrics
        if columns is None or not len(columns):
            return {}
        _, steps, stamps, values = self.points
        return {k: p[2] for k, p in newest_points(columns.key, steps, stamps, values).items()}


class TrackingService:
    def __init__(
        self,
        db: Database,
        runs: RunStore,
        projects: ProjectService,
        blobs: BlobStore,
        blob_index: BlobIndex,
        auth: Authorizer,
        audit: AuditLog,
    ) -> None:
        self.audit = audit
        self.db = db
        self.runs = runs
        self.projects = projects
        self.blobs = blobs
        self.blob_index = blob_index
        self.auth = auth
        self._group_commit = GroupCommitter(self.log_batches)

    # -- helpers --------------------------------------------------------------------------

    def _run_row(
        self, conn: Connection, principal: Principal, run_id: str, action: Action
    ) -> AnyRunRow:
        ref = parse_run_ref(run_id)
        row = self.runs.get_row(conn, ref.run_id)
        self._check_access(principal, ref, row, action)
        return row

    def _check_access(
        self, principal: Principal, ref: RunRef, row: AnyRunRow, action: Action
    ) -> None:
        """Raise unless `row` is the run `ref` names (in its project, if it names one) and
        `principal` may perform `action` on it."""
        if ref.project is not None and ref.project != row.project:
            raise NotFound(f"run {ref.run_id} is not in project {ref.project!r}")
        self.auth.require(principal, action, row.project, hidden=f"run {ref.run_id}")

    @contextlib.contextmanager
    def _permission_first(
        self, principal: Principal, run_id: str, action: Action
    ) -> Iterator[None]:
        """Around checks of a request's input that need no query: if one fails, whether the
        caller may act on the run at all is asked before its error goes out, so a refusal
        (401, 403, or 404 for a run they may not see) always outranks a complaint about the
        input, at no cost to a request that passes."""
        try:
            yield
        except InvalidInput:
            with self.db.read() as conn:
                self._run_row(conn, principal, run_id, action)
            raise

    @staticmethod
    def _writable(row: AnyRunRow) -> None:
        check_run_writable(row)

    # -- runs -----------------------------------------------------------------------------

    def create_run(self, principal: Principal, project: str, data: RunCreate) -> Run:
        """Start a run in `project`, with its environment and any initial params and tags, and
        apply `data.batch` to it in the same transaction.

        With `data.id` (chosen by the client), creating a run that exists already is
        acknowledged and changes nothing but applying the batch (once per batch id), so a
        client may retry it: the SDK creates a short run with its metrics and end in one
        request (ADR 19).

        Raises:
            NotFound: the project does not exist and `create_project` is false.
            Conflict: `data.id` is another run's, or the batch conflicts as in `log_batch`.
            InvalidInput: a name, key or value breaks the rules in `tandem.tracking.rules`.
        """
        # the caller's right first (a project that does not exist yet is created if they may)
        if data.create_project and principal.role_in(project) is None:
            self.auth.require(principal, Action.PROJECT_CREATE)
        else:
            self.auth.require(principal, Action.RUN_WRITE, project)
        run_id = data.id if data.id is not None else new_run_id()
        name = check_new_run(run_id, data.name, data.seed)
        params = check_params(data.params)
        tags = check_tags(data.tags)
        links = {check_artifact_path(p): check_oid(o) for p, o in data.link_artifacts.items()}
        batch = self._prepare_batch(data.batch) if data.batch is not None else None
        start_time = data.start_time or now_ms()
        with self.db.write() as conn:
            project_pk = self.projects.pk_for_write(
                conn, principal, project, Action.RUN_WRITE, create=data.create_project
            )
            row = self.runs.find_row(conn, run_id) if data.id is not None else None
            if row is None:
                row = self._insert_run(
                    conn, principal, run_id, project_pk, project, name, start_time, data,
                    params, tags, links,
                )  # fmt: skip
                ended = self._apply_batch(conn, principal, row, batch)[1] if batch else {}
                return Run(
                    id=run_id,
                    project=project,
                    name=name,
                    status=RunStatus(ended.get("status", RunStatus.RUNNING)),
                    user=principal.name,
                    start_time=start_time,
                    end_time=ended.get("end_time"),
                    seed=data.seed,
                    environment=data.environment,
                    params={**params, **batch.params} if batch else params,
                    metrics=batch.latest_metrics() if batch else {},
                    tags={**tags, **batch.tags} if batch else tags,
                )
            # A retry, or another run's id.
            if row.project_pk != project_pk or row.user != principal.name:
                raise Conflict(f"run id {run_id} is taken: choose another", run_id=run_id)
            if batch is not None:
                self._apply_batch(conn, principal, row, batch)
        return self.get_run(principal, run_id)

    def _insert_run(
        self,
        conn: Connection,
        principal: Principal,
        run_id: str,
        project_pk: int,
        project: str,
        name: str,
        start_time: int,
        data: RunCreate,
        params: dict[str, str],
        tags: dict[str, str],
        links: dict[str, Oid],
    ) -> RunRow:
        """Insert a new run with its params, tags and linked artifacts; its row."""
        run_pk = self.runs.create(
            conn,
            run_id=run_id,
            project_pk=project_pk,
            name=name,
            user=principal.name,
            start_time=start_time,
            seed=data.seed,
            environment=data.environment,
        )
        self.runs.insert_params(conn, run_pk, params)
        self.runs.upsert_tags(conn, run_pk, tags)
        now = now_ms()
        for path, oid in links.items():
            size = self.blob_index.size_of(conn, oid)
            message = f"blob {oid} is not stored: upload {path} instead"
            if size is None:
                raise NotFound(message, oid=oid)
            if not self._may_link(conn, principal, oid):
                raise HiddenNotFound(message, oid=oid)  # same answer; audited as a denial
            if not self.blobs.exists(oid):
                raise NotFound(message, oid=oid)
            self.blob_index.touch(conn, oid, size, now)
            self.runs.put_artifact(conn, run_pk, path, oid, size, now)
        self.audit.record(conn, principal, "run.create", run_id, project=project, name=name)
        return RunRow(
            run_pk, run_id, name, RunStatus.RUNNING.value, principal.name, start_time, None,
            data.seed, None, project_pk, project,
        )  # fmt: skip

    def _may_link(self, conn: Connection, principal: Principal, oid: str) -> bool:
        """Linking stored content by its hash needs read access to an artifact that holds it:
        knowing (or guessing) a hash must not open another project's data. The answer to a
        refusal is the same as for content that is not stored."""
        if principal.is_superuser:
            return True
        return any(
            principal.may(Action.ARTIFACT_READ, name)
            for name in self.runs.projects_holding(conn, oid)
        )

    def get_run(self, principal: Principal, run_id: str) -> Run:
        """A run with its environment, params, tags and latest metric values."""
        with self.db.read() as conn:
            row = self._run_row(conn, principal, run_id, Action.RUN_READ)
            params, metrics, tags = self.runs.load_data(conn, [row.pk])
            environment = self.runs.environment(conn, row.pk)
        return self.runs.to_model(
            row,
            params=params[row.pk],
            metrics=metrics[row.pk],
            tags=tags[row.pk],
            environment=environment,
        )

    def latest_metrics(
        self, principal: Principal, run_ids: Sequence[str]
    ) -> dict[str, list[LatestMetric]]:
        """Each run's latest metric points with their steps and timestamps, by run id (the
        runs' `metrics` carry the values alone)."""
        with self.db.read() as conn:
            rows = [self._run_row(conn, principal, run_id, Action.RUN_READ) for run_id in run_ids]
            points = self.runs.latest_points(conn, [row.pk for row in rows])
        return {row.id: points[row.pk] for row in rows}

    def update_run(self, principal: Principal, run_id: str, data: RunUpdate) -> Run:
        """Rename a run or end it. A run ends once: finished, failed or killed.

        Raises:
            Conflict: the run already ended with another status, or is deleted.
        """
        with self.db.write() as conn:
            row = self._run_row(conn, principal, run_id, Action.RUN_WRITE)
            self._writable(row)
            values: dict[str, Any] = {}
            if data.name is not None:
                values["name"] = check_text(data.name, "run name", MAX_NAME_LENGTH)
            if data.status is not None:
                values.update(self._end_values(row, data.status, data.end_time))
            self.runs.update(conn, row.pk, **values)
            self.audit.record(conn, principal, "run.update", row.id, project=row.project, **values)
        return self.get_run(principal, row.id)

    @staticmethod
    def _end_values(row: AnyRunRow, status: RunStatus, end_time: int | None) -> dict[str, Any]:
        current = RunStatus(row.status)
        if current.is_terminal and status != current:
            raise Conflict(
                f"run {row.id} already ended as {current.value}; it cannot become {status.value}"
            )
        if current.is_terminal or status is RunStatus.RUNNING:
            return {}
        return {"status": status.value, "end_time": end_time or now_ms()}

    def delete_run(self, principal: Principal, run_id: str) -> Run:
        """Soft-delete: hidden from search until restored; `tandem gc` purges it for good."""
        with self.db.write() as conn:
            row = self._run_row(conn, principal, run_id, Action.RUN_DELETE)
            check_run_writable(row, "deleting it", run_too=False)
            if row.deleted_at is None:
                self.runs.set_deleted(conn, row.pk, now_ms())
                self.audit.record(conn, principal, "run.delete", row.id, project=row.project)
        return self.get_run(principal, row.id)

    def restore_run(self, principal: Principal, run_id: str) -> Run:
        with self.db.write() as conn:
            row = self._run_row(conn, principal, run_id, Action.RUN_DELETE)
            check_run_writable(row, "restoring it", run_too=False)
            if row.deleted_at is None:
                raise Conflict(f"run {row.id} is not deleted")
            self.runs.set_deleted(conn, row.pk, None)
            self.audit.record(conn, principal, "run.restore", row.id, project=row.project)
        return self.get_run(principal, row.id)

    # -- logging --------------------------------------------------------------------------

    def _check_metrics(self, columns: MetricColumns) -> tuple[list[int], list[int], list[float]]:
        n = len(columns.key)
        steps = columns.step if columns.step is not None else [0] * n
        stamps = columns.timestamp if columns.timestamp is not None else [now_ms()] * n
        if not (len(columns.value) == len(steps) == len(stamps) == n):
            raise InvalidInput(
                "metrics.key, value, step and timestamp must have the same length "
                f"(got {n}, {len(columns.value)}, {len(steps)}, {len(stamps)})"
            )
        if n > MAX_BATCH_POINTS:
            raise InvalidInput(f"a batch holds at most {MAX_BATCH_POINTS} points, got {n}")
        if n == 0:
            return steps, stamps, []
        values = columns.value
        if not all(map(math.isfinite, values)):
            # As MLflow stores them (ADR 33): NaN is kept (the store flags it), the infinities
            # become the largest finite double, so orderings and aggregates keep working.
            values = [clamp_metric_value(v) for v in values]
        if min(steps) < 0 or max(steps) > MAX_STEP:
            raise InvalidInput(f"steps must be whole numbers from 0 to {MAX_STEP}")
        if min(stamps) < 0 or max(stamps) > MAX_STEP:
            raise InvalidInput("timestamps must be milliseconds since the epoch")
        return steps, stamps, values

    def _prepare_points(self, columns: MetricColumns | None) -> _Points:
        """A batch's metric points checked, as key ids, steps, timestamps and values."""
        if columns is None or not len(columns):
            return [], [], [], []
        unique_keys = set(columns.key)
        if len(unique_keys) > MAX_BATCH_KEYS:
            raise InvalidInput(f"a batch holds at most {MAX_BATCH_KEYS} distinct metric keys")
        for key in unique_keys:
            check_key(key, "metric")
        steps, stamps, values = self._check_metrics(columns)
        ids = self.runs.metric_key_ids(unique_keys, create=True)
        return [ids[key] for key in columns.key], steps, stamps, values

    def log_batch(self, principal: Principal, run_id: str, batch: RunBatch) -> BatchResult:
        """Apply params, tags and metric points to a run, all or nothing.

        With a `batch_id`, applying the same batch again is acknowledged and changes nothing,
        so a client can retry after a timeout without duplicating points.

        Raises:
            Conflict: a param already has a different value, or the run is deleted.
            InvalidInput: a key or value breaks the rules, or a metric value is not finite.
        """
        with self._permission_first(principal, run_id, Action.RUN_WRITE):
            prepared = self._prepare_batch(batch)
        with self.db.write() as conn:
            row = self._run_row(conn, principal, run_id, Action.RUN_WRITE)
            return self._apply_batch(conn, principal, row, prepared)[0]

    def _prepare_batch(self, batch: RunBatch) -> _PreparedBatch:
        """A batch checked before its transaction."""
        return _PreparedBatch(
            batch,
            check_params(batch.params),
            check_tags(batch.tags),
            self._prepare_points(batch.metrics),
        )

    def _apply_batch(
        self,
        conn: Connection,
        principal: Principal,
        row: AnyRunRow,
        prepared: _PreparedBatch,
    ) -> tuple[BatchResult, dict[str, Any]]:
        """`log_batch` inside the caller's transaction, on a run the caller may write to; its
        result, and the run's new status and end time if the batch ended it."""
        batch, params, tags, (key_ids, steps, stamps, values) = prepared
        count = len(values)
        if batch.batch_id is not None and not self.runs.claim_batch(
            conn, row.pk, batch.batch_id, now_ms()
        ):
            return BatchResult(applied=False, points=count), {}
        self._writable(row)
        if params:
            # Insert what is new, then compare with what is stored: concurrent writers of
            # the same param then agree (or all but one get Conflict) on every database.
            self.runs.insert_params(conn, row.pk, params, skip_existing=True)
            stored = self.runs.existing_params(conn, row.pk, list(params))
            for key, value in params.items():
                if stored[key] != value:
                    raise Conflict(
                        f"param {key!r} of run {row.id} is already {stored[key]!r}; params "
                        f"cannot change (got {value!r}): log a new run or use a tag",
                        key=key,
                    )
        self.runs.upsert_tags(conn, row.pk, tags)
        if count:
            self.runs.insert_points(conn, row.pk, row.project_pk, key_ids, steps, stamps, values)
        ended = {}
        if batch.end_status is not None:
            ended = self._end_values(row, batch.end_status, batch.end_time)
            self.runs.update(conn, row.pk, **ended)
        self.audit.record(
            conn,
            principal,
            "run.log",
            row.id,
            project=row.project,
            points=count,
            params=len(params),
            tags=len(tags),
            **ended,
        )
        return BatchResult(applied=True, points=count), ended

    def log_batches(
        self, requests: Sequence[tuple[Principal, str, RunBatch]]
    ) -> list[BatchResult | Exception]:
        """Apply several batches, each all or nothing, as `log_batch` would one by one; the
        result (or the error) of each, in order. The server's group commit (ADR 17): batches
        of metric points from concurrent requests share one transaction, so they share its
        round trips, its commit, and the locks on the runs' latest values, which otherwise
        serialize concurrent writers to one run.

        A batch that is more than metric points (params, tags, an end), or that the shared
        transaction would refuse (bad input, a run that is missing, not the caller's or
        deleted, or in a deleted project), is applied alone afterwards by `log_batch`, which
        gives its usual result or error. If the shared transaction fails, each batch is applied
        alone.
        """
        results: list[BatchResult | Exception | None] = [None] * len(requests)
        try:
            self._log_together(requests, results)
        except Exception:  # e.g. a lost connection or a deadlock: nothing of it was committed
            results = [None] * len(requests)
        for i, (principal, run_id, batch) in enumerate(requests):
            if results[i] is None:
                try:
                    results[i] = self.log_batch(principal, run_id, batch)
                except Exception as error:  # handed to the request that sent this batch
                    results[i] = error
        return cast(list[BatchResult | Exception], results)

    def submit_batch(
        self, principal: Principal, run_id: str, batch: RunBatch
    ) -> Future[BatchResult]:
        """`log_batch` in the next group commit (`log_batches`), from the committer's thread:
        for a server's concurrent small requests. The future holds the result or the error."""
        return self._group_commit.submit((principal, run_id, batch))

    def close(self) -> None:
        """Apply the batches still queued for a group commit and stop its thread."""
        self._group_commit.close()

    def _log_together(
        self,
        requests: Sequence[tuple[Principal, str, RunBatch]],
        results: list[BatchResult | Exception | None],
    ) -> None:
        """The shared transaction of `log_batches`: fills `results` for the batches it took."""
        prepared = []
        for i, (principal, run_id, batch) in enumerate(requests):
            if batch.params or batch.tags or batch.end_status is not None:
                continue
            try:
                prepared.append((i, principal, run_id, batch, self._prepare_points(batch.metrics)))
            except InvalidInput:
                continue
        if not prepared:
            return
        # Pipelined on PostgreSQL: three round trips (the runs, the batch ids, then the rest
        # with the commit) instead of seven; on any error the batches are applied one by one.
        with self.db.write(pipelined=True) as conn:
            rows: dict[str, AnyRunRow] = {}
            taken = []
            for i, principal, run_id, batch, points in prepared:
                try:  # a refusal is given by log_batch, alone
                    ref = parse_run_ref(run_id)
                    row = rows.get(ref.run_id) or self.runs.get_row(conn, ref.run_id)
                    rows[ref.run_id] = row
                    self._check_access(principal, ref, row, Action.RUN_WRITE)
                except TandemError:
                    continue
                if row.deleted_at is None and row.project_deleted_at is None:
                    taken.append((i, principal, row, batch, points))
            now = now_ms()
            claims = list({(r.pk, b.batch_id) for _, _, r, b, _ in taken if b.batch_id is not None})
            claimed = self.runs.claim_batches(conn, claims, now) if claims else set()
            seen: set[tuple[int, str]] = set()
            run_pks: list[int] = []
            key_ids: list[int] = []
            steps: list[int] = []
            stamps: list[int] = []
            values: list[float] = []
            events: list[tuple[Principal, str, str, str | None, dict[str, Any]]] = []
            for i, principal, row, batch, (keys, step, stamp, value) in taken:
                claim = (row.pk, batch.batch_id) if batch.batch_id is not None else None
                if claim is not None and (claim not in claimed or claim in seen):
                    results[i] = BatchResult(applied=False, points=len(value))
                    continue
                if claim is not None:
                    seen.add(claim)
                run_pks += [row.pk] * len(value)
                key_ids += keys
                steps += step
                stamps += stamp
                values += value
                details = {"points": len(value), "params": 0, "tags": 0}
                events.append((principal, "run.log", row.id, row.project, details))
                results[i] = BatchResult(applied=True, points=len(value))
            if values:
                projects = {row.pk: row.project_pk for row in rows.values()}
                self.runs.insert_points_of_runs(
                    conn, run_pks, projects, key_ids, steps, stamps, values
                )
            if events:
                self.audit.record_many(conn, events)

    def delete_tag(self, principal: Principal, run_id: str, key: str) -> None:
        with self.db.write() as conn:
            row = self._run_row(conn, principal, run_id, Action.RUN_WRITE)
            self._writable(row)
            if not self.runs.delete_tag(conn, row.pk, key):
                raise NotFound(f"run {row.id} has no tag {key!r}")
            self.audit.record(conn, principal, "run.untag", row.id, project=row.project, key=key)

    def metric_history(self, principal: Principal, run_id: str, key: str) -> MetricHistory:
        """Every point of one metric of a run, in step order."""
        with self.db.read() as conn:
            row = self._run_row(conn, principal, run_id, Action.RUN_READ)
            return self.runs.metric_history(conn, row.pk, row.id, key)

    # -- search ---------------------------------------------------------------------------

    def search_runs(self, principal: Principal, search: RunSearch) -> Page[Run]:
        """Runs of a project matching a filter, in order, one page at a time.

        See `tandem.tracking.filters` for the filter language. Raises InvalidFilter (with the
        position) for a malformed filter or order.
        """
        want = _FieldSelection(search.fields)
        with self.db.read() as conn:
            page, cursor = self._search(conn, principal, search)
            params, metrics, tags = self.runs.load_data(
                conn, [row.pk for row in page], **want.load_options()
            )
        items = [
            self.runs.to_model(
                row, params=params[row.pk], metrics=metrics[row.pk], tags=tags[row.pk]
            )
            for row in page
        ]
        return Page[Run](items=items, next_cursor=cursor)

    def search_run_rows(
        self, principal: Principal, search: RunSearch
    ) -> tuple[Sequence[Row[Any]], str | None]:
        """`search_runs` as the store's rows, each carrying its run's params, metrics and tags
        as JSON text, and the next page's cursor: the REST API writes the page's JSON straight
        from them (`tandem.tracking.serialise.page_json`), ~2x cheaper than through models."""
        want = _FieldSelection(search.fields)
        with self.db.read() as conn:
            return self._search(conn, principal, search, json_of=want)

    def _search(
        self,
        conn: Connection,
        principal: Principal,
        search: RunSearch,
        *,
        json_of: _FieldSelection | None = None,
    ) -> tuple[Sequence[Row[Any]], str | None]:
        """One page of rows, and the cursor of the next. `json_of`: the rows also carry these
        params, metrics and tags as JSON (`RunStore.json_columns`)."""
        # permission, then the limit, then the project (`access` asks the permission again,
        # from memory), so each bad request gets the answer it always got
        self.auth.require(principal, Action.RUN_READ, search.project)
        limit = check_limit(search.limit)
        project_pk = self.projects.access(conn, principal, search.project, Action.RUN_READ)
        options = json_of.load_options() if json_of is not None else None
        return self.runs.search(conn, project_pk, search, limit, options)

    def compare_runs(self, principal: Principal, run_ids: Sequence[str]) -> RunComparison:
        """Runs side by side: which params differ, and every metric key any of them has."""
        if not 2 <= len(run_ids) <= 100:
            raise InvalidInput("compare needs 2 to 100 runs")
        runs = [self.get_run(principal, run_id) for run_id in run_ids]
        keys = sorted({key for run in runs for key in run.params})
        differ = [k for k in keys if len({run.params.get(k) for run in runs}) > 1]
        same = [k for k in keys if k not in differ]
        metric_keys = sorted({key for run in runs for key in run.metrics})
        return RunComparison(
            runs=runs, params_differ=differ, params_same=same, metric_keys=metric_keys
        )

    # -- artifacts ------------------------------------------------------------------------

    def check_writable(self, principal: Principal, run_id: str) -> None:
        """Raise unless `principal` may write to the run, it is not deleted, and the principal
        has room left under the storage quota (checked again when the upload is stored; this
        refuses early, before any bytes are read)."""
        with self.db.read() as conn:
            self._writable(self._run_row(conn, principal, run_id, Action.RUN_WRITE))
            self.blob_index.check_room(conn, principal.name)

    def upload_artifact(
        self, principal: Principal, run_id: str, path: str, source: Path
    ) -> Artifact:
        """Store the file at `source` (a server-side temporary file) as artifact `path`.

        The blob's row is touched before the blob is relied on, so a concurrent `gc` cannot
        delete it between the upload and the reference.

        Raises:
            QuotaExceeded: the upload would take the principal past the storage quota; nothing
                is kept.
        """
        with self._permission_first(principal, run_id, Action.RUN_WRITE):
            path = check_artifact_path(path)
        with self.db.read() as conn:
            row = self._run_row(conn, principal, run_id, Action.RUN_WRITE)
            self._writable(row)
        info = hash_file(source)
        now = now_ms()
        with self.db.write() as conn:
            # Refused past the uploader's quota before anything is kept (QuotaExceeded, 507).
            self.blob_index.charge_upload(conn, principal.name, info.oid, info.size, now)
            self.blob_index.touch(conn, info.oid, info.size, now)
        stored = self.blobs.put_file(source, known=info)
        if stored.oid != info.oid:
            raise InvalidInput(f"{path} changed while it was uploaded; upload it again")
        with self.db.write() as conn:
            row = self._run_row(conn, principal, run_id, Action.RUN_WRITE)
            self._writable(row)
            self.runs.put_artifact(conn, row.pk, path, info.oid, info.size, now)
            self.audit.record(
                conn,
                principal,
                "artifact.upload",
                f"{row.id}/{path}",
                project=row.project,
                oid=info.oid,
                size=info.size,
            )
        return Artifact(path=path, oid=info.oid, size=info.size, created_at=now)

    def list_artifacts(self, principal: Principal, run_id: str, prefix: str = "") -> list[Artifact]:
        with self.db.read() as conn:
            row = self._run_row(conn, principal, run_id, Action.RUN_READ)
            return self.runs.list_artifacts(conn, row.pk, prefix)

    def open_artifact(
        self, principal: Principal, run_id: str, path: str
    ) -> tuple[Artifact, Iterator[bytes]]:
        """The artifact's record and its verified bytes."""
        with self._permission_first(principal, run_id, Action.ARTIFACT_READ):
            path = check_artifact_path(path)
        with self.db.write() as conn:
            row = self._run_row(conn, principal, run_id, Action.ARTIFACT_READ)
            artifact = self.runs.get_artifact(conn, row.pk, path)
            if artifact is None:
                raise NotFound(f"run {row.id} has no artifact {path!r}", path=path)
            self.audit.record(
                conn, principal, "artifact.download", f"{row.id}/{path}", project=row.project
            )
        return artifact, self.blobs.read(artifact.oid)  # type: ignore[arg-type]

    # -- for other domains, inside their transaction (the data domain's run links) ---------

    def run_to_write(
        self, conn: Connection, principal: Principal, run_id: str, doing: str
    ) -> AnyRunRow:
        """The run `run_id` (an id or unique prefix) once `principal` may write it and it takes
        writes. Checks the permission: a run the caller may not read is not found (named as
        given); a deleted run, or a run of a deleted project, is a Conflict saying `doing`."""
        row = self.runs.get_row(conn, run_id)
        self.auth.require(principal, Action.RUN_WRITE, row.project, hidden=f"run {run_id}")
        check_run_writable(row, doing)
        return row

    def run_to_read(self, conn: Connection, principal: Principal, run_id: str) -> AnyRunRow:
        """The run `run_id` (an id or unique prefix) once `principal` may read it. Checks the
        permission: a run the caller may not read is not found (named by its full id)."""
        row = self.runs.get_row(conn, run_id)
        self.auth.require(principal, Action.RUN_READ, row.project, hidden=f"run {row.id}")
        return row

    def live_runs(
        self, conn: Connection, run_pks: Iterable[int]
    ) -> dict[int, tuple[str, str, str]]:
        """pk -> (id, name, project) of those of these runs that are not deleted. No permission
        check: the caller shows only the runs of projects its principal may read."""
        return self.runs.live_runs(conn, run_pks)

    def artifact_projects(self, conn: Connection, oids: Sequence[str]) -> dict[str, set[str]]:
        """For each of these oids, the projects with a run artifact holding it. No permission
        check: the caller decides what the principal may do with content of those projects."""
        return self.runs.projects_holding_any(conn, oids)

    # -- read models for other domains (inside the caller's transaction) -------------------
    # No permission is checked here: the calling service checks it (on the row's project).

    def run_in(self, conn: Connection, run_id: str) -> AnyRunRow | None:
        """Run `run_id` (or the one run an id prefix names), or None."""
        return self.runs.find_row(conn, run_id)

    @staticmethod
    def check_run_writable(row: AnyRunRow, doing: str) -> None:
        """Raise Conflict unless the run `row` (from `run_in`) takes writes."""
        check_run_writable(row, doing)

    def artifact_in(self, conn: Connection, run_pk: int, path: str) -> Artifact | None:
        return self.runs.get_artifact(conn, run_pk, path)

    def artifacts_in(self, conn: Connection, run_pk: int, prefix: str = "") -> list[Artifact]:
        return self.runs.list_artifacts(conn, run_pk, prefix)

    def run_ids(self, conn: Connection, run_pks: Sequence[int]) -> dict[int, str]:
        """pk -> id of the runs `run_pks` that exist."""
        return {pk: row.id for pk, row in self.runs.summaries(conn, run_pks).items()}

    def lineage_labels(
        self, conn: Connection, run_pks: Sequence[int]
    ) -> dict[int, tuple[int, str, str, str | None]]:
        """The lineage graph's read model of runs: pk -> (project pk, ref in the project,
        label, status) of those that exist."""
        return {
            pk: (row.project_pk, f"runs/{row.id}", row.name or row.id[:8], row.status)
            for pk, row in self.runs.summaries(conn, run_pks).items()
        }

    def find_run_in(self, conn: Connection, run_id: str) -> AnyRunRow | None:
        """`run_in`, or None if there is no such run."""
        return self.runs.find_row(conn, run_id)

    def deleted_run_pks(
        self, conn: Connection, cutoff: int, project_pks: Sequence[int] = ()
    ) -> list[int]:
        """Runs deleted at or before `cutoff` (ms), and every run of these projects: gc's."""
        return self.runs.deleted_run_pks(conn, cutoff, project_pks)

    def purge_runs(self, conn: Connection, run_pks: Sequence[int]) -> None:
        """Delete these runs and everything that hangs off them, for good (gc, once the rows
        of other domains that point at them are gone)."""
        self.runs.purge(conn, run_pks)


class _FieldSelection:
    """Which params, metrics and tags a search returns. None means all of that kind."""

    def load_options(self) -> dict[str, Any]:
        """Keyword arguments for `RunStore.load_data` / `page_json`."""
        return {
            "param_keys": self.params,
            "metric_names": self.metrics,
            "tag_keys": self.tags,
            "want_params": self.params is None or bool(self.params),
            "want_metrics": self.metrics is None or bool(self.metrics),
            "want_tags": self.tags is None or bool(self.tags),
        }

    def __init__(self, fields: list[str] | None) -> None:
        self.params: set[str] | None = None
        self.metrics: set[str] | None = None
        self.tags: set[str] | None = None
        if fields is None:
            return
        self.params, self.metrics, self.tags = set(), set(), set()
        kinds = {
            "params": "params", "param": "params",
            "metrics": "metrics", "metric": "metrics",
            "tags": "tags", "tag": "tags",
        }  # fmt: skip
        for field in fields:
            head, dot, key = field.partition(".")
            kind = kinds.get(head)
            if kind is None:
                continue  # attributes always come back: they are one row, already read
            if not dot or key == "*":  # `metrics` is `metrics.*`
                setattr(self, kind, None)
                continue
            selected = getattr(self, kind)
            if selected is not None:
                selected.add(key)


__all__ = ["TrackingService", "is_run_id", "param_text"]
