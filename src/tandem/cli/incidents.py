"""`tandem incidents ...` and `tandem postmortems ...`: incidents (open, acknowledge, move on,
tick the playbook, roll back, the timeline), playbooks, and blameless postmortems.

Every command goes through the SDK (`client.incidents`), so it behaves the same against the
embedded workspace and a server; who may publish or roll back is decided by the hub
(docs/incidents.md).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tandem.cli.output import console, get_client, handle_errors, print_json
from tandem.core.clock import format_ms
from tandem.errors import InvalidInput

if TYPE_CHECKING:
    from tandem.incidents.models import Incident, Postmortem

incidents_app = typer.Typer(
    help="Incidents: open, acknowledge, resolve, tick the playbook, roll back, the timeline.",
    no_args_is_help=True,
)
playbook_app = typer.Typer(help="The project's playbooks, one per kind of incident.",
                           no_args_is_help=True)  # fmt: skip
incidents_app.add_typer(playbook_app, name="playbook")
postmortems_app = typer.Typer(
    help="Blameless postmortems of resolved incidents: draft, review, publish.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="project (default: TANDEM_PROJECT / tandem.toml)")]  # fmt: skip
NumberArg = Annotated[int, typer.Argument(metavar="N", help="the incident's number")]
MessageOpt = Annotated[str, typer.Option("--message", "-m", help="why (kept on the timeline)")]


def _minutes(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = ms // 1000
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else (f"{seconds // 60}m{seconds % 60:02d}s")
    )


def _print_incident(incident: Incident) -> None:
    console.print(
        f"[bold]{escape(incident.project)}/incidents/{incident.number}[/]  "
        f"{escape(incident.title)}  ({incident.severity.value}, {incident.status.value})",
        markup=True, soft_wrap=True,
    )  # fmt: skip
    facts = [
        ("endpoint", incident.endpoint or "-"),
        ("commander", incident.commander or "-"),
        ("responders", ", ".join(incident.responders) or "-"),
        ("opened", f"{format_ms(incident.opened_at)} by {incident.opened_by}"),
        ("acknowledged", f"{_minutes(incident.tta_ms)} after"
                         + (f" by {incident.acknowledged_by}" if incident.acknowledged_by else "")),
        ("resolved", f"{_minutes(incident.ttr_ms)} after"
                     + (f" by {incident.resolved_by}" if incident.resolved_by else "")),
        ("postmortem", incident.postmortem or "-"),
    ]  # fmt: skip
    if incident.summary:
        facts.insert(0, ("summary", incident.summary))
    for key, value in facts:
        console.print(f"  {key:<13} {escape(value)}", markup=True, soft_wrap=True)
    if incident.steps:
        console.print(f"  playbook      {incident.playbook}")
        for step in incident.steps:
            mark = "x" if step.done else " "
            who = f"  ({step.done_by}, {format_ms(step.done_at)})" if step.done else ""
            role = f"({step.role}) " if step.role else ""
            console.print(f"    {step.index}. [{mark}] {role}{step.text}{who}", markup=False,
                          soft_wrap=True)  # fmt: skip


def _incident_out(incident: Incident, as_json: bool, line: str) -> None:
    if as_json:
        print_json(incident)
    else:
        console.print(line, soft_wrap=True)


# -- tandem incidents ------------------------------------------------------------------------


@incidents_app.command("list")
@handle_errors
def list_incidents(
    open_only: Annotated[bool, typer.Option("--open", help="only those not resolved yet")] = False,
    endpoint: Annotated[str | None, typer.Option("--endpoint", "-e")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """The project's incidents, newest first, with time to acknowledge and resolve."""
    client = get_client()
    found = client.incidents.list(project, open_only=open_only, endpoint=endpoint)
    if as_json:
        print_json(found)
        return
    if not found:
        console.print("no incidents")
        return
    table = Table("#", "title", "severity", "status", "endpoint", "opened", "TTA", "TTR",
                  "postmortem")  # fmt: skip
    for i in found:
        table.add_row(
            str(i.number), i.title, i.severity.value, i.status.value, i.endpoint or "-",
            format_ms(i.opened_at), _minutes(i.tta_ms), _minutes(i.ttr_ms), i.postmortem or "-",
        )  # fmt: skip
    console.print(table)
    stats = client.incidents.stats(project)
    console.print(
        f"{stats.incidents} incidents, {stats.open} open; mean time to acknowledge "
        f"{_minutes(None if stats.mean_tta_ms is None else int(stats.mean_tta_ms))}, to resolve "
        f"{_minutes(None if stats.mean_ttr_ms is None else int(stats.mean_ttr_ms))}",
        soft_wrap=True,
    )


