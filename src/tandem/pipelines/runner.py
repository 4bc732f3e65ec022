"""`tandem run`: stages in dependency order, independent ones in parallel, each skipped when its
key (command, input hashes, params) matches `tandem.lock` and its outputs are in place, or
restored from an earlier run with the same key, or else run and recorded.

Checking an unchanged pipeline reads only the work tree and `tandem.lock` (one `stat` per file
against the hash cache): the workspace is opened only when a stage has to run, be restored or
read a dataset version the lock does not know yet.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tandem.errors import Conflict, InvalidInput, TandemError, UserCodeError
from tandem.pipelines.execute import (
    CommandJob,
    CommandResult,
    execute_command,
    stage_environment,
    stop_local_commands,
)
from tandem.pipelines.graph import build_graph, upstream_outputs, with_upstream
from tandem.pipelines.record import Recorder
from tandem.pipelines.spec import Pipeline, Stage
from tandem.pipelines.state import (
    SKIP_DIRS,
    WorkTree,
    clear_outputs,
    read_lock,
    read_params,
    stage_key,
    update_gitignore,
    write_lock,
)

if TYPE_CHECKING:
    from tandem.core.executor import Executor
    from tandem.pipelines.openlineage import Emitter
    from tandem.sdk.run import ActiveRun

log = logging.getLogger(__name__)

UP_TO_DATE, RAN, RESTORED, FAILED, SKIPPED, WOULD_RUN = (
    "up-to-date", "ran", "restored", "failed", "skipped", "would-run",
)  # fmt: skip


@dataclass
class StageResult:
    stage: str
    status: str
    seconds: float = 0.0
    run: str | None = None  # PROJECT/runs/ID
    message: str = ""
    log: str | None = None


@dataclass
class _Pending:
    stage: Stage
    key: str
    record: dict[str, Any]
    run: ActiveRun
    log: Path
    started: float = field(default_factory=time.perf_counter)


Event = Callable[[StageResult], None]


class PipelineRunner:
    def __init__(
        self,
        pipeline: Pipeline,
        tree: WorkTree,
        home: Path,
        *,
        recorder: Recorder | None = None,
        executor: Executor | None = None,
        jobs: int = 1,
        on_event: Event | None = None,
        on_start: Callable[[str], None] | None = None,
        events: Emitter | None = None,
        echo: bool = False,
    ) -> None:
        self.pipeline = pipeline
        self.tree = tree
        self.home = home
        self.recorder = recorder or Recorder(pipeline)
        self.executor = executor
        self.jobs = max(1, jobs)
        self.on_event = on_event or (lambda result: None)
        self.on_start = on_start or (lambda name: None)
        self.lock = read_lock(pipeline)
        self.graph = build_graph(pipeline)
        self.logs = home / "pipelines" / "logs" / _short(str(pipeline.root))
        self._snapshot: dict[str, tuple[int, int]] | None = None
        self._dataset_refs: dict[str, dict[str, str]] = {}
        self.events = events
        self.echo = echo  # stream each stage's output, prefixed with its name
        self.warnings: list[str] = []  # OpenLineage targets that did not take an event
        self.gitignored: list[str] = []  # lines `run` added to the .gitignore beside the file
        # stage -> why its own code failed (it exited non-zero or outlived its timeout), told
        # apart from tandem failing to run or record it
        self.user_errors: dict[str, UserCodeError] = {}

    # -- deciding ------------------------------------------------------------------------------

    def inputs(self, stage: Stage) -> tuple[str, dict[str, Any]]:
        """(key, record) of a stage as its inputs stand now."""
        deps: dict[str, str | None] = {}
        for dep in stage.deps:
            digest = self.tree.hash(dep)
            if digest is None:
                raise InvalidInput(f"stage {stage.name!r}: dependency {dep} does not exist")
            deps[dep] = digest
        datasets = self._datasets(stage)
        params = read_params(self.pipeline, stage.params)
        key = stage_key(stage, deps, datasets, params)
        return key, {"cmd": stage.cmd, "deps": deps, "datasets": datasets, "params": params}

    def _datasets(self, stage: Stage) -> dict[str, str]:
        """PROJECT/NAME@vN -> digest of each dataset version the stage reads."""
        known: dict[str, str] = (self.lock.get(stage.name) or {}).get("dataset_refs", {})
        resolved = {}
        for ref in stage.datasets:
            canonical = known.get(ref)  # a pinned version never changes: no need to ask
            if canonical is None:
                canonical = "=".join(self.recorder.dataset(ref))
            resolved[ref] = canonical
        self._dataset_refs[stage.name] = resolved
        return dict(text.split("=", 1) for text in resolved.values())

    def outputs_match(self, stage: Stage, entry: dict[str, Any]) -> bool:
        recorded = entry.get("outs", {})
        return all(
            (self.tree.hash(out) or "missing") == (recorded.get(out) or {}).get("oid")
            for out in stage.outputs
        )

    # -- running -------------------------------------------------------------------------------

    def run(self, targets: Iterable[str] = (), *, force: bool = False,
            dry_run: bool = False) -> list[StageResult]:  # fmt: skip
        """Bring the selected stages (default: all) up to date; return one result per stage."""
        if dry_run:  # reads only: no need to wait for a run in progress
            return self._run(list(targets), force, dry_run)
        with self._exclusive():
            results = self._run(list(targets), force, dry_run)
            wrote = [r.stage for r in results if r.status in (RAN, RESTORED)]
            if wrote:  # what the stages wrote, and the workspace, kept out of git (as dvc does)
                outputs = [out for name in wrote for out in self.pipeline.stages[name].outputs]
                self.gitignored = update_gitignore(self.pipeline, self.home, outputs)
            return results

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One `tandem run` or `checkout` at a time per pipeline: two would write the same
        outputs and lock file."""
        import fcntl

        path = self.home / "pipelines" / "locks" / f"{_short(str(self.pipeline.root))}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise Conflict(
                    f"{self.pipeline.file.name} is already being run here ({holder}): "
                    "wait for it to finish"
                ) from None
            handle.truncate(0)
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            try:
                yield
            finally:
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _run(self, targets: list[str], force: bool, dry_run: bool) -> list[StageResult]:
        for name in targets:
            if name not in self.pipeline.stages:
                known = ", ".join(self.pipeline.stages)
                raise InvalidInput(f"no stage {name!r} in {self.pipeline.file.name} ({known})")
        selected = with_upstream(self.graph, targets) if targets else set(self.pipeline.stages)
        forced = set(targets or selected) if force else set()
        waiting = {name: set(self.graph[name]) & selected for name in selected}
        results: dict[str, StageResult] = {}
        running: dict[Future[CommandResult], _Pending] = {}
        pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="tandem-stage")
        try:
            while waiting or running:
                for name in [n for n, deps in sorted(waiting.items()) if not deps]:
                    if len(running) >= self.jobs:
                        break
                    del waiting[name]
                    result, pending = self._begin(
                        self.pipeline.stages[name], name in forced, dry_run
                    )
                    if pending is None:
                        self._done(result, waiting, results)
                    else:
                        self.on_start(name)
                        start = getattr(self.executor, "start", None)
                        if start is not None:  # in this (the main) thread, before the pool's
                            start()
                        running[pool.submit(self._execute, pending)] = pending
                if not running:
                    if waiting and not any(not deps for deps in waiting.values()):
                        raise AssertionError("stages wait on each other")  # build_graph forbids
                    continue
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    pending = running.pop(future)
                    self._done(self._end(pending, future), waiting, results)
        except BaseException:  # interrupted (Ctrl-C, terminated): stop and record what ran
            self._abandon(running)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.tree.save()
        return [results[name] for name in self.pipeline.stages if name in results]

    def checkout(self, targets: Iterable[str] = ()) -> list[str]:
        """Restore the outputs `tandem.lock` records (of `targets`, default all) that are
        missing or differ, from the runs that produced them; returns the stages restored."""
        with self._exclusive():
            return self._checkout(list(targets) or list(self.pipeline.stages))

    def _checkout(self, names: list[str]) -> list[str]:
        restored = []
        for name in names:
            entry = self.lock.get(name)
            if name not in self.pipeline.stages:
                raise InvalidInput(f"no stage {name!r} in {self.pipeline.file.name}")
            if entry is None:
                raise InvalidInput(f"stage {name!r} has not run yet: nothing to check out")
            stage = self.pipeline.stages[name]
            if self.outputs_match(stage, entry):
                continue
            clear_outputs(self.pipeline.root, stage.outputs)
            self.recorder.restore(entry["run"].rsplit("/", 1)[-1], stage)
            for out in stage.outputs:
                self.tree.forget(out)
            if not self.outputs_match(stage, entry):
                raise InvalidInput(f"the outputs of {name!r} in its run differ from tandem.lock")
            restored.append(name)
        self.tree.save()
        return restored

    def _done(
        self, result: StageResult, waiting: dict[str, set[str]], results: dict[str, StageResult]
    ) -> None:
        results[result.stage] = result
        self.on_event(result)
        ok = result.status in (UP_TO_DATE, RAN, RESTORED, WOULD_RUN)
        for name, deps in list(waiting.items()):
            if result.stage in deps:
                if ok:
                    deps.discard(result.stage)
                else:  # everything downstream of a failure is skipped
                    del waiting[name]
                    self._done(
                        StageResult(name, SKIPPED, message=f"{result.stage} did not finish"),
                        waiting,
                        results,
                    )

    def _begin(
        self, stage: Stage, force: bool, dry_run: bool
    ) -> tuple[StageResult, _Pending | None]:
        try:
            key, record = self.inputs(stage)
        except TandemError as exc:
            made_by = self._made_upstream(stage) if dry_run else []
            if made_by:  # an earlier stage will write it: not a failure before a first run
                return StageResult(stage.name, WOULD_RUN, message=made_by[0]), None
            return StageResult(stage.name, FAILED, message=str(exc)), None
        entry = self.lock.get(stage.name) or {}
        if not force and entry.get("key") == key and self.outputs_match(stage, entry):
            return StageResult(stage.name, UP_TO_DATE, run=entry.get("run")), None
        if dry_run:
            return StageResult(stage.name, WOULD_RUN, message=self._why(entry, key, record)), None
        try:
            if not force:
                cached = self.recorder.cached_run(key)
                if cached is not None:
                    started = time.perf_counter()
                    clear_outputs(self.pipeline.root, stage.outputs)  # nothing left over
                    self.recorder.restore(cached, stage)
                    self._commit(stage, key, record, cached)
                    ref = f"{self.recorder.project}/runs/{cached}"
                    took = time.perf_counter() - started
                    return StageResult(stage.name, RESTORED, took, run=ref), None
            if self._snapshot is None:
                self._snapshot = scan(self.pipeline.root)
            clear_outputs(self.pipeline.root, stage.outputs)
            for out in stage.outputs:
                self.tree.forget(out)
            run = self.recorder.start(stage, key, record["params"])
        except TandemError as exc:
            return StageResult(stage.name, FAILED, message=str(exc)), None
        self._event("START", stage, run.id, record)
        self.logs.mkdir(parents=True, exist_ok=True)
        return StageResult(stage.name, RAN), _Pending(
            stage, key, record, run, self.logs / f"{stage.name}.log"
        )

    def _made_upstream(self, stage: Stage) -> list[str]:
        """`needs DEP, made by STAGE` for each missing dependency another stage writes; empty
        if a missing dependency is nobody's output (then it is a real failure)."""
        writers = {dep: up for dep, up, _ in upstream_outputs(self.pipeline, stage.name)}
        missing = [dep for dep in stage.deps if self.tree.hash(dep) is None]
        if not missing or any(dep not in writers for dep in missing):
            return []
        return [f"needs {dep}, made by {writers[dep]}" for dep in missing]

    def _why(self, entry: dict[str, Any], key: str, record: dict[str, Any]) -> str:
        """What changed since `tandem.lock` was written, in a few words."""
        if not entry:
            return "never run"
        if entry.get("key") == key:
            return "outputs missing or changed"
        old_deps, new_deps = entry.get("deps") or {}, record["deps"]
        changed = [d for d in new_deps if old_deps.get(d) != new_deps[d]]
        changed += [f"{d} (no longer read)" for d in old_deps if d not in new_deps]
        changed += [f"params {k}" for k, v in record["params"].items()
                    if (entry.get("params") or {}).get(k, object()) != v]  # fmt: skip
        changed += [
            f"dataset {d}" for d in record["datasets"] if d not in (entry.get("datasets") or {})
        ]
        if entry.get("cmd") != record["cmd"]:
            changed.insert(0, "the command")
        if not changed:
            return "outputs, metrics or environment changed"
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        return f"changed: {', '.join(changed[:3])}{more}"

    def _abandon(self, running: dict[Future[CommandResult], _Pending]) -> None:
        """Kill the stages still running and end their runs as killed; nothing is cached."""
        stop_local_commands()  # a Ray stage's worker goes when this process leaves Ray
        for pending in running.values():
            try:  # the log is a nicety; ending the run is what keeps it from `running` for ever
                pending.run.log_artifact(pending.log, f"logs/{pending.log.name}")
            except Exception:
                log.warning("stage %s: could not keep its log", pending.stage.name, exc_info=True)
            try:
                pending.run.end("killed")
            except Exception:
                log.exception("stage %s: could not end run %s as killed",
                              pending.stage.name, pending.run.id)  # fmt: skip

    def _execute(self, pending: _Pending) -> CommandResult:
        stage = pending.stage
        datasets = {
            ref: self.recorder.materialize(ref, self.home) for ref in pending.record["datasets"]
        }
        env = stage_environment(stage, seed=self.pipeline.seed, project=self.recorder.project,
                                run_id=pending.run.id, datasets=datasets)  # fmt: skip
        echo = f"  {stage.name} | " if self.echo else None
        root, log = str(self.pipeline.root), str(pending.log)
        job = CommandJob(stage.cmd, root, env, log, stage.timeout, echo)
        if self.executor is None:
            return execute_command(job)
        return self.executor.map(execute_command, [job])[0]

    def _end(self, pending: _Pending, future: Future[CommandResult]) -> StageResult:
        stage = pending.stage
        seconds = time.perf_counter() - pending.started
        ref = f"{self.recorder.project}/runs/{pending.run.id}"
        try:
            outcome = future.result()
            problem = self._check(stage, pending, outcome)
            if problem is not None and (outcome.returncode != 0 or outcome.timed_out):
                self.user_errors[stage.name] = stage_error(stage.name, problem, pending.log)
        except TandemError as exc:
            problem = str(exc)
        except Exception as exc:  # the executor failed (Ray lost a worker, say)
            log.warning("stage %s could not be run", stage.name, exc_info=True)
            problem = f"the stage could not be run: {exc}"
        if problem is None:
            try:
                outs = {out: {"oid": self.tree.hash(out)} for out in stage.outputs}
                upstream = [
                    (
                        self.lock[name]["run"].rsplit("/", 1)[-1],
                        f"outs/{dep if dep.startswith(out + '/') else out}",
                    )
                    for dep, name, out in upstream_outputs(self.pipeline, stage.name)
                    if name in self.lock
                ]
                self.recorder.finish(
                    pending.run, stage, {**pending.record, "outs": outs}, upstream, pending.log
                )
                self._commit(stage, pending.key, pending.record, pending.run.id, seconds)
                self._event("COMPLETE", stage, pending.run.id, pending.record)
                return StageResult(stage.name, RAN, seconds, run=ref, log=str(pending.log))
            except TandemError as exc:
                problem = str(exc)
            except Exception as exc:  # e.g. an output unreadable: fail the run, never leave it
                log.exception("stage %s: could not record its run", stage.name)
                problem = f"tandem could not record the stage's run: {type(exc).__name__}: {exc}"
        try:
            self.recorder.fail(pending.run, pending.log)
        except Exception:  # the stage's own failure is the news; this one goes to the log
            log.warning("stage %s: could not mark run %s failed", stage.name, pending.run.id,
                        exc_info=True)  # fmt: skip
        self._event("FAIL", stage, pending.run.id, pending.record, problem)
        return StageResult(
            stage.name, FAILED, seconds, run=ref, message=problem, log=str(pending.log)
        )

    def _event(self, kind: str, stage: Stage, run_id: str, record: dict[str, Any],
               error: str | None = None) -> None:  # fmt: skip
        if self.events is None:
            return
        from tandem.pipelines.openlineage import error_facet, stage_event

        facets = {"errorMessage": error_facet(error)} if error is not None else {}
        event = stage_event(
            kind, project=self.recorder.project, pipeline=self.pipeline.root.name,
            stage=stage.name, run_id=run_id, root=self.pipeline.root, inputs=list(stage.deps),
            datasets=list(record["datasets"]), outputs=list(stage.outputs), facets=facets,
        )  # fmt: skip
        try:
            self.events.emit(event)
        except TandemError as exc:
            self.warnings.append(str(exc))

    def _check(self, stage: Stage, pending: _Pending, outcome: CommandResult) -> str | None:
        """Why the stage's result may not be recorded, or None."""
        if outcome.timed_out:
            return f"timed out after {stage.timeout:g} s"
        if outcome.returncode != 0:
            return f"the command exited with status {outcome.returncode}"
        for dep, digest in pending.record["deps"].items():
            self.tree.forget(dep)
            if self.tree.hash(dep) != digest:
                return f"dependency {dep} changed while the stage ran: run it again"
        missing = [out for out in stage.outputs if not (self.pipeline.root / out).exists()]
        if missing:
            return f"the stage did not write its output {missing[0]}"
        before, after = self._snapshot or {}, scan(self.pipeline.root)
        self._snapshot = after
        declared = [o for s in self.pipeline.stages.values() for o in s.outputs]
        stray = sorted(
            path
            for path, sig in after.items()
            if before.get(path) != sig and not any(_under(path, out) for out in declared)
        )
        if stray:
            return f"the stage wrote {stray[0]}, which is not among its declared outs" + (
                f" (and {len(stray) - 1} more)" if len(stray) > 1 else ""
            )
        return None

    def _commit(
        self, stage: Stage, key: str, record: dict[str, Any], run_id: str, seconds: float = 0.0
    ) -> None:
        for out in stage.outputs:
            self.tree.forget(out)
        outs = {out: {"oid": self.tree.hash(out)} for out in stage.outputs}
        refs = self._dataset_refs.get(stage.name, {})  # as `_datasets` resolved them
        self.lock[stage.name] = {
            "key": key, **record, "dataset_refs": refs, "outs": outs,
            "run": f"{self.recorder.project}/runs/{run_id}", "seconds": round(seconds, 3),
        }  # fmt: skip
        write_lock(self.pipeline, self.lock)
        self.tree.save()


