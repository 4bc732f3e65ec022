"""tandem's side of the serving benchmark (serving_bench.py calls `run_all`).

Two set-ups, both on the same model file and body as the peers:

- **data plane**: `dataplane_server.py`, the gateway's ASGI app, routing table, predictors and
  recorder on uvicorn with `tandem serve`'s settings, over a policy given as JSON (no hub).
- **end to end**: a hub (`tandem server` on loopback, on the load core: it only answers the
  gateway's policy polls, stats reports and prediction-log batches) and `tandem serve` (the
  gateway process, on the server core) fetching the policy and the model files through the
  SDK, reporting windows every second and shipping the prediction log. Releases, promotions and
  rollbacks go through the SDK (`client.deployments`), as the CLI does. Runs when this tree has
  the hub side (`tandem.deployments.service`).

Scenarios: a single deployment, a 90/10 canary with prediction logging, a 100% shadow (wrk,
closed loop); the observed split over 10,000 requests; a sticky key (1,000 keys x 5 requests);
and end to end also: zero failed requests at 200 req/s (open loop) during a promote, a rollback
and a blue-green switch; canaries with 20% errors and +200 ms reaching 0% by analysis.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import peers
import tandem_model
from loadgen import LOAD_CORE, count_header, open_loop, wrk

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import TandemServer, free_port, stop_process_group

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
Record = Callable[..., None]
CLOSED = "one-row predict, 1 client, closed loop"
DATA_PLANE = "tandem (data plane, no hub)"
END_TO_END = "tandem"


def _version() -> str:
    import tandem

    return str(tandem.__version__)


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for name in ("TANDEM_URL", "TANDEM_HOME", "TANDEM_PROJECT", "TANDEM_TOKEN"):
        env.pop(name, None)
    return env


def closed_loop(
    record: Record, tool: str, variant: str, url: str, body: str, seconds: int, **extra: Any
) -> dict[str, Any]:
    load_before = Path("/proc/loadavg").read_text().split()[0]
    stats = wrk(url, body, seconds=seconds)
    record(
        CLOSED,
        tool,
        _version(),
        stats["rps"],
        "req/s",
        "higher",
        variant,
        p50_ms=stats.get("p50_ms"),
        p90_ms=stats.get("p90_ms"),
        p99_ms=stats.get("p99_ms"),
        requests=stats["requests"],
        failed=stats["non2xx"] + stats["socket_errors"],
        seconds=seconds,
        load_before=load_before,
        **extra,
    )
    return stats


def split_and_sticky(
    record: Record,
    tool: str,
    port: int,
    body: str,
    *,
    canary_label: str,
    weight: float,
    sticky: bool,
) -> None:
    """Observed split over 10,000 requests (or, with a sticky key, 1,000 keys x 5 requests each
    must each see one version)."""
    if not sticky:
        seen, _, failed = count_header(
            "127.0.0.1", port, "/invocations", body, 10_000, "x-tandem-version"
        )
        share = 100.0 * seen.get(canary_label, 0) / max(1, sum(seen.values()))
        record(
            "observed split over 10,000 requests",
            tool,
            _version(),
            abs(share - weight),
            "points off",
            "lower",
            f"{100 - weight:g}/{weight:g} canary",
            observed=share,
            set=weight,
            versions=dict(seen),
            failed=failed,
            goal=1.0,
        )
        return
    keys, rounds = 1000, 5
    seen, order, failed = count_header(
        "127.0.0.1",
        port,
        "/invocations",
        body,
        keys * rounds,
        "x-tandem-version",
        request_headers=lambda i: {"X-User": f"user-{i % keys}"},
    )
    per_key: dict[int, set[str]] = collections.defaultdict(set)
    for i, label in enumerate(order):
        per_key[i % keys].add(label)
    switched = sum(1 for labels in per_key.values() if len(labels) > 1)
    on_canary = sum(1 for labels in per_key.values() if labels == {canary_label})
    record(
        "sticky key: keys that reached more than one version",
        tool,
        _version(),
        switched,
        "keys",
        "lower",
        f"header X-User, {keys} keys x {rounds}, {100 - weight:g}/{weight:g}",
        keys_on_canary=on_canary,
        versions=dict(seen),
        failed=failed,
        goal=0,
    )


def gateway_health(port: int) -> dict[str, Any]:
    """The gateway's /health: policy version, weights, shadow copies dropped."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


# -- the data plane alone -------------------------------------------------------------------------


