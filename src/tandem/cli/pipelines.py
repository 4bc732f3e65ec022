"""`tandem run`, `tandem status`, `tandem checkout`: the pipeline in `tandem.yaml`."""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tandem.cli import output
from tandem.cli.output import console, handle_errors, print_json

if TYPE_CHECKING:
    from tandem.pipelines.runner import PipelineRunner, StageResult


class ExecutorName(enum.StrEnum):
    LOCAL = "local"
    RAY = "ray"


FileOption = Annotated[Path, typer.Option("--file", "-f", help="the pipeline file")]
MARKS = {
    "ran": "✓",
    "restored": "↺",
    "up-to-date": "·",
    "failed": "✗",
    "skipped": "-",
    "would-run": "▶",
}


def _runner(file: Path, project: str | None, jobs: int = 1, executor: ExecutorName | None = None,
            on_event: Any = None, on_start: Any = None,
            openlineage: str | None = None, echo: bool = False,
            create_project: bool = False) -> PipelineRunner:  # fmt: skip
    from tandem.core.config import Settings
    from tandem.data.ingest import HashCache
    from tandem.pipelines.record import Recorder
    from tandem.pipelines.runner import PipelineRunner
    from tandem.pipelines.spec import load_pipeline
    from tandem.pipelines.state import WorkTree

    pipeline = load_pipeline(file)
    chosen = project or output.OPTIONS.get("project")
    if chosen:
        pipeline.project = chosen
    settings = Settings.load()
    if pipeline.project is None:
        pipeline.project = settings.project
    if create_project and not pipeline.project:  # `run` records runs: it needs a project
        from tandem.errors import InvalidInput

        raise InvalidInput(output.NO_PROJECT + f", or project: in {file.name}")

    chosen_executor = None
    if executor is ExecutorName.RAY:
        from tandem.core.executor import RayExecutor

        chosen_executor = RayExecutor()
    events = None
    target = openlineage or os.environ.get("TANDEM_OPENLINEAGE_URL")
    if target:
        from tandem.core.outbound import OutboundPolicy
        from tandem.pipelines.openlineage import Emitter

        events = Emitter(target, OutboundPolicy(settings.outbound_allow_hosts))
    tree = WorkTree(pipeline.root, HashCache.of_workspace(settings.home))
    return PipelineRunner(
        pipeline, tree, settings.home,
        recorder=Recorder(pipeline, output.get_client, create_project=create_project,
                          on_created=output.say_created_project),
        executor=chosen_executor, jobs=jobs, on_event=on_event, on_start=on_start, events=events, echo=echo,
    )  # fmt: skip


def _print(result: StageResult) -> None:
    mark = MARKS[result.status]
    took = f" in {result.seconds:.2f} s" if result.status in ("ran", "restored") else ""
    run = f"  {result.run}" if result.run and result.status != "up-to-date" else ""
    why = f": {result.message}" if result.message else ""
    console.print(
        f"{mark} {result.stage} {result.status}{took}{why}{run}", markup=False, highlight=False
    )
    if result.status == "failed" and result.log and Path(result.log).is_file():
        tail = Path(result.log).read_text(errors="replace").splitlines()[-10:]
        for line in tail:
            console.print(f"    {line}", markup=False, highlight=False)
        console.print(f"    (log: {result.log})", markup=False, highlight=False)


def _summary(results: list[StageResult], as_json: bool) -> None:
    if as_json:
        print_json({"stages": [r.__dict__ for r in results]})
    else:
        counts: dict[str, int] = {}
        for result in results:
            counts[result.status] = counts.get(result.status, 0) + 1
        console.print(", ".join(f"{n} {status}" for status, n in counts.items()) or "no stages")
    if any(r.status in ("failed", "skipped") for r in results):
        raise typer.Exit(1)


