"""`tandem serve` as a real process against a real hub (the embedded workspace, or `tandem
server` on loopback), under real HTTP load: a policy change fails no request; a gateway killed
with SIGKILL mid-rollout comes back to the recorded policy with what it shipped kept; a killed
hub does not stop the gateway serving, nor a restart while it is down (the gateway kept its
policy and model files); a version that fails to load leaves the old one serving and fails its
rollout with the cause."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_world import GatewayProcess, Load, predict, register_models, wait_until
from processes import Processes, free_port

from tandem.core.config import Settings
from tandem.deployments.models import EventKind, RolloutStatus
from tandem.sdk.client import Client
from tandem.server import embedded

pytestmark = pytest.mark.slow

V1, V2 = "churn-lr@1", "churn-lr@2"


@pytest.fixture
def hub(settings: Settings):
    """The SDK on the test's workspace, with project churn and two versions of churn-lr."""
    client = Client(settings=settings)
    register_models(client)
    yield client
    embedded.close_all()


def gateway(tmp_path: Path, env: dict[str, str], *args: str) -> GatewayProcess:
    return GatewayProcess(tmp_path, env, free_port(), "prod", "-p", "churn", "--poll", "0.2", *args)


def total_requests(client: Client) -> int:
    points = client.deployments.windows("prod", "churn", bucket_s=3600)
    return sum(point.requests for point in points)


def test_a_policy_change_under_load_fails_no_request(hub: Client, env, tmp_path: Path):
    hub.deployments.create("prod", "churn")
    hub.deployments.deploy("prod", V1, "churn")
    served = gateway(tmp_path, env).start()
    try:
        with Load(served.url) as load:
            wait_until(lambda: len(load.answers) > 200, "answers from the first version")
            hub.deployments.deploy("prod", V2, "churn", message="replace under load")
            wait_until(lambda: load.answers[-1].version == V2, "the new version serving")
            seen = len(load.answers)
            wait_until(lambda: len(load.answers) > seen + 200, "answers from the new version")
        assert load.failed() == []
        versions = [answer.version for answer in load.answers]
        switch = versions.index(V2)
        assert set(versions[:switch]) == {V1} and set(versions[switch:]) == {V2}  # one switch
        assert served.stop() == 0  # a clean stop: the last report and the log shipped first
        # every answer was counted in the stats and logged, none twice
        assert total_requests(hub) == len(load.answers)
        segments = hub.predictions.segments("prod", "churn")
        assert sum(segment.rows for segment in segments) == len(load.answers)
        last = load.answers[-1]
        assert last.request_id is not None
        logged = hub.predictions.get("prod", last.request_id, "churn")
        assert (logged.model, logged.version, logged.status) == ("churn-lr", 2, 200)
    finally:
        served.close()


def test_a_gateway_killed_mid_rollout_comes_back_to_the_recorded_policy(
    hub: Client, env, tmp_path: Path
):
    hub.deployments.create("prod", "churn")
    hub.deployments.deploy("prod", V1, "churn")
    hub.deployments.deploy(
        "prod", V2, "churn", strategy="canary", steps=[50, 100], interval_s=3600, min_samples=10**6
    )
    recorded = hub.deployments.get("prod", "churn")
    served = gateway(tmp_path, env).start()
    try:
        with Load(served.url) as load:
            wait_until(lambda: load.versions() >= {V1, V2}, "both versions answering")
            first = load.answers[0].request_id
            assert first is not None
            wait_until(lambda: hub.predictions.get("prod", first, "churn"), "a shipped batch")
            shipped = sum(s.rows for s in hub.predictions.segments("prod", "churn"))
            served.kill()
        assert load.failed() == [] or all(a.status == 0 for a in load.failed())  # only the kill
        served.start()  # the same port
        with Load(served.url, prefix="after") as again:
            wait_until(lambda: again.versions() >= {V1, V2}, "both versions answering again")
        assert again.failed() == []
        endpoint = hub.deployments.get("prod", "churn")
        assert endpoint.policy_version == recorded.policy_version  # nothing changed the policy
        assert endpoint.rollout is not None and endpoint.rollout.status == RolloutStatus.RUNNING
        # what was shipped before the kill is kept
        assert hub.predictions.get("prod", first, "churn").version in (1, 2)
        assert served.stop() == 0
        rows = sum(s.rows for s in hub.predictions.segments("prod", "churn"))
        assert rows >= shipped + len(again.answers)
    finally:
        served.close()


