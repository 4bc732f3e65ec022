"""Every route has a declared policy, and every role gets exactly what the policy says.

`EXPECTED` below is the policy table written out by hand (not computed from
`tandem.core.auth`), so a change to the rules in code that is not made here on purpose fails.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from world import CONTRACT, World, build_world

from tandem.core.config import Settings
from tandem.http.policy import (
    ACTION_OWNER,
    CRITERION_OWNER,
    GATE_SIGNER,
    ITEM_ATTESTER,
    OWN_OR_ADMIN,
    PUBLIC,
    SIGNED_IN,
    ServedRoute,
    served_routes,
)
from tandem.server.app import bind_services, build_app
from tandem.server.container import Services

ROLES = ["viewer", "pm", "compliance", "ds", "mle", "padmin"]
READERS = {*ROLES}
BUILDERS = {"ds", "mle", "padmin"}
# Who may do what in project `churn`; a workspace admin may always, and nobody else may.
EXPECTED: dict[str, set[str]] = {
    "project:read": READERS,
    "members:read": READERS,
    "run:read": READERS,
    "artifact:read": READERS,
    "data:read": READERS,
    "model:read": READERS,
    "run:write": BUILDERS,
    "model:write": BUILDERS,
    "data:write": BUILDERS,
    "data:delete": BUILDERS,
    "run:delete": BUILDERS,
    "project:write": {"padmin"},
    "project:delete": {"padmin"},
    "members:write": {"padmin"},
    "audit:read": {"compliance", "padmin"},
    "plan:write": {"pm", "compliance", "ds", "mle", "padmin"},
    "raci:write": {"pm", "padmin"},
    "model:release": {"mle", "padmin"},
    "deployment:read": READERS,
    "deployment:write": BUILDERS,
    "deployment:release": {"mle", "padmin"},
    "monitor:read": READERS,
    "monitor:write": {"pm", "ds", "mle", "padmin"},
    "incident:write": {"pm", "compliance", "ds", "mle", "padmin"},
    "admin": set(),
}
RULES = (
    GATE_SIGNER,
    CRITERION_OWNER,
    ACTION_OWNER,
    ITEM_ATTESTER,
)  # decided by the project's records, not only a role
REPORT = {"task": "binary", "rows": 2, "overall": {"roc_auc": 0.5}}
CRITERION = {"kind": "model", "metric": "roc_auc", "comparator": ">=", "threshold": 0.8}
CRITERION |= {"owner": "data-scientist"}
CRITERION_SPEC = {"kind": "model", "check": "roc_auc >= 0.8", "owner": "data-scientist"}
SIGNED_IN_USERS = {*ROLES, "wsadmin", "outsider"}
PRINCIPALS = ["anonymous", "expired", "revoked", "disabled", "outsider", *ROLES, "wsadmin"]
UNAUTHENTICATED = {"anonymous", "expired", "revoked", "disabled"}


def allowed(policy: str, who: str) -> bool:
    if who in UNAUTHENTICATED:
        return policy == PUBLIC
    if policy == GATE_SIGNER:
        return who == "ds"  # the RACI's accountable member for the world's open gate
    if policy == ACTION_OWNER:  # action item 1 is the viewer's; plan writers may close it too
        return who in {"viewer", "wsadmin", *EXPECTED["plan:write"]}
    if policy == ITEM_ATTESTER:
        return who in ("compliance", "wsadmin")  # the world's review gate item is compliance's
    if policy == CRITERION_OWNER:
        return who in ("ds", "wsadmin")  # criterion `loss` is the data scientists'; admins may
    if policy in (PUBLIC, SIGNED_IN, "project:create"):
        return True
    if who == "wsadmin":
        return True
    if policy == OWN_OR_ADMIN:
        return who == "viewer"  # the fixtures name the viewer's own user and token
    return who in EXPECTED[policy]


def expected_status(policy: str, who: str, path: str) -> str:
    """'ok' or the status a refusal must have."""
    if allowed(policy, who):
        return "ok"
    if who in UNAUTHENTICATED:
        return "401"
    if who == "outsider" and (policy in EXPECTED or policy in RULES) and policy != "admin":
        return "404"  # a stranger to the project is not told it exists
    if policy == OWN_OR_ADMIN and "/tokens/" in path:
        return "404"  # someone else's token: not told it exists
    return "403"


API_PREFIXES = ("/api/", "/ajax-api/")  # /ajax-api/: MLflow's web app's copy of its REST API


def api_routes(app: Any, *, mlflow: bool = True) -> list[ServedRoute]:
    return [
        r
        for r in served_routes(app)
        if r.path.startswith(API_PREFIXES) and (mlflow or "/mlflow/" not in r.path)
    ]


def test_every_route_declares_a_policy(app: Any) -> None:
    """REST, web pages, uploads, downloads, static files: nothing is served undeclared."""
    from tandem.web.routes import PUBLIC_MOUNTS

    routes = served_routes(app)
    missing = [
        f"{sorted(route.methods)} {route.path}"
        for route in routes
        if route.policy is None and not (route.is_mount and route.path in PUBLIC_MOUNTS)
    ]
    assert not missing, f"routes without a declared policy: {missing}"
    assert len(api_routes(app)) >= 30
    assert any(not route.path.startswith("/api/") for route in routes), "web pages are served"


# -- the matrix --------------------------------------------------------------------------------


class Worlds:
    """Hands out a workspace, rebuilt only after a request that may have changed it.

    Hundreds of rebuilds, so they are made cheap without changing what they hold: the app's
    routes are built once and each new workspace is bound to them (as the resident process
    does), and on SQLite a new workspace is a copy of the folder of one built at the start."""

    def __init__(self, tmp_path: Path, database_url: Callable[[Path], str]) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.count = 0
        self.current: tuple[Services, TestClient, World] | None = None
        self.app = build_app()
        self.pristine: tuple[Path, World, tuple[Path, ...]] | None = None  # SQLite only

    def _workspace(self, folder: Path) -> tuple[Services, World]:
        if self.pristine is None:
            folder.mkdir()
            url = self.database_url(folder)  # on PostgreSQL: the database, emptied
            settings = Settings(home=folder, database_url=url, artifacts=str(folder / "blobs"))
            services = Services.build(settings)
            world = build_world(services, folder)
            if not url.startswith("sqlite:"):
                return services, world
            # kept as the template of the next ones, never served itself
            self.pristine = (folder, world, services.data.data_roots)
            services.close()
            folder = folder.with_name(folder.name + "-copy")
        template, world, data_roots = self.pristine
        shutil.copytree(template, folder)  # the database file, its blobs, the model's files
        url = f"sqlite:///{folder / 'tandem.db'}"
        settings = Settings(home=folder, database_url=url, artifacts=str(folder / "blobs"))
        services = Services.build(settings)
        services.data.data_roots = data_roots
        return services, dataclasses.replace(world, services=services)

    def get(self) -> tuple[TestClient, World]:
        if self.current is None:
            self.count += 1
            services, world = self._workspace(self.tmp_path / f"w{self.count}")
            bind_services(self.app, services)
            client = TestClient(self.app, base_url="http://127.0.0.1")
            self.current = (services, client, world)
        return self.current[1], self.current[2]

    def dirty(self) -> None:
        self.close()

    def close(self) -> None:
        if self.current is not None:
            services, client, _ = self.current
            client.close()
            services.close()
            self.current = None


@pytest.fixture
def worlds(tmp_path: Path, settings: Settings, fresh_database_url: Any) -> Iterator[Worlds]:
    # `settings` first: it clears TANDEM_* variables and, on PostgreSQL, prepares the database
    holder = Worlds(tmp_path, fresh_database_url)
    yield holder
    holder.close()


def request_for(route: ServedRoute, method: str, world: World) -> dict[str, Any]:
    """A valid request for `route` against `world`: path filled in, a sensible body."""
    values = {
        "project": "churn",
        "name": "churn",
        "run_id": world.runs[0],
        "key": "t" if route.path.endswith("tags/{key}") else "loss",
        "path": "a.txt",
        "user": "viewer",
        "token_id": world.token_ids["viewer"],
        "version": "v1",
        "alias": "champion",
        "evaluation_id": world.evaluation_id,
        "gate_id": world.gate_id,
        "number": "1",
        "activity": "evaluation",
        "endpoint": "churn",
        "request_id": "r1",
        "segment": "s1",
        "kind": "drift",
        "alert_id": "al-00000000",
        "silence_id": "si-00000000",
    }
    path = re.sub(r"{(\w+)(:path)?}", lambda m: values[m.group(1)], route.path)
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/v1/projects"): {"name": "fresh"},
        ("POST", "/api/v1/projects/{project}/runs"): {"name": "new"},
        ("POST", "/api/v1/runs/search"): {"project": "churn", "filter": "metrics.loss < 1"},
        ("PATCH", "/api/v1/runs/{run_id}"): {"name": "renamed"},
        ("POST", "/api/v1/runs/{run_id}/batch"): {"tags": {"u": "v"}},
        ("POST", "/api/v1/gc"): {"dry_run": True},
        ("POST", "/api/v1/users"): {"name": "newcomer"},
        ("POST", "/api/v1/tokens"): {"name": "mine"},
        ("POST", "/api/v1/me/password"): {
            "current_password": "x" * 12,
            "new_password": "y" * 12,
        },
        ("PUT", "/api/v1/projects/{project}/members/{user}"): {"role": "viewer"},
        ("POST", "/api/v1/projects/{project}/datasets/blobs/missing"): {"oids": [world.oid]},
        ("POST", "/api/v1/projects/{project}/datasets/{name}/versions"): {
            "files": [{"path": "a.txt", "oid": world.oid, "size": 5}],
            "message": "again",
        },
        ("PATCH", "/api/v1/projects/{project}/datasets/{name}"): {"description": "d"},
        ("PUT", "/api/v1/projects/{project}/datasets/{name}/contract"): {"text": CONTRACT},
        ("POST", "/api/v1/runs/{run_id}/datasets"): {"dataset": "churn@v1", "role": "train"},
        ("POST", "/api/v1/projects/{project}/models/{name}/versions"): {
            "run_id": world.runs[0],
            "artifact_path": "models/churn",
        },
        ("PATCH", "/api/v1/projects/{project}/models/{name}"): {"description": "d"},
        ("PATCH", "/api/v1/projects/{project}/models/{name}/versions/{version}"): {
            "description": "d"
        },
        ("POST", "/api/v1/projects/{project}/models/{name}/versions/{version}/stage"): {
            "stage": "ready-for-review"
        },
        ("PUT", "/api/v1/projects/{project}/models/{name}/aliases/{alias}"): {"version": 1},
        ("PUT", "/api/v1/projects/{project}/models/{name}/card"): {"factors": "region"},
        ("POST", "/api/v1/projects/{project}/evaluations"): {
            "model": "churn@1",
            "dataset": "churn@v1",
            "target": "y",
            "report": REPORT,
        },
        ("PUT", "/api/v1/projects/{project}/brief"): {"goal": "g"},
        ("PUT", "/api/v1/projects/{project}/criteria/{key}"): CRITERION,
        ("PUT", "/api/v1/projects/{project}/raci"): {"activities": {"training": {"ds": "A"}}},
        ("PUT", "/api/v1/projects/{project}/raci/{activity}"): {"members": {"ds": "A"}},
        ("POST", "/api/v1/projects/{project}/spec/plan"): {"criteria": {"auc": CRITERION_SPEC}},
        ("PUT", "/api/v1/projects/{project}/spec"): {"criteria": {"auc": CRITERION_SPEC}},
        ("POST", "/api/v1/projects/{project}/gates"): {"model": "churn@1", "to": "retired"},
        ("POST", "/api/v1/projects/{project}/gates/{gate_id}/signoffs"): {"decision": "approve"},
        ("POST", "/api/v1/projects/{project}/gates/{gate_id}/cancel"): {"reason": "r"},
        ("POST", "/api/v1/projects/{project}/gates/{gate_id}/waivers"): {
            "criterion": "loss",
            "reason": "r",
        },
        ("POST", "/api/v1/projects/{project}/decisions"): {"title": "t", "decision": "d"},
        ("POST", "/api/v1/projects/{project}/gates/{gate_id}/attestations"): {
            "item": "security-review"
        },
        ("POST", "/api/v1/projects/{project}/hypotheses"): {"statement": "s", "owner": "pm"},
        ("PUT", "/api/v1/projects/{project}/hypotheses/{number}"): {
            "statement": "s",
            "owner": "pm",
        },
        ("PATCH", "/api/v1/projects/{project}/hypotheses/{number}"): {"status": "supported"},
        ("POST", "/api/v1/projects/{project}/risks"): {"description": "d", "owner": "pm"},
        ("PATCH", "/api/v1/projects/{project}/risks/{number}"): {"status": "mitigated"},
        ("PUT", "/api/v1/projects/{project}/risks/{number}"): {"description": "d", "owner": "pm"},
        ("POST", "/api/v1/projects/{project}/retrospectives"): {"title": "t"},
        ("POST", "/api/v1/projects/{project}/actions"): {"title": "t", "owner": "pm"},
        ("POST", "/api/v1/projects/{project}/comments"): {"target": "models/churn@1", "body": "b"},
        ("PUT", "/api/v1/projects/{project}/webhook"): {"url": ""},
        ("POST", "/api/v1/projects/{project}/lineage/links"): {
            "src": f"runs/{world.runs[0]}/artifacts/a.txt",
            "dst": f"runs/{world.runs[1]}",
        },
        ("POST", "/api/v1/projects/{project}/endpoints"): {"name": "fresh"},
        ("PATCH", "/api/v1/projects/{project}/endpoints/{endpoint}"): {"description": "d"},
        ("POST", "/api/v1/projects/{project}/endpoints/{endpoint}/deploy"): {
            "model": "churn",
            "version": "1",
        },
        ("POST", "/api/v1/projects/{project}/endpoints/{endpoint}/stats"): {
            "gateway": "g",
            "policy_version": 1,
            "windows": [],
        },
        **{
            ("POST", f"/api/v1/projects/{{project}}/endpoints/{{endpoint}}/{change}"): {}
            for change in ("promote", "pause", "resume", "rollback")
        },
        ("POST", "/api/v1/projects/{project}/incidents"): {"title": "t"},
        ("PATCH", "/api/v1/projects/{project}/incidents/{number}"): {"title": "t2"},
        ("POST", "/api/v1/projects/{project}/incidents/{number}/status"): {"status": "resolved"},
        ("POST", "/api/v1/projects/{project}/incidents/{number}/notes"): {"body": "b"},
        ("POST", "/api/v1/projects/{project}/incidents/{number}/tick"): {"step": 1},
        ("POST", "/api/v1/projects/{project}/incidents/{number}/rollback"): {},
        ("PUT", "/api/v1/projects/{project}/playbooks/{kind}"): {"markdown": "- [ ] a"},
        ("PUT", "/api/v1/projects/{project}/playbooks/{kind}/steps"): {
            "kind": "drift",
            "steps": [{"text": "a"}],
        },
        ("PATCH", "/api/v1/projects/{project}/incidents/{number}/postmortem"): {"summary": "s"},
        ("POST", "/api/v1/projects/{project}/monitors"): {
            "name": "drift",
            "endpoint": "churn",
            "kind": "contract",
        },
        ("PATCH", "/api/v1/projects/{project}/monitors/{name}"): {"severity": "page"},
        ("POST", "/api/v1/projects/{project}/alerts/{alert_id}/ack"): {"comment": "c"},
        ("POST", "/api/v1/projects/{project}/silences"): {
            "matchers": ["endpoint=churn"],
            "duration": "1h",
            "comment": "c",
        },
        ("PATCH", "/api/v1/projects/{project}/alert-settings"): {"group_wait": "1m"},
    }
    params: dict[str, Any] = {}
    if route.path.endswith("/lineage"):
        params = {"ref": f"runs/{world.runs[0]}"}
    if route.path.endswith("/comments"):
        params = {"target": "models/churn@1"}
    if route.path.endswith("/gates/check"):
        params = {"model": "churn@1", "to": "ready-for-review"}
    if route.path == "/api/v1/runs/compare":
        params = {"ids": world.runs}
    if route.path == "/api/v1/audit":
        params = {"project": "churn"}
    if route.path.endswith("/datasets-diff"):
        params = {"a": "churn@v1", "b": "churn@v1"}
    if route.path.endswith("/served-at"):
        params = {"at": "2026-11-03T14:00"}
    if route.path.endswith("/estimates"):
        params = {"since": 0, "until": 3_600_000}
    request: dict[str, Any] = {"method": method, "url": path, "params": params}
    if "/mlflow/" in route.path:
        return mlflow_request(route, method, world, request)
    if (method, route.path) == ("POST", PREDICTIONS):
        request["params"] = {"gateway": "gw", "batch": "b1"}
        request["content"] = prediction_batch()
        request["headers"] = {"content-type": "application/vnd.apache.arrow.stream"}
    elif (method, route.path) == ("POST", LABELS):
        request["content"] = label_file()
        request["headers"] = {"content-type": "application/vnd.apache.parquet"}
    elif (method, route.path) == ("POST", KPIS):
        request["json"] = {"name": "retention_rate", "value": 0.9, "at": 1}
    elif (method, route.path) in bodies:
        request["json"] = bodies[(method, route.path)]
    elif method == "PUT":
        request["content"] = b"data"
    return request


def mlflow_request(
    route: ServedRoute, method: str, world: World, request: dict[str, Any]
) -> dict[str, Any]:
    """A valid request to MLflow's REST API (issue 24): its ids go in the body or the query."""
    experiment = str(world.services.projects.pks_of(world.services.owner, ["churn"])["churn"])
    run = {"run_id": world.runs[0]}
    operation = route.path.split("/mlflow/", 1)[1]
    bodies: dict[str, dict[str, Any]] = {
        "experiments/create": {"name": "fresh-experiment"},
        "experiments/get": {"experiment_id": experiment},
        "experiments/get-by-name": {"experiment_name": "churn"},
        "experiments/search": {"max_results": 10},
        "experiments/delete": {"experiment_id": experiment},
        "experiments/restore": {"experiment_id": experiment},
        "runs/create": {"experiment_id": experiment, "run_name": "new"},
        "runs/get": run,
        "runs/update": {**run, "run_name": "renamed"},
        "runs/delete": run,
        "runs/restore": run,
        "runs/log-parameter": {**run, "key": "fresh", "value": "1"},
        "runs/log-metric": {**run, "key": "loss", "value": 0.1, "timestamp": 1, "step": 1},
        "runs/set-tag": {**run, "key": "u", "value": "v"},
        "runs/delete-tag": {**run, "key": "t"},
        "runs/log-batch": {**run, "tags": [{"key": "u", "value": "v"}]},
        "runs/log-inputs": {**run, "datasets": [{"dataset": {"name": "d", "digest": "abc"}}]},
        "runs/search": {"experiment_ids": [experiment], "filter": "metrics.loss < 1"},
        "metrics/get-history": {**run, "metric_key": "loss"},
    }
    body = bodies[operation]
    if method == "GET":
        request["params"] = body
    else:
        request["json"] = body
    return request


