"""`tandem models ...`: the model registry: models, versions, stages, aliases, files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tandem.cli.output import console, err_console, get_client, handle_errors, print_json
from tandem.core.clock import format_ms
from tandem.core.units import format_bytes

app = typer.Typer(help="Models: registered versions, lifecycle stages, aliases and model files.", no_args_is_help=True)  # fmt: skip

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="project (default: TANDEM_PROJECT / tandem.toml)")]  # fmt: skip
RefArg = Annotated[str, typer.Argument(metavar="MODEL", help="NAME@N, NAME@ALIAS, NAME (the latest) or PROJECT/NAME@...")]  # fmt: skip
NameArg = Annotated[str, typer.Argument(help="model name (or PROJECT/NAME)")]
LimitOpt = Annotated[int, typer.Option("--limit", "-n", help="page size")]
CursorOpt = Annotated[str | None, typer.Option("--cursor", help="next_cursor printed by the previous page")]  # fmt: skip
STAGES = "draft, ready-for-review, ready-for-production, production, retired"


def _next_page(cursor: str | None) -> None:
    if cursor:
        err_console.print(f"next page: --cursor {cursor}")


@app.command("list")
@handle_errors
def list_models(
    query: Annotated[str | None, typer.Option("--query", "-q", help="part of the name or description")] = None,
    project: ProjectOpt = None,
    limit: LimitOpt = 50,
    cursor: CursorOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """The project's registered models, by name."""
    page = get_client().models.list(project, query=query, cursor=cursor, limit=limit)
    if as_json:
        print_json(page)
        return
    table = Table("model", "latest", "versions", "aliases", "created", "by", "description")
    for m in page.items:
        aliases = ", ".join(f"{a}={v}" for a, v in m.aliases.items())
        table.add_row(
            m.name, str(m.latest_version or "-"), str(m.version_count), aliases or "-",
            format_ms(m.created_at), m.created_by, m.description[:50],
        )  # fmt: skip
    console.print(table)
    _next_page(page.next_cursor)


