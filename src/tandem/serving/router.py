"""The routing table: which loaded deployment answers a request.

A `RoutingTable` is built once per policy version and never changed: the gateway swaps the
whole table (one reference assignment), so a request sees one consistent policy from start to
end and a policy change fails no request. `pick(key)` chooses among the deployments that take
traffic (primary and canary) by weight: with a sticky key (a header or field named by
`Policy.sticky_key`) by a stable hash of the key, so the same key always reaches the same
version while the weights hold; without one, by a low-discrepancy sequence (a golden-ratio
Weyl sequence from a random start), so the observed split is within a fraction of a point of
the weights even over a few hundred requests. Canary routes come first on the unit interval,
so raising a canary's weight only moves keys from the primary to the canary, never back.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass

from tandem.deployments.models import Policy, PolicyRoute, Role
from tandem.errors import InvalidInput
from tandem.serving.predictor import Predictor

_GOLDEN = 0.6180339887498949
_SERVING = (Role.CANARY, Role.PRIMARY)  # the order routes take on the unit interval


@dataclass(frozen=True, slots=True)
class Route:
    """A deployment with its loaded predictor."""

    deployment: str
    model: str
    version: int
    role: Role
    weight: float
    mirror: float
    predictor: Predictor
    max_rows: int
    label: str = ""  # `model@version`, as headers, metrics and the history name it

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", f"{self.model}@{self.version}")


class _Spread:
    """A stream of numbers in [0, 1) that fills the interval evenly (Weyl sequence)."""

    __slots__ = ("_at",)

    def __init__(self) -> None:
        self._at = random.random()

    def next(self) -> float:
        self._at = (self._at + _GOLDEN) % 1.0
        return self._at


def sticky_point(key: str) -> float:
    """A stable point in [0, 1) for `key`: the same on every gateway and every restart."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class RoutingTable:
    """One policy version's routes, immutable once built (`build`, or `empty` before the
    first policy arrives)."""

    __slots__ = (
        "_bounds", "_mirror_spread", "_serving", "_spread", "_total", "endpoint",
        "policy_version", "preview", "routes", "shadows", "sticky_field", "sticky_header",
        "sticky_key",
    )  # fmt: skip

    def __init__(
        self,
        endpoint: str,
        policy_version: int,
        routes: list[Route],
        sticky_key: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.policy_version = policy_version
        self.routes: tuple[Route, ...] = tuple(routes)
        self.sticky_key = sticky_key
        # `header:X-User` or `field:customer_id`, split once for the request path
        kind, _, name = (sticky_key or "").partition(":")
        self.sticky_header: bytes | None = (
            name.strip().lower().encode("latin-1") if kind == "header" and name.strip() else None
        )
        self.sticky_field: str | None = name.strip() if kind == "field" and name.strip() else None
        serving = [r for role in _SERVING for r in routes if r.role == role and r.weight > 0]
        self._serving: tuple[Route, ...] = tuple(serving)
        bounds, total = [], 0.0
        for route in serving:
            total += route.weight
            bounds.append(total)
        self._bounds = bounds
        self._total = total
        previews = [r for r in routes if r.role == Role.PREVIEW]
        self.preview: Route | None = previews[0] if previews else None
        self.shadows: tuple[Route, ...] = tuple(
            r for r in routes if r.role == Role.SHADOW and r.mirror > 0
        )
        self._spread = _Spread()
        self._mirror_spread = _Spread()

    @classmethod
    def empty(cls, endpoint: str) -> RoutingTable:
        """No policy yet: every prediction is answered 503 until the first swap."""
        return cls(endpoint, -1, [])

    @classmethod
    def build(cls, policy: Policy, predictors: Mapping[str, Predictor]) -> RoutingTable:
        """The table for `policy`, with the predictor loaded for each route's deployment id.
        A route without a predictor is an error naming it (the control plane reports it as a
        load failure and keeps the old table)."""
        missing = [r.deployment for r in policy.routes if r.deployment not in predictors]
        if missing:
            raise InvalidInput(f"no loaded model for deployment(s) {', '.join(missing)}")
        return cls(
            policy.endpoint,
            policy.policy_version,
            [_route(r, predictors[r.deployment]) for r in policy.routes],
            policy.sticky_key,
        )

    @property
    def ready(self) -> bool:
        """Some deployment takes traffic."""
        return bool(self._serving)

    @property
    def serving(self) -> tuple[Route, ...]:
        return self._serving

    def pick(self, key: str | None = None) -> Route | None:
        """The route that answers a request with sticky `key` (None: by weight alone); None
        when no deployment takes traffic."""
        serving = self._serving
        if len(serving) <= 1:
            return serving[0] if serving else None
        point = sticky_point(key) if key is not None else self._spread.next()
        index = bisect_right(self._bounds, point * self._total)
        return serving[min(index, len(serving) - 1)]

    def mirrors(self) -> list[Route]:
        """The shadow routes that get a copy of this request (each at its mirror percent)."""
        if not self.shadows:
            return []
        point = self._mirror_spread.next() * 100.0
        return [route for route in self.shadows if point < route.mirror]

    def weights(self) -> dict[str, float]:
        """`model@version` -> share of traffic in percent, as the table routes it."""
        total = self._total or 1.0
        return {r.label: 100.0 * r.weight / total for r in self._serving}


def _route(route: PolicyRoute, predictor: Predictor) -> Route:
    return Route(
        deployment=route.deployment,
        model=route.model,
        version=route.version,
        role=route.role,
        weight=route.weight,
        mirror=route.mirror,
        predictor=predictor,
        max_rows=route.max_rows,
    )
