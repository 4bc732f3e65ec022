"""MLflow's tracking calls (experiments, runs, params, metrics, tags, batches, inputs, search)
translated onto tandem's services. No rule lives here: each call is a `ProjectService` or
`TrackingService` call with the caller's principal, and what a service refuses is refused with
MLflow's error code (`errors.py`). What is here is the mapping (ADR 34): an experiment is a
project (its id the project's number, "0" the project `default`), a run is a run, and the
shape of MLflow's requests and replies (`wire.py`). The few limits only MLflow has (a batch's
counts, one value per param key in a batch) are checked here, before the service is called.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from typing import Any

from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms
from tandem.core.ids import is_run_id
from tandem.core.paging import MAX_LIMIT
from tandem.core.validation import wire_metric_value
from tandem.errors import AlreadyExists, Conflict, HiddenNotFound, NotFound
from tandem.projects.models import Project, ProjectCreate
from tandem.projects.service import ProjectService
from tandem.server.compat.mlflow.errors import MlflowError
from tandem.server.compat.mlflow.filters import translate_filter, translate_order_by
from tandem.server.compat.mlflow.wire import (
    DEFAULT_EXPERIMENT_ID,
    DEFAULT_EXPERIMENT_NAME,
    DEFAULT_PROJECT,
    INPUT_TAG,
    RUN_NAME_TAG,
    CreateExperiment,
    CreateRun,
    DeleteTag,
    ExperimentRequest,
    GetHistory,
    KeyValue,
    LogBatch,
    LogInputs,
    LogMetric,
    LogParam,
    RunRequest,
    SearchExperiments,
    SearchRuns,
    SetTag,
    UpdateRun,
    experiment_id_number,
    experiment_json,
    metric_value,
    run_info_json,
    run_json,
    run_status,
)
from tandem.tracking.models import (
    LatestMetric,
    MetricColumns,
    Run,
    RunBatch,
    RunCreate,
    RunSearch,
    RunUpdate,
)
from tandem.tracking.service import TrackingService

# MLflow's own limits on one log-batch request (its `validate_batch_log_limits`).
MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100
MAX_BATCH_ENTRIES = 1000
MAX_SEARCH_RESULTS = 50_000
MAX_EXPERIMENT_RESULTS = 50_000
_PROJECT_CHARS = re.compile(r"[^a-z0-9_.\-]+")
Reply = dict[str, Any]


def project_name_for(experiment_name: str) -> str:
    """The project an experiment name stands for: `Default` is `default`; other names are
    folded into tandem's project names (lowercase; runs of other characters become `-`)."""
    if experiment_name == DEFAULT_EXPERIMENT_NAME:
        return DEFAULT_PROJECT
    folded = _PROJECT_CHARS.sub("-", experiment_name.strip().lower()).lstrip("-_.")[:64]
    if not folded:
        raise MlflowError(f"Invalid experiment name: {experiment_name!r}")
    return folded


