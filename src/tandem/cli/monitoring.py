"""`tandem monitors list|show|check|create|delete`: monitors over an endpoint's live traffic.

Every command goes through the SDK (`client.monitors`), so it behaves the same against the
embedded workspace and a server (docs/monitoring.md). `check` evaluates the closed windows
not evaluated yet and exits 1 when one of them breached its condition (for cron or CI).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from tandem.cli.output import console, get_client, handle_errors, print_json
from tandem.core.clock import format_ms, parse_instant
from tandem.errors import InvalidInput
from tandem.monitoring.models import params_from_pairs

if TYPE_CHECKING:
    from tandem.monitoring.models import MonitorResult

monitors_app = typer.Typer(
    help="Monitors: drift, the contract, performance, SLOs and KPIs over an endpoint's traffic.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="project (default: TANDEM_PROJECT / tandem.toml)")]  # fmt: skip
NameArg = Annotated[str, typer.Argument(metavar="MONITOR", help="monitor name")]
KINDS = "feature-drift, prediction-drift, contract, performance, estimated-performance, slo, kpi"


def verdict(result: MonitorResult | None) -> str:
    if result is None:
        return "not evaluated"
    if result.breached is None:
        return "no data"
    value = "-" if result.value is None else f"{result.value:.4g}"
    return f"{'BREACHED' if result.breached else 'ok'} ({value})"


@monitors_app.command("list")
@handle_errors
def list_monitors(
    endpoint: Annotated[str | None, typer.Option("--endpoint", "-e", help="only this endpoint's")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """The project's monitors and each one's newest window."""
    statuses = get_client().monitors.list(endpoint=endpoint, project=project)
    if as_json:
        print_json(statuses)
        return
    if not statuses:
        console.print("no monitors: tandem monitors create NAME --endpoint E --kind KIND")
        return
    table = Table("monitor", "endpoint", "kind", "window", "severity", "owner", "last window")
    for s in statuses:
        m = s.monitor
        last = verdict(s.latest)
        if s.latest is not None:
            last = f"{format_ms(s.latest.window_start)} {last}"
        table.add_row(
            m.name, m.endpoint, m.kind.value, m.window, m.severity.value, m.owner or "-",
            escape(last),
        )  # fmt: skip
    console.print(table)


@monitors_app.command()
@handle_errors
def show(
    name: NameArg,
    limit: Annotated[int, typer.Option("--limit", "-n", help="windows shown")] = 10,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """A monitor and its latest window results."""
    client = get_client()
    monitor = client.monitors.get(name, project)
    results = client.monitors.results(name, limit=limit, project=project)
    if as_json:
        print_json({"monitor": monitor.model_dump(mode="json", by_alias=True),
                    "results": [r.model_dump(mode="json") for r in results]})  # fmt: skip
        return
    console.print(f"[bold]{escape(monitor.ref)}[/bold]  {monitor.kind.value} on "
                  f"{monitor.endpoint}{'@' + monitor.version if monitor.version else ''}")  # fmt: skip
    condition = monitor.parsed_condition()
    console.print(f"window {monitor.window}, breached when {condition}, severity "
                  f"{monitor.severity.value}, owner {monitor.owner or '-'}")  # fmt: skip
    if monitor.params:
        console.print(f"params {escape(orjson.dumps(monitor.params).decode())}")
    if not results:
        console.print("no window evaluated yet: tandem monitors check")
        return
    table = Table("window", "version", "value", "verdict", "samples", "evaluated by")
    for r in results:
        table.add_row(
            format_ms(r.window_start), r.version or "-",
            "-" if r.value is None else f"{r.value:.4g}", verdict(r).split(" ")[0],
            str(r.samples), r.evaluated_by,
        )  # fmt: skip
    console.print(table)


@monitors_app.command()
@handle_errors
def check(
    name: Annotated[str | None, typer.Argument(metavar="[MONITOR]", help="only this monitor")] = None,
    at: Annotated[str | None, typer.Option("--at", help="evaluate as of this time (ISO 8601), default now")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Evaluate the closed windows not evaluated yet; exit 1 when one breached."""
    now = parse_instant(at) if at is not None else None
    summary = get_client().monitors.check(name, now=now, project=project)
    if as_json:
        print_json(summary)
    else:
        for r in summary.results:
            console.print(f"{r.monitor} {format_ms(r.window_start)}: {escape(verdict(r))}")
        console.print(
            f"{summary.evaluated} window{'' if summary.evaluated == 1 else 's'} evaluated, "
            f"{summary.breached} breached, "
            f"{summary.no_data} without data, {summary.skipped} held by another worker"
        )
        for error in summary.errors:
            console.print(f"[red]failed[/red] {escape(error)}")
    if summary.breached or summary.failed:
        raise typer.Exit(1)


@monitors_app.command()
@handle_errors
def create(
    name: NameArg,
    endpoint: Annotated[str, typer.Option("--endpoint", "-e", help="the endpoint watched")],
    kind: Annotated[str, typer.Option("--kind", "-k", help=KINDS)],
    window: Annotated[str, typer.Option("--window", "-w", help="window length: 5m, 1h, 1d")] = "1h",
    version: Annotated[str | None, typer.Option("--version", help="only MODEL@N's share of the traffic")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="KEY=VALUE, repeatable: columns='[\"tenure\"]', method=psi, target=0.999")] = None,
    condition: Annotated[str | None, typer.Option("--condition", "-c", help='e.g. "drifted_share >= 0.25" (default: the kind\'s)')] = None,
    for_: Annotated[str | None, typer.Option("--for", help="the condition holds this long before an alert fires")] = None,
    severity: Annotated[str, typer.Option("--severity", help="page, ticket or info")] = "ticket",
    runbook: Annotated[str | None, typer.Option("--runbook", help="a link or a playbook name")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="the member who answers for it")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Create a monitor on an endpoint."""
    from pydantic import ValidationError

    try:
        monitor = get_client().monitors.create(
            name, endpoint=endpoint, kind=kind, window=window, version=version,
            params=params_from_pairs(param or []), condition=condition, for_=for_,
            severity=severity, runbook=runbook, owner=owner, project=project,
        )  # fmt: skip
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error.get("loc", ()))
        raise InvalidInput(f"invalid {where or 'monitor'}: {error.get('msg')}") from None
    if as_json:
        print_json(monitor.model_dump(mode="json", by_alias=True))
        return
    console.print(f"created {monitor.ref} ({monitor.kind.value} every {monitor.window})")


@monitors_app.command()
@handle_errors
def delete(name: NameArg, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Delete a monitor with its results."""
    get_client().monitors.delete(name, project)
    if as_json:
        print_json({"deleted": name})
        return
    console.print(f"deleted monitor {name}")
