"""OutcomeService: labels that arrive late, realised and estimated performance, business KPIs.

- Adding labels takes `monitor:write` on an endpoint that exists. The file is checked whole
  before anything is stored (a bad file changes nothing); its labels are joined to the
  endpoint's prediction log by request id (`PredictionService.read_log` over the lookback),
  stored as one Parquet file in the blob store with one row here, and the realised figures of
  only the windows the labels fall in are recomputed, from every batch with labels there.
- A label for a request id the endpoint never logged is counted and reported (a sample of the
  ids), and kept in the batch's file; the rest are joined.
- A request labelled twice keeps its last label (the later batch; in a file, the later row);
  the replacements are counted, and the audit event of the batch names a sample of them.
- Realised figures per model version and hourly window; estimates by CBPE from the scores
  alone, replaced by the realised figure once a window has labels of both classes.
- A KPI is a number posted for an endpoint at a time, optionally for a model version, which
  must exist. Reading takes `monitor:read`.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from blake3 import blake3
from sqlalchemy import Connection

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Authorizer, Principal
from tandem.core.clock import now_ms
from tandem.core.refs import parse_model_ref
from tandem.deployments.service import check_endpoint_name
from tandem.errors import InvalidInput, NotFound
from tandem.outcomes import labels as label_files
from tandem.outcomes.models import (
    ESTIMATED_METRICS,
    PARQUET,
    WINDOW_MS,
    Band,
    ChangedWindow,
    Estimate,
    Kpi,
    KpiCreate,
    LabelBatch,
    LabelReceipt,
    WindowFigures,
    WindowKey,
    WindowMetrics,
)
from tandem.outcomes.store import OutcomeStore, WindowRow
from tandem.projects.service import ProjectService
from tandem.store.blob_index import BlobIndex
from tandem.store.blobs import BlobStore
from tandem.store.db import Database
from tandem.store.oid import Oid

if TYPE_CHECKING:
    import polars as pl

    from tandem.predictions.service import LogFrames

LOOKBACK_MS = 30 * 24 * WINDOW_MS
"""How far before a label's time its prediction is looked for, by default."""
MAX_RANGE_MS = 92 * 24 * WINDOW_MS
_KPI_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,99}$")
DUPLICATE_SAMPLE = 20


class PredictionLog(Protocol):
    """The prediction log (the predictions domain's `PredictionService`)."""

    def read_log(
        self,
        principal: Principal,
        project: str,
        endpoint: str,
        since: int,
        until: int,
        *,
        with_inputs: bool = True,
    ) -> LogFrames: ...


class KnownEndpoints(Protocol):
    def check_endpoint(self, conn: Connection, project_pk: int, project: str, name: str) -> None:
        """Raise NotFound unless the project has endpoint `name` (no permission check)."""
        ...


class KnownVersions(Protocol):
    def model_version_in(self, conn: Connection, project_pk: int, ref: Any) -> Any:
        """The version's row that `ref` names in the project, or None (the registry)."""
        ...


class ProtectedAttributes(Protocol):
    def list_criteria(self, principal: Principal, project: str) -> Sequence[Any]:
        """The project's success criteria; fairness ones name a protected attribute."""
        ...


