"""The MLflow-saved skops file as a tandem model: the very same bytes, with tandem's record of
how to load them (`tandem-model.json`), so tandem and the peers serve one model file.

`prepare(folder, out)` writes `out/model.skops` (a copy of MLflow's file, checked byte for byte)
and `out/tandem-model.json` (flavor, format, signature inferred on the benchmark's row, as
`client.models.log` writes it). `register(client, project, name, out)` uploads both as a run's
artifacts and registers them as the model's next version, as `client.models.log` does.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from tandem.registry.flavors import load_model, save_model
from tandem.registry.models import MODEL_META

SKOPS = "model.skops"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare(folder: Path, out: Path) -> dict[str, Any]:
    """tandem's files for make_model.py's MLflow model; returns the meta record."""
    source = folder / "mlflow-model" / SKOPS
    body = json.loads((folder / "body.json").read_text())["dataframe_split"]
    example = pd.DataFrame(body["data"], columns=body["columns"])
    meta_probe = {"flavor": "sklearn", "format": "skops", "files": [SKOPS], "trusted": False}
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, out / SKOPS)
    model = load_model(out, meta_probe)  # skops' trusted-type check, as the gateway does
    with tempfile.TemporaryDirectory() as tmp:  # the meta record exactly as models.log makes it
        saved = save_model(model, Path(tmp), example=example)
    meta = {
        "flavor": saved.flavor,
        "format": saved.format,
        "trusted": saved.trusted,
        "files": saved.files,
        "signature": saved.signature,
        "requirements": saved.requirements,
        "library_version": saved.library_version,
    }
    (out / MODEL_META).write_text(json.dumps(meta, indent=1))
    if sha256(out / SKOPS) != sha256(source):
        raise RuntimeError("the copied model file differs from MLflow's")
    return meta


def register(client: Any, project: str, name: str, out: Path) -> Any:
    """Register the prepared files as the next version of `name` in `project`."""
    run = client.runs.create(project)
    prefix = f"models/{name}"
    client.runs.upload_artifact(run.id, out / SKOPS, f"{prefix}/{SKOPS}")
    client.runs.upload_bytes(run.id, (out / MODEL_META).read_bytes(), f"{prefix}/{MODEL_META}")
    client.runs.finish(run.id)
    return client.models.register(name, run.id, prefix, project)
