"""`tandem evaluate MODEL --data DATASET --target COLUMN`: evaluate a model version on a dataset
version and record it; `tandem models evaluations` lists what was recorded, and
`tandem models delete-evaluation ID` deletes one (project admins)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from tandem.cli.output import console, get_client, handle_errors, print_json
from tandem.core.units import format_figure


def _columns(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


@handle_errors
def evaluate(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="NAME@N or NAME@ALIAS")],
    data: Annotated[str, typer.Option("--data", "-d", help="dataset version: NAME@vN")],
    target: Annotated[str, typer.Option("--target", "-t", help="the label column")],
    slices: Annotated[str | None, typer.Option("--slices", help="columns to slice by, comma-separated (each alone, and jointly)")] = None,
    protected: Annotated[str | None, typer.Option("--protected", help="protected attributes for fairness, comma-separated (default: the slices)")] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="compare with this model version (paired bootstrap)")] = None,
    positive: Annotated[str | None, typer.Option("--positive", help="the positive label (default: 1 / True)")] = None,
    threshold: Annotated[float, typer.Option("--threshold", help="predicted positive when score >= threshold")] = 0.5,
    top_k: Annotated[float, typer.Option("--top-k", help="lift among this share of rows with the highest scores")] = 0.1,
    resamples: Annotated[int, typer.Option("--resamples", help="bootstrap resamples (0: none)")] = 200,
    seed: Annotated[int, typer.Option("--seed")] = 7,
    trusted: Annotated[bool, typer.Option("--trusted", help="allow loading a pickle-based model")] = False,
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (the whole report)")] = False,
) -> None:  # fmt: skip
    """Evaluate a model version on a dataset version: metrics, per-slice metrics, fairness,
    calibration, latency, bootstrap intervals and the comparison with a baseline; recorded
    against both versions."""
    slice_columns = _columns(slices)
    protected_columns = _columns(protected) if protected is not None else slice_columns
    client = get_client()
    name = project  # None: the default project (the SDK resolves it)
    recorded = client.evaluations.evaluate(
        model, data, target, project=name, slices=slice_columns, protected=protected_columns,
        baseline=baseline, positive=positive, threshold=threshold, top_k=top_k,
        resamples=resamples, seed=seed, trusted=trusted,
    )  # fmt: skip
    full = client.evaluations.get(recorded.id, recorded.project)
    if as_json:
        print_json(full)
        return
    report = full.report or {}
    console.print(
        f"evaluation {full.id}: {full.project}/{full.model}@{full.model_version} on "
        f"{full.dataset_project}/{full.dataset}@v{full.dataset_version} ({full.rows:,} rows)"
    )
    boot = (report.get("bootstrap") or {}).get("metrics", {})
    diff = (report.get("baseline") or {}).get("difference", {})
    table = Table("metric", "value", "95% interval", *(["vs baseline", "p"] if diff else []))
    for metric, value in report.get("overall", {}).items():
        ci = boot.get(metric)
        row = [metric, _fmt(value), f"{_fmt(ci.get('low'))} - {_fmt(ci.get('high'))}" if ci else ""]
        if diff:
            d = diff.get(metric)
            row += [format_figure(d.get("mean"), "+.4f"), _fmt(d.get("p_value"))] if d else ["", ""]
        table.add_row(*row)
    console.print(table)
    for slicing, groups in (report.get("fairness") or {}).items():
        console.print(
            f"fairness across {slicing}: demographic parity difference "
            f"{_fmt(groups.get('demographic_parity_difference'))}, equalized odds difference "
            f"{_fmt(groups.get('equalized_odds_difference'))}"
        )
    latency = report.get("latency")
    if latency:
        console.print(
            f"latency: p50 {format_figure(latency.get('p50_ms'), '.2f')} ms, p99 "
            f"{format_figure(latency.get('p99_ms'), '.2f')} ms per row; "
            f"{format_figure(latency.get('rows_per_second'), ',.0f')} rows/s in bulk"
        )


@handle_errors
def evaluations(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="NAME, or NAME@N for one version")],
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:  # fmt: skip
    """A model's recorded evaluations, newest first."""
    found = get_client().evaluations.list(model, project)
    if as_json:
        print_json(found)
        return
    table = Table("id", "version", "dataset", "rows", "roc_auc", "f1", "baseline", "by")
    for e in found:
        table.add_row(
            e.id[:12], str(e.model_version), f"{e.dataset}@v{e.dataset_version}", f"{e.rows:,}",
            _fmt(e.overall.get("roc_auc")), _fmt(e.overall.get("f1")),
            str(e.baseline_version or "-"), e.created_by,
        )  # fmt: skip
    console.print(table)


@handle_errors
def delete_evaluation(
    evaluation_id: Annotated[str, typer.Argument(metavar="ID", help="the evaluation's id")],
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:  # fmt: skip
    """Delete a recorded evaluation (project and workspace admins; recorded in the audit log)."""
    get_client().evaluations.delete(evaluation_id, project)
    if as_json:
        print_json({"deleted": evaluation_id})
        return
    console.print(f"deleted evaluation {evaluation_id}")
