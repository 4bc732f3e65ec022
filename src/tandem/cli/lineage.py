"""`tandem lineage REF`: what an entity was made from and what was made from it."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from tandem.cli.output import console, get_client, handle_errors, print_json


class Format(enum.StrEnum):
    TEXT = "text"
    JSON = "json"
    DOT = "dot"


@handle_errors
def lineage(
    ref: Annotated[str, typer.Argument(metavar="REF", help="RUN_ID, runs/ID, runs/ID/artifacts/PATH, datasets/NAME@vN, models/NAME@N, evaluations/ID, incidents/N, postmortems/N, actions/N, endpoints/NAME or deployments/ID (optionally PROJECT/...)")],
    upstream: Annotated[bool, typer.Option("--upstream", "-u", help="only what REF was made from")] = False,
    downstream: Annotated[bool, typer.Option("--downstream", "-d", help="only what was made from REF")] = False,
    depth: Annotated[int, typer.Option("--depth", help="links to follow each way (1-50)")] = 10,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="text tree, JSON or Graphviz DOT")] = Format.TEXT,
    as_json: Annotated[bool, typer.Option("--json", help="same as --format json")] = False,
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
) -> None:  # fmt: skip
    """Show the lineage of a dataset version, run, artifact, model version, evaluation,
    incident, postmortem, action item, endpoint or deployment.

    Examples:
      tandem lineage datasets/customers@v3 --downstream
      tandem lineage churn/models/churn-gbm@7 --upstream
      tandem lineage endpoints/prod --downstream   (its incidents and their postmortems)
      tandem lineage runs/8f3a2c --format dot | dot -Tsvg > lineage.svg
    """
    from tandem.lineage.models import Direction
    from tandem.lineage.render import dot, text_tree

    if upstream and downstream:
        direction = Direction.BOTH
    else:
        direction = (
            Direction.UPSTREAM
            if upstream
            else Direction.DOWNSTREAM
            if downstream
            else Direction.BOTH
        )
    graph = get_client().lineage.graph(ref, direction=direction, depth=depth, project=project)
    if as_json or fmt is Format.JSON:
        print_json(graph)
    elif fmt is Format.DOT:
        print(dot(graph))
    else:
        console.print(text_tree(graph), markup=False, highlight=False, soft_wrap=True)
