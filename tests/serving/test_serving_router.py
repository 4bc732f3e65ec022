"""The routing table: the observed split of 10,000 requests is within one point of the set
weights, a sticky key always reaches the same version, raising a canary's weight only moves keys
to the canary, and a table is built whole or not at all."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tandem.deployments.models import Policy, PolicyRoute, Role
from tandem.errors import InvalidInput
from tandem.serving.predictor import Predictor, build_predictor
from tandem.serving.router import RoutingTable


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    return build_predictor(model, "sklearn", {"inputs": [{"name": "x", "type": "float64"}]})


def _route(deployment: str, role: Role, weight: float, *, mirror: float = 0.0) -> PolicyRoute:
    return PolicyRoute(
        deployment=deployment, model="churn", version=int(deployment[2:]), role=role,
        weight=weight, mirror=mirror, flavor="sklearn", format="skops", trusted=False,
    )  # fmt: skip


def _table(predictor: Predictor, *routes: PolicyRoute, sticky: str | None = None) -> RoutingTable:
    policy = Policy(
        project="p", endpoint="prod", policy_version=3, production=True, sticky_key=sticky,
        routes=list(routes),
    )  # fmt: skip
    return RoutingTable.build(policy, {r.deployment: predictor for r in routes})


@pytest.mark.parametrize(("canary", "primary"), [(10, 90), (5, 95), (50, 50), (1, 99), (3, 27)])
def test_the_split_of_10000_requests_is_within_one_point(
    predictor: Predictor, canary: float, primary: float
) -> None:
    table = _table(
        predictor, _route("d-1", Role.PRIMARY, primary), _route("d-2", Role.CANARY, canary)
    )
    seen = collections.Counter(table.pick().deployment for _ in range(10_000))  # type: ignore[union-attr]
    share = 100.0 * seen["d-2"] / 10_000
    assert abs(share - 100.0 * canary / (canary + primary)) < 1.0
    assert table.weights() == pytest.approx(
        {
            "churn@2": 100 * canary / (canary + primary),
            "churn@1": 100 * primary / (canary + primary),
        }
    )


def test_a_sticky_key_always_reaches_the_same_version_and_keys_spread_by_weight(
    predictor: Predictor,
) -> None:
    table = _table(predictor, _route("d-1", Role.PRIMARY, 80), _route("d-2", Role.CANARY, 20),
                   sticky="header:X-User")  # fmt: skip
    first = {f"user-{i}": table.pick(f"user-{i}").deployment for i in range(10_000)}  # type: ignore[union-attr]
    again = _table(predictor, _route("d-1", Role.PRIMARY, 80), _route("d-2", Role.CANARY, 20))
    assert all(again.pick(k).deployment == d for k, d in first.items())  # type: ignore[union-attr]
    share = 100.0 * sum(d == "d-2" for d in first.values()) / len(first)
    assert abs(share - 20.0) < 1.5  # a hash spreads 10,000 keys close to the weights


def test_raising_the_canary_only_moves_keys_to_the_canary(predictor: Predictor) -> None:
    keys = [f"k{i}" for i in range(5_000)]
    before = _table(predictor, _route("d-1", Role.PRIMARY, 95), _route("d-2", Role.CANARY, 5))
    after = _table(predictor, _route("d-1", Role.PRIMARY, 75), _route("d-2", Role.CANARY, 25))
    for key in keys:
        if before.pick(key).deployment == "d-2":  # type: ignore[union-attr]
            assert after.pick(key).deployment == "d-2"  # type: ignore[union-attr]


def test_preview_shadow_and_standby_take_no_regular_traffic(predictor: Predictor) -> None:
    table = _table(
        predictor,
        _route("d-1", Role.PRIMARY, 100),
        _route("d-2", Role.PREVIEW, 0),
        _route("d-3", Role.SHADOW, 0, mirror=25),
        _route("d-4", Role.STANDBY, 0),
    )
    assert {table.pick().deployment for _ in range(200)} == {"d-1"}  # type: ignore[union-attr]
    assert table.preview is not None and table.preview.deployment == "d-2"
    mirrored = sum(bool(table.mirrors()) for _ in range(1_000))
    assert mirrored == pytest.approx(250, abs=10)


def test_an_empty_table_is_not_ready_and_a_missing_model_is_named(predictor: Predictor) -> None:
    empty = RoutingTable.empty("prod")
    assert not empty.ready and empty.pick() is None and empty.policy_version == -1
    routes = [_route("d-1", Role.PRIMARY, 100), _route("d-2", Role.CANARY, 0)]
    policy = Policy(project="p", endpoint="prod", policy_version=1, production=False, routes=routes)
    with pytest.raises(InvalidInput, match="no loaded model for deployment"):
        RoutingTable.build(policy, {"d-1": predictor})
