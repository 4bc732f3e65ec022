"""The real `mlflow` client, latest 2.x and latest 3.x, each from its own virtual environment
(scripts/mlflow-venvs), runs a script of everyday tracking calls (mlflow_client_flow.py) against
a tandem server on loopback, authenticated by a tandem API token as MLflow sends it. Without the
environments this fails, never skips: they are part of the test setup (scripts/test makes them).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tandem.core.auth import Role
from tandem.identity.models import TokenCreate, UserCreate
from tandem.server.app import create_app

ROOT = Path(__file__).resolve().parents[2]
FLOW = Path(__file__).with_name("mlflow_client_flow.py")


@pytest.mark.parametrize("major", [2, 3])
def test_real_mlflow_client(major: int, services, serve, tmp_path: Path) -> None:
    python = ROOT / f".venv-mlflow{major}" / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: run scripts/mlflow-venvs (scripts/test does)")
    owner = services.owner
    services.identity.create_user(owner, UserCreate(name="scientist", role=Role.VIEWER))
    token = services.identity.create_token(owner, TokenCreate(name="mlflow", user="scientist"))
    app = create_app(services=services, allow_open=True)  # closed: the workspace has a user
    with serve(app) as url:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "MLFLOW_TRACKING_URI": url,
            "MLFLOW_TRACKING_TOKEN": token.secret,
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "GIT_PYTHON_REFRESH": "quiet",
        }
        done = subprocess.run(
            [str(python), str(FLOW), f"churn-{major}"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith(f"ok mlflow {major}."), done.stdout
    # what the client logged is tandem's: runs in the project, by the token's user
    runs = services.tracking.search_runs(owner, _search(f"churn-{major}"))
    assert {run.name for run in runs.items} == {"parent", "child"}
    assert {run.user for run in runs.items} == {"scientist"}


def _search(project: str):
    from tandem.tracking.models import RunSearch

    return RunSearch(project=project)
