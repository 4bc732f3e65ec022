"""`tandem.Client`: the SDK's entry point, over the REST API only.

With a URL (argument, `TANDEM_URL` or `tandem.toml`) it talks HTTP to a server; without one it
mounts the same app in process on the local workspace, so the same code runs with or without
a server and every rule is enforced in one place.

    client = tandem.Client()                       # embedded workspace in ./.tandem
    client = tandem.Client("http://127.0.0.1:8765") # a server
    page = client.runs.search("churn", "metrics.auc > 0.8", order_by=["-metrics.auc"])
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import orjson
from blake3 import blake3

from tandem.core.config import Settings
from tandem.core.paging import Page
from tandem.core.paths import check_artifact_path
from tandem.core.refs import parse_run_ref
from tandem.core.validation import check_metric_value, wire_metric_value
from tandem.errors import InvalidInput, NotFound, PermissionDenied, TandemError
from tandem.gc.models import GcReport, GcRequest
from tandem.projects.models import Project, ProjectCreate
from tandem.sdk import environment
from tandem.sdk.alerts import Alerts
from tandem.sdk.data import Datasets
from tandem.sdk.deployments import Deployments
from tandem.sdk.evaluations import Evaluations
from tandem.sdk.governance import Governance
from tandem.sdk.identity import Audit, Members, Tokens, Users
from tandem.sdk.incidents import Incidents
from tandem.sdk.lineage import Lineage
from tandem.sdk.monitoring import Monitors
from tandem.sdk.outcomes import Outcomes
from tandem.sdk.predictions import Predictions
from tandem.sdk.registry import Models
from tandem.sdk.spool import Courier, SpoolFiles
from tandem.sdk.transport import Http, check_download, download_verified, safe_target
from tandem.tracking.models import (
    Artifact,
    BatchResult,
    MetricHistory,
    Run,
    RunComparison,
    RunCreate,
    RunSearch,
    RunStatus,
    RunUpdate,
)

if TYPE_CHECKING:
    from tandem.data.ingest import HashCache

API = "/api/v1"
UPLOAD_CHUNK = 1 << 20


def _q(text: str) -> str:
    return quote(text, safe="")


def _run_path(ref: str, rest: str = "") -> str:
    """The REST path of a run reference; `PROJECT/runs/ID` sends the project as a query
    parameter, so the server checks the run belongs to it."""
    parsed = parse_run_ref(ref)
    path = f"{API}/runs/{parsed.run_id}{rest}"
    return f"{path}?project={_q(parsed.project)}" if parsed.project else path


class Client:
    """A connection to a tandem workspace, embedded or remote.

    Args:
        url: server URL; default `TANDEM_URL` or `tandem.toml`, else the embedded workspace.
        token: API token for a server; default `TANDEM_TOKEN`.
        project: default project for calls that take one; default `TANDEM_PROJECT`.
        home: embedded workspace folder; default `TANDEM_HOME` or `.tandem/`.
        http: an httpx client to use as is (tests pass a Starlette TestClient).
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        project: str | None = None,
        home: str | Path | None = None,
        settings: Settings | None = None,
        http: httpx.Client | None = None,
        timeout: float = 60.0,
    ) -> None:
        settings = settings or Settings.load()
        if home is not None:
            root = Path(home).resolve()
            settings = settings.with_(
                home=root,
                database_url=f"sqlite:///{root / 'tandem.db'}",
                artifacts=str(root / "blobs"),
                url=None,
            )
        settings = settings.with_(
            url=url or settings.url,
            token=token or settings.token,
            project=project or settings.project,
        )
        self.settings = settings
        if http is not None:
            self.target = str(http.base_url)
            self._http = Http(http, description=self.target)
            self._owns_http = False
        elif settings.url:
            token_text = settings.token or ""
            if not token_text.isascii() or not token_text.isprintable():
                # an HTTP header carries ASCII only: say so, not httpx's UnicodeEncodeError
                raise InvalidInput("the API token has characters a token never has: copy it again")
            headers = {"authorization": f"Bearer {token_text}"} if token_text else {}
            self.target = settings.url.rstrip("/")
            self._http = Http(
                httpx.Client(
                    base_url=self.target,
                    headers=headers,
                    timeout=httpx.Timeout(timeout, connect=10.0),
                ),
                description=self.target,
            )
            self._owns_http = True
        else:
            from tandem.server.embedded import embedded_client

            self.target = f"embedded:{settings.home}"
            self._http = Http(
                embedded_client(settings),
                description=f"workspace {settings.home}",
                in_process=True,
            )
            self._owns_http = False
        self.is_embedded = self.target.startswith("embedded:")
        self._hash_cache: HashCache | None = None
        self.projects = Projects(self._http)
        self.runs = Runs(self._http, self)
        self.users = Users(self._http)
        self.tokens = Tokens(self._http)
        self.members = Members(self._http)
        self.audit = Audit(self._http)
        self.data = Datasets(self._http, self)
        self.models = Models(self._http, self)
        self.evaluations = Evaluations(self._http, self)
        self.lineage = Lineage(self._http, self)
        self.governance = Governance(self._http, self)
        self.deployments = Deployments(self._http, self)
        self.alerts = Alerts(self._http, self)
        self.predictions = Predictions(self._http, self)
        self.incidents = Incidents(self._http, self)
        self.monitors = Monitors(self._http, self)
        self.outcomes = Outcomes(self._http, self)
        self._packages_oid: str | None = None
        environment.CACHE["dir"] = settings.home / "cache"  # where the package list is kept
        self._recovered = False
        self._courier = Courier()  # ships every run's spooled points, from one thread
        self._http.before_request = self._courier.create_unborn  # ADR 19
        # project -> the user this client creates runs as, once it has created one there:
        # the next runs in that project are created with their first batch (ADR 19).
        self._run_users: dict[str, str] = {}
        self._spool_files = SpoolFiles(settings.spool_dir)
        weakref.finalize(self, self._spool_files.close)  # also at exit
        self._lock = threading.Lock()

    # -- conveniences ---------------------------------------------------------------------

    def hash_cache(self) -> HashCache:
        """This machine's cache of file hashes (for adding data to a server)."""
        if self._hash_cache is None:
            from tandem.data.ingest import HashCache

            # Beside the spool: both describe this machine, whichever server it talks to.
            self._hash_cache = HashCache.of_workspace(self.settings.home)
        return self._hash_cache

    # What `project_name` says when there is no project; the CLI names its option instead.
    no_project_message = (
        "no project given: pass project=..., set TANDEM_PROJECT, "
        'or put project = "..." in tandem.toml'
    )

    def project_name(self, project: str | None) -> str:
        """`project`, or the default project, or a clear error."""
        name = project or self.settings.project
        if not name:
            raise InvalidInput(self.no_project_message)
        return name

    def start_run(
        self,
        project: str | None = None,
        name: str | None = None,
        *,
        seed: int | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        capture_environment: bool = True,
        cwd: str | Path | None = None,
    ) -> ActiveRun:
        """Start a run; use it as a context manager. See `tandem.start_run`. `cwd`: the folder
        whose git commit is the run's code version (default: the current directory)."""
        from tandem.sdk.run import start

        return start(
            self,
            self.project_name(project),
            name,
            seed=seed,
            params=params,
            tags=tags,
            capture_environment=capture_environment,
            cwd=Path(cwd) if cwd is not None else None,
        )

    def attach_run(self, run_id: str) -> ActiveRun:
        """Log to an existing run (e.g. from several processes); leaving the `with` block flushes
        but does not end the run."""
        from tandem.sdk.run import ActiveRun

        return ActiveRun(self, self.runs.get(run_id), end_on_exit=False)

    def sync(self) -> SyncReport:
        """Ship what crashed processes left in the spool, and end their runs as killed."""
        from tandem.sdk.run import recover_spools

        return recover_spools(self)

    def gc(
        self, *, older_than_seconds: int = 0, grace_seconds: int = 3600, dry_run: bool = False
    ) -> GcReport:
        """Purge soft-deleted runs and projects, then free blobs nothing references."""
        request = GcRequest(
            older_than_seconds=older_than_seconds, grace_seconds=grace_seconds, dry_run=dry_run
        )
        response = self._http.request("POST", f"{API}/gc", json=request.model_dump())
        return GcReport.model_validate_json(response.content)

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._http.request("GET", f"{API}/health").json()
        return result

    def close(self) -> None:
        self._spool_files.close()
        if self._hash_cache is not None:
            self._hash_cache.close()
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass
class SyncReport:
    runs: list[str]
    points: int


