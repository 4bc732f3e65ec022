"""`tandem hypothesis|risk|retro|action|comment|activity|notifications`: the project's living
registers, and what is waiting for you."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tandem.cli.output import console, get_client, handle_errors, print_json
from tandem.core.clock import format_ms

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ProjectOpt = Annotated[
    str | None, typer.Option("--project", "-p", help="the project (default: TANDEM_PROJECT)")
]
LinkOpt = Annotated[
    list[str] | None,
    typer.Option("--link", help="a run, evaluation, model version, ... (repeatable)"),
]

hypothesis_app = typer.Typer(
    help="The hypotheses log: statement, metric, expected effect, status.", no_args_is_help=True
)
risk_app = typer.Typer(
    help="The risk register: likelihood, impact, mitigation, owner, review date.",
    no_args_is_help=True,
)
retro_app = typer.Typer(
    help="Retrospectives (start/stop/continue or 4Ls) and their action items.", no_args_is_help=True
)
action_app = typer.Typer(
    help="Action items: an owner, a due date, open until done.", no_args_is_help=True
)
comment_app = typer.Typer(
    help="Comments on any entity; @name notifies a member.", no_args_is_help=True
)


def _table(columns: list[str], rows: list[list[Any]], empty: str) -> None:
    if not rows:
        console.print(empty)
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*[("" if v is None else str(v)) for v in row])
    console.print(table)


# -- hypotheses --------------------------------------------------------------------------------


@hypothesis_app.command("add")
@handle_errors
def hypothesis_add(
    statement: str,
    owner: Annotated[str, typer.Option("--owner", help="a member of the project")],
    metric: Annotated[str, typer.Option("--metric")] = "",
    expected: Annotated[
        str, typer.Option("--expected", help="the expected effect, e.g. '+2 points recall'")
    ] = "",
    link: LinkOpt = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Log a hypothesis.

    Example: tandem hypothesis add "Contract type predicts churn" --metric roc_auc --expected "+0.03" --owner ana
    """
    h = get_client().governance.registers.add_hypothesis(
        statement,
        owner=owner,
        metric=metric,
        expected_effect=expected,
        links=link or [],
        project=project,
    )
    print_json(h) if as_json else console.print(f"H{h.number}: {h.statement} ({h.status.value})")


