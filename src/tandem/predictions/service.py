"""PredictionService: the prediction log's rules. Gateways ship batches of what they served; the
hub keeps each batch as a Parquet segment in the blob store, indexed by request id, so "which
version answered request R" is one index lookup and one row group read.

- Shipping takes `deployment:write` (a gateway reports with it) on an endpoint that exists;
  reading takes `deployment:read`.
- A batch is named by its gateway and batch id: shipping it again (a retry after a lost
  answer) stores nothing and answers `duplicate`; the same names with other bytes are refused,
  so a batch id is never reused for other predictions.
- A request id logged more than once (a client that reuses its ids) answers with the latest.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from blake3 import blake3
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError as DuplicateRow

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.paging import MAX_LIMIT
from tandem.deployments.service import check_endpoint_name
from tandem.errors import Conflict, InvalidInput, NotFound
from tandem.predictions import logframe, profiles, segments
from tandem.predictions.logframe import META_COLUMNS, LogFrames
from tandem.predictions.models import BatchAck, Prediction, Segment
from tandem.predictions.profiles import BucketProfile
from tandem.predictions.store import IndexHit, PredictionStore, StoredBatch
from tandem.projects.service import ProjectService
from tandem.store.blob_index import BlobIndex
from tandem.store.blobs import BlobStore
from tandem.store.db import Database
from tandem.store.oid import Oid

log = logging.getLogger(__name__)
_PROFILER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="predlog-profile")
"""Profiles shipped batches beside the rest of `ship` (threads: nothing to pickle)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")


class KnownEndpoints(Protocol):
    """Which endpoints a project has (the deployments domain): a batch is logged only for one
    that exists."""

    def check_endpoint(self, conn: Connection, project_pk: int, project: str, name: str) -> None:
        """Raise NotFound unless project `project_pk` has endpoint `name` (no permission check:
        the caller made its own)."""
        ...


def _check_name(value: str, kind: str) -> str:
    if not _NAME.match(value):
        raise InvalidInput(
            f"invalid {kind} id {value!r}: use letters, digits and . _ : - (up to 100, starting "
            "with a letter or digit)"
        )
    return value