PREDICTIONS = "/api/v1/projects/{project}/endpoints/{endpoint}/predictions"
LABELS = "/api/v1/projects/{project}/endpoints/{endpoint}/labels"
KPIS = "/api/v1/projects/{project}/endpoints/{endpoint}/kpis"


def label_file() -> bytes:
    """One label, for a request the endpoint never logged (counted, not refused)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"request_id": ["r1"], "label": [1]}), sink)
    return bytes(sink.getvalue().to_pybytes())


def prediction_batch() -> bytes:
    """One logged prediction, as a gateway ships it (an Arrow IPC stream)."""
    import pyarrow as pa

    table = pa.table({
        "request_id": ["r1"], "at": pa.array([1], pa.int64()), "deployment": ["churn@1"],
        "model": ["churn"], "version": pa.array([1], pa.int64()),
        "status": pa.array([200], pa.int32()), "latency_ms": [0.3], "inputs": ["[]"],
        "output": ["[0]"],
    })  # fmt: skip
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


# Allowed cells answer with success, except where the world's own state makes the sensible
# request break a rule for everyone (the rule then answers, as it should, after the permission).
RULED: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/runs/{run_id}/restore"): "409",  # not deleted
    ("POST", "/api/v1/projects/{name}/restore"): "409",
    ("POST", "/api/v1/projects/{project}/datasets/{name}/restore"): "409",
    ("POST", "/api/v1/projects/{project}/datasets/{name}/versions/{version}/validate"): "422",
    ("GET", "/api/v1/projects/{project}/datasets/{name}/versions/{version}/contract-draft"): "422",
    ("POST", "/api/v1/projects/{project}/models/{name}/versions/{version}/stage"): "409",  # gate
    ("POST", "/api/v1/projects/{project}/gates"): "409",  # churn@1 has an open gate
    ("POST", "/api/v1/me/password"): "422",  # the world's users have no password
    ("POST", "/account/password"): "422",
    ("GET", "/projects/{project}/runs/{run_id}/preview/{path:path}"): "415",  # a.txt: no preview
    # churn@1 serves endpoint churn already, and no rollout is under way to change
    ("POST", "/api/v1/projects/{project}/endpoints/{endpoint}/deploy"): "409",
    **{
        ("POST", f"/api/v1/projects/{{project}}/endpoints/{{endpoint}}/{change}"): "409"
        for change in ("promote", "pause", "resume", "rollback")
    },
    # endpoint churn has nothing to roll back to: the page says so (its first release)
    ("POST", "/projects/{project}/endpoints/{name}/{change}"): "409",
    # endpoint churn is not in production: it has no monitors to delete
    ("POST", "/projects/{project}/endpoints/{name}/monitors/{monitor}/delete"): "404",
    # the world's endpoint has logged nothing
    ("GET", "/api/v1/projects/{project}/endpoints/{endpoint}/predictions/{request_id}"): "404",
    ("GET", "/api/v1/projects/{project}/endpoints/{endpoint}/segments/{segment}/data"): "404",
    # incident 1 is open: it has no postmortem yet, and gets none; endpoint churn has nothing
    # to roll back to; nobody in the world's RACI is Accountable for incident-response
    ("POST", "/api/v1/projects/{project}/incidents/{number}/rollback"): "409",
    ("GET", "/api/v1/projects/{project}/incidents/{number}/postmortem"): "404",
    ("POST", "/api/v1/projects/{project}/incidents/{number}/postmortem"): "409",
    ("PATCH", "/api/v1/projects/{project}/incidents/{number}/postmortem"): "404",
    ("POST", "/api/v1/projects/{project}/incidents/{number}/postmortem/submit"): "404",
    ("POST", "/api/v1/projects/{project}/incidents/{number}/postmortem/publish"): "403",
    # the world has raised no alert and made no silence
    ("GET", "/api/v1/projects/{project}/alerts/{alert_id}"): "404",
    ("POST", "/api/v1/projects/{project}/alerts/{alert_id}/ack"): "404",
    ("POST", "/api/v1/projects/{project}/silences/{silence_id}/expire"): "404",
    # the same on the web pages: no alert, no silence, nothing to roll back, no postmortem
    ("POST", "/projects/{project}/alerts/{alert}/ack"): "404",
    ("POST", "/projects/{project}/silences/{silence}/expire"): "404",
    ("POST", "/projects/{project}/incidents/{number}/rollback"): "409",
    ("POST", "/projects/{project}/incidents/{number}/postmortem"): "404",
    ("POST", "/projects/{project}/incidents/{number}/postmortem/{step}"): "404",
    # the world has no monitor (named churn)
    **{
        (method, f"/api/v1/projects/{{project}}/monitors/{{name}}{tail}"): "404"
        for method, tail in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/results"))
    },
}


def status_class(status: int) -> str:
    """'ok' for a success (or a redirect), else the status itself."""
    assert status < 500, f"server error {status}"
    return "ok" if status < 400 else str(status)


def expected_answer(route: ServedRoute, method: str, who: str) -> str:
    assert route.policy is not None
    want = expected_status(route.policy, who, route.path)
    return RULED.get((method, route.path), want) if want == "ok" else want


# Requests that break a rule or name what does not exist, for the refused principals: the
# refusal must still be what they get (the permission is asked before anything else).
GHOSTS = {"name": "ghost", "version": "99", "alias": "ghost", "evaluation_id": "ghost",
          "number": "99", "key": "ghost", "activity": "ghost", "path": "ghost.txt",
          "user": "ghost", "gate_id": "ghost", "endpoint": "ghost", "request_id": "ghost",
          "segment": "ghost", "kind": "ghost"}  # fmt: skip
# the record decides who may: without it, not found is the honest answer to anyone
RECORD_DECIDES = {"/api/v1/projects/{project}/gates/{gate_id}/cancel"}


# Longer than any text field takes: a rule the services check (after the permission). A NUL would
# not do: the server refuses one in any JSON body before routing, like malformed JSON.
TOO_LONG = "x" * 200_000


def bad_bodies(world: World) -> dict[tuple[str, str], Any]:
    run = world.runs[0]
    return {
        ("POST", "/api/v1/projects/{project}/runs"): {"name": "x" * 10_000},
        ("POST", "/api/v1/runs/{run_id}/batch"): {"params": {"../x": "1"}},
        ("PATCH", "/api/v1/runs/{run_id}"): {"name": "x" * 10_000},
        ("POST", "/api/v1/projects/{project}/datasets/blobs/missing"): {"oids": ["nope"]},
        ("POST", "/api/v1/projects/{project}/datasets/{name}/versions"): {
            "files": [{"path": "../a.txt", "oid": "nope", "size": 5}]
        },
        ("PATCH", "/api/v1/projects/{project}/datasets/{name}"): {"description": TOO_LONG},
        ("PUT", "/api/v1/projects/{project}/datasets/{name}/contract"): {"text": "not: [yaml"},
        ("POST", "/api/v1/runs/{run_id}/datasets"): {"dataset": "ghost@v9", "role": "wizard"},
        ("POST", "/api/v1/projects/{project}/models/{name}/versions"): {
            "run_id": run,
            "artifact_path": "nowhere",
        },
        ("PATCH", "/api/v1/projects/{project}/models/{name}"): {"description": TOO_LONG},
        ("PATCH", "/api/v1/projects/{project}/models/{name}/versions/{version}"): {
            "description": TOO_LONG
        },
        ("POST", "/api/v1/projects/{project}/models/{name}/versions/{version}/stage"): {
            "stage": "production"
        },
        ("PUT", "/api/v1/projects/{project}/models/{name}/aliases/{alias}"): {"version": 99},
        ("POST", "/api/v1/projects/{project}/evaluations"): {
            "model": "churn@99",
            "dataset": "ghost@v1",
            "target": "y",
            "report": {"task": "?"},
        },
        ("PUT", "/api/v1/projects/{project}/brief"): {"goal": TOO_LONG},
        ("PUT", "/api/v1/projects/{project}/criteria/{key}"): {**CRITERION, "comparator": "~"},
        ("PUT", "/api/v1/projects/{project}/raci"): {"activities": {"training": {"ghost": "A"}}},
        ("PUT", "/api/v1/projects/{project}/raci/{activity}"): {"members": {"ghost": "A"}},
        ("PUT", "/api/v1/projects/{project}/spec"): {"project": "elsewhere"},
        ("POST", "/api/v1/projects/{project}/gates"): {"model": "churn@1", "to": "production"},
        ("POST", "/api/v1/projects/{project}/gates/{gate_id}/signoffs"): {"decision": "reject"},
        # (waivers and attestations: the criterion or item named decides who may, so a ghost
        # one is not found for anyone; their texts' lengths are the schema's, checked first)
        ("POST", "/api/v1/projects/{project}/decisions"): {
            "title": "t",
            "decision": "d",
            "supersedes": 99,
        },
        ("POST", "/api/v1/projects/{project}/hypotheses"): {
            "statement": "s",
            "owner": "ghost",
            "links": ["nowhere://x"],
        },
        ("POST", "/api/v1/projects/{project}/risks"): {
            "description": "d",
            "owner": "ghost",
            "links": ["nowhere://x"],
        },
        ("POST", "/api/v1/projects/{project}/retrospectives"): {
            "title": "t",
            "links": ["nowhere://x"],
        },
        ("POST", "/api/v1/projects/{project}/actions"): {"title": "t", "owner": "ghost"},
        ("POST", "/api/v1/projects/{project}/comments"): {"target": "nowhere://x", "body": "b"},
        ("POST", "/api/v1/projects/{project}/lineage/links"): {"src": "nowhere", "dst": "x"},
        ("PUT", "/api/v1/projects/{project}/webhook"): {"url": "not a url"},
        ("PUT", "/api/v1/projects/{project}/members/{user}"): {"role": "viewer"},
        ("POST", "/api/v1/projects/{project}/endpoints"): {"name": "Bad Name"},
        ("POST", "/api/v1/projects/{project}/monitors"): {
            "name": "drift",
            "endpoint": "churn",
            "kind": "contract",
            "condition": "violations >>> 1",
        },
        ("POST", "/api/v1/projects/{project}/endpoints/{endpoint}/deploy"): {
            "model": "churn",
            "version": "1",
            "guards": ["nonsense < 1"],
        },
        ("POST", "/api/v1/projects/{project}/incidents"): {"title": "t", "endpoint": "ghost"},
        ("PUT", "/api/v1/projects/{project}/playbooks/{kind}"): {"markdown": "no steps"},
        ("POST", "/api/v1/projects/{project}/silences"): {
            "matchers": ["endpoint=churn"],
            "comment": "no end",
        },
        ("PATCH", "/api/v1/projects/{project}/alert-settings"): {"group_wait": "soon"},
    }


def hostile_request_for(route: ServedRoute, method: str, world: World) -> dict[str, Any] | None:
    """`request_for` with ghosts in the path and a body that breaks a rule, or None."""
    request = request_for(route, method, world)
    policy = route.policy
    in_project = route.path.startswith("/api/v1/projects/{project}/")
    if in_project and policy not in RULES and route.path not in RECORD_DECIDES:
        values = {**GHOSTS, "project": "churn"}
        request["url"] = re.sub(r"{(\w+)(:path)?}", lambda m: values.get(m.group(1), m.group(0)),
                                route.path)  # fmt: skip
        if "{" in request["url"]:
            return None
    body = bad_bodies(world).get((method, route.path))
    if body is not None:
        request["json"] = body
    if route.path.endswith("/gates/check"):
        request["params"] = {"model": "churn@99", "to": "production"}
    if request["url"] == request_for(route, method, world)["url"] and body is None:
        return None
    return request


def test_every_route_against_every_role(worlds: Worlds) -> None:
    client, world = worlds.get()
    # OPEN DEFECT (issue 24): on PostgreSQL, the MLflow face's calls leave connections of a
    # closed workspace open (ResourceWarnings, then "too many clients" after the hundreds of
    # workspaces this test rebuilds). Until it is found, its routes run here on SQLite only;
    # tests/compat checks their authorisation on both databases.
    routes = api_routes(client.app, mlflow=world.services.db.is_sqlite)
    mismatches = []
    checked = 0
    for route in routes:
        policy = route.policy
        assert policy is not None
        for method in sorted(route.methods - {"HEAD"}):
            # refusals first: they change nothing, so one workspace serves them all
            order = sorted(PRINCIPALS, key=lambda who: allowed(policy, who))
            for who in order:
                client, world = worlds.get()
                request = request_for(route, method, world)
                headers = request.pop("headers", {})
                if who != "anonymous":
                    headers["authorization"] = f"Bearer {world.tokens[who]}"
                response = client.request(headers=headers, **request)
                got = status_class(response.status_code)
                want = expected_answer(route, method, who)
                checked += 1
                if got != want:
                    mismatches.append(
                        f"{method} {route.path} as {who}: got {response.status_code} "
                        f"{response.text[:120]}, want {want}"
                    )
                if got == "ok" and method not in ("GET", "HEAD"):
                    worlds.dirty()
                hostile = hostile_request_for(route, method, world)
                if want in ("401", "403", "404") and hostile is not None:
                    hostile.pop("headers", None)
                    response = client.request(headers=headers, **hostile)
                    checked += 1
                    if status_class(response.status_code) != want:
                        mismatches.append(
                            f"{method} {hostile['url']} (breaking a rule) as {who}: got "
                            f"{response.status_code} {response.text[:120]}, want {want}"
                        )
    assert checked > 400
    assert not mismatches, "\n".join(mismatches)


# -- the same for the web pages ------------------------------------------------------------------

# Signing in depends on credentials, not on a role (tests/web and tests/oidc cover it).
WEB_EXCLUDED = {("POST", "/login"), ("GET", "/login/oidc"), ("GET", "/login/oidc/callback")}
FORM_TOKEN = "matrix-form-token"


def web_request_for(route: ServedRoute, method: str, world: World) -> dict[str, Any]:
    values = {
        "project": "churn",
        "name": "churn",
        "run_id": world.runs[0],
        "path": "a.txt",
        "user": "viewer",
        "token_id": world.token_ids["viewer"],
        "version": "v1",
        "gate_id": world.gate_id,
        "number": "1",
        "key": "loss",
        "evaluation_id": world.evaluation_id,
        "endpoint": "churn",
        "change": "rollback",
        "alert": "1",
        "silence": "1",
        "step": "1",
        "monitor": "churn-drift",
        "kind": "drift",
    }
    if route.path.endswith("/postmortem/{step}"):
        values["step"] = "submit"
    path = re.sub(r"{(\w+)(:path)?}", lambda m: values[m.group(1)], route.path)
    request: dict[str, Any] = {"method": method, "url": path, "follow_redirects": False}
    if route.path.endswith("/compare"):
        request["params"] = {"runs": ",".join(world.runs)}
    if route.path.endswith("/datasets/{name}/diff"):
        request["params"] = {"a": "v1", "b": "v1"}
    if method == "POST":
        forms = {
            "/projects/{project}/members": {"user": "viewer", "role": "viewer"},
            "/account/password": {"current_password": "x" * 12, "new_password": "y" * 12},
            "/account/tokens": {"name": "mine"},
            "/projects/{project}/datasets/{name}": {"description": "d", "tags": ""},
            "/projects/{project}/datasets/{name}/columns": {"column": "customer", "owner": "o"},
            "/projects/{project}/brief": {"goal": "g"},
            "/projects/{project}/gates/{gate_id}/sign": {"decision": "approve"},
            "/projects/{project}/gates/{gate_id}/waive": {"criterion": "loss", "reason": "r"},
            "/projects/{project}/gates/{gate_id}/attest": {"item": "security-review"},
            "/projects/{project}/comments": {"target": "models/churn@1", "body": "b"},
            "/projects/{project}/criteria": {
                "key": "auc",
                "kind": "model",
                "check": "roc_auc >= 0.5",
                "owner": "data-scientist",
            },
            "/projects/{project}/raci": {"activity": "training", "assignments": "ds=A"},
            "/projects/{project}/incidents/{number}/notes": {"body": "b"},
            "/projects/{project}/incidents": {"title": "t", "severity": "sev2"},
            "/projects/{project}/incidents/{number}/status": {"status": "acknowledged"},
            "/projects/{project}/silences": {
                "matchers": "endpoint=churn",
                "duration": "1h",
                "comment": "c",
            },
            "/projects/{project}/endpoints/{name}/monitors": {"name": "web", "kind": "contract"},
            "/projects/{project}/endpoints/{name}/monitors/{monitor}/delete": {"confirm": "yes"},
            "/projects/{project}/alert-settings": {"group_wait": "45s"},
            "/projects/{project}/incidents/{number}/people": {"commander": "pm"},
            "/projects/{project}/incidents/{number}/playbook": {"playbook": "drift"},
            "/projects/{project}/playbooks": {"kind": "drift", "markdown": "- [ ] look\n"},
            "/projects/{project}/playbooks/{kind}/delete": {"confirm": "yes"},
        }
        request["data"] = {**forms.get(route.path, {}), "csrf_token": FORM_TOKEN}
    return request


# Forms that break a rule of their own: a principal who may not post the form must be refused
# as with a good one (not told what is wrong with the input, nor that the project exists).
WEB_BAD_FORMS: dict[str, dict[str, str]] = {
    "/projects/{project}/endpoints/{name}/monitors": {"name": "Bad Name", "kind": "nonsense"},
    "/projects/{project}/endpoints/{name}/monitors/{monitor}/delete": {},
    "/projects/{project}/endpoints/{name}/{change}": {"expected_policy_version": "x"},
    "/projects/{project}/alert-settings": {"group_wait": "soon"},
    "/projects/{project}/silences": {"matchers": "", "comment": ""},
    "/projects/{project}/silences/{silence}/expire": {},
    "/projects/{project}/alerts/{alert}/ack": {"comment": TOO_LONG[:3000]},
    "/projects/{project}/incidents": {"title": "", "severity": "sev9"},
    "/projects/{project}/incidents/{number}/people": {"commander": "ghost"},
    "/projects/{project}/incidents/{number}/playbook": {"playbook": ""},
    "/projects/{project}/incidents/{number}/notes": {"body": ""},
    "/projects/{project}/incidents/{number}/status": {"status": "sideways"},
    "/projects/{project}/incidents/{number}/steps/{step}": {"done": "maybe"},
    "/projects/{project}/incidents/{number}/rollback": {"message": TOO_LONG[:3000]},
    "/projects/{project}/incidents/{number}/postmortem": {"summary": TOO_LONG[:3000]},
    "/projects/{project}/incidents/{number}/postmortem/{step}": {},
    "/projects/{project}/playbooks": {"kind": "Bad Kind", "markdown": "no steps"},
    "/projects/{project}/playbooks/{kind}/delete": {},
}


def web_status_class(response: Any) -> str:
    if response.status_code == 303 and response.headers["location"].startswith("/login?next="):
        return "401"  # sent to sign in
    return status_class(response.status_code)


def test_every_web_page_against_every_role(worlds: Worlds) -> None:
    """Web pages resolve the caller as the REST API does (here with the API tokens; a session
    cookie is the other way in) and ask the same services, so they must answer the same."""
    client, world = worlds.get()
    routes = [
        r
        for r in served_routes(client.app)
        if not r.path.startswith(API_PREFIXES) and not r.is_mount
    ]
    mismatches, checked = [], 0
    for route in routes:
        policy = route.policy
        assert policy is not None
        for method in sorted(route.methods - {"HEAD"}):
            if (method, route.path) in WEB_EXCLUDED:
                continue
            for who in sorted(PRINCIPALS, key=lambda who: allowed(policy, who)):
                client, world = worlds.get()
                client.cookies.set("tandem_login_csrf", FORM_TOKEN)
                headers = {}
                if who != "anonymous":
                    headers["authorization"] = f"Bearer {world.tokens[who]}"
                response = client.request(headers=headers, **web_request_for(route, method, world))
                got = web_status_class(response)
                want = expected_answer(route, method, who)
                checked += 1
                if got != want:
                    mismatches.append(
                        f"{method} {route.path} as {who}: got {response.status_code} "
                        f"{response.headers.get('location', '')}, want {want}"
                    )
                if got == "ok" and method != "GET":
                    worlds.dirty()
                bad = WEB_BAD_FORMS.get(route.path) if method == "POST" else None
                if bad is not None and not allowed(policy, who):
                    request = web_request_for(route, method, world)
                    request["data"] = {**bad, "csrf_token": FORM_TOKEN}
                    response = client.request(headers=headers, **request)
                    checked += 1
                    if web_status_class(response) != want:
                        mismatches.append(
                            f"{method} {route.path} (a malformed form) as {who}: got "
                            f"{response.status_code}, want {want}"
                        )
    assert checked > 150
    assert not mismatches, "\n".join(mismatches)