@hypothesis_app.command("set")
@handle_errors
def hypothesis_set(
    number: int,
    status: Annotated[str, typer.Option("--status", help="open, supported, refuted or abandoned")],
    link: LinkOpt = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record what the evidence says about a hypothesis (and link the runs that say it).

    Example: tandem hypothesis set 3 --status supported --link evaluations/5f0c...
    """
    h = get_client().governance.registers.patch_hypothesis(
        number, status=status, add_links=link or [], project=project
    )
    print_json(h) if as_json else console.print(f"H{h.number}: {h.status.value}")


@hypothesis_app.command("list")
@handle_errors
def hypothesis_list(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """List the hypotheses, newest first."""
    found = get_client().governance.registers.hypotheses(project=project)
    if as_json:
        print_json(found)
        return
    rows = [
        [
            f"H{h.number}",
            h.statement,
            h.metric,
            h.expected_effect,
            h.status.value,
            h.owner,
            len(h.links),
        ]
        for h in found
    ]
    _table(
        ["#", "statement", "metric", "expected", "status", "owner", "evidence"],
        rows,
        "no hypotheses yet",
    )


# -- risks ---------------------------------------------------------------------------------------


@risk_app.command("add")
@handle_errors
def risk_add(
    description: str,
    owner: Annotated[str, typer.Option("--owner", help="a member of the project")],
    likelihood: Annotated[str, typer.Option("--likelihood", help="low, medium or high")] = "medium",
    impact: Annotated[str, typer.Option("--impact", help="low, medium or high")] = "medium",
    mitigation: Annotated[str, typer.Option("--mitigation")] = "",
    review: Annotated[str | None, typer.Option("--review", help="review date, YYYY-MM-DD")] = None,
    link: LinkOpt = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a risk.

    Example: tandem risk add "Holdout under-represents new customers" --impact high --owner ana --review 2026-12-15
    """
    r = get_client().governance.registers.add_risk(
        description,
        owner=owner,
        likelihood=likelihood,
        impact=impact,
        mitigation=mitigation,
        review_date=review,
        links=link or [],
        project=project,
    )
    print_json(r) if as_json else console.print(
        f"R{r.number}: {r.description} ({r.likelihood.value} likelihood, {r.impact.value} impact)"
    )


@risk_app.command("set")
@handle_errors
def risk_set(
    number: int,
    status: Annotated[
        str | None, typer.Option("--status", help="open, mitigated, accepted or closed")
    ] = None,
    mitigation: Annotated[str | None, typer.Option("--mitigation")] = None,
    review: Annotated[
        str | None, typer.Option("--review", help="next review date, YYYY-MM-DD")
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Update a risk's status, mitigation or review date."""
    r = get_client().governance.registers.patch_risk(
        number, status=status, mitigation=mitigation, review_date=review, project=project
    )
    print_json(r) if as_json else console.print(f"R{r.number}: {r.status.value}")


@risk_app.command("list")
@handle_errors
def risk_list(
    open_only: Annotated[bool, typer.Option("--open", help="open risks only")] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The risk register, overdue reviews first."""
    found = get_client().governance.registers.risks(open_only=open_only, project=project)
    if as_json:
        print_json(found)
        return
    rows = [
        [
            f"R{r.number}",
            r.description,
            r.likelihood.value,
            r.impact.value,
            r.status.value,
            r.owner,
            f"{r.review_date or ''}{' OVERDUE' if r.overdue else ''}",
        ]
        for r in found
    ]
    _table(
        ["#", "risk", "likelihood", "impact", "status", "owner", "review"],
        rows,
        "no risks registered",
    )


# -- retrospectives and action items --------------------------------------------------------------


@retro_app.command("add")
@handle_errors
def retro_add(
    path: Annotated[Path, typer.Argument(help="retro.yaml: title, format, entries, action_items")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a retrospective from a YAML file, creating its action items.

    \b
    title: Churn model v3 release
    format: start-stop-continue        # or 4ls: liked, learned, lacked, longed-for
    entries:
      start: [Evaluate on the new-customer slice]
      stop: [Hand-edited thresholds]
    action_items:
      - {title: Add a new-customer slice to the holdout, owner: ana, due: 2026-12-15}
    """
    from tandem.governance.plan.documents import load_yaml
    from tandem.governance.registers.models import RetroCreate

    data = RetroCreate.model_validate(load_yaml(path.read_text(encoding="utf-8"), str(path)))
    r = get_client().governance.registers.add_retrospective(data, project=project)
    if as_json:
        print_json(r)
    else:
        items = ", ".join(f"A{n}" for n in r.action_items) or "none"
        console.print(f"retrospective {r.number}: {r.title}; action items: {items}")


@retro_app.command("list")
@handle_errors
def retro_list(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """List retrospectives, newest first."""
    found = get_client().governance.registers.retrospectives(project=project)
    if as_json:
        print_json(found)
        return
    rows = [
        [
            r.number,
            r.title,
            r.format.value,
            ", ".join(f"A{n}" for n in r.action_items),
            f"{format_ms(r.created_at)} by {r.created_by}",
        ]
        for r in found
    ]
    _table(["#", "title", "format", "action items", "held"], rows, "no retrospectives yet")


@action_app.command("add")
@handle_errors
def action_add(
    title: str,
    owner: Annotated[str, typer.Option("--owner", help="a member of the project")],
    due: Annotated[str | None, typer.Option("--due", help="YYYY-MM-DD")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add an action item (its owner is notified)."""
    a = get_client().governance.registers.add_action(title, owner=owner, due=due, project=project)
    print_json(a) if as_json else console.print(
        f"A{a.number}: {a.title} (owner {a.owner}{', due ' + str(a.due) if a.due else ''})"
    )


@action_app.command("list")
@handle_errors
def action_list(
    mine: Annotated[bool, typer.Option("--mine", help="your open items in every project")] = False,
    owner: Annotated[str | None, typer.Option("--owner")] = None,
    all_: Annotated[bool, typer.Option("--all", help="done ones too")] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List open action items (yours everywhere with --mine)."""
    registers = get_client().governance.registers
    found = (
        registers.my_actions()
        if mine
        else registers.actions(owner=owner, all=all_, project=project)
    )
    if as_json:
        print_json(found)
        return
    rows = [
        [
            a.project if mine else f"A{a.number}",
            a.title,
            a.owner,
            f"{a.due or ''}{' OVERDUE' if a.overdue else ''}",
            a.status.value,
            a.source,
        ]
        for a in found
    ]
    _table(
        ["project" if mine else "#", "action", "owner", "due", "status", "from"],
        rows,
        "no open action items",
    )


@action_app.command("done")
@handle_errors
def action_done(number: int, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Mark an action item done (its owner, or anyone who may edit the plan)."""
    a = get_client().governance.registers.close_action(number, project=project)
    print_json(a) if as_json else console.print(f"A{a.number} done")


# -- comments, activity, notifications ----------------------------------------------------------


@comment_app.command("add")
@handle_errors
def comment_add(
    target: Annotated[str, typer.Argument(help="e.g. models/churn-gbm@3, gates/ID, risks/2")],
    body: str,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Comment on an entity; @name mentions (and notifies) a member.

    Example: tandem comment add models/churn-gbm@3 "@maria the parity gap is measured in the A/B test"
    """
    c = get_client().governance.registers.comment(target, body, project=project)
    mentions = f" (notified {', '.join(c.mentions)})" if c.mentions else ""
    print_json(c) if as_json else console.print(f"comment {c.id} on {c.target}{mentions}")


@comment_app.command("list")
@handle_errors
def comment_list(target: str, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """The comments on an entity, oldest first."""
    found = get_client().governance.registers.comments(target, project=project)
    if as_json:
        print_json(found)
        return
    for c in found:
        console.print(f"{format_ms(c.created_at)} {c.author}: {c.body}", soft_wrap=True)
    if not found:
        console.print("no comments")


def activity(
    limit: Annotated[int, typer.Option("--limit", "-n")] = 30,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="next_cursor of the previous page")
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The project's activity feed: who changed what, newest first."""
    page = get_client().governance.registers.activity(cursor=cursor, limit=limit, project=project)
    if as_json:
        print_json(page)
        return
    rows = [[format_ms(a.at), a.actor, a.action, a.target] for a in page.items]
    _table(["when (UTC)", "who", "what", "on"], rows, "nothing yet")
    if page.next_cursor:
        console.print(f"next page: --cursor {page.next_cursor}")


def notifications(
    unread: Annotated[bool, typer.Option("--unread", help="only unread ones")] = False,
    mark_read: Annotated[bool, typer.Option("--mark-read", help="mark them all read")] = False,
    as_json: JsonOpt = False,
) -> None:
    """What is waiting for you: sign-offs, mentions, action items."""
    notifications = get_client().governance.notifications
    found = notifications.list(unread=unread)
    if as_json:
        print_json(found)
    else:
        rows = [
            [format_ms(n.created_at), n.project, n.message, n.link, "" if n.read_at else "new"]
            for n in found
        ]
        _table(["when (UTC)", "project", "message", "link", ""], rows, "no notifications")
    if mark_read:
        notifications.mark_read()


activity_command = handle_errors(activity)
notifications_command = handle_errors(notifications)