def stage_error(stage: str, problem: str, log_file: Path) -> UserCodeError:
    """The error a stage's own code made: the exception line of the last Python traceback in
    its log (`ZeroDivisionError: division by zero`), else `problem` (its exit status)."""
    what = problem
    with contextlib.suppress(OSError):
        lines = log_file.read_text(errors="replace").splitlines()[-200:]
        starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent")]
        if starts:
            tail = [line for line in lines[starts[-1] + 1 :] if line and not line[0].isspace()]
            if tail:
                what = tail[-1].strip()[:300]
    return UserCodeError(f"stage {stage}: {what}", stage=stage, log=str(log_file))


def scan(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` (but tandem's and git's folders): path -> (mtime_ns, size)."""
    found: dict[str, tuple[int, int]] = {}
    prefix = len(str(root)) + 1

    def walk(folder: str) -> None:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIP_DIRS:
                        walk(entry.path)
                elif not entry.name.startswith(".tandem.lock"):
                    st = entry.stat(follow_symlinks=False)
                    found[entry.path[prefix:]] = (st.st_mtime_ns, st.st_size)

    walk(str(root))
    found.pop("tandem.lock", None)
    return found


def _under(path: str, out: str) -> bool:
    return path == out or path.startswith(out + "/")


def _short(text: str) -> str:
    from blake3 import blake3

    return blake3(text.encode()).hexdigest()[:12]
