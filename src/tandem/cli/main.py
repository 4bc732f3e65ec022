"""`tandem`: the command line. Every command goes through the SDK, so it behaves the same against
an embedded workspace and a server (`--url`, `TANDEM_URL`)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from tandem.cli import output
from tandem.cli.projects import app as projects_app
from tandem.cli.runs import app as runs_app
from tandem.cli.workspace import register as register_workspace

app = typer.Typer(
    name="tandem",
    help="tandem: briefs, data, runs, models, gates and deployments in one place.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    url: Annotated[str | None, typer.Option("--url", help="server URL (default: TANDEM_URL, or the embedded workspace)")] = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="default project (TANDEM_PROJECT)")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="show stack traces")] = False,
) -> None:  # fmt: skip
    if url:
        os.environ["TANDEM_URL"] = url
    if project:
        os.environ["TANDEM_PROJECT"] = project
    output.DEBUG["on"] = debug


@app.command()
def version() -> None:
    """Print tandem's version."""
    from tandem import __version__

    output.console.print(__version__)


app.add_typer(projects_app, name="projects")
app.add_typer(runs_app, name="runs")
register_workspace(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
