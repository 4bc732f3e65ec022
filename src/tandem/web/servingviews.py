"""What the endpoint pages draw and list, from the deployment models the service answers.

Pure functions: the split as bar segments (drawn as SVG rectangles, since the page's CSP allows
no inline style), the rollout's steps, the charts per version for `static/data.js` (its `lines`
type on a time axis) with the numbers behind them, the shadow comparison, and the history as a
timeline whose entries link to the versions, gates and decisions they name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from tandem.deployments.models import (
    Deployment,
    DeploymentEvent,
    Endpoint,
    Role,
    Rollout,
    WindowPoint,
)
from tandem.governance.gates.models import Gate

SEGMENT_CLASSES = 6  # seg-0 .. seg-5 in tandem.css; more versions reuse them in turn
SHADOW_METRICS = ("agreement", "score_diff", "shadow_error_rate")
WINDOWS = {"15m": (900, 15), "1h": (3600, 60), "6h": (21_600, 360), "24h": (86_400, 1440)}
"""The chart windows a page offers: seconds shown and seconds per bucket."""
BUCKET_ROWS = 120  # rows of the numbers table, newest first
TERMINAL = {"completed", "rolled-back", "failed"}


def _q(text: str) -> str:
    return quote(text, safe="")


def version_url(project: str, label: str) -> str | None:
    """The model version page of a `model@version` label (None when it is not one)."""
    model, at, version = label.rpartition("@")
    if not at or not model or not version.isdigit():
        return None
    return f"/projects/{_q(project)}/models/{_q(model)}/versions/{version}"


def split(deployments: list[Deployment]) -> list[dict[str, Any]]:
    """The deployments that take traffic, as segments of a 100-wide bar, biggest role first;
    preview, shadow and standby deployments take none and are listed, not drawn."""
    segments, x = [], 0.0
    serving = [d for d in deployments if d.weight > 0]
    for i, d in enumerate(serving):
        segments.append(
            {
                "label": f"{d.model}@{d.version}",
                "role": d.role.value,
                "weight": d.weight,
                "x": round(x, 3),
                "width": round(d.weight, 3),
                "cls": f"seg-{i % SEGMENT_CLASSES}",
            }
        )
        x += d.weight
    return segments


def rollout_steps(rollout: Rollout | None) -> list[dict[str, Any]]:
    """A canary's steps, each `done`, `current` or `next` (all done once it completed)."""
    if rollout is None or not rollout.steps:
        return []
    finished = rollout.status.value == "completed"
    steps = []
    for i, weight in enumerate(rollout.steps):
        state = (
            "done" if finished or i < rollout.step else "current" if i == rollout.step else "next"
        )
        steps.append({"number": i + 1, "weight": weight, "state": state})
    return steps


def guard_rows(rollout: Rollout | None) -> list[dict[str, Any]]:
    """Each guard of the rollout with the value and verdict of the last analysis (None: not
    analysed yet, or no figure), then any figure the analysis read beyond them."""
    if rollout is None:
        return []
    results = {g.guard: g for g in rollout.last_analysis.guards} if rollout.last_analysis else {}
    rows = []
    for guard in [*rollout.guards, *(g for g in results if g not in rollout.guards)]:
        found = results.get(guard)
        rows.append(
            {
                "guard": guard,
                "value": found.value if found is not None else None,
                "holds": found.holds if found is not None else None,
            }
        )
    return rows


def swatches(segments: list[dict[str, Any]]) -> dict[str, str]:
    """`model@version` -> the colour class of its bar segment."""
    return {s["label"]: s["cls"] for s in segments}


def shadow_measured(points: Sequence[WindowPoint]) -> list[dict[str, Any]]:
    """Each shadow deployment's comparison with the primary over the charted windows, whether
    or not the rollout has guards: requests mirrored, agreement of the predicted class, mean
    absolute score difference, the candidate's error rate and mean latency."""
    merged: dict[str, dict[str, Any]] = {}
    for p in points:
        if p.shadow is None:
            continue
        row = merged.setdefault(p.deployment, {
            "label": p.label, "compared": 0, "agreed": 0, "errors": 0, "diff": 0.0,
            "latency": 0.0,
        })  # fmt: skip
        row["compared"] += p.shadow.compared
        row["agreed"] += p.shadow.agreed
        row["errors"] += p.shadow.errors
        row["diff"] += p.shadow.abs_diff_sum
        row["latency"] += p.shadow.latency_ms_sum
    rows = []
    for deployment, row in merged.items():
        answered = row["compared"] - row["errors"]
        rows.append({
            "deployment": deployment, "label": row["label"], "mirrored": row["compared"],
            "agreement": row["agreed"] / answered if answered else None,
            "score_diff": row["diff"] / answered if answered else None,
            "error_rate": row["errors"] / row["compared"] if row["compared"] else None,
            "mean_ms": row["latency"] / row["compared"] if row["compared"] else None,
        })  # fmt: skip
    return rows


def shadow_view(endpoint: Endpoint, points: Sequence[WindowPoint] = ()) -> dict[str, Any] | None:
    """The shadow comparison: the shadow deployments, what the gateways measured of them over
    the charted windows, and the last analysis's figures for the shadow guards (agreement,
    score difference, the candidate's error rate)."""
    shadows = [d for d in endpoint.deployments if d.role is Role.SHADOW]
    rollout = endpoint.rollout
    measured = shadow_measured(points)
    if not shadows and not measured and (rollout is None or rollout.strategy.value != "shadow"):
        return None
    figures = []
    analysis = rollout.last_analysis if rollout is not None else None
    for g in analysis.guards if analysis is not None else []:
        if g.guard.split(" ", 1)[0] in SHADOW_METRICS:
            figures.append(g)
    return {
        "deployments": shadows,
        "measured": measured,
        "mirror": rollout.mirror if rollout is not None else None,
        "figures": figures,
        "samples": analysis.samples if analysis is not None else None,
        "at": analysis.at if analysis is not None else None,
    }


