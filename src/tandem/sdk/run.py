"""`ActiveRun`: what `tandem.start_run` returns. Params go to the server at once (so a conflicting
value fails where it is logged); metric points and tags are spooled to a local file before the
call returns and shipped in the background (see `tandem.sdk.spool`)."""

from __future__ import annotations

import logging
import math
import os
import random
import sys
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tandem.core.clock import now_ms
from tandem.core.paths import check_artifact_path
from tandem.core.validation import (
    check_key,
    check_metric_value,
    check_step,
    wire_metric_value,
)
from tandem.data.models import DatasetVersion, RunLink
from tandem.errors import (
    Conflict,
    NotFound,
    ServerError,
    TandemError,
    TransportError,
    UnsafePath,
)
from tandem.registry.models import ModelVersion
from tandem.sdk import environment as env
from tandem.sdk.spool import SendBatch, Shipper, Spool, parse_spool, replay, try_lock
from tandem.tracking.models import Environment, Run, RunCreate, RunStatus
from tandem.tracking.rules import (
    MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS,
    check_new_run,
    check_params,
    check_tags,
    param_text,
)

if TYPE_CHECKING:
    from tandem.sdk.client import Client, SyncReport

log = logging.getLogger(__name__)


class ActiveRun:
    """A run being logged to. Use it as a context manager: leaving the block ends the run as
    finished, or as failed if an exception escaped (killed for KeyboardInterrupt), keeping
    everything logged so far."""

    def __init__(
        self,
        client: Client,
        run: Run,
        *,
        end_on_exit: bool = True,
        create: dict[str, Any] | None = None,
    ) -> None:
        """`create`: the body of the run's creation, which the SDK deferred (ADR 19): it is
        sent with the run's first batch, or before any other request of the client."""
        self.client = client
        self.info = run
        self.id = run.id
        self.project = run.project
        self.end_on_exit = end_on_exit
        self._params: dict[str, str] = dict(run.params)
        self._lock = threading.Lock()
        self._ended = False
        spool = Spool(
            client._spool_files,
            run.id,
            client.target,
            ends_run=end_on_exit,
            create={"project": run.project, "body": create} if create is not None else None,
        )
        self._shipper = Shipper(
            spool,
            batch_sender(client, run.id),
            client._courier,
            create=create_sender(client, run.project, create) if create is not None else None,
        )

    @property
    def ref(self) -> str:
        return f"{self.project}/runs/{self.id}"

    def __repr__(self) -> str:
        return f"<ActiveRun {self.ref} {self.info.name!r}>"

    # -- params (synchronous) -------------------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record params. A param has one value for the life of a run.

        Raises:
            Conflict: a param was already logged with a different value.
        """
        new = {check_key(k, "param"): param_text(v) for k, v in params.items()}
        with self._lock:
            for key, value in new.items():
                if key in self._params and self._params[key] != value:
                    raise Conflict(
                        f"param {key!r} of run {self.id} is already {self._params[key]!r}; "
                        f"params cannot change (got {value!r}): log a new run or use a tag"
                    )
            todo = {k: v for k, v in new.items() if k not in self._params}
            items = list(todo.items())
            for start in range(0, len(items), MAX_BATCH_PARAMS):  # the server's cap per batch
                chunk = dict(items[start : start + MAX_BATCH_PARAMS])
                self.client.runs.log_batch(self.id, params=chunk)
                self._params.update(chunk)

    # -- metrics and tags (spooled) -------------------------------------------------------

    def log_metric(
        self, key: str, value: float, step: int = 0, timestamp: int | None = None
    ) -> None:
        """Record one metric point. Returns once the point is safe in the local spool."""
        sent: float | str = value
        if not isinstance(value, float) or not math.isfinite(value):
            sent = wire_metric_value(check_metric_value(key, value))
        if type(step) is not int or step < 0:
            check_step(step)
        self._shipper.add_points([[check_key(key, "metric"), sent, step, timestamp or now_ms()]])

    def log_metrics(
        self, metrics: Mapping[str, float], step: int = 0, timestamp: int | None = None
    ) -> None:
        """Record several metrics at the same step."""
        check_step(step)
        ts = timestamp or now_ms()
        points = []
        for key, value in metrics.items():
            sent: float | str = value
            if not isinstance(value, float) or not math.isfinite(value):
                sent = wire_metric_value(check_metric_value(key, value))
            points.append([check_key(key, "metric"), sent, step, ts])
        if points:
            self._shipper.add_points(points)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        checked = {check_key(k, "tag"): str(v) for k, v in tags.items()}
        if checked:
            self._shipper.add_tags(checked)

    # -- artifacts ------------------------------------------------------------------------

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> None:
        """Upload a file (default artifact path: its name)."""
        self.client.runs.upload_artifact(self.id, local_path, artifact_path)

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> int:
        """Upload every file under a folder, keeping relative paths; symbolic links are refused."""
        root = Path(local_dir)
        if not root.is_dir():
            raise NotFound(f"{root} is not a folder")
        prefix = check_artifact_path(artifact_path) + "/" if artifact_path else ""
        entries = sorted(root.rglob("*"))
        # Refuse before uploading anything, so a bad folder changes nothing.
        for path in entries:
            if path.is_symlink():
                raise UnsafePath(f"{path} is a symlink: tandem stores files, not links")
        files = [path for path in entries if path.is_file()]
        for path in files:
            rel = path.relative_to(root).as_posix()
            self.client.runs.upload_artifact(self.id, path, prefix + rel)
        return len(files)

    def log_dataset(
        self,
        data: Any,
        name: str,
        role: str = "input",
        *,
        contract: str | Path | None = None,
        project: str | None = None,
        message: str = "",
    ) -> DatasetVersion:
        """Version `data` (a path, an s3:// prefix, a Polars/pandas frame or an Arrow table)
        as dataset `name` (in this run's project unless `project` is given) and link it to this
        run in `role` (train, test, input; `output` for what the run produced)."""
        return self.client.data.add(
            name, data, project=project or self.project, contract=contract, message=message,
            run_id=self.id, role=role,
        )  # fmt: skip

    def use_dataset(self, ref: str, role: str = "input") -> RunLink:
        """Link an existing version (`NAME@vN`, `NAME` for the latest, `PROJECT/NAME@vN`)."""
        if "/" not in ref.split("@", 1)[0]:
            ref = f"{self.project}/{ref}"
        return self.client.data.link_run(self.id, ref, role)

    def log_model(
        self,
        model: Any,
        name: str,
        *,
        flavor: str | None = None,
        signature: dict[str, Any] | None = None,
        example: Any = None,
        trusted: bool = False,
        description: str = "",
    ) -> ModelVersion:
        """Store `model` (scikit-learn, XGBoost, LightGBM, ONNX, or with `trusted=True` any
        Python callable) in a safe format as this run's artifacts under `models/<name>/`, and
        register it as the next version of model `name` in this run's project. `example`
        (a few input rows) gives the input and output signature."""
        return self.client.models.log(
            self.id, self.project, model, name, flavor=flavor, signature=signature,
            example=example, trusted=trusted, description=description,
        )  # fmt: skip

    def log_text(self, text: str, artifact_path: str) -> None:
        self.client.runs.upload_bytes(self.id, text.encode(), artifact_path)

    # -- lifecycle ------------------------------------------------------------------------

    def flush(self) -> None:
        """Block until every point and tag logged so far is stored on the server."""
        self._shipper.flush()

    def end(self, status: RunStatus | str = RunStatus.FINISHED) -> None:
        """Ship what is pending and end the run, in one request."""
        if self._ended:
            return
        self._ended = True
        status = RunStatus(status)
        if self.end_on_exit:
            self._shipper.close(status.value, now_ms())
        else:
            self._shipper.close(None, None)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.end(RunStatus.FINISHED)
            return
        status = RunStatus.KILLED if issubclass(exc_type, KeyboardInterrupt) else RunStatus.FAILED
        try:
            self.end(status)
        except TandemError as end_error:  # never hide the user's exception behind ours
            log.error("could not end run %s: %s", self.id, end_error)


def batch_sender(client: Client, run_id: str) -> SendBatch:
    """POST one spooled batch to `/runs/{id}/batch`: what the shipper and recovery call."""
    http = client._http
    path = f"/api/v1/runs/{run_id}/batch"

    def send(batch: dict[str, Any] | None) -> None:
        http.send("POST", path, json=batch)

    return send


def create_sender(client: Client, project: str, create: dict[str, Any]) -> SendBatch:
    """POST a deferred run's creation (body `create`, with its client-chosen id) to
    `/projects/{project}/runs`, with a spooled batch when given one (ADR 19). Creating
    it again is acknowledged, so a retry or a recovery may resend it."""
    http = client._http
    path = f"/api/v1/projects/{quote(project, safe='')}/runs"

    def send(batch: dict[str, Any] | None) -> None:
        body = create if batch is None else {**create, "batch": batch}
        try:
            http.send("POST", path, json=body)
        except NotFound as exc:
            if "oid" not in exc.details or not create.get("link_artifacts"):
                raise
            # The package list's blob was collected since: create the run without it.
            log.warning("run %s: the package list is no longer stored; not linked", create["id"])
            client._packages_oid = None
            del create["link_artifacts"]
            send(batch)

    return send


def _seed_everything(seed: int) -> None:
    """Seed the RNGs already imported, so `seed=` makes a run repeatable without boilerplate."""
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def start(
    client: Client,
    project: str,
    name: str | None,
    *,
    seed: int | None,
    params: Mapping[str, Any] | None,
    tags: Mapping[str, str] | None,
    capture_environment: bool,
    cwd: Path | None = None,
) -> ActiveRun:
    if not client._recovered:
        client._recovered = True
        threading.Thread(target=_recover_quietly, args=(client,), daemon=True).start()
    environment = env.capture(cwd) if capture_environment else Environment()
    links = {}
    if capture_environment and client._packages_oid:
        links[env.PACKAGES_ARTIFACT] = client._packages_oid
    # The server takes at most MAX_BATCH_PARAMS params (and as many tags) per request: the run
    # is created with the first ones, and the rest follow as batches.
    more_params, more_tags = dict(params or {}), dict(tags or {})
    params = dict(_take(more_params, MAX_BATCH_PARAMS))
    tags = dict(_take(more_tags, MAX_BATCH_TAGS))
    user = client._run_users.get(project)
    if user is not None and (links or not capture_environment):
        active = _deferred(client, project, name, seed, params, tags, environment, links, user)
    else:
        active = _create_now(
            client, project, name, seed, params, tags, environment, links, capture_environment
        )
    if more_params:
        active.log_params(more_params)
    if more_tags:
        active.set_tags(more_tags)
    if seed is not None:
        _seed_everything(seed)
    return active


def _take(items: dict[str, Any], count: int) -> list[tuple[str, Any]]:
    """Remove and return the first `count` items of `items`."""
    taken = list(items.items())[:count]
    for key, _ in taken:
        del items[key]
    return taken


def _create_now(
    client: Client,
    project: str,
    name: str | None,
    seed: int | None,
    params: Mapping[str, Any] | None,
    tags: Mapping[str, str] | None,
    environment: Environment,
    links: dict[str, str],
    capture_environment: bool,
) -> ActiveRun:
    """A run created before `start_run` returns: a client's first in a project, so a refusal
    shows up at once, or one whose package list must be uploaded."""
    data = RunCreate(
        name=name,
        seed=seed,
        environment=environment,
        params=dict(params or {}),
        tags=dict(tags or {}),
        create_project=True,
        link_artifacts=links,
    )
    try:
        run = client.runs.create(project, data)
    except NotFound:
        if not links:
            raise
        client._packages_oid = None  # the blob was collected: upload it again
        run = client.runs.create(project, data.model_copy(update={"link_artifacts": {}}))
        links = {}
    if capture_environment and not links:
        artifact = client.runs.upload_bytes(
            run.id, env.package_list().encode(), env.PACKAGES_ARTIFACT
        )
        client._packages_oid = artifact.oid
    client._run_users[project] = run.user  # the next runs here may be created lazily
    return ActiveRun(client, run)


_last_environment: tuple[Environment, dict[str, Any]] | None = None


def _environment_json(environment: Environment) -> dict[str, Any]:
    """`environment` as JSON; the last one is kept, as a process's runs all share one."""
    global _last_environment
    last = _last_environment
    if last is None or last[0] is not environment:
        last = _last_environment = (
            environment,
            environment.model_dump(mode="json", exclude_defaults=True),
        )
    return last[1]


def _deferred(
    client: Client,
    project: str,
    name: str | None,
    seed: int | None,
    params: Mapping[str, Any] | None,
    tags: Mapping[str, str] | None,
    environment: Environment,
    links: dict[str, str],
    user: str,
) -> ActiveRun:
    """A run whose creation is sent with its first batch (ADR 19): a short run is then one
    request and one transaction. This client has created a run in `project` before (so it
    may, as `user`); the values are checked here by the server's rules, so a bad one still
    fails at `start_run`. The run's id is chosen here, and the creation is spooled first."""
    run_id = uuid.uuid4().hex
    run_name = check_new_run(run_id, name, seed)
    checked_params = check_params(params or {})
    checked_tags = check_tags(tags or {})
    start_time = now_ms()
    body: dict[str, Any] = {"id": run_id, "name": run_name, "start_time": start_time}
    if seed is not None:
        body["seed"] = seed
    body["environment"] = _environment_json(environment)
    if checked_params:
        body["params"] = checked_params
    if checked_tags:
        body["tags"] = checked_tags
    body["create_project"] = True
    if links:
        body["link_artifacts"] = links
    run = Run.model_construct(
        id=run_id,
        project=project,
        name=run_name,
        status=RunStatus.RUNNING,
        user=user,
        start_time=start_time,
        end_time=None,
        seed=seed,
        environment=environment,
        deleted_at=None,
        params=checked_params,
        metrics={},
        tags=checked_tags,
    )
    return ActiveRun(client, run, create=body)


def _recover_quietly(client: Client) -> None:
    try:
        report = recover_spools(client)
        if report.runs:
            log.info("shipped %d points left by %d crashed runs", report.points, len(report.runs))
    except Exception as exc:  # background housekeeping must never break the user's run
        log.warning("could not recover spooled points: %s", exc)


def recover_spools(client: Client) -> SyncReport:
    """Ship every orphaned spool of this client's target, then end those runs."""
    from tandem.sdk.client import SyncReport

    report = SyncReport(runs=[], points=0)
    directory = client.settings.spool_dir
    if not directory.is_dir():
        return report
    for path in sorted(directory.glob("*.spool")):
        fd = try_lock(path)
        if fd is None:
            continue  # its owner is alive, or another process is recovering it
        try:
            orphan = parse_spool(path)
            if orphan is None and os.fstat(fd).st_size == 0:
                path.unlink(missing_ok=True)  # an emptied spool its owner kept for a next run
                continue
            if orphan is None or orphan.target != client.target:
                continue
            send = batch_sender(client, orphan.run_id)
            create = None
            if orphan.create is not None:
                create = create_sender(client, orphan.create["project"], orphan.create["body"])
            try:
                points = replay(orphan, fd, send, create)
                if orphan.ends_run:  # a process attached to someone else's run leaves it be
                    killed = (RunStatus.KILLED.value, orphan.last_time or now_ms())
                    status, at = orphan.end or killed
                    run = client.runs.get(orphan.run_id)
                    if run.status is RunStatus.RUNNING:
                        client.runs.update(orphan.run_id, status=status, end_time=at)
            except NotFound:
                log.warning("run %s no longer exists; dropping its spool %s", orphan.run_id, path)
                path.unlink(missing_ok=True)
                continue
            except (TransportError, ServerError):
                raise  # the server is unwell: nothing else would ship either
            except TandemError as exc:  # the run refuses them (e.g. it is deleted): keep them
                log.warning("kept %s for a later sync: %s", path, exc)
                continue
            report.points += points
            report.runs.append(orphan.run_id)
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return report
