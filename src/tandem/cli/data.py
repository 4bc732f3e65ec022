"""`tandem data ...`: version, inspect, validate, compare and catalogue datasets."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tandem.cli.output import (
    OPTIONS,
    console,
    err_console,
    fmt_value,
    get_client,
    handle_errors,
    print_json,
    progress_bar,
    say_created_project,
)
from tandem.cli.output import project_name as resolve_project
from tandem.core.clock import format_ms
from tandem.core.units import format_bytes
from tandem.errors import InvalidInput, NotFound

app = typer.Typer(help="Datasets: versions, profiles, contracts, validation, PII, catalog and drift.", no_args_is_help=True)  # fmt: skip


class Executor(StrEnum):
    LOCAL = "local"
    RAY = "ray"


def _use_executor(executor: Executor | None) -> None:
    """Run this command's data work on `executor` (read when the client is made)."""
    OPTIONS["executor"] = executor.value if executor else None


contract_app = typer.Typer(help="A dataset's data contract (ODCS v3 YAML).", no_args_is_help=True)
app.add_typer(contract_app, name="contract")

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="project (default: TANDEM_PROJECT / tandem.toml)")]  # fmt: skip
RefArg = Annotated[str, typer.Argument(metavar="DATASET", help="NAME@vN, NAME (the latest) or PROJECT/NAME@vN")]  # fmt: skip
LimitOpt = Annotated[int, typer.Option("--limit", "-n", help="page size")]
ExecutorOpt = Annotated[Executor | None, typer.Option("--executor", help="where profiling and validation run: local, or ray (one task per file on a Ray cluster: RAY_ADDRESS, or a local one). Default: TANDEM_EXECUTOR, else local. Embedded workspace only")]  # fmt: skip
CursorOpt = Annotated[str | None, typer.Option("--cursor", help="next_cursor printed by the previous page")]  # fmt: skip


def _distinct(column: dict[str, Any]) -> str:
    """A distinct count; an estimate (a sketch, for many distinct values) shows as ~N."""
    value = column.get("distinct")
    if value is None:
        return "-"
    return f"~{value}" if column.get("distinct_exact") is False else str(value)


def _verdict(passed: bool | None) -> str:
    return {None: "-", True: "passed", False: "FAILED"}[passed]


def _next_page(cursor: str | None) -> None:
    if cursor:
        err_console.print(f"next page: --cursor {cursor}")


