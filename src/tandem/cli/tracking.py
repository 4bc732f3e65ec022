"""`tandem runs ...`: search, show, compare, history, artifacts, delete, restore.

A run reference is a run id, a unique prefix of it (6+ hex digits), or `PROJECT/runs/ID`
(checked to be in that project).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from tandem.cli.output import (
    console,
    err_console,
    fmt_value,
    get_client,
    handle_errors,
    print_json,
    progress_bar,
    project_name,
    short,
)
from tandem.core.clock import format_ms
from tandem.core.paths import check_artifact_path
from tandem.errors import InvalidInput, NotFound, UnsafePath

app = typer.Typer(help="Search, inspect, compare and manage runs.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="project (default: TANDEM_PROJECT / tandem.toml)")]  # fmt: skip
RunArg = Annotated[str, typer.Argument(metavar="RUN", help="run id, unique prefix (6+ hex digits), or PROJECT/runs/ID")]  # fmt: skip
LimitOpt = Annotated[int, typer.Option("--limit", "-n", help="page size")]
CursorOpt = Annotated[str | None, typer.Option("--cursor", help="next_cursor printed by the previous page")]  # fmt: skip
DeletedOpt = Annotated[bool, typer.Option("--deleted", help="include deleted runs")]


def _columns_for(
    filter_text: str | None, order_by: list[str], fields: list[str] | None
) -> list[str]:
    """Show the fields a user filtered, ordered or asked for, in that order."""
    from tandem.tracking.filters import Field, parse_filter, parse_order_by_list, referenced_fields

    found: list[Field] = []
    expr = parse_filter(filter_text)
    if expr is not None:
        found.extend(sorted(referenced_fields(expr), key=lambda f: (f.kind, f.key)))
    found.extend(item.field for item in parse_order_by_list(order_by))
    names = []
    for f in found:
        if f.kind == "attribute":
            continue
        name = {"metric": "metrics.", "param": "params.", "tag": "tags."}[f.kind] + f.key
        if name not in names:
            names.append(name)
    kinds = {"metric": "metrics", "metrics": "metrics", "param": "params", "params": "params",
             "tag": "tags", "tags": "tags"}  # fmt: skip
    for field in fields or []:
        head, dot, key = field.partition(".")
        if head not in kinds or not dot or not key or key == "*":
            continue  # attributes are always columns; `metrics.*` would be too many
        name = f"{kinds[head]}.{key}"
        if name not in names:
            names.append(name)
    return names


def _cell(run: Any, column: str) -> str:
    kind, _, key = column.partition(".")
    return fmt_value(getattr(run, kind).get(key))


def _search(
    filter_text: str | None,
    project: str | None,
    order: list[str],
    limit: int,
    cursor: str | None,
    fields: list[str] | None,
    deleted: bool,
    as_json: bool,
) -> None:
    extra = [] if as_json else _columns_for(filter_text, order, fields)
    if fields is not None and not as_json:
        # The table shows what the filter and order name too: fetch those values as well
        # (--json returns exactly the fields asked for).
        fields = list(dict.fromkeys([*fields, *extra]))
    page = get_client().runs.search(
        project_name(project), filter_text, order_by=order, limit=limit, cursor=cursor,
        fields=fields, include_deleted=deleted,
    )  # fmt: skip
    if as_json:
        print_json(page)
        return
    if not page.items:
        console.print("no runs" if filter_text is None else "no runs match")
        return
    table = Table("id", "name", "status", "user", "started", *extra)
    if deleted:
        table.add_column("deleted")
    for run in page.items:
        row = [
            short(run.id), run.name, run.status.value, run.user, format_ms(run.start_time),
            *(_cell(run, c) for c in extra),
        ]  # fmt: skip
        if deleted:
            row.append(format_ms(run.deleted_at))
        table.add_row(*row)
    console.print(table)
    if page.next_cursor:
        console.print(f"next page: --cursor {page.next_cursor}")


@app.command()
@handle_errors
def search(
    filter_text: Annotated[str | None, typer.Argument(metavar="FILTER", help="e.g. \"metrics.auc > 0.8 and params.model = 'gbm'\"")] = None,
    project: ProjectOpt = None,
    order_by: Annotated[list[str] | None, typer.Option("--order-by", "-o", help="e.g. metrics.auc (ascending), -metrics.auc or 'metrics.auc DESC'; repeatable")] = None,
    limit: LimitOpt = 20,
    cursor: CursorOpt = None,
    fields: Annotated[list[str] | None, typer.Option("--field", "-f", help="return only these fields, e.g. metrics.auc; repeatable")] = None,
    deleted: DeletedOpt = False,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Search a project's runs with a filter, in order, a page at a time.

    Filters compare metrics.KEY (latest value), params.KEY, tags.KEY and attributes (status,
    user, name, start_time, end_time, run_id, seed) with = != < <= > >= like ilike in, is null;
    combine with and, or, not and parentheses. A page that has more prints `next page:
    --cursor ...` (`next_cursor` in JSON); pass it with the same filter and order.
    """
    _search(filter_text, project, list(order_by or []), limit, cursor, fields, deleted, as_json)


