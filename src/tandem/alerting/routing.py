"""Alertmanager's routing tree: routes, their inherited settings, groups' keys and labels.

Pure functions, times in milliseconds (`parse_duration("5m") == 300_000`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from tandem.alerting.matchers import Matcher, matches_all
from tandem.errors import InvalidInput

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_UNITS = (365 * 24 * HOUR, 7 * 24 * HOUR, 24 * HOUR, HOUR, MINUTE, SECOND, 1)


def parse_duration(text: str) -> int:
    """Milliseconds in a Prometheus duration: `0`, `30s`, `5m`, `1h30m`, `2d`, `1w`, `500ms`.

    Raises:
        InvalidInput: not a duration.
    """
    found = _DURATION.match(text.strip())
    if text.strip() == "0":
        return 0
    if found is None or not any(found.groups()):
        raise InvalidInput(
            f"{text!r} is not a duration (e.g. 0, 30s, 5m, 1h30m, 2d)", duration=text
        )
    return sum(int(n) * unit for n, unit in zip(found.groups(), _UNITS, strict=True) if n)


ALL_LABELS = "..."
"""`group_by: ["..."]` groups by every label: one group per alert."""


@dataclass(frozen=True)
class Route:
    """A node of Alertmanager's routing tree; `None` fields inherit the parent's values.

    The root must set `receiver`. An alert enters the first child whose `matchers` all match,
    and the following children too when that child has `continue_`; with no matching child it
    stays at this node. `send_resolved` is the receiver's setting (webhooks and PagerDuty: yes).
    """

    receiver: str | None = None
    matchers: tuple[Matcher, ...] = ()
    group_by: tuple[str, ...] | None = None
    group_wait_ms: int | None = None
    group_interval_ms: int | None = None
    repeat_interval_ms: int | None = None
    send_resolved: bool | None = None
    continue_: bool = False
    routes: tuple[Route, ...] = ()


ROOT_DEFAULTS = Route(
    receiver=None,
    group_by=(),
    group_wait_ms=30 * SECOND,
    group_interval_ms=5 * MINUTE,
    repeat_interval_ms=4 * HOUR,
    send_resolved=True,
)
"""Alertmanager's defaults: group_wait 30s, group_interval 5m, repeat_interval 4h."""


def route_alert(route: Route, labels: Mapping[str, str]) -> list[Route]:
    """The routes (with inherited values filled in) an alert with these labels goes to."""
    return [r for r, _ in routes_for(_inherit(ROOT_DEFAULTS, route), labels, "0")]


def _inherit(parent: Route, child: Route) -> Route:
    return replace(
        child,
        receiver=child.receiver if child.receiver is not None else parent.receiver,
        group_by=child.group_by if child.group_by is not None else parent.group_by,
        group_wait_ms=_or(child.group_wait_ms, parent.group_wait_ms),
        group_interval_ms=_or(child.group_interval_ms, parent.group_interval_ms),
        repeat_interval_ms=_or(child.repeat_interval_ms, parent.repeat_interval_ms),
        send_resolved=parent.send_resolved if child.send_resolved is None else child.send_resolved,
    )


def _or(value: int | None, default: int | None) -> int | None:
    return value if value is not None else default


def routes_for(route: Route, labels: Mapping[str, str], path: str) -> list[tuple[Route, str]]:
    """The matching routes under `route` (its values inherited) with their paths (`0.1.0`)."""
    found: list[tuple[Route, str]] = []
    for i, child in enumerate(route.routes):
        if not matches_all(child.matchers, labels):
            continue
        found.extend(routes_for(_inherit(route, child), labels, f"{path}.{i}"))
        if not child.continue_:
            break
    return found or [(route, path)]


def group_key(path: str, group_labels: Mapping[str, str]) -> str:
    """`0.1:{endpoint="prod",severity="page"}`: the route's path and the group's labels."""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(group_labels.items()))
    return f"{path}:{{{inner}}}"


def group_labels(route: Route, labels: Mapping[str, str]) -> dict[str, str]:
    """The alert's labels named in the route's `group_by` (all of them for `...`)."""
    by = route.group_by or ()
    if ALL_LABELS in by:
        return dict(labels)
    return {name: labels[name] for name in by if name in labels}


def route_of_group(root: Route, key: str) -> Route:
    """The route (inherited values filled in) whose group has this key."""
    path = key.split(":", 1)[0].split(".")[1:]
    route = _inherit(ROOT_DEFAULTS, root)
    for index in path:
        children = route.routes
        position = int(index)
        if position >= len(children):
            return route  # the tree changed under a stored group: use the nearest route
        route = _inherit(route, children[position])
    return route
