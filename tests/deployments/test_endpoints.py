"""Endpoints and releases through the SDK, embedded and against a live server on loopback: real
scikit-learn versions, the policy a gateway polls (ETag, 304), the windows it reports, and bad
input that changes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from deploy_world import MODEL, register_models, report, window
from sklearn.linear_model import LogisticRegression

from tandem.core.clock import now_ms
from tandem.deployments.models import EventKind, Role, RolloutStatus, ShadowFigures
from tandem.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from tandem.sdk.client import Client


@pytest.fixture
def churn(client: Client) -> Client:
    register_models(client)
    return client


def test_create_get_list_update(churn: Client) -> None:
    made = churn.deployments.create(
        "staging", project="churn", description="for QA", sticky_key="header:X-User"
    )
    assert (made.project, made.name, made.production, made.policy_version) == (
        "churn", "staging", False, 1,
    )  # fmt: skip
    assert made.deployments == [] and made.rollout is None and made.rollback_target is None
    churn.deployments.create("prod", project="churn", production=True)
    assert [e.name for e in churn.deployments.list("churn")] == ["prod", "staging"]
    got = churn.deployments.get("staging", "churn")
    assert got.sticky_key == "header:X-User" and got.description == "for QA"
    changed = churn.deployments.update("staging", "churn", sampling=0.25, sticky_key="")
    assert changed.sampling == 0.25 and changed.sticky_key is None
    assert changed.policy_version == 2
    history = churn.deployments.history("staging", "churn").items
    assert [e.kind for e in history] == [EventKind.SETTINGS, EventKind.CREATED]
    assert history[0].evidence["settings"] == {"sampling": 0.25, "sticky_key": None}

    with pytest.raises(AlreadyExists, match="exists"):
        churn.deployments.create("staging", project="churn")
    with pytest.raises(InvalidInput, match="invalid endpoint name"):
        churn.deployments.create("Bad Name", project="churn")
    with pytest.raises(InvalidInput, match="sticky key"):
        churn.deployments.create("other", project="churn", sticky_key="cookie:x")
    with pytest.raises(NotFound, match="endpoint 'ghost' does not exist"):
        churn.deployments.get("ghost", "churn")
    assert [e.name for e in churn.deployments.list("churn")] == ["prod", "staging"]


def test_replace_then_policy_with_etag(churn: Client) -> None:
    churn.deployments.create("staging", project="churn")
    first = churn.deployments.deploy("staging", f"{MODEL}@1", "churn", message="first")
    assert [(d.model, d.version, d.role, d.weight) for d in first.deployments] == [
        (MODEL, 1, Role.PRIMARY, 100.0)
    ]
    assert first.rollout is not None and first.rollout.status is RolloutStatus.COMPLETED
    policy = churn.deployments.policy("staging", "churn")
    assert policy is not None and policy.policy_version == first.policy_version
    (route,) = policy.routes
    assert (route.model, route.version, route.weight, route.flavor, route.format) == (
        MODEL, 1, 100.0, "sklearn", "skops",
    )  # fmt: skip
    assert route.trusted is False and route.signature is not None
    assert {f["path"] for f in route.files} == {"model.skops", "tandem-model.json"}
    # unchanged: 304, nothing to parse
    assert churn.deployments.policy("staging", "churn", etag=policy.policy_version) is None
    assert churn.deployments.policy("staging", "churn", etag=policy.policy_version - 1)

    second = churn.deployments.deploy("staging", f"{MODEL}@2", "churn")
    assert [(d.version, d.weight) for d in second.deployments] == [(2, 100.0)]
    assert second.rollback_target is not None and second.rollback_target.version == 1
    assert second.policy_version == first.policy_version + 1
    newer = churn.deployments.policy("staging", "churn", etag=policy.policy_version)
    assert newer is not None and [r.version for r in newer.routes] == [2]

    events = churn.deployments.history("staging", "churn").items
    assert [e.kind for e in events] == [EventKind.DEPLOYED, EventKind.DEPLOYED, EventKind.CREATED]
    assert events[0].before == {f"{MODEL}@1": 100.0} and events[0].after == {f"{MODEL}@2": 100.0}
    assert events[1].message == "first" and events[0].evidence["strategy"] == "replace"
    assert events[0].actor_kind == "person"

    with pytest.raises(Conflict, match="already serves"):
        churn.deployments.deploy("staging", f"{MODEL}@2", "churn")
    with pytest.raises(NotFound):
        churn.deployments.deploy("staging", f"{MODEL}@9", "churn")
    assert churn.deployments.get("staging", "churn").policy_version == second.policy_version


def test_reported_windows_are_stored_once(churn: Client) -> None:
    churn.deployments.create("staging", project="churn")
    endpoint = churn.deployments.deploy("staging", f"{MODEL}@1", "churn")
    deployment = endpoint.deployments[0].id
    start = now_ms() - 60_000
    windows = [window(deployment, start + i * 1000, requests=100, errors=i, latency_ms=3)
               for i in range(3)]  # fmt: skip
    ack = churn.deployments.report("staging", report(endpoint.policy_version, *windows), "churn")
    assert ack.policy_version == endpoint.policy_version and ack.analysis is None
    # a retried report (the gateway did not hear the answer) counts once
    churn.deployments.report("staging", report(endpoint.policy_version, *windows), "churn")
    # another gateway's figures for the same seconds add up
    churn.deployments.report(
        "staging", report(endpoint.policy_version, windows[0], gateway="gw-2"), "churn"
    )
    points = churn.deployments.windows("staging", "churn", since=start, bucket_s=60)
    assert sum(p.requests for p in points) == 400
    assert sum(p.errors for p in points) == 0 + 1 + 2 + 0
    assert {p.label for p in points} == {f"{MODEL}@1"}
    assert all(p.p50_ms is not None and 2 < p.p50_ms <= 3 for p in points)


def test_windows_carry_a_shadow_deployments_comparison(churn: Client) -> None:
    churn.deployments.create("staging", project="churn")
    churn.deployments.deploy("staging", f"{MODEL}@1", "churn")
    endpoint = churn.deployments.deploy("staging", f"{MODEL}@2", "churn", strategy="shadow")
    shadow = next(d.id for d in endpoint.deployments if d.role is Role.SHADOW)
    start = now_ms() // 60_000 * 60_000 - 60_000  # both windows in one 60 s bucket
    figures = ShadowFigures(compared=50, agreed=45, abs_diff_sum=2.5, errors=2,
                            latency_ms_sum=100.0)  # fmt: skip
    churn.deployments.report("staging", report(endpoint.policy_version, *[
        window(shadow, start + i * 1000, requests=0, shadow=figures) for i in range(2)
    ]), "churn")  # fmt: skip
    [point] = churn.deployments.windows("staging", "churn", since=start, bucket_s=60)
    assert point.label == f"{MODEL}@2" and point.shadow is not None
    assert (point.shadow.compared, point.shadow.agreed, point.shadow.errors) == (100, 90, 4)
    assert point.shadow.abs_diff_sum == 5.0 and point.shadow.latency_ms_sum == 200.0


def test_bad_reports_change_nothing(churn: Client) -> None:
    churn.deployments.create("staging", project="churn")
    endpoint = churn.deployments.deploy("staging", f"{MODEL}@1", "churn")
    deployment = endpoint.deployments[0].id
    start = now_ms()
    good = window(deployment, start, requests=10)
    with pytest.raises(InvalidInput, match="no deployment 'd-ghost'"):
        churn.deployments.report(
            "staging", report(1, good, window("d-ghost", start, requests=1)), "churn"
        )
    short = good.model_copy(update={"latency_counts": [1, 2, 3]})
    with pytest.raises(InvalidInput, match="latency counts"):
        churn.deployments.report("staging", report(1, short), "churn")
    with pytest.raises(InvalidInput, match="more errors"):
        churn.deployments.report("staging", report(1, window(deployment, start, requests=1,
                                                             errors=2)), "churn")  # fmt: skip
    backwards = good.model_copy(update={"end": start - 1})
    with pytest.raises(InvalidInput, match="before it starts"):
        churn.deployments.report("staging", report(1, backwards), "churn")
    assert churn.deployments.windows("staging", "churn", since=start - 1000) == []


def test_the_policy_masks_the_training_data_personal_columns(churn: Client, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    ages = rng.integers(18, 90, size=200)
    rows = ["age,email,churned"] + [
        f"{age},customer{i}@example.com,{int(age > 50)}" for i, age in enumerate(ages)
    ]
    source = tmp_path / "customers.csv"
    source.write_text("\n".join(rows) + "\n")
    churn.data.add("customers", source, project="churn")
    model = LogisticRegression().fit(ages.reshape(-1, 1), (ages > 50).astype(int))
    with churn.start_run(project="churn") as run:
        run.use_dataset("customers@v1", role="train")
        run.log_model(model, "by-age", example=ages[:3].reshape(-1, 1))
    churn.deployments.create("staging", project="churn")
    churn.deployments.deploy("staging", "by-age@1", "churn")
    policy = churn.deployments.policy("staging", "churn")
    assert policy is not None and policy.masked_columns == ["email"]
    churn.deployments.update("staging", "churn", log_personal=True)
    allowed = churn.deployments.policy("staging", "churn")
    assert allowed is not None and allowed.masked_columns == []


def test_gc_purges_a_deleted_project_with_its_endpoints(churn: Client) -> None:
    churn.deployments.create("staging", project="churn")
    endpoint = churn.deployments.deploy("staging", f"{MODEL}@1", "churn")
    figures = window(endpoint.deployments[0].id, now_ms() - 3_600_000, requests=10)
    churn.deployments.report("staging", report(endpoint.policy_version, figures), "churn")
    churn.projects.delete("churn")
    assert churn.gc(grace_seconds=0).projects_purged == ["churn"]
    churn.projects.create("churn")  # the name is free again, and holds nothing
    assert churn.deployments.list("churn") == []


def test_gc_drops_figures_past_their_retention_and_keeps_the_history(churn: Client) -> None:
    churn.deployments.create("staging", project="churn")
    endpoint = churn.deployments.deploy("staging", f"{MODEL}@1", "churn")
    deployment = endpoint.deployments[0].id
    old = now_ms() - 40 * 86_400_000  # older than the 30 days kept
    recent = now_ms() - 60_000
    figures = [window(deployment, old, requests=7), window(deployment, recent, requests=3)]
    churn.deployments.report("staging", report(endpoint.policy_version, *figures), "churn")
    churn.gc(grace_seconds=0)
    points = churn.deployments.windows("staging", "churn", since=old - 1, bucket_s=86_400)
    assert [p.requests for p in points] == [3]
    assert len(churn.deployments.history("staging", "churn").items) == 2
