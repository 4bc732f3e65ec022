"""`tandem labels ...`, `tandem performance ...` and `tandem metrics ...`: labels that arrive
late, joined to the prediction log by request id; realised and estimated performance per model
version and hour; business KPIs posted from outside.

Every command goes through the SDK (`client.outcomes`), so it behaves the same against the
embedded workspace and a server (docs/monitoring.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tandem.cli.output import console, get_client, handle_errors, print_json
from tandem.core.clock import format_ms, parse_duration, parse_instant

labels_app = typer.Typer(
    help="Labels that arrive late, joined to the prediction log by request id.",
    no_args_is_help=True,
)
performance_app = typer.Typer(
    help="Realised and estimated (CBPE) performance per model version and hour.",
    no_args_is_help=True,
)
metrics_app = typer.Typer(
    help="Business KPIs of an endpoint, posted from outside (retention, revenue, ...).",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="project (default: TANDEM_PROJECT / tandem.toml)")]  # fmt: skip
EndpointOpt = Annotated[str, typer.Option("--endpoint", "-e", metavar="ENDPOINT", help="the endpoint, e.g. prod")]  # fmt: skip
SinceOpt = Annotated[str | None, typer.Option("--since", help="from this time (ISO 8601, e.g. 2026-12-01T10:00Z)")]  # fmt: skip
UntilOpt = Annotated[str | None, typer.Option("--until", help="up to this time, excluded")]
VersionOpt = Annotated[str | None, typer.Option("--version", metavar="NAME@N", help="one model version")]  # fmt: skip


def _instant(text: str | None) -> int | None:
    return parse_instant(text) if text else None


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@labels_app.command("add")
@handle_errors
def add_labels(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="a .csv or .parquet file: request_id, label [, at, row]")],
    endpoint: EndpointOpt,
    project: ProjectOpt = None,
    slice_: Annotated[list[str] | None, typer.Option("--slice", metavar="COLUMN", help="an input column to report fairness across (repeatable)")] = None,
    lookback: Annotated[str | None, typer.Option("--lookback", help="how long before a label's time its prediction may be (default 30d)")] = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Join labels to the endpoint's logged predictions by request id and recompute the
    hourly windows they fall in. Unknown request ids are counted, not refused; a request
    labelled again keeps the last label."""
    receipt = get_client().outcomes.add_labels(
        endpoint, file, project, slices=slice_ or [],
        lookback=parse_duration(lookback) * 1000 if lookback else None,
    )  # fmt: skip
    if as_json:
        print_json(receipt)
        return
    console.print(
        f"labels {receipt.batch[:8]}: {receipt.rows:,} labels, {receipt.matched:,} joined to "
        f"logged predictions, {receipt.unknown:,} unknown request ids, {receipt.duplicates:,} "
        f"replacing earlier labels; {len(receipt.windows)} windows recomputed",
        markup=False,
    )
    if receipt.unknown_sample:
        shown = ", ".join(receipt.unknown_sample[:5])
        console.print(f"  unknown, e.g.: {shown}", markup=False)


@labels_app.command("list")
@handle_errors
def list_labels(
    endpoint: EndpointOpt,
    project: ProjectOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="at most this many")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The endpoint's label batches, newest first."""
    found = get_client().outcomes.label_batches(endpoint, project, limit=limit)
    if as_json:
        print_json(found)
        return
    table = Table("batch", "added", "by", "labels", "joined", "unknown", "replaced")
    for batch in found:
        table.add_row(
            batch.id[:8], format_ms(batch.created_at), escape(batch.created_by),
            f"{batch.rows:,}", f"{batch.matched:,}", f"{batch.unknown:,}",
            f"{batch.duplicates:,}",
        )  # fmt: skip
    console.print(table)


@performance_app.command("show")
@handle_errors
def show_performance(
    endpoint: EndpointOpt,
    project: ProjectOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    version: VersionOpt = None,
    estimated: Annotated[bool, typer.Option("--estimated", help="CBPE estimates where labels have not come (needs --since and --until)")] = False,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Realised ROC AUC, precision, recall, accuracy and ECE per version and hour (with
    bootstrap bands in --json); with --estimated, ROC AUC and accuracy estimated by CBPE
    until the labels come."""
    client = get_client()
    if estimated:
        start, end = _instant(since), _instant(until)
        if start is None or end is None:
            from tandem.errors import InvalidInput

            raise InvalidInput("--estimated needs --since and --until")
        rows = client.outcomes.estimates(endpoint, project, since=start, until=end, version=version)
        if as_json:
            print_json(rows)
            return
        table = Table("window", "version", "metric", "value", "band", "kind", "rows")
        for e in rows:
            table.add_row(
                format_ms(e.start), f"{e.model}@{e.version}", e.metric, _figure(e.value),
                f"{_figure(e.band.low)}-{_figure(e.band.high)}",
                "estimated" if e.estimated else "realised", f"{e.samples:,}",
            )  # fmt: skip
        console.print(table)
        return
    windows = client.outcomes.performance(
        endpoint, project, since=_instant(since), until=_instant(until), version=version
    )
    if as_json:
        print_json(windows)
        return
    table = Table(
        "window", "version", "labels", "roc_auc", "precision", "recall", "accuracy", "ece"
    )
    for w in windows:
        m = w.metrics
        table.add_row(
            format_ms(w.start), f"{w.model}@{w.version}", f"{w.samples:,}",
            _figure(m.get("roc_auc")), _figure(m.get("precision")), _figure(m.get("recall")),
            _figure(m.get("accuracy")), _figure(m.get("ece")),
        )  # fmt: skip
    console.print(table)


@metrics_app.command("push")
@handle_errors
def push_metric(
    name: Annotated[str, typer.Argument(metavar="NAME", help="the KPI, e.g. retention_rate")],
    value: Annotated[float, typer.Argument(metavar="VALUE", help="its value")],
    endpoint: EndpointOpt,
    at: Annotated[str | None, typer.Option("--at", help="the time the figure is for (default now)")] = None,
    version: VersionOpt = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Record a business KPI of the endpoint, optionally for a model version (it must exist)."""
    kpi = get_client().outcomes.push_kpi(
        endpoint, name, value, project, at=_instant(at), version=version
    )
    if as_json:
        print_json(kpi)
        return
    target = f" for {kpi.model}@{kpi.version}" if kpi.model else ""
    console.print(
        f"{kpi.name} = {kpi.value:g} at {format_ms(kpi.at)} UTC on {kpi.endpoint}{target}",
        markup=False,
    )


@metrics_app.command("list")
@handle_errors
def list_metrics(
    endpoint: EndpointOpt,
    name: Annotated[str | None, typer.Option("--name", help="one KPI")] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The endpoint's KPIs, oldest first."""
    found = get_client().outcomes.kpis(
        endpoint, project, name=name, since=_instant(since), until=_instant(until)
    )
    if as_json:
        print_json(found)
        return
    table = Table("at", "name", "value", "version", "by")
    for k in found:
        table.add_row(
            format_ms(k.at), escape(k.name), f"{k.value:g}",
            f"{k.model}@{k.version}" if k.model else "-", escape(k.created_by),
        )  # fmt: skip
    console.print(table)