@handle_errors
def run(
    stages: Annotated[list[str] | None, typer.Argument(help="stages to bring up to date, with what they need (default: all)")] = None,
    file: FileOption = Path("tandem.yaml"),
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="stages to run at once")] = 1,
    force: Annotated[bool, typer.Option("--force", help="run the named stages (default: all) even if unchanged")] = False,
    executor: Annotated[ExecutorName, typer.Option("--executor", help="where stage commands run: local processes, or Ray tasks (RAY_ADDRESS, or a local Ray)")] = ExecutorName.LOCAL,
    project: Annotated[str | None, typer.Option("--project", "-p", help="record stage runs here (default: tandem.yaml's project, TANDEM_PROJECT)")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show each stage's output as it runs (local executor)")] = False,
    openlineage: Annotated[str | None, typer.Option("--openlineage", help="send an OpenLineage event for every stage run to this http(s) URL or file (default: TANDEM_OPENLINEAGE_URL)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:  # fmt: skip
    """Run the pipeline in tandem.yaml: stages in dependency order, skipping every stage whose
    command, dependencies and params are unchanged; each execution is a tracked run.

    Examples:
      tandem run              # everything that changed
      tandem run train -j 4   # `train` and what it needs, four stages at once
      tandem run --force evaluate
    """
    if jobs < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--jobs")
    quiet = as_json

    def on_start(name: str) -> None:
        if not quiet:
            console.print(f"▶ {name} running", markup=False, highlight=False)

    def on_event(result: StageResult) -> None:
        if not quiet and result.status != "up-to-date":
            _print(result)

    runner = _runner(file, project, jobs, executor, on_event, on_start, openlineage,
                     echo=verbose and not as_json, create_project=True)  # fmt: skip
    try:
        results = runner.run(stages or [], force=force)
    finally:
        if runner.events is not None:
            runner.events.close()
    if runner.gitignored:
        shown = ", ".join(runner.gitignored)
        output.err_console.print(f"added to .gitignore: {shown}", markup=False, highlight=False)
    for warning in dict.fromkeys(runner.warnings):
        output.err_console.print(f"warning: {warning}", markup=False, highlight=False)
    for error in runner.user_errors.values():  # your code failed, not tandem: its log has why
        output.error_line(f"your code failed: {error.message} (log: {error.details['log']})")
    _summary(results, as_json)


@handle_errors
def status(
    stages: Annotated[list[str] | None, typer.Argument(help="stages to check (default: all)")] = None,
    file: FileOption = Path("tandem.yaml"),
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:  # fmt: skip
    """Which stages `tandem run` would run, and why; runs nothing."""
    runner = _runner(file, project)
    results = runner.run(stages or [], dry_run=True)
    if as_json:
        print_json({"stages": [r.__dict__ for r in results]})
        return
    for result in results:
        if result.status != "up-to-date":
            _print(result)
    stale = sum(r.status != "up-to-date" for r in results)
    console.print(
        "everything is up to date" if not stale else f"{stale} of {len(results)} stages would run"
    )


@handle_errors
def checkout(
    stages: Annotated[list[str] | None, typer.Argument(help="stages whose outputs to restore (default: all)")] = None,
    file: FileOption = Path("tandem.yaml"),
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:  # fmt: skip
    """Restore the outputs tandem.lock records into the work tree, from the runs that made them."""
    runner = _runner(file, project)
    restored = runner.checkout(stages or [])
    if as_json:
        print_json({"restored": restored})
    elif restored:
        console.print(f"restored the outputs of {len(restored)} stage(s): {', '.join(restored)}")
    else:
        console.print("every output is in place")


@handle_errors
def reproduce(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="a stage run: RUN_ID or PROJECT/runs/RUN_ID")],
    keep: Annotated[bool, typer.Option("--keep", help="keep the worktree it ran in")] = False,
    timeout: Annotated[float | None, typer.Option("--timeout", help="seconds (default: the stage's timeout)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:  # fmt: skip
    """Run a recorded stage again from its recorded commit, inputs, params and seed, in a clean
    worktree, and compare: bit-identical outputs, metrics that moved, and what in the record
    differs (code, inputs, params, packages, platform). Exits 1 unless the outputs are identical.
    """
    from tandem.core.config import Settings
    from tandem.pipelines.reproduce import reproduce as run_again

    result = run_again(
        output.get_client(), run_ref, Settings.load().home, keep=keep, timeout=timeout
    )
    if as_json:
        print_json(result.as_dict())
    else:
        verdict = "bit-identical outputs" if result.identical else "outputs differ"
        console.print(f"{result.stage} ({result.run}): {verdict}", markup=False, highlight=False)
        if result.reproduction:
            console.print(f"  recorded as {result.reproduction}", markup=False, highlight=False)
        for out in result.outputs:
            mark = "=" if out["same"] else "≠"
            console.print(f"  {mark} {out['path']}", markup=False, highlight=False)
        for metric in result.metrics:
            if metric["diff"]:
                console.print(
                    f"  metric {metric['key']}: {metric['recorded']} -> {metric['reproduced']} "
                    f"({metric['diff']:+.6g})", markup=False, highlight=False,
                )  # fmt: skip
        for difference in result.differences:
            console.print(f"  differs: {difference}", markup=False, highlight=False)
        if result.worktree:
            console.print(f"  worktree kept at {result.worktree}", markup=False, highlight=False)
    if not result.identical:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce)
    app.command("run")(run)
    app.command("status")(status)
    app.command("checkout")(checkout)