@app.command()
@handle_errors
def add(
    name: Annotated[str, typer.Argument(help="dataset name, e.g. customers")],
    source: Annotated[str, typer.Argument(help="a file, a folder of files (CSV, Parquet, JSON Lines or anything else), or an s3:// prefix")],
    project: ProjectOpt = None,
    contract: Annotated[Path | None, typer.Option("--contract", "-c", help="ODCS YAML contract; becomes the dataset's contract")] = None,
    message: Annotated[str, typer.Option("--message", "-m", help="what changed")] = "",
    run: Annotated[str | None, typer.Option("--run", help="link the version to this run")] = None,
    role: Annotated[str, typer.Option("--role", help="the run's use of it: train, test, input, output, ...")] = "input",
    create_project: Annotated[bool, typer.Option("--create-project/--no-create-project", help="create the project if it does not exist and you may (as tandem.start_run does); says so in one line")] = True,
    executor: ExecutorOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Add a version of a dataset: immutable, content-addressed, profiled, scanned for PII and
    checked against its contract. A failing blocking check refuses it and stores nothing;
    unchanged content adds nothing and shows the latest version."""
    _use_executor(executor)
    client = get_client()
    project = resolve_project(project)
    is_new = create_project and not _project_exists(client, project)
    with progress_bar() as bar:
        task = bar.add_task("uploading", total=None)
        version = client.data.add(
            name, source, project=project, contract=contract, message=message, run_id=run,
            role=role, create_project=create_project,
            progress=lambda n: bar.advance(task, n),
        )  # fmt: skip
    if is_new:  # created with the version, in its transaction: a refused add creates nothing
        say_created_project(project)
    if as_json:
        print_json(version)
        return
    what = "added" if version.created else "unchanged, still"
    rows = f", {version.rows:,} rows" if version.rows is not None else ""
    console.print(
        f"{what} {version.ref}: {version.file_count} file(s), {format_bytes(version.size, '-')}{rows}, "
        f"digest {version.digest[:12]}"
    )
    if version.validation_passed is not None:
        console.print(f"contract: {_verdict(version.validation_passed)}")


def _project_exists(client: Any, project: str) -> bool:
    """Whether `project` is one the caller can see (else adding creates it, if they may)."""
    try:
        client.projects.get(project)
    except NotFound:
        return False
    return True


@app.command("list")
@handle_errors
def list_datasets(
    project: ProjectOpt = None,
    search: Annotated[str | None, typer.Option("--search", "-s", help="part of the name or description")] = None,
    column: Annotated[str | None, typer.Option("--column", help="has a column of this name")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="owned by")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="KEY or KEY=VALUE")] = None,
    all_projects: Annotated[bool, typer.Option("--all-projects", "-A", help="every project you may read")] = False,
    limit: LimitOpt = 50,
    cursor: CursorOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """List datasets, filtered by name, column, owner or tag."""
    client = get_client()
    page = client.data.list(
        None if all_projects else resolve_project(project), query=search, column=column,
        owner=owner, tag=tag, cursor=cursor, limit=limit, all_projects=all_projects,
    )  # fmt: skip
    if as_json:
        print_json(page)
        return
    table = Table("project", "dataset", "latest", "versions", "owner", "columns", "description")
    for d in page.items:
        table.add_row(
            d.project, d.name, f"v{d.latest_version}" if d.latest_version else "-",
            str(d.version_count), d.owner or "-", str(len(d.columns)), d.description[:60],
        )  # fmt: skip
    console.print(table)
    _next_page(page.next_cursor)


@app.command()
@handle_errors
def versions(
    name: Annotated[str, typer.Argument(help="dataset name")],
    project: ProjectOpt = None,
    limit: LimitOpt = 50,
    cursor: CursorOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """A dataset's versions, newest first."""
    page = get_client().data.versions(name, resolve_project(project), cursor=cursor, limit=limit)
    if as_json:
        print_json(page)
        return
    table = Table(
        "version", "created", "by", "files", "size", "rows", "contract", "digest", "message"
    )
    for v in page.items:
        table.add_row(
            f"v{v.version}", format_ms(v.created_at), v.created_by, str(v.file_count),
            format_bytes(v.size, "-"), fmt_value(v.rows), _verdict(v.validation_passed), v.digest[:12],
            v.message[:50],
        )  # fmt: skip
    console.print(table)
    _next_page(page.next_cursor)


@app.command()
@handle_errors
def show(ref: RefArg, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """A version: files, schema and profile, contract result, PII findings, and the runs that
    used or produced it."""
    client = get_client()
    version = client.data.version(ref, project)
    if as_json:
        print_json(version)
        return
    dataset = client.data.get(version.dataset, version.project)
    console.print(f"[bold]{escape(version.ref)}[/]  digest {version.digest}", markup=True)
    about = [
        text
        for text in (
            dataset.description,
            f"owner {dataset.owner}" if dataset.owner else "",
            ", ".join(f"{k}={v}" for k, v in dataset.tags.items()),
            f"{dataset.version_count} version(s), latest v{dataset.latest_version}",
            f"contract revision {dataset.contract_revision}" if dataset.contract_revision else "",
        )
        if text
    ]
    console.print("; ".join(about))
    notes = {c.name: c for c in dataset.columns}
    console.print(
        f"added {format_ms(version.created_at)} by {version.created_by}; "
        f"{version.file_count} file(s), {format_bytes(version.size, '-')}, rows {fmt_value(version.rows)}, "
        f"format {version.format or 'files'}; from {version.source or '-'}"
    )
    if version.message:
        console.print(f"message: {version.message}")
    profile = version.profile or {}
    columns: dict[str, Any] = profile.get("columns") or {}
    if columns:
        table = Table(
            "column", "type", "nulls", "distinct", "min", "max", "mean", "std", "top",
            "description",
        )  # fmt: skip
        for name, col in columns.items():
            top = col.get("top") or []
            top_text = ", ".join(f"{v[0]} ({v[1]})" for v in top[:3]) if top else ""
            note = notes.get(name)
            described = (
                (note.description + (f" ({note.owner})" if note.owner else "")) if note else ""
            )
            table.add_row(
                name, str(col.get("type", "")), fmt_value(col.get("nulls")),
                _distinct(col), fmt_value(col.get("min")),
                fmt_value(col.get("max")), fmt_value(col.get("mean")), fmt_value(col.get("std")),
                top_text[:60], described[:60],
            )  # fmt: skip
        console.print(table)
    validation = version.validation
    if validation:
        _print_validation(validation)
    for finding in version.pii or []:
        console.print(
            f"PII: column {finding.get('column')} looks like {finding.get('kind')} "
            f"({float(finding.get('share', 0)):.1%} of rows)"
        )
    for link in version.runs or []:
        console.print(f"run {link.run_id[:8]} ({link.run_name}) used it as {link.role}")


BLOCKING = "error"  # the severity that refuses a version (tandem.data.validate)


def _blocking_failures(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c for c in result.get("checks") or []
        if c.get("passed") is False and c.get("severity") == BLOCKING
    ]  # fmt: skip


def _print_validation(result: dict[str, Any]) -> None:
    checks = result.get("checks") or []
    failed = [c for c in checks if c.get("passed") is False]
    not_run = [c for c in checks if c.get("passed") is None]
    if _blocking_failures(result):
        verdict = "FAILED"
    elif failed:
        verdict = "passed with warnings"
    else:
        verdict = "passed"
    extra = f", {len(not_run)} not run" if not_run else ""
    console.print(
        f"contract: {verdict} ({len(checks) - len(failed) - len(not_run)} of {len(checks)} "
        f"checks passed{extra})"
    )
    for check in failed:
        where = f" {check['column']}" if check.get("column") else ""
        examples = check.get("examples") or []
        shown = f"; e.g. {', '.join(str(e) for e in examples[:3])}" if examples else ""
        label = "FAILED" if check.get("severity") == BLOCKING else "warning"
        console.print(
            f"  {label} {check.get('id', '')} {check.get('kind', '')}{where}: "
            f"observed {fmt_value(check.get('observed'))}, "
            f"expected {fmt_value(check.get('expected'))}{shown}"
        )


@app.command()
@handle_errors
def get(
    ref: RefArg,
    destination: Annotated[Path, typer.Argument(help="folder to write the version's files into")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Write a version's files into a folder, byte for byte (each verified against its hash)."""
    client = get_client()
    with progress_bar() as bar:
        task = bar.add_task("downloading", total=None)
        written = client.data.download(
            ref, destination, project, progress=lambda n: bar.advance(task, n)
        )
    if as_json:
        print_json({"destination": str(destination), "files": [str(p) for p in written]})
    else:
        console.print(f"wrote {len(written)} file(s) to {destination}")


@app.command()
@handle_errors
def validate(
    ref: RefArg,
    project: ProjectOpt = None,
    contract: Annotated[Path | None, typer.Option("--contract", "-c", help="check against this ODCS YAML (it becomes the dataset's contract)")] = None,
    executor: ExecutorOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Check a version against its dataset's contract and store the result with the version.
    Exits 1 when a blocking check (severity error) fails."""
    _use_executor(executor)
    result = get_client().data.validate(ref, project, contract=contract)
    if as_json:
        print_json(result)
    else:
        _print_validation(result)
    if _blocking_failures(result):
        raise typer.Exit(1)


@app.command()
@handle_errors
def diff(
    a: Annotated[str, typer.Argument(metavar="A", help="NAME@vN (the baseline)")],
    b: Annotated[str, typer.Argument(metavar="B", help="NAME@vN (the version to compare)")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Schema changes, row count change and drift per column from version A to version B."""
    report = get_client().data.diff(a, b, project)
    if as_json:
        print_json(report)
        return
    rows = report.get("rows") or {}
    console.print(f"rows: {fmt_value(rows.get('a'))} -> {fmt_value(rows.get('b'))}")
    for change in report.get("schema_changes") or []:
        console.print(f"schema: {change}")
    drift = report.get("drift") or {}
    table = Table("column", "kind", "statistic", "value", "threshold", "drifted")
    for col in drift.get("columns") or []:
        table.add_row(
            str(col.get("column", "")), str(col.get("kind", "")), str(col.get("statistic", "")),
            fmt_value(col.get("value")), fmt_value(col.get("threshold")),
            "YES" if col.get("drifted") else "no",
        )  # fmt: skip
    console.print(table)
    if "drifted" in drift:
        console.print(
            f"dataset drift: {'YES' if drift.get('drifted') else 'no'} "
            f"({drift.get('drifted_count', 0)} of {drift.get('compared_columns', 0)} columns)"
        )


@app.command()
@handle_errors
def edit(
    name: Annotated[str, typer.Argument(help="dataset name")],
    project: ProjectOpt = None,
    description: Annotated[str | None, typer.Option("--description", "-d", help="what the dataset holds")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="who answers for it")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="KEY=VALUE (KEY= removes); repeatable")] = None,
    column: Annotated[str | None, typer.Option("--column", help="the column to describe")] = None,
    column_description: Annotated[str | None, typer.Option("--column-description", help="what the column means")] = None,
    column_owner: Annotated[str | None, typer.Option("--column-owner", help="who answers for the column")] = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Edit the catalog: the dataset's description, owner and tags, and a column's description
    and owner."""
    tags = {}
    for item in tag or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--tag {item!r}: use KEY=VALUE (KEY= removes it)")
        tags[key] = value
    columns = None
    if column_description is not None or column_owner is not None:
        if not column:
            raise InvalidInput("--column-description and --column-owner need --column NAME")
        edit_values = {"description": column_description, "owner": column_owner}
        columns = {column: {k: v for k, v in edit_values.items() if v is not None}}
    dataset = get_client().data.update(
        name, resolve_project(project), description=description, owner=owner,
        tags=tags or None, columns=columns,
    )  # fmt: skip
    if as_json:
        print_json(dataset)
    else:
        console.print(f"updated {dataset.project}/{dataset.name}")


@app.command()
@handle_errors
def delete(name: Annotated[str, typer.Argument(help="dataset name")], project: ProjectOpt = None, as_json: JsonOpt = False) -> None:  # fmt: skip
    """Soft-delete a dataset (restore undoes it; `tandem gc` purges it later)."""
    dataset = get_client().data.delete(name, resolve_project(project))
    if as_json:
        print_json(dataset)
    else:
        console.print(f"deleted {dataset.project}/{dataset.name}")


@app.command()
@handle_errors
def restore(name: Annotated[str, typer.Argument(help="dataset name")], project: ProjectOpt = None, as_json: JsonOpt = False) -> None:  # fmt: skip
    """Restore a soft-deleted dataset."""
    dataset = get_client().data.restore(name, resolve_project(project))
    if as_json:
        print_json(dataset)
    else:
        console.print(f"restored {dataset.project}/{dataset.name}")


@contract_app.command("init")
@handle_errors
def contract_init(
    ref: RefArg,
    project: ProjectOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write here (default: stdout); never overwrites")] = None,
) -> None:  # fmt: skip
    """Draft an ODCS contract from a version's profile, for a person to edit."""
    text = get_client().data.draft_contract(ref, project)
    if output is None:
        console.print(text, end="", soft_wrap=True)
        return
    try:
        with output.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise InvalidInput(f"{output} exists: choose another file or remove it first") from None
    console.print(f"wrote {output}")


@contract_app.command("show")
@handle_errors
def contract_show(
    name: Annotated[str, typer.Argument(help="dataset name")],
    project: ProjectOpt = None,
    revision: Annotated[int | None, typer.Option("--revision", help="an earlier revision")] = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Print a dataset's contract (the latest revision unless asked)."""
    contract = get_client().data.contract(name, resolve_project(project), revision)
    if as_json:
        print_json(contract)
    else:
        console.print(contract.text, end="", soft_wrap=True)


@contract_app.command("set")
@handle_errors
def contract_set(
    name: Annotated[str, typer.Argument(help="dataset name")],
    file: Annotated[Path, typer.Argument(help="ODCS YAML file")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Make a YAML file the dataset's contract (a new revision)."""
    contract = get_client().data.set_contract(name, file, resolve_project(project))
    if as_json:
        print_json(contract)
        return
    console.print(f"{contract.project}/{contract.dataset}: contract revision {contract.revision}")
