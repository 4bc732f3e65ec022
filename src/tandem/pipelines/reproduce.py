"""`tandem reproduce RUN`: run a recorded stage again from what its run recorded, in a clean
git worktree at the recorded commit, and say whether the outputs are bit-identical, which
metrics moved and by how much, and what in the record differs from the reproduction (code,
inputs, params, packages, platform).

Inputs come from the recorded commit; files git does not hold are taken from the current work
tree when their hash matches the record, or from the run that produced them (lineage), and
dataset versions are downloaded as recorded. The reproduction is itself recorded as a run,
tagged `tandem.reproduces` (never a cache entry for the stage).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tandem.core.refs import parse_run_ref
from tandem.data.ingest import HashCache
from tandem.errors import InvalidInput, NotFound
from tandem.pipelines.execute import CommandJob, execute_command, stage_environment
from tandem.pipelines.record import OUTS, Recorder, param_text, read_metrics
from tandem.pipelines.spec import Pipeline, Stage, load_pipeline
from tandem.pipelines.state import WorkTree, clear_outputs, read_params
from tandem.tracking.models import Environment

if TYPE_CHECKING:
    from tandem.sdk.client import Client


@dataclass
class Reproduction:
    run: str
    stage: str
    identical: bool = False
    returncode: int | None = None
    seconds: float = 0.0
    outputs: list[dict[str, Any]] = field(default_factory=list)  # path, recorded, reproduced, same
    metrics: list[dict[str, Any]] = field(default_factory=list)  # key, recorded, reproduced, diff
    differences: list[str] = field(default_factory=list)  # what in the record differs
    worktree: str | None = None
    reproduction: str | None = None  # the run recording this reproduction

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reproduce(client: Client, ref: str, home: Path, *, keep: bool = False,
              timeout: float | None = None) -> Reproduction:  # fmt: skip
    """Re-execute the stage run `ref` and compare.

    Raises:
        NotFound: no such run.
        InvalidInput: the run was not recorded by `tandem run`, or its pipeline is gone.
    """
    run = client.runs.get(parse_run_ref(ref, client.settings.project).run_id)
    try:
        record = orjson.loads(client.runs.read_artifact(run.id, "tandem-stage.json"))
    except NotFound:
        raise InvalidInput(
            f"run {run.id} was not recorded by `tandem run` (it has no tandem-stage.json): "
            "only pipeline stage runs can be reproduced"
        ) from None
    pipeline_file = Path(run.tags.get("tandem.pipeline", ""))
    name = run.tags.get("tandem.stage", run.name)
    result = Reproduction(run=f"{run.project}/runs/{run.id}", stage=name)
    env = run.environment or Environment()
    source = pipeline_file.parent
    workdir = home / "reproduce" / run.id
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.parent.mkdir(parents=True, exist_ok=True)
    root, cleanup = _worktree(source, env.code.commit, workdir, result)
    try:
        result.worktree = str(root)
        pipeline = _pipeline(root, pipeline_file, source, run.project)
        if name not in pipeline.stages:
            raise InvalidInput(
                f"stage {name!r} is not in {pipeline_file.name} at the recorded commit"
            )
        stage = pipeline.stages[name]
        if stage.cmd != record["cmd"]:
            result.differences.append(f"command: recorded {record['cmd']!r}, now {stage.cmd!r}")
        tree = WorkTree(root, HashCache(workdir.parent / f"{run.id}-hashes.sqlite"))
        _inputs(client, run.id, record, source, root, tree, result)
        _params(pipeline, stage, source, record["params"], result)
        _compare_environment(client, run.id, env, result)
        clear_outputs(root, stage.outputs)
        recorder = Recorder(pipeline, lambda: client)
        datasets = {ref: recorder.materialize(ref, home) for ref in record["datasets"]}
        log = workdir.parent / f"{run.id}.log"
        params = {key: param_text(value) for key, value in record["params"].items()}
        again = client.start_run(
            run.project, f"{name} (reproduction)", seed=run.seed, cwd=root, params=params,
            tags={"tandem.stage": name, "tandem.reproduces": run.id},
        )  # fmt: skip
        job_env = stage_environment(stage, seed=run.seed or 0, project=run.project,
                                    run_id=again.id, datasets=datasets)  # fmt: skip
        result.reproduction = f"{run.project}/runs/{again.id}"
        try:
            job = CommandJob(stage.cmd, str(root), job_env, str(log), timeout or stage.timeout)
            outcome = execute_command(job)
            result.returncode, result.seconds = outcome.returncode, outcome.seconds
            again.log_artifact(log, f"logs/{name}.log")
            if outcome.returncode != 0:
                result.differences.append(
                    f"the command failed (status {outcome.returncode}): see {log}"
                )
                again.end("failed")
                return result
            _outputs(stage, record, root, tree, run.metrics, result)
            result.identical = all(o["same"] for o in result.outputs)
            again.log_metrics({m["key"]: m["reproduced"] for m in result.metrics})
            again.set_tags({"tandem.reproduction.identical": str(result.identical).lower()})
            again.end("finished")
        except BaseException:
            again.end("failed")
            raise
        return result
    finally:
        if not keep:
            cleanup()
            result.worktree = None


def _worktree(
    source: Path, commit: str | None, workdir: Path, result: Reproduction
) -> tuple[Path, Any]:
    """A clean checkout of `commit` holding the pipeline's folder, and how to remove it."""
    top = _git(source, "rev-parse", "--show-toplevel") if source.is_dir() else None
    if commit and top:
        add = ["git", "-C", top, "worktree", "add", "--detach", str(workdir), commit]
        added = subprocess.run(add, capture_output=True, text=True)
        if added.returncode == 0:

            def cleanup() -> None:
                subprocess.run(["git", "-C", top, "worktree", "remove", "--force", str(workdir)],
                               capture_output=True)  # fmt: skip
                shutil.rmtree(workdir, ignore_errors=True)

            return workdir / source.relative_to(top), cleanup
        result.differences.append(
            f"code: commit {commit[:12]} is not in {top}: inputs come from the work tree"
        )
    else:
        result.differences.append(
            "code: no git commit was recorded: inputs come from the work tree"
        )
    workdir.mkdir(parents=True)
    return workdir, lambda: shutil.rmtree(workdir, ignore_errors=True)