def _labels(points: list[WindowPoint]) -> list[str]:
    return list(dict.fromkeys(p.label for p in points))


def charts(points: list[WindowPoint], bucket_s: int) -> list[dict[str, Any]]:
    """Requests, error rate and latency per version over time: specs for data.js."""
    labels = _labels(points)
    if not points:
        return []

    def series(value: Any) -> list[dict[str, Any]]:
        found = []
        for label in labels:
            mine = sorted((p for p in points if p.label == label), key=lambda p: p.start)
            found.append(
                {"label": label, "x": [p.start / 1000 for p in mine], "y": [value(p) for p in mine]}
            )
        return found

    def error_rate(p: WindowPoint) -> float | None:
        return p.errors / p.requests if p.requests else None

    specs = [
        ("Requests per bucket", f"requests / {bucket_s} s", series(lambda p: p.requests)),
        ("Error rate", "share of requests", series(error_rate)),
        ("p50 latency", "ms", series(lambda p: p.p50_ms)),
        ("p99 latency", "ms", series(lambda p: p.p99_ms)),
    ]
    return [
        {"title": title, "type": "lines", "time": True, "xlabel": "time (UTC)", "ylabel": ylabel,
         "points": True, "series": found}
        for title, ylabel, found in specs
    ]  # fmt: skip


def totals(points: list[WindowPoint]) -> list[dict[str, Any]]:
    """One row per version over the whole window: requests, errors, error rate, worst p99."""
    rows = []
    for label in _labels(points):
        mine = [p for p in points if p.label == label]
        requests = sum(p.requests for p in mine)
        errors = sum(p.errors for p in mine)
        p99s = [p.p99_ms for p in mine if p.p99_ms is not None]
        rows.append(
            {
                "label": label,
                "requests": requests,
                "errors": errors,
                "error_rate": errors / requests if requests else None,
                "worst_p99": max(p99s) if p99s else None,
            }
        )
    return rows


def bucket_rows(points: list[WindowPoint]) -> list[WindowPoint]:
    """The numbers behind the charts, newest first."""
    return sorted(points, key=lambda p: (-p.start, p.label))[:BUCKET_ROWS]


def _evidence_links(project: str, evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """Each piece of evidence as text, with a link where it names a gate, a decision or a
    model version."""
    found = []
    for key, value in evidence.items():
        href = None
        if key in ("gate", "gate_id") and isinstance(value, str):
            href = f"/projects/{_q(project)}/gates/{_q(value)}"
        elif key in ("decision", "decision_number", "decision_id") and isinstance(value, int):
            href = f"/projects/{_q(project)}/decisions#decision-{value}"
        elif isinstance(value, str) and "@" in value:
            href = version_url(project, value)
        found.append({"key": key, "value": value, "href": href, "plain": _plain(value)})
    return found


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    return str(value)


def _gate_of(event: DeploymentEvent, passed: list[Gate]) -> Gate | None:
    """The gate the released version went through last before the event: the one that moved
    it to the stage it had (newest first)."""
    label = event.evidence.get("version")
    if not isinstance(label, str) or "@" not in label:
        return None
    model, _, version = label.rpartition("@")
    for gate in passed:  # newest first
        closed = gate.closed_at or 0
        if gate.model == model and str(gate.version) == version and closed <= event.at:
            return gate
    return None


def timeline(
    project: str, events: list[DeploymentEvent], passed_gates: list[Gate] | None = None
) -> list[dict[str, Any]]:
    """The history, newest first, each event with its versions, evidence and the gate its
    version passed linked."""
    items = []
    for event in events:
        gate = _gate_of(event, passed_gates or [])
        items.append(
            {
                "event": event,
                "before": [
                    {"label": k, "weight": w, "href": version_url(project, k)}
                    for k, w in event.before.items()
                ],
                "after": [
                    {"label": k, "weight": w, "href": version_url(project, k)}
                    for k, w in event.after.items()
                ],
                "evidence": _evidence_links(project, event.evidence),
                "gate": None
                if gate is None
                else {
                    "href": f"/projects/{_q(project)}/gates/{_q(gate.id)}",
                    "text": f"gate {gate.from_stage.value} → {gate.to_stage.value}, passed "
                    f"{gate.closed_at and _day(gate.closed_at)}",
                },
            }
        )
    return items


def _day(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")


def actions(endpoint: Endpoint) -> list[str]:
    """The traffic changes that make sense now (the service still decides, and says why not)."""
    rollout = endpoint.rollout
    status = rollout.status.value if rollout is not None else None
    found = []
    if status in ("running", "paused", "awaiting-promotion"):
        found.append("promote")
    if status == "running":
        found.append("pause")
    if status == "paused":
        found.append("resume")
    has_target = endpoint.rollback_target is not None or (
        rollout is not None and status not in TERMINAL and rollout.baseline is not None
    )
    if has_target or (rollout is not None and status not in TERMINAL):
        found.append("rollback")
    return found
