"""What an alert says on each channel: the in-app message, the Slack-compatible webhook text
(`{"text": ...}`) and the PagerDuty Events v2 body. Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tandem.core.clock import format_ms

PAGERDUTY_SEVERITY = {"page": "critical", "ticket": "warning", "info": "info"}
MAX_SUMMARY = 1024  # PagerDuty truncates payload.summary at 1024 characters
MAX_LISTED = 10  # alerts listed in one webhook message; the rest are counted


@dataclass(frozen=True)
class AlertFacts:
    """What a message says about one alert."""

    id: str
    fingerprint: str
    project: str
    name: str
    endpoint: str | None
    severity: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    value: float | None
    starts_at: int
    ends_at: int | None = None


def page_link(base: str, project: str, endpoint: str | None) -> str:
    """The endpoint's page (the project's alerts without one) on the hub."""
    path = f"/projects/{project}/endpoints/{endpoint}" if endpoint else f"/projects/{project}"
    return base.rstrip("/") + path


def runbook(alert: AlertFacts) -> str | None:
    return alert.annotations.get("runbook_url") or alert.annotations.get("runbook") or None


def _line(alert: AlertFacts, base: str) -> str:
    value = "" if alert.value is None else f" = {alert.value:.4g}"
    since = f"since {format_ms(alert.starts_at)} UTC"
    if alert.ends_at is not None:
        since = f"{format_ms(alert.starts_at)} to {format_ms(alert.ends_at)} UTC"
    summary = alert.annotations.get("summary") or alert.annotations.get("condition") or ""
    parts = [f"• {alert.name}{value} ({alert.severity}) {since}"]
    if summary:
        parts.append(f"  {summary}")
    links = [f"endpoint: {page_link(base, alert.project, alert.endpoint)}"]
    if (book := runbook(alert)) is not None:
        links.insert(0, f"runbook: {book}")
    parts.append("  " + " · ".join(links))
    return "\n".join(parts)


def group_text(
    project: str,
    group_labels: Mapping[str, str],
    firing: Sequence[AlertFacts],
    resolved: Sequence[AlertFacts],
    recipients: Sequence[str],
    base: str,
    *,
    repeat: bool = False,
) -> str:
    """A group's notification as one message: a headline, then each alert with its value,
    its runbook and its endpoint's page."""
    grouped = ", ".join(f"{k}={v}" for k, v in sorted(group_labels.items())) or "all"
    head = []
    if firing:
        head.append(f"[FIRING:{len(firing)}]")
    if resolved:
        head.append(f"[RESOLVED:{len(resolved)}]")
    who = " ".join("@" + m for m in recipients) or "(nobody in the RACI for this)"
    again = " (still firing)" if repeat else ""
    lines = [f"{' '.join(head)} {project}: {grouped}{again} → {who}"]
    shown = [*firing, *resolved]
    lines += [_line(a, base) for a in shown[:MAX_LISTED]]
    if len(shown) > MAX_LISTED:
        lines.append(f"… and {len(shown) - MAX_LISTED} more")
    return "\n".join(lines)


def escalation_text(alert: AlertFacts, minutes: int, accountable: Sequence[str], base: str) -> str:
    who = " ".join("@" + m for m in accountable) or "(no Accountable in the RACI)"
    return (
        f"[ESCALATED] {alert.project}: {alert.name} has fired for {minutes} min and nobody "
        f"acknowledged it → {who}\n{_line(alert, base)}"
    )


def app_message(alert_count: int, first: AlertFacts, resolved: bool) -> str:
    what = "resolved" if resolved else "firing"
    more = f" and {alert_count - 1} more" if alert_count > 1 else ""
    where = f" on {first.endpoint}" if first.endpoint else ""
    return f"alert {first.name}{where} is {what}{more} ({first.severity})"


def pagerduty_trigger(alert: AlertFacts, base: str) -> dict[str, Any]:
    """A PagerDuty Events v2 `trigger` (without `routing_key`, added when it is sent)."""
    summary = f"{alert.project}: {alert.name}"
    if alert.endpoint:
        summary += f" on {alert.endpoint}"
    if alert.value is not None:
        summary += f" = {alert.value:.4g}"
    if alert.annotations.get("summary"):
        summary += f" ({alert.annotations['summary']})"
    page = page_link(base, alert.project, alert.endpoint)
    links = [{"href": page, "text": "endpoint page"}] if page.startswith("http") else []
    if (book := runbook(alert)) is not None and book.startswith("http"):
        links.append({"href": book, "text": "runbook"})
    return {
        "event_action": "trigger",
        "dedup_key": alert.fingerprint,
        "payload": {
            "summary": summary[:MAX_SUMMARY],
            "severity": PAGERDUTY_SEVERITY.get(alert.severity, "error"),
            "source": f"tandem/{alert.project}" + (f"/{alert.endpoint}" if alert.endpoint else ""),
            "component": alert.endpoint or alert.project,
            "group": alert.project,
            "class": alert.name,
            "custom_details": {
                "alert": alert.id,
                "labels": dict(alert.labels),
                "annotations": dict(alert.annotations),
                "value": alert.value,
                "since": format_ms(alert.starts_at) + " UTC",
                "page": page,
                "runbook": runbook(alert),
            },
        },
        "links": links,
        "client": "tandem",
        **({"client_url": page} if page.startswith("http") else {}),
    }


def pagerduty_follow_up(alert: AlertFacts, action: str) -> dict[str, Any]:
    """`resolve` or `acknowledge` of the event `pagerduty_trigger` opened (same dedup key)."""
    return {"event_action": action, "dedup_key": alert.fingerprint}