def _git(folder: Path, *args: str) -> str | None:
    with contextlib.suppress(OSError):
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout.strip()
    return None


def _pipeline(root: Path, pipeline_file: Path, source: Path, project: str) -> Pipeline:
    candidate = root / pipeline_file.name
    if not candidate.is_file():
        if not pipeline_file.is_file():
            raise InvalidInput(f"the pipeline file {pipeline_file} is gone: cannot reproduce")
        shutil.copy2(pipeline_file, candidate)
    pipeline = load_pipeline(candidate)
    pipeline.project = project
    return pipeline


def _inputs(client: Client, run_id: str, record: dict[str, Any], source: Path, root: Path,
            tree: WorkTree, result: Reproduction) -> None:  # fmt: skip
    """Bring every recorded input into the worktree with its recorded hash, or say why not."""
    produced = _upstream_artifacts(client, result.run)
    here = WorkTree(source, tree.cache)  # the work tree the run came from
    for dep, digest in record["deps"].items():
        if tree.hash(dep) == digest:
            continue
        local = source / dep
        if local.exists() and here.hash(dep) == digest:
            target = root / dep
            target.parent.mkdir(parents=True, exist_ok=True)
            if local.is_dir():
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(local, target)
            else:
                shutil.copy2(local, target)
        elif dep in produced:
            upstream_run, artifact = produced[dep]
            target = root / dep
            target.parent.mkdir(parents=True, exist_ok=True)
            client.runs.download_artifact(upstream_run, artifact, target)
        tree.forget(dep)
        now = tree.hash(dep)
        if now != digest:
            state = "missing" if now is None else "differs from the record"
            result.differences.append(f"input {dep}: {state}")


def _upstream_artifacts(client: Client, run_ref: str) -> dict[str, tuple[str, str]]:
    """Work-tree path -> (run, artifact) of each stage output this run read."""
    graph = client.lineage.graph(run_ref, direction="upstream", depth=1)
    found = {}
    for node in graph.nodes:
        if node.kind.value == "artifact" and "/artifacts/" in node.ref:
            run_part, _, artifact = node.ref.partition("/artifacts/")
            if artifact.startswith(OUTS + "/"):
                found[artifact[len(OUTS) + 1 :]] = (run_part.rsplit("/", 1)[-1], artifact)
    return found