@contextlib.contextmanager
def data_plane(
    model: Path, workdir: Path, body: str, expected: dict[str, Any], name: str, spec: dict[str, Any]
) -> Iterator[peers.Server]:
    policy = workdir / f"policy-{name}.json"
    policy.write_text(json.dumps(spec))
    port = free_port()
    cmd = [
        sys.executable,
        str(HERE / "dataplane_server.py"),
        "--model",
        str(model),
        "--policy",
        str(policy),
        "--port",
        str(port),
    ]
    with peers.started(f"dataplane-{name}", cmd, "/invocations", port, workdir, body, _env()) as (
        server,
        answer,
    ):
        if peers.predictions(answer) != [expected["prediction"]]:
            raise RuntimeError(f"the gateway answered {answer!r}, expected {expected}")
        yield server


def route(
    deployment: str, version: int, role: str, weight: float, mirror: float = 0.0
) -> dict[str, Any]:
    return {
        "deployment": deployment,
        "model": "lr",
        "version": version,
        "role": role,
        "weight": weight,
        "mirror": mirror,
    }


def run_data_plane(
    model: Path, workdir: Path, body: str, expected: dict[str, Any], seconds: int, record: Record
) -> None:
    single = {"routes": [route("d-1", 1, "primary", 100)]}
    canary = {"routes": [route("d-1", 1, "primary", 90), route("d-2", 2, "canary", 10)]}
    shadow = {"routes": [route("d-1", 1, "primary", 100), route("d-2", 2, "shadow", 0, 100)]}
    with data_plane(model, workdir, body, expected, "single", single) as server:
        closed_loop(record, DATA_PLANE, "single deployment", server.url, body, seconds)
    with data_plane(model, workdir, body, expected, "canary", canary) as server:
        closed_loop(
            record,
            DATA_PLANE,
            "90/10 canary, logging",
            server.url,
            body,
            seconds,
            logging="queued and batched to Arrow, not shipped",
        )
        split_and_sticky(
            record, DATA_PLANE, server.port, body, canary_label="lr@2", weight=10, sticky=False
        )
    with data_plane(model, workdir, body, expected, "shadow", shadow) as server:
        before = gateway_health(server.port)["shadow_dropped"]
        stats = closed_loop(record, DATA_PLANE, "100% shadow", server.url, body, seconds)
        dropped = gateway_health(server.port)["shadow_dropped"] - before
        sent = stats["requests"] + stats["warmup_requests"]
        record(
            "shadow copies dropped during the closed-loop point",
            DATA_PLANE,
            _version(),
            dropped,
            "copies",
            "lower",
            "100% shadow",
            answered=sent,
            mirrored_share=None if not sent else 1 - dropped / sent,
        )
    with data_plane(
        model, workdir, body, expected, "sticky", {**canary, "sticky_key": "header:X-User"}
    ) as s:
        split_and_sticky(
            record, DATA_PLANE, s.port, body, canary_label="lr@2", weight=10, sticky=True
        )


# -- end to end: hub + tandem serve ---------------------------------------------------------------