def test_the_gateway_keeps_serving_while_the_hub_is_down(
    settings: Settings, processes: Processes, env, tmp_path: Path
):
    server = processes.server()
    hub = Client(server.url, settings=settings)
    register_models(hub)
    hub.deployments.create("prod", "churn")
    hub.deployments.deploy("prod", V1, "churn")
    served = gateway(tmp_path, {**env, "TANDEM_URL": server.url}).start()
    try:
        with Load(served.url, prefix="down") as load:
            wait_until(lambda: len(load.answers) > 100, "answers with the hub up")
            server.kill()
            killed_at = len(load.answers)
            wait_until(lambda: len(load.answers) > killed_at + 500, "answers with the hub down")
            during = load.answers[killed_at + 250].request_id
            server.start()  # the same port
            hub.deployments.deploy("prod", V2, "churn", message="while the gateway retried")
            wait_until(lambda: load.answers[-1].version == V2, "the new policy after the outage")
        assert load.failed() == []
        assert during is not None
        # predictions answered while the hub was down reach it once it is back
        logged = wait_until(lambda: hub.predictions.get("prod", during, "churn"), "shipped late")
        assert logged.version == 1
        assert "retrying" in served.output()
        assert served.stop() == 0
    finally:
        served.close()
        hub.close()


def test_a_gateway_restarted_while_the_hub_is_down_serves_the_policy_it_kept(
    settings: Settings, processes: Processes, env, tmp_path: Path
):
    server = processes.server()
    hub = Client(server.url, settings=settings)
    register_models(hub)
    hub.deployments.create("prod", "churn")
    hub.deployments.deploy("prod", V1, "churn")
    served = gateway(tmp_path, {**env, "TANDEM_URL": server.url}).start()
    try:
        assert predict(served.url).status_code == 200
        server.kill()
        served.kill()
        served.start()  # no hub: the policy and model files it kept
        assert "the hub is unreachable: serving policy" in served.output()
        with Load(served.url, prefix="kept") as load:
            wait_until(lambda: len(load.answers) > 200, "answers with no hub")
            offline = load.answers[100].request_id
            server.start()
            wait_until(lambda: hub.predictions.get("prod", offline, "churn"), "shipped late")
            hub.deployments.deploy("prod", V2, "churn", message="the hub is back")
            wait_until(lambda: load.answers[-1].version == V2, "the new policy")
        assert load.failed() == []
        assert served.stop() == 0
    finally:
        served.close()
        hub.close()


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(hub: Client, env, tmp_path):
    hub.deployments.create("prod", "churn")
    hub.deployments.deploy("prod", V1, "churn")
    with hub.start_run("churn") as run:  # a model whose code the gateway cannot import
        broken = run.log_model(Unimportable(), "churn-lr", trusted=True)
    served = gateway(tmp_path, env).start()
    try:
        with Load(served.url) as load:
            wait_until(lambda: len(load.answers) > 100, "answers from the first version")
            hub.deployments.deploy(
                "prod", f"churn-lr@{broken.version}", "churn", strategy="canary", steps=[50, 100],
                interval_s=3600, trusted=True, message="a version that cannot load",
            )  # fmt: skip
            rollout = wait_until(
                lambda: (
                    (r := hub.deployments.get("prod", "churn").rollout)
                    and r.status == RolloutStatus.FAILED
                    and r
                ),
                "the rollout failed by the gateway's report",
            )
            seen = len(load.answers)
            wait_until(lambda: len(load.answers) > seen + 100, "answers after the failure")
        assert load.failed() == []
        assert load.versions() == {V1}
        assert "No module named 'test_gateway_process'" in rollout.reason  # the gateway's cause
        events = hub.deployments.history("prod", "churn").items
        failed = [event for event in events if event.kind == EventKind.FAILED]
        assert len(failed) == 1
        assert failed[0].after == {V1: 100.0}
        assert predict(served.url).headers["x-tandem-version"] == V1
    finally:
        served.close()


class Unimportable:
    """A trusted Python model pickled by reference to this test module, which the gateway's
    process cannot import: its load fails as a version whose code is missing would."""

    def predict(self, frame):  # pragma: no cover - never loaded
        return [0] * len(frame)


def test_sampling_logs_a_share_and_counts_every_request(hub: Client, env, tmp_path: Path):
    hub.deployments.create("prod", "churn", sampling=0.0)
    hub.deployments.deploy("prod", V1, "churn")
    served = gateway(tmp_path, env).start()
    try:
        for i in range(50):
            assert predict(served.url, f"unlogged-{i}").status_code == 200
        hub.deployments.update("prod", "churn", sampling=1.0)  # a new policy version
        wait_until(lambda: served.output().count("serving policy") == 2, "the new policy")
        for i in range(30):
            assert predict(served.url, f"logged-{i}").status_code == 200
        assert served.stop() == 0
    finally:
        served.close()
    assert total_requests(hub) == 80  # every request counted, logged or not
    logged = hub.predictions.read("prod", "churn")
    assert sorted(logged["request_id"].to_pylist()) == sorted(f"logged-{i}" for i in range(30))
