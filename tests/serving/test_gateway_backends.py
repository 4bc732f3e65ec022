"""The one gateway on its other runners: `--workers 2` (two processes on one port, each a
gateway of its own to the hub) and `--backend ray` (the same ASGI app in Ray Serve replicas on a
local Ray), each following a policy change without a failed request."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_world import GatewayProcess, Load, register_models, wait_until
from processes import free_port

from tandem.core.config import Settings
from tandem.sdk.client import Client
from tandem.server import embedded

pytestmark = pytest.mark.slow

V1, V2 = "churn-lr@1", "churn-lr@2"


@pytest.fixture
def hub(settings: Settings):
    client = Client(settings=settings)
    register_models(client)
    client.deployments.create("prod", "churn")
    client.deployments.deploy("prod", V1, "churn")
    yield client
    embedded.close_all()


def follow_a_policy_change(hub: Client, url: str, *, reconnect: bool = False) -> Load:
    with Load(url, reconnect=reconnect) as load:
        wait_until(lambda: len(load.answers) > 50, "answers from the first version")
        hub.deployments.deploy("prod", V2, "churn", message="replace")
        # every worker or replica has switched once 100 answers in a row come from V2
        wait_until(
            lambda: len(load.answers) > 100 and {a.version for a in load.answers[-100:]} == {V2},
            "the new version serving everywhere",
        )
    return load


def test_two_workers_share_one_port(hub: Client, env, tmp_path: Path):
    served = GatewayProcess(
        tmp_path, env, free_port(), "prod", "-p", "churn", "--poll", "0.2", "--workers", "2"
    ).start()
    try:
        # a connection per request: both workers answer, and neither listened before it served
        load = follow_a_policy_change(hub, served.url, reconnect=True)
        assert load.failed() == []
        assert served.stop() == 0
    finally:
        served.close()
    assert served.output().count("serving policy 3") == 2  # each worker followed the change


@pytest.mark.xdist_group("ray")  # one local Ray cluster at a time on the machine
def test_the_ray_backend_serves_the_same_gateway(hub: Client, env, tmp_path: Path):
    local = {k: v for k, v in env.items() if k != "RAY_ADDRESS"}  # a local Ray, not a cluster
    # The machine the suite shares may be busy for minutes: Ray Serve's proxy must not be
    # declared unhealthy (and restarted) for answering its checks late.
    local.update(
        RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S="60", RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S="60"
    )
    served = GatewayProcess(
        tmp_path, local, free_port(), "prod", "-p", "churn", "--poll", "0.2", "--backend", "ray"
    )
    served.start(ready=False)
    try:
        served.wait_ready(timeout=300)  # Ray takes tens of seconds to start on a busy machine
        load = follow_a_policy_change(hub, served.url)
        assert load.failed() == []
        assert load.versions() == {V1, V2}
        assert served.stop() == 0
    finally:
        served.close()