class World:
    """A hub on loopback with the model registered, one endpoint, and a `tandem serve`."""

    PROJECT, ENDPOINT = "bench", "bench"

    def __init__(self, folder: Path, model: Path, workdir: Path, body: str) -> None:
        self.folder, self.model, self.workdir, self.body = folder, model, workdir, body
        self.hub = TandemServer(workdir / "hub")
        self.hub.env = {**self.hub.env, "PYTHONPATH": str(ROOT / "src")}
        self.hub.cmd = ["taskset", "-c", LOAD_CORE, *self.hub.cmd]
        self.gateway: subprocess.Popen[bytes] | None = None
        self.logging = True  # the endpoint's sampling is 1.0 until single_point turns it off
        self.port = 0
        self.client: Any = None

    def start(self) -> None:
        import cloudpickle
        import faulty_models

        import tandem

        self.hub.start()
        self.client = tandem.Client(self.hub.url, project=self.PROJECT)
        self.client.projects.create(self.PROJECT)
        for _ in range(2):  # lr@1 and lr@2: the same file, so the canary differs by label only
            tandem_model.register(self.client, self.PROJECT, "lr", self.model)
        cloudpickle.register_pickle_by_value(faulty_models)
        run = self.client.runs.create(self.PROJECT)
        example = self._frame()
        for name, model in (("flaky", faulty_models.Flaky()), ("slow", faulty_models.Slow())):
            self.client.models.log(
                run.id, self.PROJECT, model, name, flavor="python", example=example, trusted=True
            )
        self.client.runs.finish(run.id)
        self.client.deployments.create(self.ENDPOINT, self.PROJECT)
        self.client.deployments.deploy(self.ENDPOINT, "lr@1", self.PROJECT, message="baseline")
        self.port = free_port()
        env = {**_env(), "TANDEM_URL": self.hub.url}
        cmd = peers.pinned(
            [
                sys.executable,
                "-m",
                "tandem.cli.main",
                "serve",
                self.ENDPOINT,
                "-p",
                self.PROJECT,
                "--port",
                str(self.port),
                "--poll",
                "1",
                "--cache",
                str(self.workdir / "gateway-cache"),
            ]
        )
        log = self.workdir / "gateway.log"
        with log.open("ab") as out:
            self.gateway = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                cwd=self.workdir,
            )
        server = peers.Server("tandem serve", self.port, "/invocations", self.gateway, log)
        peers.wait_answering(server, self.body)
        self.wait_applied()

    def _frame(self) -> Any:
        import pandas as pd

        split = json.loads(self.body)["dataframe_split"]
        return pd.DataFrame(split["data"], columns=split["columns"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/invocations"

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def wait_applied(self, timeout: float = 60) -> dict[str, Any]:
        """Wait until the gateway serves the hub's current policy version."""
        want = self.client.deployments.get(self.ENDPOINT, self.PROJECT).policy_version
        deadline = time.time() + timeout
        while time.time() < deadline:
            with contextlib.suppress(OSError, ValueError):
                health = self.health()
                if health["policy_version"] >= want:
                    return health
            time.sleep(0.2)
        raise RuntimeError(f"the gateway did not apply policy {want} in {timeout} s")

    def deploy(self, ref: str, **kwargs: Any) -> Any:
        endpoint = self.client.deployments.deploy(self.ENDPOINT, ref, self.PROJECT, **kwargs)
        self.wait_applied()
        return endpoint

    def act(self, what: str, message: str = "benchmark") -> Any:
        endpoint = getattr(self.client.deployments, what)(
            self.ENDPOINT, self.PROJECT, message=message
        )
        self.wait_applied()
        return endpoint

    def logged_rows(self, wait_s: float = 0.0) -> int:
        """Rows of this endpoint's prediction log stored in the hub (-1: the hub has no
        prediction log in this tree); waits `wait_s` for the last batches first."""
        if not hasattr(self.client, "predictions"):
            return -1
        time.sleep(wait_s)
        segments = self.client.predictions.segments(self.ENDPOINT, self.PROJECT)
        return sum(segment.rows for segment in segments)

    def logged_rows_note(self) -> str:
        if not hasattr(self.client, "predictions"):
            return "queued and batched, NOT stored: this tree has no client.predictions"
        return "shipped to the hub"

    def weights(self) -> dict[str, float]:
        endpoint = self.client.deployments.get(self.ENDPOINT, self.PROJECT)
        return {f"{d.model}@{d.version}": d.weight for d in endpoint.deployments}

    def stop(self) -> None:
        if self.gateway is not None:
            stop_process_group(self.gateway, grace=30)
        if self.client is not None:
            self.client.close()
        self.hub.stop()


def zero_failures(
    world: World,
    record: Record,
    what: str,
    prepare: Callable[[], Any],
    action: Callable[[], Any],
    seconds: float = 10,
) -> None:
    """200 req/s for `seconds` (open loop); `action` at the middle; count failed requests."""
    prepare()
    result = open_loop(
        "127.0.0.1",
        world.port,
        "/invocations",
        world.body,
        rate=200,
        seconds=seconds,
        events=[(seconds / 2, action)],
    )
    summary = result.summary()
    first_seen = {}
    for at, label, _, _ in result.timeline:
        first_seen.setdefault(label, at)
    record(
        "failed requests during a traffic change at 200 req/s",
        END_TO_END,
        _version(),
        result.failed,
        "requests",
        "lower",
        what,
        sent=result.sent,
        ok=result.ok,
        late=result.late,
        p50_ms=summary["p50_ms"],
        p99_ms=summary["p99_ms"],
        max_ms=summary["max_ms"],
        versions=summary["versions"],
        first_seen=first_seen,
        failures=summary["failures"],
        client_connections=result.connections,
        action_at_s=seconds / 2,
        goal=0,
    )


def auto_rollback(
    world: World, record: Record, what: str, ref: str, guard: str, interval_s: float = 5.0
) -> None:
    """Deploy `ref` as a 10% canary guarded by `guard` under 200 req/s; time until the hub has
    it at 0% and until the gateway stops answering with it."""
    deployed_at: list[float] = []
    at_zero: list[float] = []
    errors: list[str] = []
    label = ref
    stop = threading.Event()

    def release() -> None:
        try:
            deploy()
        except Exception as exc:  # said in the record: the scenario did not run
            errors.append(f"{type(exc).__name__}: {exc}")

    def deploy() -> None:
        deployed_at.append(time.perf_counter())  # from the release call: the goal's clock
        world.client.deployments.deploy(
            world.ENDPOINT,
            ref,
            world.PROJECT,
            strategy="canary",
            steps=[10, 50, 100],
            interval_s=interval_s,
            guards=[guard],
            min_samples=20,
            trusted=True,
            message=f"benchmark: {what}",
        )
        while not stop.is_set():
            if world.weights().get(label, 0.0) == 0.0:
                at_zero.append(time.perf_counter())
                return
            time.sleep(0.1)

    seconds = 2 + 4 * interval_s
    started = time.perf_counter()
    result = open_loop(
        "127.0.0.1",
        world.port,
        "/invocations",
        world.body,
        rate=200,
        seconds=seconds,
        events=[(2.0, release)],
    )
    stop.set()
    served = [at for at, version, _, _ in result.timeline if version == label]
    # the primary's latency while the candidate served, against before the release
    release_at = (deployed_at[0] - started) if deployed_at else 2.0
    until = max(served) if served else release_at
    during = sorted(
        ms for at, v, ms, _ in result.timeline if v != label and release_at <= at <= until
    )
    before = sorted(ms for at, v, ms, _ in result.timeline if v != label and at < release_at)
    hub_s = at_zero[0] - deployed_at[0] if at_zero and deployed_at else None
    gateway_s = (max(served) - (deployed_at[0] - started)) if served and deployed_at else None
    endpoint = world.client.deployments.get(world.ENDPOINT, world.PROJECT)
    rollout = endpoint.rollout
    record(
        "canary at 0% by analysis",
        END_TO_END,
        _version(),
        hub_s if hub_s is not None else -1,
        "s",
        "lower",
        what,
        interval_s=interval_s,
        intervals=None if hub_s is None else hub_s / interval_s,
        gateway_last_served_s=gateway_s,
        candidate_answers=len(served),
        rollout_status=rollout.status.value if rollout else None,
        reason=rollout.reason if rollout else None,
        guard=guard,
        goal_intervals=2,
        sent=result.sent,
        failed=result.failed,
        failures=result.failures[:20],
        primary_p99_ms_before=before[int(len(before) * 0.99)] if before else None,
        primary_p99_ms_during=during[int(len(during) * 0.99)] if during else None,
        client_connections=result.connections,
        errors=errors,
        history=[
            (e.kind.value, e.actor, e.after, e.message[:120])
            for e in world.client.deployments.history(world.ENDPOINT, world.PROJECT, limit=4).items
        ],
    )
    if world.weights() != {"lr@1": 100.0}:
        world.act("rollback", "benchmark: reset")


def single_point(world: World, record: Record, seconds: int, **extra: Any) -> None:
    """The strict baseline for the peers: one deployment, prediction log off (they keep none)."""
    if world.logging:
        world.client.deployments.update(world.ENDPOINT, world.PROJECT, sampling=0.0)
        world.wait_applied()
        world.logging = False
    closed_loop(
        record,
        END_TO_END,
        "single deployment",
        world.url,
        world.body,
        seconds,
        logging="off (sampling 0)",
        **extra,
    )


def run_end_to_end(
    world: World,
    body: str,
    seconds: int,
    record: Record,
    only: tuple[str, ...] = (),
) -> list[str]:
    """The scenarios after the rounds, on the running world; one failing does not stop the
    others (its note says why)."""
    notes: list[str] = []
    steps: list[tuple[str, Callable[[], Any]]] = []

    def single() -> None:
        # back to back with the canary and the shadow: the same settings but the split
        world.client.deployments.update(world.ENDPOINT, world.PROJECT, sampling=1.0)
        world.wait_applied()
        world.logging = True
        closed_loop(
            record,
            END_TO_END,
            "single deployment, logging",
            world.url,
            body,
            seconds,
            logging=world.logged_rows_note(),
        )

    def canary() -> None:
        world.deploy(
            "lr@2",
            strategy="canary",
            steps=[10, 100],
            interval_s=3600,
            message="benchmark: 90/10",
        )
        rows_before = world.logged_rows(wait_s=2.0)  # the previous point shipped
        stats = closed_loop(
            record,
            END_TO_END,
            "90/10 canary, logging",
            world.url,
            body,
            seconds,
            logging=world.logged_rows_note(),
            weights=world.weights(),
        )
        record(
            "predictions logged in the hub after a closed-loop point",
            END_TO_END,
            _version(),
            world.logged_rows(wait_s=3.0) - rows_before,
            "rows",
            "higher",
            "90/10 canary",
            answered=stats["requests"] + stats["warmup_requests"],
        )
        split_and_sticky(
            record, END_TO_END, world.port, body, canary_label="lr@2", weight=10, sticky=False
        )
        world.act("rollback")

    def shadow() -> None:
        world.deploy("lr@2", strategy="shadow", mirror=100, message="benchmark: shadow")
        dropped_before = world.health()["shadow_dropped"]
        stats = closed_loop(
            record, END_TO_END, "100% shadow", world.url, body, seconds, weights=world.weights()
        )
        # how many copies the shadow really answered: a shadow that cannot keep up has its
        # copies dropped (bounded queue), which keeps the primary fast but compares fewer
        dropped = world.health()["shadow_dropped"] - dropped_before
        sent = stats["requests"] + stats["warmup_requests"]
        record(
            "shadow copies dropped during the closed-loop point",
            END_TO_END,
            _version(),
            dropped,
            "copies",
            "lower",
            "100% shadow",
            answered=sent,
            mirrored_share=None if not sent else 1 - dropped / sent,
        )
        world.act("rollback")

    def sticky() -> None:
        world.client.deployments.update(world.ENDPOINT, world.PROJECT, sticky_key="header:X-User")
        world.deploy("lr@2", strategy="canary", steps=[10, 100], interval_s=3600)
        split_and_sticky(
            record, END_TO_END, world.port, body, canary_label="lr@2", weight=10, sticky=True
        )
        world.act("rollback")
        world.client.deployments.update(world.ENDPOINT, world.PROJECT, sticky_key="")
        world.wait_applied()

    def switches() -> None:
        d = world.client.deployments
        e, p = world.ENDPOINT, world.PROJECT
        zero_failures(
            world,
            record,
            "promote (canary 10% -> 100%)",
            lambda: world.deploy("lr@2", strategy="canary", steps=[10, 100], interval_s=3600),
            lambda: d.promote(e, p, message="benchmark"),
        )
        zero_failures(
            world,
            record,
            "rollback (lr@2 -> lr@1)",
            world.wait_applied,
            lambda: d.rollback(e, p, message="benchmark"),
        )
        zero_failures(
            world,
            record,
            "blue-green switch (promote)",
            lambda: world.deploy("lr@2", strategy="blue-green", warm_s=600),
            lambda: d.promote(e, p, message="benchmark"),
        )
        world.act("rollback")

    def rollbacks() -> None:
        auto_rollback(world, record, "20% errors", "flaky@1", "error_rate < 0.05")
        auto_rollback(world, record, "+200 ms", "slow@1", "p99_ms < 100")

    steps = [
        ("single", single),
        ("canary", canary),
        ("shadow", shadow),
        ("sticky", sticky),
        ("switches", switches),
        ("auto-rollback", rollbacks),
    ]
    for name, step in steps:
        if only and name not in only:
            continue
        try:
            step()
        except Exception as exc:  # one scenario failing must not lose the others' figures
            notes.append(f"end to end, {name}: not measured: {type(exc).__name__}: {exc}")
            print(notes[-1], file=sys.stderr, flush=True)
            with contextlib.suppress(Exception):
                if world.weights() != {"lr@1": 100.0}:
                    world.act("rollback", "benchmark: reset after a failed scenario")
    return notes


def e2e_available() -> bool:
    """This tree has the hub side of deployments (lane dep) and the gateway (lanes gw, gwops)."""
    import importlib.util

    return all(
        importlib.util.find_spec(name) is not None
        for name in ("tandem.deployments.service", "tandem.serving.main")
    )


def data_plane_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tandem.serving.app") is not None


def prepare_model(folder: Path, workdir: Path) -> Path:
    """tandem's copy of the MLflow model file (the same bytes) with its load record."""
    model = workdir / "tandem-model"
    tandem_model.prepare(folder, model)
    return model