@incidents_app.command()
@handle_errors
def show(
    number: NumberArg,
    timeline: Annotated[bool, typer.Option("--timeline/--no-timeline", help="with the timeline")] = True,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """An incident with its playbook and (by default) its timeline."""
    client = get_client()
    incident = client.incidents.get(number, project)
    entries = client.incidents.timeline(number, project) if timeline else []
    if as_json:
        print_json({**incident.model_dump(mode="json"),
                    "timeline": [e.model_dump(mode="json") for e in entries]})  # fmt: skip
        return
    _print_incident(incident)
    if entries:
        table = Table("at", "source", "what", "who", "text")
        for e in entries:
            table.add_row(format_ms(e.at), e.source.value, e.kind, e.actor or "-", e.text)
        console.print(table)


@incidents_app.command("open")
@handle_errors
def open_incident(
    title: Annotated[str, typer.Argument(help="what is wrong, in a line")],
    severity: Annotated[str, typer.Option("--severity", "-s", help="sev1 (worst) .. sev4")] = "sev2",
    endpoint: Annotated[str | None, typer.Option("--endpoint", "-e")] = None,
    kind: Annotated[str | None, typer.Option("--kind", "-k", help="picks the playbook")] = None,
    summary: Annotated[str, typer.Option("--summary")] = "",
    commander: Annotated[str | None, typer.Option("--commander", help="a member (default: you)")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Open an incident by hand."""
    from tandem.incidents.models import IncidentSeverity

    if severity not in set(IncidentSeverity):
        raise InvalidInput(f"invalid severity {severity!r}: use sev1, sev2, sev3 or sev4")
    incident = get_client().incidents.open(
        title, project, severity=severity, endpoint=endpoint, kind=kind, summary=summary,
        commander=commander,
    )  # fmt: skip
    _incident_out(incident, as_json, f"opened incident {incident.project}/incidents/"
                                     f"{incident.number}")  # fmt: skip


@incidents_app.command()
@handle_errors
def ack(number: NumberArg, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Acknowledge: you are on it (you become commander if there is none)."""
    incident = get_client().incidents.ack(number, project)
    _incident_out(incident, as_json, f"acknowledged incident {number} "
                                     f"({_minutes(incident.tta_ms)} after it opened)")  # fmt: skip


@incidents_app.command()
@handle_errors
def status(
    number: NumberArg,
    to: Annotated[str, typer.Argument(metavar="STATUS", help="acknowledged, mitigated or resolved")],
    message: MessageOpt = "",
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Move an incident forward: open → acknowledged → mitigated → resolved."""
    from tandem.incidents.models import IncidentStatus

    if to not in set(IncidentStatus):
        raise InvalidInput(f"invalid status {to!r}: use acknowledged, mitigated or resolved")
    incident = get_client().incidents.set_status(number, to, project, message=message)
    _incident_out(incident, as_json, f"incident {number} is {incident.status.value}")


@incidents_app.command()
@handle_errors
def tick(
    number: NumberArg,
    step: Annotated[int, typer.Argument(metavar="STEP", help="the playbook step's number")],
    undo: Annotated[bool, typer.Option("--undo", help="untick it")] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Tick a step of the incident's playbook (with who and when)."""
    incident = get_client().incidents.tick(number, step, project, done=not undo)
    done = sum(s.done for s in incident.steps)
    _incident_out(incident, as_json, f"{'unticked' if undo else 'ticked'} step {step} of "
                                     f"incident {number} ({done} of {len(incident.steps)} done)")  # fmt: skip


@incidents_app.command()
@handle_errors
def note(
    number: NumberArg,
    body: Annotated[str, typer.Argument(help="what you saw or tried")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Add a line to the incident's timeline."""
    incident = get_client().incidents.note(number, body, project)
    _incident_out(incident, as_json, f"noted on incident {number}")


@incidents_app.command()
@handle_errors
def rollback(
    number: NumberArg, message: MessageOpt = "", project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Roll the incident's endpoint back to what served before (recorded on its timeline)."""
    incident = get_client().incidents.rollback(number, project, message=message)
    _incident_out(incident, as_json, f"rolled back endpoint {incident.endpoint} for incident "
                                     f"{number}")  # fmt: skip


# -- tandem incidents playbook ---------------------------------------------------------------


@playbook_app.command("set")
@handle_errors
def playbook_set(
    kind: Annotated[str, typer.Argument(help="the kind of incident, e.g. drift")],
    file: Annotated[Path, typer.Argument(help="Markdown: a `- [ ] step` line per step")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Set the playbook for a kind of incident from a Markdown file with checkboxes."""
    playbook = get_client().incidents.set_playbook(kind, file.read_text(encoding="utf-8"), project)
    if as_json:
        print_json(playbook)
    else:
        console.print(f"playbook {kind}: {len(playbook.steps)} steps", soft_wrap=True)


@playbook_app.command("list")
@handle_errors
def playbook_list(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """The project's playbooks."""
    found = get_client().incidents.playbooks(project)
    if as_json:
        print_json(found)
        return
    for p in found:
        console.print(f"{p.kind}: {p.title or '-'} ({len(p.steps)} steps, from {p.source})",
                      soft_wrap=True)  # fmt: skip


# -- tandem postmortems ----------------------------------------------------------------------


def _print_postmortem(pm: Postmortem) -> None:
    console.print(
        f"[bold]{escape(pm.project)}/postmortems/{pm.incident}[/]  {pm.status.value}",
        markup=True, soft_wrap=True,
    )  # fmt: skip
    console.print(f"  {pm.blameless_note}", soft_wrap=True, style="italic")
    impact = pm.impact
    served = (
        "-" if impact.requests is None else f"{impact.requests} requests, {impact.errors} failed"
    )
    console.print(f"  impact        {served} ({impact.source})", soft_wrap=True)
    for field in ("summary", "trigger", "detection", "resolution"):
        value = getattr(pm, field)
        console.print(f"  {field:<13} {escape(value or '-')}", markup=True, soft_wrap=True)
    for i, why in enumerate(pm.five_whys, start=1):
        console.print(f"  why {i}         {escape(why)}", markup=True, soft_wrap=True)
    for field in ("went_well", "went_wrong", "got_lucky"):
        for item in getattr(pm, field):
            console.print(f"  {field.replace('_', ' '):<13} {escape(item)}", markup=True,
                          soft_wrap=True)  # fmt: skip
    for a in pm.action_items:
        console.print(f"  action        A{a.number} {a.kind.value}: {a.title} ({a.owner}, due "
                      f"{a.due.isoformat()})", soft_wrap=True)  # fmt: skip
    for item, done in pm.checklist.items():
        console.print(f"  [{'x' if done else ' '}] {item}", soft_wrap=True, markup=False)
    for flag in pm.flags:
        console.print(f"  flagged: {flag.section} names {flag.name!r}", soft_wrap=True)


def _parse_action(text: str) -> dict[str, Any]:
    """`KIND:OWNER:YYYY-MM-DD:TITLE`."""
    parts = text.split(":", 3)
    if len(parts) != 4:
        raise InvalidInput(
            f"invalid --action {text!r}: write KIND:OWNER:DUE:TITLE, e.g. "
            "prevent:ana:2026-12-20:Check the contract on live inputs"
        )
    kind, owner, due, title = parts
    if kind not in ("mitigate", "prevent", "process"):
        raise InvalidInput(f"invalid action kind {kind!r}: use mitigate, prevent or process")
    try:
        when = dt.date.fromisoformat(due)
    except ValueError:
        raise InvalidInput(f"invalid due date {due!r}: use YYYY-MM-DD") from None
    return {"kind": kind, "owner": owner, "due": when, "title": title}


@postmortems_app.command("show")
@handle_errors
def show_postmortem(
    number: NumberArg, project: ProjectOpt = None, as_json: JsonOpt = False
) -> None:
    """The postmortem of incident N."""
    pm = get_client().incidents.postmortem(number, project)
    if as_json:
        print_json(pm)
    else:
        _print_postmortem(pm)


@postmortems_app.command()
@handle_errors
def edit(
    number: NumberArg,
    summary: Annotated[str | None, typer.Option("--summary")] = None,
    why: Annotated[list[str] | None, typer.Option("--why", help="five whys, in order (repeat); replaces them")] = None,
    trigger: Annotated[str | None, typer.Option("--trigger")] = None,
    detection: Annotated[str | None, typer.Option("--detection")] = None,
    resolution: Annotated[str | None, typer.Option("--resolution")] = None,
    went_well: Annotated[list[str] | None, typer.Option("--went-well")] = None,
    went_wrong: Annotated[list[str] | None, typer.Option("--went-wrong")] = None,
    got_lucky: Annotated[list[str] | None, typer.Option("--got-lucky")] = None,
    action: Annotated[list[str] | None, typer.Option("--action", help="KIND:OWNER:DUE:TITLE, added to the action items (repeat)")] = None,
    confirm: Annotated[list[str] | None, typer.Option("--confirm", help="a review checklist item you confirm (repeat)")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Write the postmortem of resolved incident N (the first edit starts the draft)."""
    from tandem.errors import NotFound

    client = get_client()
    added = [_parse_action(a) for a in action or []]
    try:
        current = client.incidents.postmortem(number, project)
    except NotFound as exc:
        if "has no postmortem yet" not in exc.message:
            raise
        current = client.incidents.start_postmortem(number, project)
    sections = {
        "summary": summary, "five_whys": why, "trigger": trigger, "detection": detection,
        "resolution": resolution, "went_well": went_well, "went_wrong": went_wrong,
        "got_lucky": got_lucky,
    }  # fmt: skip
    items = [*current.action_items, *added] if added else None
    pm = client.incidents.edit_postmortem(
        number, project, action_items=items, confirm=confirm or [],
        **{k: v for k, v in sections.items() if v is not None},
    )  # fmt: skip
    if as_json:
        print_json(pm)
    else:
        console.print(f"postmortem of incident {number}: {pm.status.value}", soft_wrap=True)
        for flag in pm.flags:
            console.print(f"  flagged: {flag.section} names {flag.name!r}", soft_wrap=True)


@postmortems_app.command()
@handle_errors
def submit(number: NumberArg, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Send the postmortem for review (draft → in review)."""
    pm = get_client().incidents.submit_postmortem(number, project)
    if as_json:
        print_json(pm)
    else:
        console.print(f"postmortem of incident {number} is in review", soft_wrap=True)


@postmortems_app.command()
@handle_errors
def publish(number: NumberArg, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Publish it: the RACI's Accountable for incident-response, once the checklist is
    confirmed."""
    pm = get_client().incidents.publish_postmortem(number, project)
    if as_json:
        print_json(pm)
    else:
        console.print(f"published the postmortem of incident {number}", soft_wrap=True)