class OutcomeService:
    def __init__(
        self,
        db: Database,
        store: OutcomeStore,
        projects: ProjectService,
        blobs: BlobStore,
        blob_index: BlobIndex,
        auth: Authorizer,
        audit: AuditLog,
        *,
        log: PredictionLog,
        endpoints: KnownEndpoints,
        versions: KnownVersions,
        criteria: ProtectedAttributes | None = None,
    ) -> None:
        """`log`: the prediction log; `endpoints`: the deployments domain; `versions`: the
        registry; `criteria`: the plan, whose fairness criteria name the slices."""
        self.db = db
        self.store = store
        self.projects = projects
        self.blobs = blobs
        self.blob_index = blob_index
        self.auth = auth
        self.audit = audit
        self.log = log
        self.endpoints = endpoints
        self.versions = versions
        self.criteria = criteria

    def _endpoint(
        self, conn: Connection, principal: Principal, project: str, endpoint: str, action: Action
    ) -> int:
        project_pk = self.projects.access(conn, principal, project, action)
        self.endpoints.check_endpoint(conn, project_pk, project, endpoint)
        return project_pk

    # -- labels --------------------------------------------------------------------------------

    def check_labeller(self, principal: Principal, project: str, endpoint: str) -> None:
        """Raise unless `principal` may add labels to the endpoint: asked before the body is
        read."""
        self.auth.require(principal, Action.MONITOR_WRITE, project)
        check_endpoint_name(endpoint)
        with self.db.read() as conn:
            self._endpoint(conn, principal, project, endpoint, Action.MONITOR_WRITE)

    def add_labels(
        self,
        principal: Principal,
        project: str,
        endpoint: str,
        body: bytes,
        *,
        media_type: str = PARQUET,
        slices: Sequence[str] = (),
        lookback_ms: int = LOOKBACK_MS,
        now: int | None = None,
    ) -> LabelReceipt:
        """Add a file of labels (`body`: Parquet or an Arrow IPC stream with `request_id`,
        `label` and optionally `at`, `row`), join them to the prediction log and recompute the
        realised figures of the windows they fall in.

        Args:
            slices: input columns to report fairness across, besides the protected attributes
                of the project's fairness criteria.
            lookback_ms: how long before a label's time its prediction may have been made.
            now: the time (tests); the labels of a file with no `at` were observed then.

        Raises:
            NotFound: no such project or endpoint.
            UnreadableData: the body is not Parquet or an Arrow stream.
            InvalidInput: its columns or values are not labels.
        """
        self.auth.require(principal, Action.MONITOR_WRITE, project)
        check_endpoint_name(endpoint)
        if lookback_ms <= 0 or lookback_ms > MAX_RANGE_MS:
            raise InvalidInput("the lookback is between 1 ms and 92 days")
        now = now_ms() if now is None else now
        with self.db.read() as conn:
            self._endpoint(conn, principal, project, endpoint, Action.MONITOR_WRITE)
        table = label_files.read_body(body, media_type)
        labels = label_files.normalise(table, now=now)
        wanted = sorted(set(slices) | set(self._protected(principal, project)))
        since = int(labels["observed_at"].min()) - lookback_ms  # type: ignore[arg-type]
        until = max(int(labels["observed_at"].max()), now) + 1  # type: ignore[arg-type]
        frames = self.log.read_log(
            principal, project, endpoint, since, until, with_inputs=bool(wanted)
        )
        joined = label_files.join(labels, frames.meta, frames.inputs, wanted)
        data = label_files.write_parquet(joined.frame)
        oid = Oid(blake3(data).hexdigest())
        matched = joined.frame.filter(joined.frame["window_start"].is_not_null())
        starts = sorted(int(s) for s in matched["window_start"].unique().to_list())
        with self.db.write() as conn:  # the blob's row first: gc keeps what it names
            self.blob_index.touch(conn, oid, len(data), now)
        self.blobs.put_stream([data])
        batch_id = uuid.uuid4().hex
        with self.db.write() as conn:
            project_pk = self._endpoint(conn, principal, project, endpoint, Action.MONITOR_WRITE)
            # one writer per endpoint at a time: the windows are computed from every batch
            # committed before this one (PostgreSQL; SQLite's writers queue anyway)
            self.store.lock_endpoint(conn, project_pk, endpoint)
            earlier = self.store.batches_touching(conn, project_pk, endpoint, starts)
            rows, duplicates, replaced = self._recompute(endpoint, matched, earlier, starts, now)
            self.store.insert_batch(
                conn, batch_id=batch_id, project_pk=project_pk, endpoint=endpoint,
                rows=labels.height, matched=joined.matched, unknown=joined.unknown,
                duplicates=duplicates, size=len(data), oid=oid, by=principal.name, now=now,
                windows=starts,
            )  # fmt: skip
            self.store.put_windows(conn, project_pk, endpoint, rows)
            self.audit.record(
                conn, principal, "labels.add",
                f"{project}/endpoints/{endpoint}/labels/{batch_id}",
                project=project, rows=labels.height, matched=joined.matched,
                unknown=joined.unknown, duplicates=duplicates, replaced=replaced,
                windows=len(rows),
            )  # fmt: skip
        return LabelReceipt(
            batch=batch_id,
            endpoint=endpoint,
            rows=labels.height,
            matched=joined.matched,
            unknown=joined.unknown,
            unknown_sample=joined.unknown_sample,
            duplicates=duplicates,
            windows=[WindowKey(model=r.model, version=r.version, start=r.start, end=r.end)
                     for r in rows],
            created_at=now,
        )  # fmt: skip

    def _protected(self, principal: Principal, project: str) -> list[str]:
        if self.criteria is None:
            return []
        return [
            str(c.slice)
            for c in self.criteria.list_criteria(principal, project)
            if getattr(c, "kind", None) == "fairness" and c.slice
        ]

    def _recompute(
        self,
        endpoint: str,
        new: pl.DataFrame,
        earlier: Sequence[Any],
        starts: list[int],
        now: int,
    ) -> tuple[list[WindowRow], int, list[str]]:
        """The figures of every (model, version, window) in `starts` from the earlier batches'
        labels there and the new ones (which win); the labels the new ones replace."""
        import polars as pl

        from tandem.outcomes.figures import group_figures

        if not starts:
            return [], 0, []
        parts = [
            label_files.read_windows(b"".join(self.blobs.read(Oid(b.oid))), starts).with_columns(
                pl.lit(b.pk, pl.Int64).alias("_batch")
            )
            for b in earlier
        ]
        fresh = new.with_columns(pl.lit(2**62, pl.Int64).alias("_batch"))
        replaced: list[str] = []
        duplicates = 0
        if parts:
            before = pl.concat(parts, how="diagonal_relaxed")
            again = fresh.select("request_id", "row").join(
                before.select("request_id", "row").unique(), on=["request_id", "row"], how="semi"
            )
            duplicates = again.height
            replaced = again["request_id"].head(DUPLICATE_SAMPLE).to_list()
            every = pl.concat([before, fresh], how="diagonal_relaxed")
            every = every.sort("_batch").unique(["request_id", "row"], keep="last")
        else:  # the new labels alone: one per request already
            every = fresh
        every = every.filter(pl.col("window_start").is_not_null())
        keys = (
            every.select("model", "version", "window_start")
            .unique()
            .sort("window_start", "model", "version")
        )
        coded = every.join(keys.with_row_index("_group"), on=["model", "version", "window_start"])
        slice_names = [c for c in coded.columns if c.startswith(label_files.SLICE_PREFIX)]
        figures = group_figures(
            coded["label"].to_numpy(),
            coded["score"].fill_null(float("nan")).to_numpy(),
            coded["_group"].to_numpy(),
            keys.height,
            {name[len(label_files.SLICE_PREFIX) :]: coded[name].to_arrow() for name in slice_names},
        )
        rows = []
        for (model, version, start), found in zip(keys.iter_rows(), figures, strict=True):
            if found is None:
                continue
            rows.append(
                WindowRow(
                    endpoint=endpoint, model=str(model), version=int(version), start=int(start),
                    end=int(start) + WINDOW_MS, samples=int(found["samples"]), figures=found,
                    updated_at=now,
                )
            )  # fmt: skip
        return rows, duplicates, replaced

    def label_batches(
        self, principal: Principal, project: str, endpoint: str, *, limit: int = 100
    ) -> list[LabelBatch]:
        """The endpoint's label batches, newest first."""
        self.auth.require(principal, Action.MONITOR_READ, project)
        check_endpoint_name(endpoint)
        with self.db.read() as conn:
            project_pk = self._endpoint(conn, principal, project, endpoint, Action.MONITOR_READ)
            return self.store.batches(conn, project_pk, endpoint, limit)

    # -- realised and estimated performance ----------------------------------------------------

    def window_metrics(
        self,
        principal: Principal,
        project: str,
        endpoint: str,
        *,
        since: int | None = None,
        until: int | None = None,
        version: str | None = None,
    ) -> list[WindowMetrics]:
        """The realised figures of the hourly windows overlapping [since, until), by window,
        of every model version (or of `version`, `model@N`)."""
        self.auth.require(principal, Action.MONITOR_READ, project)
        check_endpoint_name(endpoint)
        model, number = _version(version)
        with self.db.read() as conn:
            project_pk = self._endpoint(conn, principal, project, endpoint, Action.MONITOR_READ)
            rows = self.store.windows(
                conn, project_pk, endpoint, since=since, until=until, model=model, version=number
            )
        return [_window_metrics(row) for row in rows]

    def estimates(
        self,
        principal: Principal,
        project: str,
        endpoint: str,
        *,
        since: int,
        until: int,
        version: str | None = None,
    ) -> list[Estimate]:
        """ROC AUC and accuracy per model version and hourly window in [since, until): the
        realised figure where the window has labels of both classes, else the CBPE estimate from
        the logged scores (probabilities; a window of a model that logs none has no estimate).

        Raises:
            InvalidInput: `until` is not after `since`, or the range is over 92 days.
        """
        import numpy as np

        from tandem.outcomes import cbpe

        self.auth.require(principal, Action.MONITOR_READ, project)
        check_endpoint_name(endpoint)
        if until <= since or until - since > MAX_RANGE_MS:
            raise InvalidInput("estimates cover a range of up to 92 days, until after since")
        model, number = _version(version)
        with self.db.read() as conn:
            project_pk = self._endpoint(conn, principal, project, endpoint, Action.MONITOR_READ)
            realised = {
                (r.model, r.version, r.start): r
                for r in self.store.windows(
                    conn, project_pk, endpoint, since=since, until=until, model=model,
                    version=number,
                )
            }  # fmt: skip
        import polars as pl

        meta = self.log.read_log(
            principal, project, endpoint, since, until, with_inputs=False
        ).meta.filter(pl.col("score").is_not_null() & (pl.col("status") < 400))
        if model is not None:
            meta = meta.filter((pl.col("model") == model) & (pl.col("version") == number))
        meta = meta.with_columns((pl.col("at") // WINDOW_MS * WINDOW_MS).alias("window_start"))
        out = []
        for (name, ver, start), rows in sorted(
            meta.group_by("model", "version", "window_start"), key=lambda g: tuple(g[0])
        ):
            key = (str(name), int(ver), int(start))
            scores = rows["score"].to_numpy().astype(np.float64)
            found = realised.get(key)
            if found is not None and _has_both_classes(found):
                out.extend(_realised_estimates(endpoint, found))
                continue
            try:
                estimated = cbpe.estimate(scores)
            except ValueError:  # not probabilities: a regressor, or labels logged as scores
                continue
            for metric in ESTIMATED_METRICS:
                figure = estimated[metric]
                out.append(
                    Estimate(
                        endpoint=endpoint, model=key[0], version=key[1], start=key[2],
                        end=key[2] + WINDOW_MS, metric=metric, value=figure.value,
                        band=Band(low=figure.low, high=figure.high), estimated=True,
                        samples=len(scores),
                    )
                )  # fmt: skip
        return out

    def window_figures(
        self,
        principal: Principal,
        project: str,
        endpoint: str,
        *,
        kind: str,
        metric: str,
        start: int,
        end: int,
        version: str | None = None,
    ) -> WindowFigures:
        """One window [start, end) of any length for a monitor (the monitoring domain calls
        this): `performance`, the realised figures of the labels there; `estimated-performance`,
        the same once labels of both classes came, else CBPE's ROC AUC and accuracy from the
        logged scores; `kpi`, the latest value of KPI `metric` posted for the window. Of one
        version (`NAME@N`) or of every one.

        Raises:
            InvalidInput: an unknown kind, or `end` not after `start`.
        """
        self.auth.require(principal, Action.MONITOR_READ, project)
        check_endpoint_name(endpoint)
        if end <= start or end - start > MAX_RANGE_MS:
            raise InvalidInput("a window ends after it starts and spans up to 92 days")
        if kind not in ("performance", "estimated-performance", "kpi"):
            raise InvalidInput(f"outcomes have no figures of kind {kind!r}")
        model, number = _version(version)
        with self.db.read() as conn:
            project_pk = self._endpoint(conn, principal, project, endpoint, Action.MONITOR_READ)
            if kind == "kpi":
                return _kpi_figures(
                    self.store.kpis(
                        conn, project_pk, endpoint, name=metric, since=start, until=end,
                        limit=10_000,
                    ),
                    metric, model, number,
                )  # fmt: skip
            starts = list(range(start // WINDOW_MS * WINDOW_MS, end, WINDOW_MS))
            batches = self.store.batches_touching(conn, project_pk, endpoint, starts)
        labelled = self._labelled(batches, starts, start, end, model, number)
        realised = _realised_figures(labelled, metric)
        if kind == "performance" or (realised.judged and _both_classes(realised)):
            return realised
        return self._estimated_figures(principal, project, endpoint, start, end, model, number,
                                       metric)  # fmt: skip

    def _labelled(
        self,
        batches: Sequence[Any],
        starts: list[int],
        start: int,
        end: int,
        model: str | None,
        number: int | None,
    ) -> pl.DataFrame | None:
        """The labelled predictions made in [start, end) (of one version), the last label of
        each request; None when there are none."""
        import polars as pl

        if not batches:
            return None
        every = pl.concat(
            [
                label_files.read_windows(
                    b"".join(self.blobs.read(Oid(b.oid))), starts
                ).with_columns(pl.lit(b.pk, pl.Int64).alias("_batch"))
                for b in batches
            ],
            how="diagonal_relaxed",
        )
        every = every.filter((pl.col("at") >= start) & (pl.col("at") < end))
        if model is not None:
            every = every.filter((pl.col("model") == model) & (pl.col("version") == number))
        every = every.sort("_batch").unique(["request_id", "row"], keep="last")
        return every if every.height else None

    def _estimated_figures(
        self,
        principal: Principal,
        project: str,
        endpoint: str,
        start: int,
        end: int,
        model: str | None,
        number: int | None,
        metric: str,
    ) -> WindowFigures:
        import polars as pl

        from tandem.outcomes import cbpe

        meta = self.log.read_log(principal, project, endpoint, start, end, with_inputs=False).meta
        meta = meta.filter(pl.col("score").is_not_null() & (pl.col("status") < 400))
        if model is not None:
            meta = meta.filter((pl.col("model") == model) & (pl.col("version") == number))
        if not meta.height:
            return WindowFigures({}, 0, {"reason": "no predictions logged in the window"},
                                 judged=False)  # fmt: skip
        try:
            estimated = cbpe.estimate(meta["score"].to_numpy())
        except ValueError:
            return WindowFigures(
                {}, meta.height,
                {"reason": "the logged scores are not probabilities: CBPE needs a calibrated "
                 "classifier's"}, judged=False,
            )  # fmt: skip
        chosen = estimated.get(metric)
        return WindowFigures(
            {name: figure.value for name, figure in estimated.items()},
            meta.height,
            {"method": "CBPE", "bands": {n: [f.low, f.high] for n, f in estimated.items()}},
            estimated=True,
            band=(chosen.low, chosen.high) if chosen is not None else (None, None),
            judged=chosen is not None and chosen.value is not None,
        )

    def changed_windows(
        self, conn: Connection, project_pk: int, endpoint: str, since_updated: int
    ) -> list[ChangedWindow]:
        """The windows whose realised figures changed after `since_updated` (ms), oldest change
        first: monitoring evaluates them again. No permission check: the caller made its own,
        inside its transaction."""
        return self.store.changed(conn, project_pk, endpoint, since_updated)

    # -- KPIs ----------------------------------------------------------------------------------

    def push_kpi(
        self,
        principal: Principal,
        project: str,
        endpoint: str,
        data: KpiCreate,
        *,
        now: int | None = None,
    ) -> Kpi:
        """Record a business KPI of the endpoint at `data.at`, optionally for a model version.

        Raises:
            NotFound: no such endpoint, or the model version does not exist.
            InvalidInput: a name that is not a name, or a value that is not finite.
        """
        self.auth.require(principal, Action.MONITOR_WRITE, project)
        check_endpoint_name(endpoint)
        if not _KPI_NAME.match(data.name):
            raise InvalidInput(
                f"invalid KPI name {data.name!r}: a letter, then letters, digits and _ . : - "
                "(up to 100)"
            )
        if not math.isfinite(data.value):
            raise InvalidInput(f"KPI {data.name!r}: the value must be a finite number")
        ref = parse_model_ref(data.version, project) if data.version else None
        if ref is not None and not ref.selector.isdigit():
            raise InvalidInput(f"name the version by number: {ref.name}@N (not {data.version!r})")
        now = now_ms() if now is None else now
        with self.db.write() as conn:
            project_pk = self._endpoint(conn, principal, project, endpoint, Action.MONITOR_WRITE)
            if ref is not None and self.versions.model_version_in(conn, project_pk, ref) is None:
                raise NotFound(
                    f"model version {ref.name}@{ref.selector} does not exist in project "
                    f"{project!r}: a KPI is attributed to a registered version"
                )
            kpi = Kpi(
                endpoint=endpoint, name=data.name, value=data.value, at=data.at,
                model=ref.name if ref else None, version=int(ref.selector) if ref else None,
                created_at=now, created_by=principal.name,
            )  # fmt: skip
            self.store.insert_kpi(conn, project_pk, kpi)
            self.audit.record(
                conn, principal, "kpis.push", f"{project}/endpoints/{endpoint}/kpis/{data.name}",
                project=project, value=data.value, at=data.at, version=data.version,
            )  # fmt: skip
        return kpi

    def kpis(
        self,
        principal: Principal,
        project: str,
        endpoint: str,
        *,
        name: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int = 1000,
    ) -> list[Kpi]:
        """The endpoint's KPIs (of `name`) at times in [since, until), oldest first."""
        self.auth.require(principal, Action.MONITOR_READ, project)
        check_endpoint_name(endpoint)
        if not 1 <= limit <= 10_000:
            raise InvalidInput("limit must be between 1 and 10000")
        with self.db.read() as conn:
            project_pk = self._endpoint(conn, principal, project, endpoint, Action.MONITOR_READ)
            return self.store.kpis(
                conn, project_pk, endpoint, name=name, since=since, until=until, limit=limit
            )

    # -- gc ------------------------------------------------------------------------------------

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """gc: a purged project's labels, figures and KPIs go with it."""
        self.store.purge_project(conn, project_pk)


def _version(version: str | None) -> tuple[str | None, int | None]:
    if version is None:
        return None, None
    name, _, number = version.partition("@")
    if not name or not number.isdigit():
        raise InvalidInput(f"name a model version as NAME@N, not {version!r}")
    return name, int(number)


def _window_metrics(row: WindowRow) -> WindowMetrics:
    figures = row.figures
    return WindowMetrics(
        endpoint=row.endpoint,
        model=row.model,
        version=row.version,
        start=row.start,
        end=row.end,
        kind=figures["kind"],
        samples=row.samples,
        positives=figures.get("positives"),
        metrics=figures["metrics"],
        bands=figures.get("bands", {}),
        reliability=figures.get("reliability"),
        fairness=figures.get("fairness", []),
        updated_at=row.updated_at,
    )


def _has_both_classes(row: WindowRow) -> bool:
    positives = row.figures.get("positives")
    return (
        row.figures.get("kind") == "binary"
        and positives is not None
        and 0 < positives < row.samples
    )


def _realised_estimates(endpoint: str, row: WindowRow) -> list[Estimate]:
    figures = row.figures
    out = []
    for metric in ESTIMATED_METRICS:
        band = figures.get("bands", {}).get(metric, {})
        out.append(
            Estimate(
                endpoint=endpoint, model=row.model, version=row.version, start=row.start,
                end=row.end, metric=metric, value=figures["metrics"].get(metric),
                band=Band(low=band.get("low"), high=band.get("high")), estimated=False,
                samples=row.samples,
            )
        )  # fmt: skip
    return out


def _kpi_figures(
    found: list[Kpi], metric: str, model: str | None, number: int | None
) -> WindowFigures:
    if model is not None:
        found = [k for k in found if k.model == model and k.version == number]
    if not found:
        return WindowFigures({}, 0, {"reason": f"no {metric} posted for the window"},
                             judged=False)  # fmt: skip
    latest = found[-1]
    return WindowFigures(
        {"value": latest.value, metric: latest.value}, len(found),
        {"at": latest.at, "posted_by": latest.created_by},
    )  # fmt: skip


def _realised_figures(labelled: pl.DataFrame | None, metric: str) -> WindowFigures:
    import numpy as np

    from tandem.outcomes.figures import group_figures

    if labelled is None:
        return WindowFigures({}, 0, {"reason": "no labels for the window yet"}, judged=False)
    slices = {
        name[len(label_files.SLICE_PREFIX) :]: labelled[name].to_arrow()
        for name in labelled.columns
        if name.startswith(label_files.SLICE_PREFIX)
    }
    (found,) = group_figures(
        labelled["label"].to_numpy(),
        labelled["score"].fill_null(float("nan")).to_numpy(),
        np.zeros(labelled.height, dtype=np.int64),
        1,
        slices,
    )
    assert found is not None
    band = found["bands"].get(metric, {})
    return WindowFigures(
        dict(found["metrics"]),
        int(found["samples"]),
        {"kind": found["kind"], "positives": found["positives"], "bands": found["bands"],
         "fairness": found["fairness"]},
        band=(band.get("low"), band.get("high")),
        judged=found["metrics"].get(metric) is not None,
    )  # fmt: skip


def _both_classes(figures: WindowFigures) -> bool:
    positives = figures.details.get("positives")
    return (
        figures.details.get("kind") == "binary"
        and positives is not None
        and (0 < positives < figures.samples)
    )