class Projects:
    """`client.projects`: create, get, list, delete, restore."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def create(self, name: str, description: str = "") -> Project:
        body = ProjectCreate(name=name, description=description).model_dump()
        return Project.model_validate_json(
            self._http.request("POST", f"{API}/projects", json=body).content
        )

    def get(self, name: str) -> Project:
        return Project.model_validate_json(
            self._http.request("GET", f"{API}/projects/{_q(name)}").content
        )

    def ensure(self, name: str) -> bool:
        """Make sure project `name` exists, creating it (as `start_run` does) if the caller may
        create projects. Returns True if this call created it.

        Raises:
            NotFound: there is no such project and the caller may not create one (the message
                says who can).
            AlreadyExists: the name is taken by a project the caller cannot see, or a deleted
                one (restore it).
        """
        try:
            self.get(name)
            return False
        except NotFound as missing:
            try:
                self.create(name)
            except PermissionDenied:
                raise NotFound(
                    f"{missing.message}, and you may not create projects: ask an admin to run "
                    f"`tandem projects create {name}` and make you a member"
                ) from None
            return True

    def list(
        self, *, include_deleted: bool = False, cursor: str | None = None, limit: int = 100
    ) -> Page[Project]:
        params: dict[str, Any] = {"include_deleted": include_deleted, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = self._http.request("GET", f"{API}/projects", params=params)
        return Page[Project].model_validate_json(response.content)

    def delete(self, name: str) -> Project:
        return Project.model_validate_json(
            self._http.request("DELETE", f"{API}/projects/{_q(name)}").content
        )

    def restore(self, name: str) -> Project:
        return Project.model_validate_json(
            self._http.request("POST", f"{API}/projects/{_q(name)}/restore").content
        )


def metric_columns(
    metrics: Iterable[Mapping[str, Any]] | Iterable[Sequence[Any]] | Mapping[str, Sequence[Any]],
) -> dict[str, list[Any]]:
    """Accept points as dicts ({"key", "value", "step", "timestamp"}), tuples
    (key, value, step[, timestamp]), columns ({"key": [...], "value": [...], ...}) or a plain
    mapping of key to value ({"loss": 0.3}, at step 0)."""
    if isinstance(metrics, Mapping):
        if "key" in metrics and "value" in metrics and not isinstance(metrics["key"], str):
            return {k: list(v) for k, v in metrics.items()}
        metrics = [(key, value, 0) for key, value in metrics.items()]
    keys: list[str] = []
    values: list[float] = []
    steps: list[int] = []
    stamps: list[int] = []
    with_time = True
    point: Any
    for point in metrics:
        if isinstance(point, Mapping):
            keys.append(point["key"])
            values.append(point["value"])
            steps.append(point.get("step", 0))
            stamp = point.get("timestamp")
        else:
            keys.append(point[0])
            values.append(point[1])
            steps.append(point[2] if len(point) > 2 else 0)
            stamp = point[3] if len(point) > 3 else None
        if stamp is None:
            with_time = False
        else:
            stamps.append(stamp)
    columns: dict[str, list[Any]] = {"key": keys, "value": values, "step": steps}
    if with_time:
        columns["timestamp"] = stamps
    return columns


class Runs:
    """`client.runs`: everything about runs, over the REST API."""

    def __init__(self, http: Http, client: Client) -> None:
        self._http = http
        self._client = client

    def create(self, project: str | None = None, data: RunCreate | None = None) -> Run:
        name = self._client.project_name(project)
        # Like start_run, a bare create makes the project on first use.
        body = (data or RunCreate(create_project=True)).model_dump(
            mode="json", exclude_defaults=True
        )
        response = self._http.request("POST", f"{API}/projects/{_q(name)}/runs", json=body)
        return Run.model_validate_json(response.content)

    def get(self, run_id: str) -> Run:
        return Run.model_validate_json(self._http.request("GET", _run_path(run_id)).content)

    def update(self, run_id: str, *, name: str | None = None, status: RunStatus | str | None = None,
               end_time: int | None = None) -> Run:  # fmt: skip
        body = RunUpdate(
            name=name, status=RunStatus(status) if status else None, end_time=end_time
        ).model_dump(mode="json", exclude_none=True)
        response = self._http.request("PATCH", _run_path(run_id), json=body)
        return Run.model_validate_json(response.content)

    def finish(self, run_id: str, status: RunStatus | str = RunStatus.FINISHED) -> Run:
        return self.update(run_id, status=status)

    def delete(self, run_id: str) -> Run:
        return Run.model_validate_json(self._http.request("DELETE", _run_path(run_id)).content)

    def restore(self, run_id: str) -> Run:
        return Run.model_validate_json(
            self._http.request("POST", _run_path(run_id, "/restore")).content
        )

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Any = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        batch_id: str | None = None,
        end_status: RunStatus | str | None = None,
    ) -> BatchResult:
        """Log params, tags and metric points in one atomic request, synchronously.

        `metrics` takes dicts, tuples or columns (see `metric_columns`). With `batch_id`,
        retrying the same batch is safe: the server applies it once.
        """
        body: dict[str, Any] = {}
        if batch_id is not None:
            body["batch_id"] = batch_id
        if params:
            body["params"] = dict(params)
        if tags:
            body["tags"] = dict(tags)
        if metrics is not None:
            columns = metric_columns(metrics)
            # JSON has no NaN or infinity: they travel as proto-JSON's strings (ADR 33).
            values = columns["value"]
            if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
                columns["value"] = [
                    wire_metric_value(check_metric_value(key, value))
                    for key, value in zip(columns["key"], values, strict=False)
                ]
            body["metrics"] = columns
        if end_status is not None:
            body["end_status"] = str(RunStatus(end_status))
        response = self._http.request("POST", _run_path(run_id, "/batch"), json=body)
        return BatchResult.model_validate_json(response.content)

    def metric_history(self, run_id: str, key: str) -> MetricHistory:
        response = self._http.request("GET", _run_path(run_id, f"/metrics/{quote(key)}"))
        return MetricHistory.model_validate_json(response.content)

    def search(
        self,
        project: str | None = None,
        filter: str | None = None,
        *,
        order_by: Sequence[str] | str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        fields: Sequence[str] | None = None,
        include_deleted: bool = False,
    ) -> Page[Run]:
        """One page of runs matching `filter` (see `tandem.tracking.filters`), in order.

        Example:
            client.runs.search("churn", "metrics.auc > 0.8 and params.model = 'gbm'",
                               order_by=["metrics.auc DESC"], limit=20)
        """
        if isinstance(order_by, str):
            order_by = [order_by]
        search = RunSearch(
            project=self._client.project_name(project),
            filter=filter,
            order_by=list(order_by or []),
            limit=limit,
            cursor=cursor,
            fields=list(fields) if fields is not None else None,
            include_deleted=include_deleted,
        )
        response = self._http.request(
            "POST", f"{API}/runs/search", json=search.model_dump(exclude_defaults=True)
        )
        return Page[Run].model_validate_json(response.content)

    def iter_search(
        self, project: str | None = None, filter: str | None = None, **kwargs: Any
    ) -> Iterator[Run]:
        """Every matching run, following cursors page by page."""
        cursor = None
        while True:
            page = self.search(project, filter, cursor=cursor, **kwargs)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def compare(self, run_ids: Sequence[str]) -> RunComparison:
        response = self._http.request(
            "GET", f"{API}/runs/compare", params=[("ids", run_id) for run_id in run_ids]
        )
        return RunComparison.model_validate_json(response.content)

    # -- artifacts ------------------------------------------------------------------------

    def upload_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None,
        *, progress: Any = None,
    ) -> Artifact:  # fmt: skip
        """Upload one file as an artifact of the run (default path: the file's name)."""
        source = Path(local_path)
        if source.is_symlink():
            raise InvalidInput(f"{source} is a symbolic link: tandem stores files, not links")
        if not source.is_file():
            raise NotFound(f"{source} is not a file")
        path = check_artifact_path(artifact_path or source.name)

        def chunks() -> Iterator[bytes]:
            with source.open("rb") as handle:
                while chunk := handle.read(UPLOAD_CHUNK):
                    if progress is not None:
                        progress(len(chunk))
                    yield chunk

        response = self._http.request(
            "PUT",
            _run_path(run_id, f"/artifacts/{quote(path)}"),
            content=chunks(),
            headers={"content-type": "application/octet-stream"},
        )
        return Artifact.model_validate_json(response.content)

    def upload_bytes(self, run_id: str, data: bytes, artifact_path: str) -> Artifact:
        path = check_artifact_path(artifact_path)
        response = self._http.request(
            "PUT",
            _run_path(run_id, f"/artifacts/{quote(path)}"),
            content=data,
            headers={"content-type": "application/octet-stream"},
        )
        return Artifact.model_validate_json(response.content)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[Artifact]:
        response = self._http.request(
            "GET",
            _run_path(run_id, "/artifacts"),
            params={"prefix": prefix} if prefix else None,
        )
        return [Artifact.model_validate(item) for item in orjson.loads(response.content)]

    def download_artifact(
        self, run_id: str, artifact_path: str, destination: str | Path, *, progress: Any = None
    ) -> Path:
        """Download an artifact to `destination` (a file path, or an existing folder), verifying
        its hash; nothing is left behind if the transfer fails."""
        path = check_artifact_path(artifact_path)
        target = Path(destination)
        if target.is_dir():
            target = target / path.rsplit("/", 1)[-1]
        return download_verified(
            self._http, _run_path(run_id, f"/artifacts/{quote(path)}"), path, target, progress
        )

    def read_artifact(self, run_id: str, artifact_path: str) -> bytes:
        """An artifact's bytes in memory (for small files), verified against its hash."""
        path = check_artifact_path(artifact_path)
        response = self._http.request("GET", _run_path(run_id, f"/artifacts/{quote(path)}"))
        check_download(
            path, response.headers.get("x-tandem-oid"), blake3(response.content).hexdigest()
        )
        return response.content

    def download_artifacts(
        self, run_id: str, destination: str | Path, prefix: str = ""
    ) -> list[Path]:
        """Download every artifact (under `prefix`) into the folder `destination`, keeping
        their relative paths; refuses to write through a symbolic link."""
        written = []
        for artifact in self.list_artifacts(run_id, prefix):
            target = safe_target(destination, artifact.path)
            written.append(self.download_artifact(run_id, artifact.path, target))
        return written


# Imported late: run.py needs Client for type hints only.
from tandem.sdk.run import ActiveRun  # noqa: E402

__all__ = ["ActiveRun", "Client", "Projects", "Runs", "SyncReport", "TandemError", "metric_columns"]
