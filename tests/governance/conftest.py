"""Governance fixtures: project `churn` with a member in each role (and their API tokens),
and a real evaluation of a telco churn model to score. Shared pieces: governance_world."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from governance_world import CATEGORICAL, CONTRACT, NUMERIC, ROLES, TELCO, Team
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tandem.core.auth import Role
from tandem.identity.models import MemberSet, TokenCreate, UserCreate
from tandem.projects.models import ProjectCreate
from tandem.sdk.client import Client
from tandem.server.container import Services


@pytest.fixture
def team(services: Services) -> Team:
    """Project churn with users pm, ds, mle, comp, viewer and padmin as members."""
    owner = services.owner
    services.projects.create(owner, ProjectCreate(name="churn"))
    found = Team(services)
    for name, role in ROLES.items():
        services.identity.create_user(owner, UserCreate(name=name, role=Role.VIEWER))
        services.identity.set_member(owner, "churn", MemberSet(user=name, role=role))
        secret = services.identity.create_token(owner, TokenCreate(name="t", user=name)).secret
        found.tokens[name] = secret
        found.principals[name] = services.identity.principal_for_token(secret, "test")
    return found


@pytest.fixture
def evaluated(tmp_path: Path, settings: object) -> Iterator[tuple[Client, dict]]:
    """Embedded project `churn`: dataset holdout@v1 (telco), model churn-lr@1 trained on it
    and evaluated on it with slices and fairness by gender; returns the client and report."""
    from tandem.server import embedded

    client = Client(settings=settings)  # type: ignore[arg-type]
    data = tmp_path / "data"
    data.mkdir()
    (data / "telco.csv").write_bytes(TELCO.read_bytes())
    frame = pd.read_csv(TELCO)
    columns = NUMERIC + CATEGORICAL
    encode = make_column_transformer(
        (StandardScaler(), NUMERIC), (OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=500)).fit(
        frame[columns], frame["Churn"]
    )
    client.projects.create("churn")
    client.data.add("holdout", data / "telco.csv", project="churn")
    with client.start_run(project="churn") as run:
        run.log_model(model, "churn-lr", example=frame[columns].head(3))
    evaluation = client.evaluations.evaluate(
        "churn-lr@1",
        "holdout@v1",
        "Churn",
        project="churn",
        positive="Yes",
        slices=["gender", "Contract"],
        protected=["gender"],
        resamples=0,
    )
    report = client.evaluations.get(evaluation.id, "churn").report
    assert report is not None
    yield client, {"id": evaluation.id, **report}
    client.close()
    embedded.close_all()


@pytest.fixture
def release(team: Team, tmp_path: Path, settings: object) -> Iterator[Team]:
    """`team`'s project churn with a model ready to move on: churn-lr@1 trained (in a git
    work tree, with params, seed and environment) on telco-train@v1, which passed its
    contract; evaluated on telco-holdout@v1; criteria auc (model, met) and parity (fairness,
    not met); RACI: ds accountable for evaluation, pm for release approval, mle for
    monitoring."""
    import subprocess

    from tandem.governance.plan.models import RaciSet
    from tandem.governance.plan.spec import CriterionSpec
    from tandem.server import embedded

    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "train"], cwd=tmp_path, check=True)
    client = Client(settings=settings)  # type: ignore[arg-type]
    frame = pd.read_csv(TELCO)
    train = client.data.add("telco-train", frame, project="churn")
    client.data.validate(train.ref, contract=CONTRACT)
    holdout = client.data.add(
        "telco-holdout", frame.sample(frac=0.3, random_state=1), project="churn"
    )
    columns = ["tenure", "MonthlyCharges"]
    with client.start_run(project="churn", seed=7) as run:
        run.log_params({"C": 1.0})
        run.use_dataset(train.ref, role="train")
        model = LogisticRegression().fit(frame[columns], frame["Churn"])
        run.log_model(model, "churn-lr", example=frame[columns].head(3))
    client.evaluations.evaluate(
        "churn-lr@1",
        holdout.ref,
        "Churn",
        project="churn",
        positive="Yes",
        slices=["gender"],
        protected=["gender"],
        resamples=0,
    )
    gov, owner = team.services.plan, team.services.owner
    gov.put_criterion(
        owner,
        "churn",
        "auc",
        CriterionSpec(
            kind="model", check="roc_auc >= 0.6", dataset="telco-holdout", owner="data-scientist"
        ).to_set(),
    )
    gov.put_criterion(
        owner,
        "churn",
        "parity",
        CriterionSpec(
            kind="fairness",
            check="demographic_parity_difference <= 0.0001",
            slice="gender",
            owner="compliance",
        ).to_set(),
    )
    matrix = {
        "evaluation": {"ds": "A"},
        "release-approval": {"pm": "A", "mle": "R"},
        "monitoring": {"mle": "A"},
    }
    gov.set_raci(owner, "churn", RaciSet.model_validate({"activities": matrix}))
    yield team
    client.close()
    embedded.close_all()