@app.command("list")
@handle_errors
def list_runs(
    project: ProjectOpt = None,
    limit: LimitOpt = 20,
    cursor: CursorOpt = None,
    deleted: DeletedOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List a project's runs, newest first."""
    _search(None, project, [], limit, cursor, None, deleted, as_json)


@app.command()
@handle_errors
def show(run_ref: RunArg, as_json: JsonOpt = False) -> None:
    """Show a run: attributes, environment, params, latest metrics, tags, artifacts."""
    client = get_client()
    run = client.runs.get(run_ref)
    artifacts = client.runs.list_artifacts(run.ref)
    if as_json:
        data = orjson.loads(run.model_dump_json())  # a NaN metric value as "NaN" (ADR 33)
        data["artifacts"] = [a.model_dump(mode="json") for a in artifacts]
        print_json(data)
        return
    console.print(f"[bold]{escape(run.name)}[/]  {escape(run.ref)}", markup=True)
    deleted = f", deleted {format_ms(run.deleted_at)}" if run.deleted_at else ""
    console.print(
        f"status {run.status.value}, user {run.user}, started {format_ms(run.start_time)}, "
        f"ended {format_ms(run.end_time)}, seed {fmt_value(run.seed)}{deleted}"
    )
    env = run.environment
    if env is not None:
        parts = []
        if env.code.commit:
            parts.append(f"code {env.code.commit[:12]}{' (dirty)' if env.code.dirty else ''}")
            if env.code.branch:
                parts[-1] += f" on {env.code.branch}"
        if env.python:
            parts.append(f"python {env.python}")
        if env.platform:
            parts.append(env.platform)
        if env.hostname:
            parts.append(f"host {env.hostname}")
        if parts:
            console.print(", ".join(parts))
        if env.command:
            console.print(f"command {' '.join(env.command)}")
    for title, values in (("params", run.params), ("metrics", run.metrics), ("tags", run.tags)):
        if values:
            table = Table(title, "value", title_justify="left")
            for key in sorted(values):
                table.add_row(key, fmt_value(values[key]))
            console.print(table)
    if artifacts:
        table = Table("artifact", "size", "oid")
        for artifact in artifacts:
            table.add_row(artifact.path, str(artifact.size), artifact.oid[:12])
        console.print(table)


@app.command()
@handle_errors
def compare(
    run_refs: Annotated[list[str], typer.Argument(metavar="RUN", help="two or more run references")],
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Compare runs: the params that differ and the metrics side by side."""
    if len(run_refs) < 2:
        raise InvalidInput("compare needs at least two runs")
    comparison = get_client().runs.compare(run_refs)
    if as_json:
        print_json(comparison)
        return
    runs = comparison.runs
    table = Table("", *(f"{short(r.id)}\n{r.name}" for r in runs))
    for key in comparison.params_differ:
        table.add_row(f"params.{key}", *(fmt_value(r.params.get(key)) for r in runs))
    if comparison.params_differ and comparison.metric_keys:
        table.add_section()
    for key in comparison.metric_keys:
        table.add_row(f"metrics.{key}", *(fmt_value(r.metrics.get(key)) for r in runs))
    if table.row_count:
        console.print(table)
    else:
        console.print("no params differ and no metrics were logged")
    if comparison.params_same:
        console.print(f"same in all: {', '.join(comparison.params_same)}")


@app.command()
@handle_errors
def history(
    run_ref: RunArg,
    key: Annotated[str, typer.Argument(help="metric key, e.g. loss")],
    as_json: JsonOpt = False,
) -> None:
    """Print every point of one metric of a run, in step order."""
    hist = get_client().runs.metric_history(run_ref, key)
    if not hist.step:
        raise NotFound(f"run {short(hist.run_id)} has no points of metric {key!r}")
    if as_json:
        print_json(hist)
        return
    table = Table("step", "time", key)
    for step, ts, value in zip(hist.step, hist.timestamp, hist.value, strict=True):
        table.add_row(str(step), format_ms(ts), fmt_value(value))
    console.print(table)


@app.command()
@handle_errors
def delete(run_ref: RunArg, as_json: JsonOpt = False) -> None:
    """Soft-delete a run (restore it, or purge it with `tandem gc`)."""
    run = get_client().runs.delete(run_ref)
    if as_json:
        print_json(run)
    else:
        console.print(f"deleted run {run.id} (restore with: tandem runs restore {short(run.id)})")


@app.command()
@handle_errors
def restore(run_ref: RunArg, as_json: JsonOpt = False) -> None:
    """Restore a soft-deleted run."""
    run = get_client().runs.restore(run_ref)
    if as_json:
        print_json(run)
    else:
        console.print(f"restored run {run.id}")


def _upload_plan(source: Path, path: str | None) -> list[tuple[Path, str]]:
    """(local file, artifact path) pairs, every one checked before anything is uploaded."""
    if source.is_symlink():
        raise UnsafePath(f"{source} is a symbolic link: tandem stores files, not links")
    if source.is_file():
        return [(source, check_artifact_path(path or source.name))]
    if not source.is_dir():
        raise NotFound(f"{source} is not a file or a folder")
    prefix = check_artifact_path(path.rstrip("/") if path else source.resolve().name)
    plan = []
    for entry in sorted(source.rglob("*")):
        if entry.is_symlink():
            raise UnsafePath(f"{entry} is a symbolic link: tandem stores files, not links")
        if entry.is_file():
            rel = entry.relative_to(source).as_posix()
            plan.append((entry, check_artifact_path(f"{prefix}/{rel}")))
    if not plan:
        raise InvalidInput(f"{source} has no files to upload")
    return plan


@app.command()
@handle_errors
def upload(
    run_ref: RunArg,
    source: Annotated[Path, typer.Argument(metavar="FILE_OR_FOLDER", help="a local file, or a folder (uploaded with its relative paths)")],
    path: Annotated[str | None, typer.Option("--path", help="artifact path of a file, or the prefix of a folder's files (default: the file or folder name)")] = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Upload a file or a folder as artifacts of a run, with a progress bar."""
    client = get_client()
    plan = _upload_plan(source, path)
    run = client.runs.get(run_ref)  # resolve the reference once, and fail before any upload
    uploaded = []
    with progress_bar() as progress:
        total = progress.add_task(
            f"uploading {len(plan)} files" if len(plan) > 1 else plan[0][1],
            total=sum(f.stat().st_size for f, _ in plan),
        )
        for local, artifact_path in plan:
            uploaded.append(
                client.runs.upload_artifact(
                    run.ref, local, artifact_path, progress=lambda n: progress.advance(total, n)
                )
            )
    if as_json:
        print_json(uploaded)
    elif len(uploaded) == 1:
        console.print(f"uploaded {uploaded[0].path} ({uploaded[0].size} bytes) to {run.ref}")
    else:
        size = sum(a.size for a in uploaded)
        console.print(f"uploaded {len(uploaded)} files ({size} bytes) to {run.ref}")


@app.command()
@handle_errors
def download(
    run_ref: RunArg,
    path: Annotated[str | None, typer.Argument(help="an artifact path, or a folder of them; default: every artifact")] = None,
    dest: Annotated[Path, typer.Option("--dest", "-d", help="destination folder; artifacts keep their paths under it")] = Path("."),
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Download a run's artifacts, verified against their hashes, with a progress bar."""
    client = get_client()
    run = client.runs.get(run_ref)
    if path is None:
        artifacts = client.runs.list_artifacts(run.ref)
    else:
        path = check_artifact_path(path.rstrip("/") or path)
        listed = client.runs.list_artifacts(run.ref, path)
        artifacts = [a for a in listed if a.path == path] or [
            a for a in listed if a.path.startswith(path + "/")
        ]
        if not artifacts:
            raise NotFound(f"run {short(run.id)} has no artifact {path!r}")
    root = dest.resolve()
    plan = []
    for artifact in artifacts:  # check every target before writing anything
        rel = check_artifact_path(artifact.path)
        target = root / rel
        for parent in target.parents:
            if parent == root or not parent.is_relative_to(root):
                break
            if parent.is_symlink():
                raise UnsafePath(f"refusing to write through the symbolic link {parent}")
        if target.is_symlink():
            raise UnsafePath(f"refusing to overwrite the symbolic link {target}")
        plan.append((artifact, target))
    with progress_bar() as progress:
        total = progress.add_task(
            f"downloading {len(plan)} files", total=sum(a.size for a in artifacts)
        )
        for artifact, target in plan:
            client.runs.download_artifact(
                run.ref, artifact.path, target, progress=lambda n: progress.advance(total, n)
            )
    if as_json:
        print_json([{**a.model_dump(mode="json"), "file": str(t)} for a, t in plan])
    elif not plan:
        err_console.print(f"run {short(run.id)} has no artifacts")
    else:
        size = sum(a.size for a in artifacts)
        console.print(f"downloaded {len(plan)} files ({size} bytes) to {dest}")