def _compare_environment(client: Client, run_id: str, env: Any, result: Reproduction) -> None:
    from tandem.sdk.environment import _process_facts, package_list

    python, platform_name, packages_hash, _ = _process_facts()
    if env.code.dirty:
        result.differences.append(
            "code: the run was recorded from uncommitted changes, which are not in the commit"
        )
    if env.python and env.python != python:
        result.differences.append(f"python: recorded {env.python}, now {python}")
    if env.platform and env.platform != platform_name:
        result.differences.append(f"platform: recorded {env.platform}, now {platform_name}")
    if env.packages_hash and env.packages_hash != packages_hash:
        changed = "the installed packages differ from the recorded list"
        if env.packages_artifact:
            with contextlib.suppress(NotFound):
                recorded = client.runs.read_artifact(run_id, env.packages_artifact).decode()
                changed = _package_changes(recorded, package_list())
        result.differences.append(f"packages: {changed}")


def _package_changes(recorded: str, now: str, shown: int = 8) -> str:
    """`numpy 2.1.0 -> 2.2.1, pandas (removed), ...` between two `name==version` lists."""
    before = dict(line.split("==", 1) for line in recorded.splitlines() if "==" in line)
    after = dict(line.split("==", 1) for line in now.splitlines() if "==" in line)
    changes = []
    for name in sorted(before.keys() | after.keys(), key=str.lower):
        if name not in after:
            changes.append(f"{name} (removed)")
        elif name not in before:
            changes.append(f"{name} {after[name]} (added)")
        elif before[name] != after[name]:
            changes.append(f"{name} {before[name]} -> {after[name]}")
    more = f" and {len(changes) - shown} more" if len(changes) > shown else ""
    return ", ".join(changes[:shown]) + more if changes else "the same packages, listed differently"


def _outputs(stage: Stage, record: dict[str, Any], root: Path, tree: WorkTree,
             recorded_metrics: dict[str, float], result: Reproduction) -> None:  # fmt: skip
    for out in stage.outputs:
        tree.forget(out)
        now = tree.hash(out)
        before = (record.get("outs", {}).get(out) or {}).get("oid")
        result.outputs.append(
            {"path": out, "recorded": before, "reproduced": now, "same": now == before}
        )
    for metrics_file in stage.metrics:
        if not (root / metrics_file).is_file():
            continue
        for key, value in read_metrics(root / metrics_file).items():
            old = recorded_metrics.get(key)
            diff = None if old is None else value - old
            result.metrics.append({"key": key, "recorded": old, "reproduced": value, "diff": diff})


def _params(pipeline: Pipeline, stage: Stage, source: Path, recorded: dict[str, Any],
            result: Reproduction) -> None:  # fmt: skip
    """Give the worktree the params the run recorded: a params file git does not hold comes
    from the work tree, and a value the commit's file holds differently (the run was recorded
    from uncommitted changes) is written over with the recorded one."""
    for param in stage.params:
        target = pipeline.root / param.file
        if not target.exists() and (source / param.file).is_file():
            shutil.copy2(source / param.file, target)
    try:
        now = read_params(pipeline, stage.params)
    except InvalidInput:
        now = {}
    stale = [p for p in stage.params if p.name in recorded and now.get(p.name) != recorded[p.name]]
    try:
        _write_params(pipeline.root, stale, recorded)
        now = read_params(pipeline, stage.params)
    except InvalidInput as exc:
        result.differences.append(f"params: {exc}")
        return
    for key, value in recorded.items():
        if now.get(key) != value:
            result.differences.append(f"params: {key} recorded {value!r}, now {now.get(key)!r}")


def _write_params(root: Path, params: list[Any], recorded: dict[str, Any]) -> None:
    """Set each param's dotted key in its file (made if missing) to its recorded value."""
    import yaml

    from tandem.pipelines.spec import YAML_LOADER

    for file in dict.fromkeys(param.file for param in params):
        path = root / file
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER) or {}
        except FileNotFoundError:
            data = {}
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{file} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            data = {}
        for param in (p for p in params if p.file == file):
            node = data
            *parents, last = param.key.split(".")
            for part in parents:
                if not isinstance(node.get(part), dict):
                    node[part] = {}
                node = node[part]
            node[last] = recorded[param.name]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
