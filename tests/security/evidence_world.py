"""A workspace for the evidence tests: project `churn` with a viewer, a data scientist and a
project admin, a workspace admin, a run with a small and a large artifact, a dataset version,
a model version and one evaluation of it with a full report."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tandem.core.auth import Role
from tandem.evaluation.models import EvaluationCreate
from tandem.evaluation.report import evaluate_binary
from tandem.identity.models import MemberSet, TokenCreate, UserCreate
from tandem.projects.models import ProjectCreate
from tandem.registry.models import VersionCreate
from tandem.server.container import Services
from tandem.store.blobs import VERIFY_FIRST
from tandem.tracking.models import RunCreate

ROLES = {"viewer": Role.VIEWER, "ds": Role.DATA_SCIENTIST, "padmin": Role.ADMIN}
SMALL = b"the recorded bytes of a small artifact\n" * 50
# larger than what is verified before the first byte: it streams, verified as it goes
LARGE = bytes(range(256)) * ((VERIFY_FIRST + (3 << 20)) // 256)


@dataclass
class World:
    services: Services
    tokens: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    evaluation_id: str = ""
    dataset_oid: str = ""
    model_oid: str = ""

    def headers(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}

    def blob_path(self, data: bytes) -> Path:
        from blake3 import blake3

        oid = blake3(data).hexdigest()
        return Path(self.services.settings.artifacts) / oid[:2] / oid[2:]


def plain(value: Any) -> Any:
    """NaN to None, NumPy numbers to Python ones (as the SDK sends a report)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def full_report() -> dict[str, Any]:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    score = np.clip(y * 0.3 + rng.random(400) * 0.7, 0, 1)
    gender = rng.choice(["F", "M"], 400)
    report = evaluate_binary(
        y, score, slices={"gender": gender}, protected=["gender"], resamples=20,
        baseline_score=rng.random(400),
    )  # fmt: skip
    report["latency"] = {"p50_ms": 0.4, "p99_ms": 1.2, "rows_per_second": 90000.0,
                         "rows": 400, "single_row_samples": 200}  # fmt: skip
    return plain(report)  # type: ignore[no-any-return]


def build_world(services: Services, tmp: Path) -> World:
    owner = services.owner
    world = World(services)
    services.projects.create(owner, ProjectCreate(name="churn"))
    identity = services.identity
    users = {**dict.fromkeys(ROLES, Role.VIEWER), "wsadmin": Role.ADMIN}
    for name, role in users.items():
        identity.create_user(owner, UserCreate(name=name, role=role))
        world.tokens[name] = identity.create_token(owner, TokenCreate(name="t", user=name)).secret
    for name, role in ROLES.items():
        identity.set_member(owner, "churn", MemberSet(user=name, role=role))

    tracking = services.tracking
    run = tracking.create_run(owner, "churn", RunCreate(name="fit"))
    world.run_id = run.id
    files = tmp / "files"
    files.mkdir()
    (files / "small.txt").write_bytes(SMALL)
    (files / "large.bin").write_bytes(LARGE)
    (files / "model.txt").write_text("the model")
    (files / "tandem-model.json").write_text(
        '{"flavor": "sklearn", "format": "skops", "trusted": false, "files": ["model.txt"]}'
    )
    tracking.upload_artifact(owner, run.id, "small.txt", files / "small.txt")
    tracking.upload_artifact(owner, run.id, "large.bin", files / "large.bin")
    tracking.upload_artifact(owner, run.id, "models/churn/model.txt", files / "model.txt")
    tracking.upload_artifact(
        owner, run.id, "models/churn/tandem-model.json", files / "tandem-model.json"
    )
    services.registry.register(
        owner, "churn", "churn", VersionCreate(run_id=run.id, artifact_path="models/churn")
    )
    world.model_oid = services.registry.get_version(owner, "churn", "churn", "1").files[0].oid

    data = tmp.parent / f"{tmp.name}-data"  # outside the workspace, inside the data roots
    data.mkdir(exist_ok=True)
    (data / "holdout.csv").write_text("customer,y\na,1\nb,0\n")
    services.data.data_roots = (data,)
    services.data.add_from_path(owner, "churn", "holdout", str(data / "holdout.csv"))
    version = services.data.get_version(owner, "churn/holdout@v1")
    world.dataset_oid = version.files[0].oid  # type: ignore[index]

    body = EvaluationCreate(model="churn@1", dataset="holdout@v1", target="y", report=full_report())
    world.evaluation_id = services.evaluations.record(owner, "churn", body).id
    return world


def overwrite(path: Path, data: bytes) -> None:
    """Change a stored blob's bytes in place (the store keeps blobs read-only)."""
    os.chmod(path, 0o644)
    path.write_bytes(data)