class PredictionService:
    def __init__(
        self,
        db: Database,
        store: PredictionStore,
        projects: ProjectService,
        blobs: BlobStore,
        blob_index: BlobIndex,
        auth: Authorizer,
        audit: AuditLog,
        endpoints: KnownEndpoints | None = None,
    ) -> None:
        """`endpoints`: the deployments domain, which says which endpoints exist."""
        self.db = db
        self.store = store
        self.projects = projects
        self.blobs = blobs
        self.blob_index = blob_index
        self.auth = auth
        self.audit = audit
        self.endpoints = endpoints

    # -- shipping ----------------------------------------------------------------------------

    def check_shipper(self, principal: Principal, project: str, endpoint: str) -> None:
        """Raise unless `principal` may ship predictions of the endpoint: asked before the
        body is read, so that nobody without the right has the server receive a batch."""
        self.auth.require(principal, Action.DEPLOYMENT_WRITE, project)
        check_endpoint_name(endpoint)
        with self.db.read() as conn:
            self._endpoint(conn, principal, project, endpoint)

    def ship(
        self,
        principal: Principal,
        project: str,
        endpoint: str,
        *,
        gateway: str,
        batch: str,
        body: bytes,
    ) -> BatchAck:
        """Store a batch of logged predictions (`body`: an Arrow IPC stream of
        `BATCH_COLUMNS`) as one segment. A batch stored before answers `duplicate=True` and
        stores nothing.

        Raises:
            NotFound: the project has no such endpoint.
            Conflict: this gateway's batch id was stored before with other predictions.
            UnreadableData: the body is not an Arrow IPC stream.
            InvalidInput: its columns are not `BATCH_COLUMNS`, or a value is missing.
            LimitExceeded: more than `MAX_BATCH_ROWS` rows.
        """
        self.auth.require(principal, Action.DEPLOYMENT_WRITE, project)
        check_endpoint_name(endpoint)
        _check_name(gateway, "gateway")
        _check_name(batch, "batch")
        digest = blake3(body).hexdigest()
        with self.db.read() as conn:
            project_pk = self._endpoint(conn, principal, project, endpoint)
            stored = self.store.find_batch(conn, project_pk, endpoint, gateway, batch)
        if stored is not None:
            return _retried(stored, gateway, batch, digest)
        parsed = segments.parse_batch(body)
        # the profiles (Polars, mostly outside the GIL) beside the Parquet file and the index
        profiling = _PROFILER.submit(_profile, parsed)
        data = segments.write_segment(parsed)
        oid = Oid(blake3(data).hexdigest())
        keys = segments.request_keys(
            project_pk, endpoint, parsed.table.column("request_id").to_pylist()
        )
        now = now_ms()
        # the blob's row first, so a concurrent gc cannot take the file before it is referenced
        with self.db.write() as conn:
            self.blob_index.touch(conn, oid, len(data), now)
        self.blobs.put_stream([data])
        bucketed = profiling.result()
        segment_id = uuid.uuid4().hex
        try:
            with self.db.write() as conn:
                project_pk = self._endpoint(conn, principal, project, endpoint)
                stored = self.store.find_batch(conn, project_pk, endpoint, gateway, batch)
                if stored is None:
                    segment_pk = self.store.insert_segment(
                        conn, segment_id=segment_id, project_pk=project_pk, endpoint=endpoint,
                        gateway=gateway, batch=batch, digest=digest, rows=parsed.rows,
                        first_at=parsed.first_at, last_at=parsed.last_at,
                        versions=parsed.versions, size=len(data), oid=oid, by=principal.name,
                        now=now,
                    )  # fmt: skip
                    self.store.insert_index(conn, segment_pk, keys)
                    self.store.insert_profiles(conn, segment_pk, project_pk, endpoint, bucketed)
                    self.audit.record(
                        conn, principal, "predictions.ship",
                        f"{project}/endpoints/{endpoint}/segments/{segment_id}",
                        project=project, gateway=gateway, batch=batch, rows=parsed.rows,
                    )  # fmt: skip
        except DuplicateRow:  # PostgreSQL: the same batch, shipped twice at once
            with self.db.read() as conn:
                stored = self.store.find_batch(conn, project_pk, endpoint, gateway, batch)
            if stored is None:
                raise
        if stored is not None:
            return _retried(stored, gateway, batch, digest)
        return BatchAck(batch=batch, rows=parsed.rows, segment=segment_id)

    def _endpoint(self, conn: Connection, principal: Principal, project: str, endpoint: str) -> int:
        project_pk = self.projects.access(conn, principal, project, Action.DEPLOYMENT_WRITE)
        if self.endpoints is not None:
            self.endpoints.check_endpoint(conn, project_pk, project, endpoint)
        return project_pk

    # -- reading -----------------------------------------------------------------------------

    def get(self, principal: Principal, project: str, endpoint: str, request_id: str) -> Prediction:
        """The logged prediction of request `request_id` (the latest, if it was logged twice).

        Raises:
            NotFound: the endpoint logged no such request (yet: gateways ship every second or
                so, and a request is found once its batch is stored).
        """
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        check_endpoint_name(endpoint)
        if not 0 < len(request_id) <= segments.MAX_REQUEST_ID_LENGTH:
            raise InvalidInput(f"a request id has 1 to {segments.MAX_REQUEST_ID_LENGTH} characters")
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.DEPLOYMENT_READ)
            key = segments.request_key(project_pk, endpoint, request_id)
            hits = self.store.hits(conn, project_pk, endpoint, key)
        found = [row for hit in hits if (row := self._row(hit))["request_id"] == request_id]
        if not found:
            raise NotFound(
                f"endpoint {endpoint!r} of project {project!r} has logged no request "
                f"{request_id!r} (gateways ship their log every few seconds: a request just "
                "served may not be here yet)",
                request_id=request_id,
            )
        row = max(found, key=lambda r: r["at"])
        return Prediction(
            project=project,
            endpoint=endpoint,
            request_id=request_id,
            at=row["at"],
            deployment=row["deployment"],
            model=row["model"],
            version=row["version"],
            status=row["status"],
            latency_ms=row["latency_ms"],
            inputs=segments.decode_json(row["inputs"]),
            output=segments.decode_json(row["output"]),
            segment=row["segment"],
        )

    def _row(self, hit: IndexHit) -> dict[str, Any]:
        data = b"".join(self.blobs.read(Oid(hit.oid)))
        row = segments.read_row(data, hit.position)
        row["segment"] = hit.segment
        return row

    def list_segments(
        self,
        principal: Principal,
        project: str,
        endpoint: str,
        *,
        since: int | None = None,
        until: int | None = None,
        limit: int = 1000,
    ) -> list[Segment]:
        """The endpoint's segments with predictions made in [since, until) (ms since the
        epoch), in the order of their last prediction, at most `limit`."""
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        check_endpoint_name(endpoint)
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.DEPLOYMENT_READ)
            return self.store.segments(
                conn, project_pk, endpoint, since=since, until=until, limit=limit
            )

    def read_log(
        self,
        principal: Principal,
        project: str,
        endpoint: str,
        since: int,
        until: int,
        *,
        with_inputs: bool = True,
    ) -> LogFrames:
        """The predictions the endpoint logged in [since, until) (ms since the epoch) as Polars
        frames, one row per predicted row (`LogFrames`): only the segments that overlap the
        range are read, and of them only the columns needed (`with_inputs=False` skips the
        inputs, the bulk of a segment).

        Raises:
            InvalidInput: `until` is not after `since`.
        """
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        check_endpoint_name(endpoint)
        if until <= since:
            raise InvalidInput(f"until ({until}) must be after since ({since})")
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.DEPLOYMENT_READ)
            found = self.store.overlapping(conn, project_pk, endpoint, since, until)
        columns = logframe.read_columns(with_inputs)
        tables = [
            segments.read_frame(b"".join(self.blobs.read(Oid(oid))), columns) for _, oid in found
        ]
        return logframe.frames(tables, since=since, until=until, with_inputs=with_inputs)

    def window_profiles(
        self,
        principal: Principal,
        project: str,
        endpoint: str,
        since: int,
        until: int,
        *,
        with_inputs: bool = True,
    ) -> list[BucketProfile] | None:
        """The profiles stored when the batches were shipped of the predictions the endpoint
        logged in [since, until), one per (segment, model, version, 5-minute bucket): the
        window's profile is their merge. None when they cannot answer for the window: its
        bounds are not on bucket boundaries, or a segment in it has no stored profile (shipped
        before profiles were stored): read the log then (`read_log`).

        Raises:
            InvalidInput: `until` is not after `since`.
        """
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        check_endpoint_name(endpoint)
        if until <= since:
            raise InvalidInput(f"until ({until}) must be after since ({since})")
        if not profiles.aligned(since, until):
            return None
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.DEPLOYMENT_READ)
            if self.store.unprofiled(conn, project_pk, endpoint, since, until):
                return None
            return self.store.profiles(
                conn, project_pk, endpoint, since, until, with_inputs=with_inputs
            )

    def open_segment(
        self, principal: Principal, project: str, endpoint: str, segment_id: str
    ) -> tuple[Segment, Iterator[bytes]]:
        """A segment and its Parquet file's verified bytes."""
        self.auth.require(principal, Action.DEPLOYMENT_READ, project)
        check_endpoint_name(endpoint)
        with self.db.read() as conn:
            project_pk = self.projects.access(conn, principal, project, Action.DEPLOYMENT_READ)
            found = self.store.segment(conn, project_pk, endpoint, segment_id)
        if found is None:
            raise NotFound(
                f"endpoint {endpoint!r} of project {project!r} has no segment {segment_id!r}"
            )
        return found, self.blobs.read(Oid(found.oid))

    def first_logged_in(
        self, conn: Connection, project_pk: int, endpoint: str, since: int
    ) -> int | None:
        """When the endpoint first logged a prediction at or after `since` (ms; None: it has
        logged none since), for a domain reading it in its transaction (monitoring: where a
        new monitor's first window starts). No permission check."""
        return self.store.first_at(conn, project_pk, endpoint, since)

    # -- for gc (inside its transaction) -----------------------------------------------------

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """gc: a purged project's prediction log goes with it (gc checked; its sweep then
        deletes the segments' files)."""
        self.store.purge_project(conn, project_pk)


__all__ = ["META_COLUMNS", "KnownEndpoints", "LogFrames", "PredictionService"]


def _profile(batch: segments.Batch) -> list[BucketProfile]:
    """The batch's bucket profiles; none when its inputs do not profile (the segment is then
    read from the log when a monitor needs it)."""
    try:
        return profiles.bucket_profiles(batch.table, batch.first_at, batch.last_at)
    except Exception:  # a boundary: the batch is stored whatever its profile
        log.exception("profiling a batch of predictions failed; monitors will read its log")
        return []


def _retried(stored: StoredBatch, gateway: str, batch: str, digest: str) -> BatchAck:
    if stored.digest != digest:
        raise Conflict(
            f"batch {batch!r} of gateway {gateway!r} was stored before with other predictions: "
            "a batch id names one batch (retry with the same bytes, or use a new id)",
            segment=stored.segment,
        )
    return BatchAck(batch=batch, rows=stored.rows, segment=stored.segment, duplicate=True)
