"""`tandem alerts ...`: the alerts monitors raised, acknowledging them, silences, the project's
alert settings and where each message went. Every command goes through the SDK
(`client.alerts`), so it behaves the same against the embedded workspace and a server
(docs/alerts.md)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tandem.cli.output import console, get_client, handle_errors, print_json
from tandem.core.clock import format_ms

alerts_app = typer.Typer(
    help="Alerts routed by the RACI: list, acknowledge, silence, settings, deliveries.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="project (default: TANDEM_PROJECT / tandem.toml)")]  # fmt: skip
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=1000, help="at most this many")]


@alerts_app.command("list")
@handle_errors
def list_alerts(
    project: ProjectOpt = None,
    state: Annotated[
        str | None, typer.Option("--state", help="pending, firing, resolved or open")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="one endpoint's alerts")
    ] = None,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
) -> None:
    """The project's alerts, newest first."""
    alerts = get_client().alerts.list(project, state=state, endpoint=endpoint, limit=limit)
    if as_json:
        print_json(alerts)
        return
    if not alerts:
        console.print("no alerts")
        return
    table = Table("id", "alert", "endpoint", "severity", "state", "since", "to", "ack")
    for a in alerts:
        state_text = a.state.value
        if a.silenced_by:
            state_text += " (silenced)"
        elif a.inhibited:
            state_text += " (inhibited)"
        table.add_row(
            a.id, a.name, a.endpoint or "-", a.severity.value, state_text,
            format_ms(a.starts_at), ", ".join(a.recipients) or "-", a.acked_by or "-",
        )  # fmt: skip
    console.print(table)


@alerts_app.command()
@handle_errors
def ack(
    alert_id: Annotated[
        str, typer.Argument(metavar="ALERT", help="the alert's id, e.g. al-3f9a1c0d")
    ],
    project: ProjectOpt = None,
    comment: Annotated[
        str, typer.Option("--comment", "-m", help="what you are doing about it")
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge a firing alert: it is not escalated, and PagerDuty is told."""
    alert = get_client().alerts.ack(alert_id, project, comment=comment)
    if as_json:
        print_json(alert)
        return
    console.print(f"acknowledged {alert.id} ({alert.name}) as {alert.acked_by}")


@alerts_app.command()
@handle_errors
def silence(
    matchers: Annotated[
        list[str],
        typer.Argument(
            metavar="MATCHER...", help="name=value, name!=value, name=~regex, name!~regex"
        ),
    ],
    comment: Annotated[str, typer.Option("--comment", "-m", help="why (required)")],
    duration: Annotated[str | None, typer.Option("--for", help="how long, e.g. 2h")] = None,
    ends: Annotated[
        str | None, typer.Option("--until", help="when it ends (ISO-8601, UTC)")
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mute the alerts matching every MATCHER --for a while or --until a time (one is
    required: a silence always ends)."""
    made = get_client().alerts.silence(
        matchers, project, comment=comment, duration=duration, ends=ends
    )
    if as_json:
        print_json(made)
        return
    console.print(
        f"silence {made.id} until {format_ms(made.ends_at)} UTC: {', '.join(made.matchers)}"
    )


@alerts_app.command()
@handle_errors
def silences(
    project: ProjectOpt = None,
    every: Annotated[bool, typer.Option("--all", help="the ended and expired ones too")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The project's silences that have not ended."""
    found = get_client().alerts.silences(project, all=every)
    if as_json:
        print_json(found)
        return
    if not found:
        console.print("no silences")
        return
    table = Table("id", "matchers", "starts", "ends", "author", "comment", "active")
    for s in found:
        table.add_row(
            s.id, ", ".join(s.matchers), format_ms(s.starts_at), format_ms(s.ends_at), s.author,
            s.comment, "yes" if s.active else "no",
        )  # fmt: skip
    console.print(table)


@alerts_app.command()
@handle_errors
def unsilence(
    silence_id: Annotated[str, typer.Argument(metavar="SILENCE", help="the silence's id")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """End a silence now."""
    ended = get_client().alerts.expire(silence_id, project)
    if as_json:
        print_json(ended)
        return
    console.print(f"silence {ended.id} expired")


@alerts_app.command()
@handle_errors
def deliveries(
    project: ProjectOpt = None,
    state: Annotated[str | None, typer.Option("--state", help="pending, sent or failed")] = None,
    alert: Annotated[str | None, typer.Option("--alert", help="one alert's deliveries")] = None,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
) -> None:
    """Where each alert message went (app, webhook, PagerDuty), its state and attempts."""
    found = get_client().alerts.deliveries(project, state=state, alert=alert, limit=limit)
    if as_json:
        print_json(found)
        return
    if not found:
        console.print("no deliveries")
        return
    table = Table("id", "alert", "channel", "kind", "to", "state", "attempts", "next", "error")
    for d in found:
        table.add_row(
            d.id, d.alert or "-", d.channel.value, d.kind.value, d.target, d.state.value,
            str(d.attempts), format_ms(d.next_attempt_at), d.last_error or "",
        )  # fmt: skip
    console.print(table)


@alerts_app.command()
@handle_errors
def settings(
    project: ProjectOpt = None,
    group_by: Annotated[
        str | None, typer.Option("--group-by", help="labels, comma-separated")
    ] = None,
    group_wait: Annotated[str | None, typer.Option("--group-wait", help="e.g. 30s")] = None,
    group_interval: Annotated[str | None, typer.Option("--group-interval", help="e.g. 5m")] = None,
    repeat_interval: Annotated[
        str | None, typer.Option("--repeat-interval", help="e.g. 4h")
    ] = None,
    escalate_after: Annotated[str | None, typer.Option("--escalate-after", help="e.g. 30m")] = None,
    pagerduty_key: Annotated[
        str | None, typer.Option("--pagerduty-key", help="Events v2 routing key ('' removes)")
    ] = None,
    pagerduty_url: Annotated[
        str | None, typer.Option("--pagerduty-url", help="Events API URL")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the project's alert settings, or change those given."""
    client = get_client()
    changes = (group_by, group_wait, group_interval, repeat_interval, escalate_after,
               pagerduty_key, pagerduty_url)  # fmt: skip
    if all(c is None for c in changes):
        current = client.alerts.settings(project)
    else:
        current = client.alerts.configure(
            project,
            group_by=None if group_by is None else [g.strip() for g in group_by.split(",") if g.strip()],
            group_wait=group_wait, group_interval=group_interval,
            repeat_interval=repeat_interval, escalate_after=escalate_after,
            pagerduty_routing_key=pagerduty_key, pagerduty_url=pagerduty_url,
        )  # fmt: skip
    if as_json:
        print_json(current)
        return
    rows = [
        ("group by", ", ".join(current.group_by)),
        ("group wait", f"{current.group_wait_s} s"),
        ("group interval", f"{current.group_interval_s} s"),
        ("repeat interval", f"{current.repeat_interval_s} s"),
        ("escalate after", f"{current.escalate_after_s} s"),
        ("PagerDuty", current.pagerduty_routing_key or "-"),
        ("PagerDuty URL", current.pagerduty_url),
    ]
    for name, value in rows:
        console.print(f"{name:16} {value}", markup=False)