@app.command()
@handle_errors
def versions(
    name: NameArg,
    stage: Annotated[str | None, typer.Option("--stage", help=f"only versions in this stage: {STAGES}")] = None,
    project: ProjectOpt = None,
    limit: LimitOpt = 50,
    cursor: CursorOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """A model's versions, newest first."""
    from tandem.registry.models import Stage

    chosen = _stage(stage) if stage else None
    page = get_client().models.versions(name, project, stage=chosen, cursor=cursor,
                                        limit=limit)  # fmt: skip
    if as_json:
        print_json(page)
        return
    table = Table("version", "stage", "aliases", "flavor", "format", "run", "created", "by")
    for v in page.items:
        table.add_row(
            str(v.version), Stage(v.stage).value, ", ".join(v.aliases) or "-", v.flavor,
            v.format + (" (trusted)" if v.trusted else ""), (v.run_id or "-")[:12],
            format_ms(v.created_at), v.created_by,
        )  # fmt: skip
    console.print(table)
    _next_page(page.next_cursor)


def _stage(text: str):  # type: ignore[no-untyped-def]
    from tandem.errors import InvalidInput
    from tandem.registry.models import Stage

    try:
        return Stage(text)
    except ValueError:
        raise InvalidInput(f"unknown stage {text!r}: use one of {STAGES}") from None


@app.command()
@handle_errors
def show(ref: RefArg, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """A version: where it came from, how to load it, its signature, stage and files."""
    version = get_client().models.version(ref, project)
    if as_json:
        print_json(version)
        return
    console.print(
        f"[bold]{escape(version.project)}/{escape(version.model)}@{version.version}[/]", markup=True
    )
    rows = [
        ("stage", version.stage.value),
        ("aliases", ", ".join(version.aliases) or "-"),
        ("flavor", f"{version.flavor} ({version.library_version or '?'})"),
        (
            "format",
            version.format + ("  pickle: loads only with trusted=True" if version.trusted else ""),
        ),
        ("run", f"{version.project}/runs/{version.run_id}" if version.run_id else "- (purged)"),
        ("artifacts", version.artifact_path),
        ("created", f"{format_ms(version.created_at)} by {version.created_by}"),
        ("stage set", f"{format_ms(version.stage_changed_at)} by {version.stage_changed_by}"),
        ("requires", ", ".join(version.requirements) or "-"),
    ]
    if version.description:
        rows.append(("description", version.description))
    for key, value in rows:
        console.print(f"  {key:<10} {escape(value)}", markup=True, soft_wrap=True)
    if version.signature:
        for side in ("inputs", "outputs"):
            cols = version.signature.get(side) or []
            shown = ", ".join(f"{c['name']}: {c['type']}" for c in cols[:20])
            more = f" ... ({len(cols)} in all)" if len(cols) > 20 else ""
            console.print(
                f"  {side:<10} {escape(shown + more) or '-'}", markup=True, soft_wrap=True
            )
    table = Table("file", "size", "oid")
    for f in version.files:
        table.add_row(f.path, format_bytes(f.size, "-"), f.oid[:12])
    console.print(table)


@app.command()
@handle_errors
def stage(
    ref: RefArg,
    to: Annotated[str, typer.Argument(metavar="STAGE", help=STAGES)],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Move a version to another lifecycle stage (ready-for-production and beyond need an ML
    engineer or admin)."""
    version = get_client().models.set_stage(ref, _stage(to), project)
    if as_json:
        print_json(version)
        return
    console.print(
        f"{version.project}/{version.model}@{version.version} is now {version.stage.value}"
    )


@app.command()
@handle_errors
def alias(
    name: NameArg,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="champion, challenger, ...")],
    version: Annotated[int | None, typer.Argument(help="the version it points to")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="remove the alias")] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Point an alias at a version (it moves if it pointed elsewhere), or --delete it."""
    from tandem.errors import InvalidInput

    models = get_client().models
    if delete == (version is not None):
        raise InvalidInput("give a VERSION to point the alias at, or --delete (not both)")
    if delete:
        model = models.delete_alias(name, alias_name, project)
    else:
        model = models.set_alias(name, alias_name, version or 0, project)
    if as_json:
        print_json(model)
        return
    target = model.aliases.get(alias_name)
    state = f"-> {model.name}@{target}" if target else "deleted"
    console.print(f"{model.project}/{model.name} alias {alias_name} {state}")


@app.command()
@handle_errors
def register(
    name: NameArg,
    run: Annotated[str, typer.Argument(metavar="RUN", help="the run that logged the model")],
    path: Annotated[str, typer.Argument(help="its artifact folder, e.g. models/churn-gbm")],
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Register a model a run logged (its artifact folder with tandem-model.json) as the
    model's next version."""
    version = get_client().models.register(name, run, path, project, description)
    if as_json:
        print_json(version)
        return
    console.print(
        f"registered {version.project}/{version.model}@{version.version} ({version.flavor}, {version.format})"
    )


@app.command()
@handle_errors
def load(
    ref: RefArg,
    destination: Annotated[Path, typer.Argument(metavar="DIR", help="folder to write the model's files into")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Download a version's files (each checked against its hash) into DIR. In Python,
    tandem.load_model("NAME@ALIAS") gives the model object itself."""
    version, written = get_client().models.download(ref, destination, project)
    if as_json:
        print_json({"version": version.model_dump(mode="json"), "files": [str(p) for p in written]})
        return
    console.print(
        f"wrote {len(written)} file(s) of {version.project}/{version.model}@{version.version} to {destination}"
    )


@app.command()
@handle_errors
def card(
    ref: RefArg,
    html: Annotated[Path | None, typer.Option("--html", help="write a self-contained HTML page to this file")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """A version's model card, generated from its records: Markdown on stdout, --html FILE,
    or --json."""
    models = get_client().models
    if as_json:
        print_json(models.card(ref, project))
        return
    if html is not None:
        page = models.card(ref, project, format="html")
        tmp = html.with_name(f".{html.name}.tmp")
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(html)  # whole or not at all
        err_console.print(f"wrote {html}")
        return
    console.print(models.card(ref, project, format="markdown"), markup=False, soft_wrap=True)


def _read_text(value: str | None) -> str | None:
    """TEXT, or @FILE for a file's content."""
    if value is None or not value.startswith("@"):
        return value
    return Path(value[1:]).read_text(encoding="utf-8")


@app.command("card-text")
@handle_errors
def card_text(
    name: NameArg,
    intended_use: Annotated[str | None, typer.Option("--intended-use", help="TEXT or @FILE (Markdown)")] = None,
    factors: Annotated[str | None, typer.Option("--factors", help="TEXT or @FILE")] = None,
    ethical_considerations: Annotated[str | None, typer.Option("--ethical-considerations", help="TEXT or @FILE")] = None,
    caveats: Annotated[str | None, typer.Option("--caveats-and-recommendations", help="TEXT or @FILE")] = None,
    project: ProjectOpt = None,
) -> None:  # fmt: skip
    """Write the model card's free-text sections (for every version of the model); "" clears."""
    from tandem.errors import InvalidInput

    texts = {
        "intended_use": _read_text(intended_use),
        "factors": _read_text(factors),
        "ethical_considerations": _read_text(ethical_considerations),
        "caveats_and_recommendations": _read_text(caveats),
    }
    given = {k: v for k, v in texts.items() if v is not None}
    if not given:
        raise InvalidInput("give at least one section, e.g. --intended-use TEXT")
    saved = get_client().models.set_card_texts(name, project, **given)
    console.print(f"card sections written: {', '.join(sorted(given))} ({len(saved)} in all)")
