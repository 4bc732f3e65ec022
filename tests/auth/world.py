"""A small workspace with one principal per role, for the authorisation tests.

Project `churn` has a member in each project role; `other` has its own admin (`outsider`), who
is a stranger to `churn`. `wsadmin` is a workspace admin and member of nothing. Token-only users
(no passwords) keep it fast to build, since the matrix rebuilds it after every allowed change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tandem.core.auth import Role
from tandem.core.clock import now_ms
from tandem.deployments.models import DeployRequest, EndpointCreate
from tandem.evaluation.models import EvaluationCreate
from tandem.governance.decisions.models import DecisionCreate
from tandem.governance.gates.models import GateOpen
from tandem.governance.plan.models import CriterionSet, RaciSet
from tandem.governance.plan.spec import ProjectSpec
from tandem.governance.registers.models import ActionItemCreate, HypothesisSet, RiskSet
from tandem.identity.models import MemberSet, TokenCreate, UserCreate
from tandem.incidents.models import IncidentCreate
from tandem.projects.models import ProjectCreate
from tandem.registry.models import Stage, VersionCreate
from tandem.server.container import Services
from tandem.tracking.models import MetricColumns, RunBatch, RunCreate

PROJECT_ROLES = {
    "viewer": Role.VIEWER,
    "pm": Role.PRODUCT_MANAGER,
    "compliance": Role.COMPLIANCE,
    "ds": Role.DATA_SCIENTIST,
    "mle": Role.ML_ENGINEER,
    "padmin": Role.ADMIN,
}


@dataclass
class World:
    services: Services
    tokens: dict[str, str] = field(default_factory=dict)  # principal name -> secret
    token_ids: dict[str, str] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)
    other_run: str = ""
    oid: str = ""
    evaluation_id: str = ""
    gate_id: str = ""


CONTRACT = """\
apiVersion: v3.0.2
kind: DataContract
id: churn
version: 1.0.0
status: active
schema:
  - name: churn
    properties:
      - name: customer
        logicalType: string
        required: true
"""


def build_world(services: Services, tmp: Path) -> World:
    owner = services.owner
    identity, tracking = services.identity, services.tracking
    world = World(services)
    services.projects.create(owner, ProjectCreate(name="churn"))
    services.projects.create(owner, ProjectCreate(name="other"))
    users = {**dict.fromkeys(PROJECT_ROLES, Role.VIEWER), "wsadmin": Role.ADMIN}
    users |= {"outsider": Role.VIEWER, "expired": Role.ADMIN, "revoked": Role.ADMIN}
    users |= {"disabled": Role.ADMIN}
    for name, role in users.items():
        identity.create_user(owner, UserCreate(name=name, role=role))
        created = identity.create_token(owner, TokenCreate(name="t", user=name))
        world.tokens[name] = created.secret
        world.token_ids[name] = created.token.id
    for name, role in PROJECT_ROLES.items():
        identity.set_member(owner, "churn", MemberSet(user=name, role=role))
    identity.set_member(owner, "other", MemberSet(user="outsider", role=Role.ADMIN))
    # the three who would be allowed everything, but whose credentials no longer work
    for name in ("expired", "revoked", "disabled"):
        identity.set_member(owner, "churn", MemberSet(user=name, role=Role.ADMIN))
    with services.db.write() as conn:
        row = services.identity.store.token_row(conn, world.token_ids["expired"])
        services.identity.store.update_token(conn, row.pk, expires_at=now_ms() - 1)
    identity.revoke_token(owner, world.token_ids["revoked"])
    identity.set_user_disabled(owner, "disabled", True)
    for i in range(2):
        run = tracking.create_run(owner, "churn", RunCreate(name=f"r{i}", tags={"t": "x"}))
        batch = RunBatch(metrics=MetricColumns(key=["loss"], value=[0.5], step=[0]))
        tracking.log_batch(owner, run.id, batch)
        world.runs.append(run.id)
    source = tmp / "a.txt"
    source.write_text("hello")
    tracking.upload_artifact(owner, world.runs[0], "a.txt", source)
    world.other_run = tracking.create_run(owner, "other", RunCreate(name="o")).id
    # a dataset `churn` in project churn holding the same a.txt, with a contract
    data = tmp.parent / f"{tmp.name}-data"  # outside the workspace, inside the data roots
    data.mkdir()
    (data / "a.txt").write_text("hello")
    services.data.data_roots = (data,)
    services.data.add_from_path(owner, "churn", "churn", str(data / "a.txt"))
    services.data.set_contract(owner, "churn", "churn", CONTRACT)
    world.oid = services.data.get_version(owner, "churn/churn@v1").files[0].oid  # type: ignore[index]
    # a model `churn` (version 1, alias champion) whose file is the same a.txt
    meta = tmp / "tandem-model.json"
    meta.write_text(
        '{"flavor": "sklearn", "format": "skops", "trusted": false, "files": ["a.txt"]}'
    )
    tracking.upload_artifact(owner, world.runs[0], "models/churn/a.txt", source)
    tracking.upload_artifact(owner, world.runs[0], "models/churn/tandem-model.json", meta)
    registry = services.registry
    registry.register(
        owner, "churn", "churn", VersionCreate(run_id=world.runs[0], artifact_path="models/churn")
    )
    registry.set_alias(owner, "churn", "churn", "champion", 1)
    report = {"task": "binary", "rows": 2, "overall": {"roc_auc": 0.5}}
    # a success criterion `loss`, for the routes that change or delete one
    criterion = CriterionSet(kind="model", metric="roc_auc", comparator=">=", threshold=0.8,
                             owner="data-scientist")  # fmt: skip
    services.plan.put_criterion(owner, "churn", "loss", criterion)
    body = EvaluationCreate(model="churn@1", dataset="churn@v1", target="y", report=report)
    world.evaluation_id = services.evaluations.record(owner, "churn", body).id
    # ds signs review gates, pm release gates; an open gate on churn@1 and a proposed decision
    matrix = {"evaluation": {"ds": "A"}, "release-approval": {"pm": "A"}}
    services.plan.set_raci(owner, "churn", RaciSet.model_validate({"activities": matrix}))
    # the review gate has the project's own item `security-review`, attested by compliance
    item = {"key": "security-review", "title": "t", "attested_by": "compliance"}
    policy = {"gates": {"ready-for-review": {"items": [item]}}}
    services.plan.apply(owner, "churn", ProjectSpec.model_validate(policy))
    opened = services.gates.open(
        owner, "churn", GateOpen(model="churn@1", to=Stage.READY_FOR_REVIEW)
    )
    world.gate_id = opened.id
    services.decisions.create_decision(owner, "churn", DecisionCreate(title="t", decision="d"))
    # hypothesis 1, risk 1, and action item 1, which the viewer owns
    registers = services.registers
    registers.add_hypothesis(owner, "churn", HypothesisSet(statement="s", owner="pm"))
    registers.add_risk(owner, "churn", RiskSet(description="d", owner="pm"))
    registers.add_action(owner, "churn", ActionItemCreate(title="t", owner="viewer"))
    # endpoint `churn` (not production), served by churn@1
    services.deployments.create_endpoint(owner, "churn", EndpointCreate(name="churn"))
    services.deployments.deploy(owner, "churn", "churn", DeployRequest(model="churn", version="1"))
    # playbook `drift` and incident 1 on endpoint churn following it, open
    incidents = services.incidents
    incidents.set_playbook_markdown(owner, "churn", "drift", "- [ ] look\n- [ ] act\n")
    incidents.open(owner, "churn", IncidentCreate(title="t", endpoint="churn", kind="drift"))
    return world