def _token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _untoken(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise MlflowError(f"Invalid page token: {token[:40]!r}") from None


class MlflowTracking:
    """The tracking half of MLflow's REST API over `ProjectService` and `TrackingService`."""

    def __init__(self, projects: ProjectService, tracking: TrackingService) -> None:
        self.projects = projects
        self.tracking = tracking

    # -- experiments --------------------------------------------------------------------

    def _default(self, principal: Principal) -> tuple[int, Project]:
        """The Default experiment's project, created on first use by whoever may."""
        try:
            return self.projects.get_with_pk(principal, DEFAULT_PROJECT)
        except HiddenNotFound:
            pass  # perhaps missing (not told apart from hidden): try to create it
        except NotFound:
            pass
        try:
            return self.projects.create_with_pk(principal, ProjectCreate(name=DEFAULT_PROJECT))
        except AlreadyExists:
            return self.projects.get_with_pk(principal, DEFAULT_PROJECT)

    def experiment(
        self, principal: Principal, experiment_id: str, *, include_deleted: bool = True
    ) -> tuple[int, Project]:
        """(pk, project) of experiment `experiment_id`, which the caller may read."""
        pk = experiment_id_number(experiment_id)
        if pk is None:
            return self._default(principal)
        try:
            return self.projects.get_by_pk(principal, pk, include_deleted=include_deleted)
        except HiddenNotFound:
            raise  # the same answer, and the denial is audited
        except NotFound:
            raise MlflowError(
                f"No Experiment with id={experiment_id} exists", "RESOURCE_DOES_NOT_EXIST"
            ) from None

    def create_experiment(self, principal: Principal, body: CreateExperiment) -> Reply:
        if not body.name:
            raise MlflowError("Missing value for required parameter 'name'.")
        name = project_name_for(body.name)
        note = {t.key: t.value for t in body.tags}.get("mlflow.note.content", "")
        if name == DEFAULT_PROJECT:
            raise MlflowError(
                f"Experiment '{body.name}' already exists.", "RESOURCE_ALREADY_EXISTS"
            )
        pk, _ = self.projects.create_with_pk(principal, ProjectCreate(name=name, description=note))
        return {"experiment_id": str(pk)}

    def get_experiment(self, principal: Principal, body: ExperimentRequest) -> Reply:
        if not body.experiment_id:
            raise MlflowError("Missing value for required parameter 'experiment_id'.")
        return {"experiment": experiment_json(*self.experiment(principal, body.experiment_id))}

    def get_experiment_by_name(self, principal: Principal, experiment_name: str) -> Reply:
        if not experiment_name:
            raise MlflowError("Missing value for required parameter 'experiment_name'.")
        name = project_name_for(experiment_name)
        try:
            found = (
                self._default(principal)
                if name == DEFAULT_PROJECT
                else self.projects.get_with_pk(principal, name, include_deleted=True)
            )
        except HiddenNotFound as exc:
            exc.message = f"Could not find experiment with name '{experiment_name}'"
            raise
        except NotFound:
            raise MlflowError(
                f"Could not find experiment with name '{experiment_name}'",
                "RESOURCE_DOES_NOT_EXIST",
            ) from None
        return {"experiment": experiment_json(*found)}

    def search_experiments(self, principal: Principal, body: SearchExperiments) -> Reply:
        if not 1 <= body.max_results <= MAX_EXPERIMENT_RESULTS:
            raise MlflowError(
                f"Invalid value {body.max_results} for parameter 'max_results' supplied. It must "
                f"be at most {MAX_EXPERIMENT_RESULTS}"
            )
        view = body.view_type.upper()
        if view not in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL"):
            raise MlflowError(f"Invalid value {body.view_type!r} for parameter 'view_type'")
        matches = _name_filter(body.filter)
        default: tuple[int, Project] | None = None
        # if the caller may neither see nor make it, they are shown what they may see
        with contextlib.suppress(NotFound, MlflowError):
            default = self._default(principal)
        projects: list[Project] = []
        cursor: str | None = None
        while True:
            page = self.projects.list(
                principal, include_deleted=view != "ACTIVE_ONLY", cursor=cursor, limit=MAX_LIMIT
            )
            projects += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
        if view == "DELETED_ONLY":
            projects = [p for p in projects if p.deleted_at is not None]
        pks = self.projects.pks_of(principal, [p.name for p in projects])
        found = [experiment_json(pks[p.name], p) for p in projects if p.name in pks]
        if default is not None and DEFAULT_PROJECT not in pks and view != "DELETED_ONLY":
            found.append(experiment_json(*default))  # made by this very request
        found = [e for e in found if matches(e["name"])]
        found.sort(key=lambda e: -int(e["creation_time"]))  # MLflow: newest first
        for clause in reversed(body.order_by):
            field, descending = _experiment_order(clause)
            found.sort(key=lambda e, f=field: _sort_key(e[f], f), reverse=descending)  # type: ignore[misc]
        start = int(_untoken(body.page_token)) if body.page_token else 0
        chunk = found[start : start + body.max_results]
        reply: Reply = {"experiments": chunk} if chunk else {}
        if start + body.max_results < len(found):
            reply["next_page_token"] = _token(start + body.max_results)
        return reply

    def delete_experiment(self, principal: Principal, body: ExperimentRequest) -> Reply:
        _, project = self.experiment(principal, body.experiment_id)
        if project.name == DEFAULT_PROJECT:
            raise MlflowError("Cannot delete the default experiment '0'.")
        if project.deleted_at is None or not principal.may(Action.PROJECT_DELETE, project.name):
            self.projects.delete(principal, project.name)  # the service asks the permission
        return {}

    def restore_experiment(self, principal: Principal, body: ExperimentRequest) -> Reply:
        _, project = self.experiment(principal, body.experiment_id)
        try:
            self.projects.restore(principal, project.name)  # the service asks the permission
        except Conflict:
            if project.deleted_at is not None:
                raise
        return {}  # restoring an active experiment changes nothing, as in MLflow

    # -- runs -----------------------------------------------------------------------------

    def _run(self, principal: Principal, body: RunRequest) -> str:
        """The run id the request names; MLflow's ids are whole (tandem's prefixes are not)."""
        run_id = body.run()
        if not is_run_id(run_id):
            raise MlflowError(f"Run with id={run_id} not found", "RESOURCE_DOES_NOT_EXIST")
        return run_id

    def _experiment_id(self, principal: Principal, run: Run) -> str:
        if run.project == DEFAULT_PROJECT:
            return DEFAULT_EXPERIMENT_ID
        return str(self.projects.pks_of(principal, [run.project]).get(run.project, ""))

    def create_run(self, principal: Principal, body: CreateRun) -> Reply:
        pk, project = self.experiment(principal, body.experiment_id or DEFAULT_EXPERIMENT_ID)
        tags = _tags(body.tags)
        name = body.run_name or tags.pop(RUN_NAME_TAG, None)
        tags.pop(RUN_NAME_TAG, None)
        run = self.tracking.create_run(
            principal,
            project.name,
            RunCreate(name=name or None, start_time=body.start_time or None, tags=tags),
        )
        experiment_id = DEFAULT_EXPERIMENT_ID if project.name == DEFAULT_PROJECT else str(pk)
        return {"run": run_json(run, experiment_id)}

    def get_run(self, principal: Principal, body: RunRequest) -> Reply:
        run = self.tracking.get_run(principal, self._run(principal, body))
        latest = self._latest(principal, [run]).get(run.id, [])
        return {"run": run_json(run, self._experiment_id(principal, run), latest)}

    def _latest(self, principal: Principal, runs: list[Run]) -> dict[str, list[LatestMetric]]:
        """The latest metric points (with step and timestamp) of the runs that have metrics."""
        with_metrics = [run.id for run in runs if run.metrics]
        return self.tracking.latest_metrics(principal, with_metrics) if with_metrics else {}

    def update_run(self, principal: Principal, body: UpdateRun) -> Reply:
        run_id = self._run(principal, body)
        status = run_status(body.status) if body.status else None
        update = RunUpdate(name=body.run_name or None, status=status, end_time=body.end_time)
        run = self.tracking.update_run(principal, run_id, update)
        return {"run_info": run_info_json(run, self._experiment_id(principal, run))}

    def delete_run(self, principal: Principal, body: RunRequest) -> Reply:
        self.tracking.delete_run(principal, self._run(principal, body))
        return {}

    def restore_run(self, principal: Principal, body: RunRequest) -> Reply:
        run_id = self._run(principal, body)
        try:
            self.tracking.restore_run(principal, run_id)  # the service asks the permission
        except Conflict:
            if self.tracking.get_run(principal, run_id).deleted_at is not None:
                raise  # deleted, yet not restorable: its project is deleted
        return {}  # restoring an active run changes nothing, as in MLflow

    def log_param(self, principal: Principal, body: LogParam) -> Reply:
        run_id = self._run(principal, body)
        self.tracking.log_batch(principal, run_id, RunBatch(params={body.key: body.value}))
        return {}

    def log_metric(self, principal: Principal, body: LogMetric) -> Reply:
        run_id = self._run(principal, body)
        columns = MetricColumns(
            key=[body.key],
            value=[metric_value(body.key, body.value)],
            step=[body.step or 0],
            timestamp=[body.timestamp or now_ms()],
        )
        self.tracking.log_batch(principal, run_id, RunBatch(metrics=columns))
        return {}

    def set_tag(self, principal: Principal, body: SetTag) -> Reply:
        run_id = self._run(principal, body)
        if body.key == RUN_NAME_TAG:
            self.tracking.update_run(principal, run_id, RunUpdate(name=body.value))
        else:
            self.tracking.log_batch(principal, run_id, RunBatch(tags={body.key: body.value}))
        return {}

    def delete_tag(self, principal: Principal, body: DeleteTag) -> Reply:
        self.tracking.delete_tag(principal, self._run(principal, body), body.key)
        return {}

    def log_batch(self, principal: Principal, body: LogBatch) -> Reply:
        run_id = self._run(principal, body)
        _check_batch_limits(body)
        params: dict[str, str] = {}
        for param in body.params:
            if params.get(param.key, param.value) != param.value:
                raise MlflowError(
                    f"Duplicate parameter keys have been submitted: [{param.key!r}]. Please "
                    "ensure the request contains only one param value per param key."
                )
            params[param.key] = param.value
        tags = _tags(body.tags)
        new_name = tags.pop(RUN_NAME_TAG, None)
        columns = None
        if body.metrics:
            now = now_ms()
            columns = MetricColumns(
                key=[m.key for m in body.metrics],
                value=[metric_value(m.key, m.value) for m in body.metrics],
                step=[m.step or 0 for m in body.metrics],
                timestamp=[m.timestamp or now for m in body.metrics],
            )
        if params or tags or columns is not None:
            batch = RunBatch(params=params, tags=tags, metrics=columns)
            self.tracking.log_batch(principal, run_id, batch)
        if new_name is not None:
            self.tracking.update_run(principal, run_id, RunUpdate(name=new_name))
        return {}

    def log_inputs(self, principal: Principal, body: LogInputs) -> Reply:
        """Datasets a run read, kept as the run's tags (`mlflow.input.<digest>`) until they
        become links to tandem dataset versions (docs/mlflow.md)."""
        run_id = self._run(principal, body)
        tags: dict[str, str] = {}
        for item in body.datasets:
            dataset = item.dataset
            name, digest = str(dataset.get("name", "")), str(dataset.get("digest", ""))
            if not name or not digest:
                raise MlflowError("A dataset input needs a name and a digest")
            record = {
                "name": name,
                "digest": digest,
                "source_type": dataset.get("source_type", ""),
                "context": _tags(item.tags).get("mlflow.data.context", ""),
            }
            tags[INPUT_TAG + re.sub(r"[^\w\-.]", "-", digest)[:64]] = json.dumps(record)
        if tags:
            self.tracking.log_batch(principal, run_id, RunBatch(tags=tags))
        return {}

    def metric_history(self, principal: Principal, body: GetHistory) -> Reply:
        run_id = self._run(principal, body)
        if not body.metric_key:
            raise MlflowError("Missing value for required parameter 'metric_key'.")
        history = self.tracking.metric_history(principal, run_id, body.metric_key)
        points = [
            {"key": history.key, "value": wire_metric_value(v), "timestamp": t, "step": s}
            for s, t, v in zip(history.step, history.timestamp, history.value, strict=True)
        ]
        start = int(_untoken(body.page_token)) if body.page_token else 0
        size = body.max_results or len(points) or 1
        chunk = points[start : start + size]
        reply: Reply = {"metrics": chunk} if chunk else {}
        if start + size < len(points):
            reply["next_page_token"] = _token(start + size)
        return reply

    def search_runs(self, principal: Principal, body: SearchRuns) -> Reply:
        if not 1 <= body.max_results <= MAX_SEARCH_RESULTS:
            raise MlflowError(
                f"Invalid value {body.max_results} for parameter 'max_results' supplied. It must "
                f"be at most {MAX_SEARCH_RESULTS}"
            )
        view = body.run_view_type.upper()
        if view not in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL"):
            raise MlflowError(f"Invalid value {body.run_view_type!r} for parameter 'run_view_type'")
        if not body.experiment_ids:
            return {}
        if len(body.experiment_ids) > 1 and (body.order_by or body.page_token):
            raise MlflowError(
                "order_by and page_token over several experiments are not supported yet: search "
                "one experiment at a time (docs/mlflow.md)"
            )
        found = [self.experiment(principal, e, include_deleted=True) for e in body.experiment_ids]
        filter_text = translate_filter(body.filter)
        order = translate_order_by(body.order_by)
        runs: list[tuple[Run, str]] = []
        cursor = body.page_token
        next_cursor: str | None = None
        for pk, project in found:
            experiment_id = DEFAULT_EXPERIMENT_ID if project.name == DEFAULT_PROJECT else str(pk)
            left = body.max_results
            while left > 0:
                page = self.tracking.search_runs(
                    principal,
                    RunSearch(
                        project=project.name,
                        filter=filter_text,
                        order_by=order,
                        limit=min(left, MAX_LIMIT),
                        cursor=cursor,
                        include_deleted=view != "ACTIVE_ONLY",
                    ),
                )
                items = page.items
                if view == "DELETED_ONLY":
                    items = [r for r in items if r.deleted_at is not None]
                runs += [(r, experiment_id) for r in items]
                left -= len(page.items)
                cursor = next_cursor = page.next_cursor
                if cursor is None:
                    break
            cursor = None
        if len(found) > 1:
            runs.sort(key=lambda pair: -pair[0].start_time)
            runs, next_cursor = runs[: body.max_results], None
        latest = self._latest(principal, [r for r, _ in runs])
        reply: Reply = (
            {"runs": [run_json(r, e, latest.get(r.id, [])) for r, e in runs]} if runs else {}
        )
        if next_cursor is not None:
            reply["next_page_token"] = next_cursor
        return reply


def _tags(items: list[KeyValue]) -> dict[str, str]:
    return {tag.key: tag.value for tag in items}


def _check_batch_limits(body: LogBatch) -> None:
    counts = (
        (len(body.metrics), MAX_BATCH_METRICS, "metrics"),
        (len(body.params), MAX_BATCH_PARAMS, "params"),
        (len(body.tags), MAX_BATCH_TAGS, "tags"),
    )
    for count, limit, what in counts:
        if count > limit:
            raise MlflowError(
                f"A batch logging request can contain at most {limit} {what}. Got {count} "
                f"{what}. Please split up {what} across multiple requests and try again."
            )
    total = len(body.metrics) + len(body.params) + len(body.tags)
    if total > MAX_BATCH_ENTRIES:
        raise MlflowError(
            f"A batch logging request can contain at most {MAX_BATCH_ENTRIES} metrics, params, "
            f"and tags in total. Got {total} in total. Please split up across multiple "
            "requests and try again."
        )


_NAME_CLAUSE = re.compile(
    r"""\s*(?:attributes\.|attribute\.)?name\s*(=|!=|(?:i)?like)\s*('(?:[^']|'')*'|"(?:[^"])*")\s*""",
    re.IGNORECASE,
)


def _name_filter(text: str | None) -> Any:
    """search_experiments' filter, on names only for now: `name = 'x'`, `!=`, `LIKE`, `ILIKE`,
    joined by AND. Anything else is refused with its position."""
    if text is None or not text.strip():
        return lambda name: True
    tests = []
    position = 0
    for part in re.split(r"(\s+and\s+)", text, flags=re.IGNORECASE):
        if re.fullmatch(r"\s+and\s+", part, flags=re.IGNORECASE):
            position += len(part)
            continue
        match = _NAME_CLAUSE.fullmatch(part)
        if match is None:
            raise MlflowError(
                f"Invalid filter {text!r} at position {position}: experiments can be filtered "
                "by name for now (name = 'x', name != 'x', name LIKE 'x%', name ILIKE 'x%')"
            )
        op, quoted = match.group(1).lower(), match.group(2)
        value = quoted[1:-1].replace("''", "'") if quoted[0] == "'" else quoted[1:-1]
        tests.append((op, value))
        position += len(part)

    def matches(name: str) -> bool:
        for op, value in tests:
            if (op == "=" and name != value) or (op == "!=" and name == value):
                return False
            if op in ("like", "ilike"):
                pattern = "".join(
                    ".*" if c == "%" else "." if c == "_" else re.escape(c) for c in value
                )
                flags = re.IGNORECASE | re.DOTALL if op == "ilike" else re.DOTALL
                if re.fullmatch(pattern, name, flags) is None:
                    return False
        return True

    return matches


_EXPERIMENT_FIELDS = {
    "name": "name",
    "experiment_id": "experiment_id",
    "creation_time": "creation_time",
    "last_update_time": "last_update_time",
}


def _experiment_order(clause: str) -> tuple[str, bool]:
    words = clause.split()
    field = words[0].removeprefix("attributes.").removeprefix("attribute.") if words else ""
    direction = words[1].upper() if len(words) > 1 else "ASC"
    if field not in _EXPERIMENT_FIELDS or len(words) > 2 or direction not in ("ASC", "DESC"):
        raise MlflowError(f"Invalid order_by clause {clause!r}")
    return _EXPERIMENT_FIELDS[field], direction == "DESC"


def _sort_key(value: Any, field: str) -> Any:
    return int(value) if field == "experiment_id" else value
