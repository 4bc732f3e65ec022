"""What a pipeline run tells tandem, through the SDK: each stage execution is a tracked run
(params, seed, environment, the hashes of what it read, its log), its outputs go to the blob
store as the run's artifacts under `outs/`, and lineage links it to the dataset versions and
upstream outputs it read. A finished run tagged with a stage's key is that stage's cache."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tandem.core.refs import parse_dataset_ref
from tandem.errors import IntegrityError, InvalidInput
from tandem.pipelines.spec import Pipeline, Stage

if TYPE_CHECKING:
    from tandem.sdk.client import Client
    from tandem.sdk.run import ActiveRun

KEY_TAG = "tandem.stage.key"
OUTS = "outs"
MAX_FOLDER_LINKS = 100


class Recorder:
    """The SDK client a pipeline run records through, opened only when a stage has to run."""

    def __init__(
        self,
        pipeline: Pipeline,
        connect: Callable[[], Client] | None = None,
        *,
        create_project: bool = False,
        on_created: Callable[[str], None] | None = None,
    ) -> None:
        """With `create_project`, the project is created on first use if it does not exist and
        the caller may create projects (as `tandem.start_run` does), and `on_created` is told."""
        self.pipeline = pipeline
        self._connect = connect
        self._client: Client | None = None
        self._project: str | None = None
        self.create_project = create_project
        self.on_created = on_created or (lambda name: None)

    @property
    def client(self) -> Client:
        if self._client is None:
            if self._connect is not None:
                self._client = self._connect()
            else:
                from tandem.sdk.client import Client

                self._client = Client(project=self.pipeline.project)
        return self._client

    @property
    def project(self) -> str:
        if self._project is None:
            name = self.client.project_name(self.pipeline.project)
            if self.create_project and self.client.projects.ensure(name):
                self.on_created(name)
            self._project = name
        return self._project

    # -- inputs ------------------------------------------------------------------------------

    def dataset(self, ref: str) -> tuple[str, str]:
        """(canonical ref PROJECT/NAME@vN, digest) of a dataset version."""
        parsed = parse_dataset_ref(ref, self.project)
        version = self.client.data.version(str(parsed), self.project)
        return f"{version.project}/{version.dataset}@v{version.version}", version.digest

    def materialize(self, ref: str, home: Path) -> Path:
        """The dataset version's files in a local folder (downloaded once, verified)."""
        target = home / "pipelines" / "datasets" / ref.replace("/", "__")
        if not target.is_dir():
            partial = target.with_name(target.name + ".partial")
            import shutil

            shutil.rmtree(partial, ignore_errors=True)
            self.client.data.download(ref, partial)
            partial.rename(target)
        return target

    # -- the stage cache ---------------------------------------------------------------------

    def cached_run(self, key: str) -> str | None:
        """A finished run that produced this key's outputs, if one exists."""
        page = self.client.runs.search(
            self.project, f"tags.`{KEY_TAG}` = '{key}' and status = 'finished'", limit=1,
            order_by="start_time DESC",
        )  # fmt: skip
        return page.items[0].id if page.items else None

    def restore(self, run_id: str, stage: Stage) -> None:
        """Write the stage's outputs from the run's artifacts into the work tree (each verified
        against its hash; a file that fails leaves no partial copy)."""
        root = self.pipeline.root
        for out in stage.outputs:
            paths = self._artifacts_at(run_id, f"{OUTS}/{out}")
            if not paths:
                raise IntegrityError(f"run {run_id} holds no output {out!r}: run the stage again")
            for path in paths:
                target = root / path[len(OUTS) + 1 :]
                target.parent.mkdir(parents=True, exist_ok=True)
                self.client.runs.download_artifact(run_id, path, target)

    def _artifacts_at(self, run_id: str, path: str) -> list[str]:
        """The run's artifact `path`, or the artifacts in the folder `path`."""
        listed = [a.path for a in self.client.runs.list_artifacts(run_id, path)]
        return [p for p in listed if p == path] or [p for p in listed if p.startswith(path + "/")]

    # -- a stage's run -----------------------------------------------------------------------

    def start(self, stage: Stage, key: str, params: dict[str, Any]) -> ActiveRun:
        flat = {name: param_text(value) for name, value in params.items()}
        tags = {KEY_TAG: key, "tandem.stage": stage.name, "tandem.cmd": stage.cmd[:4000],
                "tandem.pipeline": str(self.pipeline.file)}  # fmt: skip
        return self.client.start_run(
            self.project, stage.name, seed=self.pipeline.seed, params=flat, tags=tags,
            cwd=self.pipeline.root,
        )  # fmt: skip

    def finish(self, run: ActiveRun, stage: Stage, record: dict[str, Any],
               upstream: list[tuple[str, str]], log: Path) -> None:  # fmt: skip
        """Upload the outputs, log the metrics files, link the inputs, end the run."""
        root = self.pipeline.root
        for out in stage.outputs:
            local = root / out
            if local.is_dir():
                run.log_artifacts(local, f"{OUTS}/{out}")
            else:
                run.log_artifact(local, f"{OUTS}/{out}")
        for metrics_file in stage.metrics:
            run.log_metrics(read_metrics(root / metrics_file))
        run.log_text(orjson.dumps(record, option=orjson.OPT_INDENT_2).decode(), "tandem-stage.json")
        run.log_artifact(log, f"logs/{log.name}")
        for ref in record["datasets"]:
            run.use_dataset(ref, "input")
        for upstream_run, artifact in upstream:
            self._link_output(upstream_run, artifact, run.id)
        run.end("finished")

    def _link_output(self, upstream_run: str, artifact: str, run_id: str) -> None:
        """Link what this run read of another stage's output: the file, or each file of a
        folder (up to MAX_FOLDER_LINKS; past that, the run that wrote them)."""
        files = self._artifacts_at(upstream_run, artifact)
        if len(files) > MAX_FOLDER_LINKS:
            self.client.lineage.link(f"runs/{upstream_run}", run_id, project=self.project)
            return
        for path in files:
            self.client.lineage.link(
                f"runs/{upstream_run}/artifacts/{path}", run_id, project=self.project
            )

    def fail(self, run: ActiveRun, log: Path) -> None:
        run.log_artifact(log, f"logs/{log.name}")
        run.end("failed")


def param_text(value: Any) -> str:
    """A param value as a run stores it: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def read_metrics(path: Path) -> dict[str, float]:
    """The numbers in a JSON or YAML metrics file, nested keys joined with dots."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        data = orjson.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except FileNotFoundError:
        raise InvalidInput(f"the stage did not write its metrics file {path.name}") from None
    except (ValueError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"metrics file {path.name} is not JSON or YAML: {exc}") from None
    flat: dict[str, float] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        elif isinstance(node, int | float) and not isinstance(node, bool) and math.isfinite(node):
            flat[prefix[:-1]] = float(node)

    walk(data, "")
    return flat
