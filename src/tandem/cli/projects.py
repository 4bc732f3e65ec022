"""`tandem projects ...`"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tandem.cli.output import console, fmt_value, get_client, handle_errors, print_json
from tandem.core.clock import format_ms

app = typer.Typer(help="Create, list, delete and restore projects.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


@app.command("list")
@handle_errors
def list_projects(
    deleted: Annotated[bool, typer.Option("--deleted", help="include deleted projects")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", help="page size")] = 100,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="next_cursor printed by the previous page")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List projects."""
    page = get_client().projects.list(include_deleted=deleted, cursor=cursor, limit=limit)
    if as_json:
        print_json(page)
        return
    if not page.items:
        console.print("no projects")
        return
    table = Table("name", "created", "deleted", "description")
    for p in page.items:
        table.add_row(p.name, format_ms(p.created_at), format_ms(p.deleted_at), p.description)
    console.print(table)
    if page.next_cursor:
        console.print(f"next page: --cursor {page.next_cursor}")


@app.command()
@handle_errors
def create(
    name: str, description: Annotated[str, typer.Option("--description", "-d")] = "", as_json: JsonOpt = False
) -> None:  # fmt: skip
    """Create a project."""
    project = get_client().projects.create(name, description)
    if as_json:
        print_json(project)
    else:
        console.print(f"created project {project.name}")


@app.command()
@handle_errors
def show(name: str, as_json: JsonOpt = False) -> None:
    """Show a project."""
    project = get_client().projects.get(name)
    if as_json:
        print_json(project)
        return
    console.print(f"[bold]{escape(project.name)}[/]  {escape(project.description)}", markup=True)
    deleted = f", deleted {format_ms(project.deleted_at)}" if project.deleted_at else ""
    console.print(
        f"created {format_ms(project.created_at)}, {fmt_value(project.run_count)} runs{deleted}"
    )


@app.command()
@handle_errors
def delete(name: str, as_json: JsonOpt = False) -> None:
    """Soft-delete a project (restore it, or purge it with `tandem gc`)."""
    project = get_client().projects.delete(name)
    if as_json:
        print_json(project)
    else:
        console.print(f"deleted project {name} (restore with: tandem projects restore {name})")


@app.command()
@handle_errors
def restore(name: str, as_json: JsonOpt = False) -> None:
    """Restore a soft-deleted project."""
    project = get_client().projects.restore(name)
    if as_json:
        print_json(project)
    else:
        console.print(f"restored project {name}")
