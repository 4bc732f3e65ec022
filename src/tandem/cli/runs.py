"""`tandem runs ...`: search, show, compare, history, artifacts, delete, restore."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from tandem.cli.output import console, fmt_value, get_client, handle_errors, print_json, short
from tandem.core.clock import format_ms

app = typer.Typer(help="Search, inspect, compare and manage runs.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="project (default: TANDEM_PROJECT / tandem.toml)")]  # fmt: skip


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
    for name in fields or []:
        if "." in name and not name.endswith(".*") and name not in names:
            names.append(name)
    return names


def _cell(run: Any, column: str) -> str:
    kind, _, key = column.partition(".")
    return fmt_value(getattr(run, kind).get(key))


@app.command()
@handle_errors
def search(
    filter_text: Annotated[str | None, typer.Argument(metavar="FILTER", help="e.g. \"metrics.auc > 0.8 and params.model = 'gbm'\"")] = None,
    project: ProjectOpt = None,
    order_by: Annotated[list[str] | None, typer.Option("--order-by", "-o", help="e.g. metrics.auc (ascending), -metrics.auc or 'metrics.auc DESC'; repeatable")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="page size")] = 20,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
    fields: Annotated[list[str] | None, typer.Option("--field", "-f", help="return only these fields, e.g. metrics.auc; repeatable")] = None,
    deleted: Annotated[bool, typer.Option("--deleted", help="include deleted runs")] = False,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Search a project's runs with a filter, in order, a page at a time.

    Filters compare metrics.KEY (latest value), params.KEY, tags.KEY and attributes (status,
    user, name, start_time, end_time, run_id, seed) with = != < <= > >= like ilike in, is null;
    combine with and, or, not and parentheses.
    """
    order = list(order_by or [])
    page = get_client().runs.search(
        project, filter_text, order_by=order, limit=limit, cursor=cursor, fields=fields,
        include_deleted=deleted,
    )  # fmt: skip
    if as_json:
        print_json(page)
        return
    extra = _columns_for(filter_text, order, fields)
    table = Table("id", "name", "status", "user", "started", *extra)
    for run in page.items:
        table.add_row(
            short(run.id), run.name, run.status.value, run.user, format_ms(run.start_time),
            *(_cell(run, c) for c in extra),
        )  # fmt: skip
    console.print(table)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@app.command("list")
@handle_errors
def list_runs(
    project: ProjectOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    cursor: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """List a project's runs, newest first."""
    search(None, project, None, limit, cursor, None, False, as_json)


@app.command()
@handle_errors
def show(run_id: Annotated[str, typer.Argument(help="run id, unique prefix, or PROJECT/runs/ID")], as_json: JsonOpt = False) -> None:  # fmt: skip
    """Show a run: attributes, environment, params, latest metrics, tags, artifacts."""
    from tandem.core.refs import parse_run_ref

    client = get_client()
    run = client.runs.get(parse_run_ref(run_id).run_id)
    artifacts = client.runs.list_artifacts(run.id)
    if as_json:
        data = run.model_dump(mode="json")
        data["artifacts"] = [a.model_dump(mode="json") for a in artifacts]
        print_json(data)
        return
    console.print(f"[bold]{run.name}[/]  {run.ref}")
    console.print(
        f"status {run.status.value}, user {run.user}, started {format_ms(run.start_time)}, "
        f"ended {format_ms(run.end_time)}, seed {fmt_value(run.seed)}"
    )
    if run.environment:
        code = run.environment.code
        dirty = " (dirty)" if code.dirty else ""
        console.print(
            f"code {code.commit or '-'}{dirty}, python {run.environment.python}, {run.environment.platform}"
        )
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
def compare(run_ids: Annotated[list[str], typer.Argument(help="two or more run ids")], as_json: JsonOpt = False) -> None:  # fmt: skip
    """Compare runs: the params that differ and the metrics side by side."""
    from tandem.core.refs import parse_run_ref

    comparison = get_client().runs.compare([parse_run_ref(r).run_id for r in run_ids])
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
    console.print(table)
    if comparison.params_same:
        console.print(f"same in all: {', '.join(comparison.params_same)}")


@app.command()
@handle_errors
def history(run_id: str, key: str, as_json: JsonOpt = False) -> None:
    """Print every point of one metric of a run."""
    from tandem.core.refs import parse_run_ref

    hist = get_client().runs.metric_history(parse_run_ref(run_id).run_id, key)
    if as_json:
        print_json(hist)
        return
    table = Table("step", "time", key)
    for step, ts, value in zip(hist.step, hist.timestamp, hist.value, strict=True):
        table.add_row(str(step), format_ms(ts), fmt_value(value))
    console.print(table)


@app.command()
@handle_errors
def delete(run_id: str, as_json: JsonOpt = False) -> None:
    """Soft-delete a run (restore it, or purge it with `tandem gc`)."""
    from tandem.core.refs import parse_run_ref

    run = get_client().runs.delete(parse_run_ref(run_id).run_id)
    if as_json:
        print_json(run)
    else:
        console.print(f"deleted run {run.id} (restore with: tandem runs restore {short(run.id)})")


@app.command()
@handle_errors
def restore(run_id: str, as_json: JsonOpt = False) -> None:
    """Restore a soft-deleted run."""
    from tandem.core.refs import parse_run_ref

    run = get_client().runs.restore(parse_run_ref(run_id).run_id)
    if as_json:
        print_json(run)
    else:
        console.print(f"restored run {run.id}")


def _progress() -> Progress:
    return Progress(
        "{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        console=console, transient=True,
    )  # fmt: skip


@app.command()
@handle_errors
def upload(
    run_id: str,
    file: Annotated[Path, typer.Argument(help="local file")],
    path: Annotated[str | None, typer.Option("--path", help="artifact path (default: the file name)")] = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Upload a file as an artifact of a run."""
    from tandem.core.refs import parse_run_ref

    with _progress() as progress:
        task = progress.add_task(file.name, total=file.stat().st_size if file.is_file() else None)
        artifact = get_client().runs.upload_artifact(
            parse_run_ref(run_id).run_id, file, path, progress=lambda n: progress.advance(task, n)
        )
    if as_json:
        print_json(artifact)
    else:
        console.print(f"uploaded {artifact.path} ({artifact.size} bytes)")


@app.command()
@handle_errors
def download(
    run_id: str,
    path: Annotated[str | None, typer.Argument(help="artifact path; default: all of them")] = None,
    dest: Annotated[Path, typer.Option("--dest", "-d", help="destination folder")] = Path("."),
) -> None:  # fmt: skip
    """Download a run's artifacts (verified against their hashes)."""
    from tandem.core.refs import parse_run_ref

    client = get_client()
    rid = parse_run_ref(run_id).run_id
    artifacts = client.runs.list_artifacts(rid, "" if path is None else path)
    if path is not None:
        artifacts = [a for a in artifacts if a.path == path] or artifacts
    with _progress() as progress:
        for artifact in artifacts:
            task = progress.add_task(artifact.path, total=artifact.size)
            target = dest / artifact.path
            client.runs.download_artifact(
                rid, artifact.path, target, progress=lambda n, t=task: progress.advance(t, n)
            )
    console.print(f"downloaded {len(artifacts)} artifacts to {dest}")
