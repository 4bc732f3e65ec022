"""Model files to predictors: download a deployment's version through the SDK into a cache
folder, load it with the registry's safe loaders, and build its fast predictor.

Only safe formats load (skops with its trusted-type check, the boosters' text/JSON formats,
ONNX); a pickle-based version loads only when its policy route says the deployer trusted it.
A version is downloaded once per cache folder (files verified against their hashes by the SDK,
written to a temporary folder and renamed into place, so a crash never leaves half a model).
Any failure is an `InvalidInput` naming the version and the cause, which the control plane
reports to the hub as a load failure while the old table keeps serving.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tandem.deployments.models import PolicyRoute
from tandem.errors import InvalidInput, TandemError
from tandem.registry.flavors import SavedModel, load_model
from tandem.registry.models import MODEL_META
from tandem.serving.predictor import Predictor, build_predictor

if TYPE_CHECKING:
    from tandem.sdk.client import Client

log = logging.getLogger(__name__)


def _safe_part(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:100] or "_"


class ModelLoader:
    """Loads the models of a project's policy routes into predictors (call from a thread: a
    download and a load take time)."""

    def __init__(self, client: Client, project: str, cache: Path) -> None:
        self.client = client
        self.project = project
        self.cache = Path(cache)

    def folder(self, route: PolicyRoute) -> Path:
        """Where `route`'s version lives in the cache (downloaded if it is not there yet)."""
        project, model = _safe_part(self.project), _safe_part(route.model)
        folder = self.cache / project / model / str(route.version)
        if (folder / MODEL_META).is_file():
            return folder
        folder.parent.mkdir(parents=True, exist_ok=True)
        if folder.exists():  # left by a copy of an older tandem, or by hand: fetch it again
            shutil.rmtree(folder, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{route.version}-", dir=folder.parent))
        try:
            self.client.models.download(f"{route.model}@{route.version}", staging, self.project)
            if not (staging / MODEL_META).is_file():
                raise InvalidInput(f"{route.model}@{route.version} has no {MODEL_META}")
            try:
                os.rename(staging, folder)
            except OSError:  # another worker put it there first: theirs is as good
                if not (folder / MODEL_META).is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return folder

    def load(self, route: PolicyRoute) -> Predictor:
        """The predictor for `route`, or InvalidInput saying why its model cannot serve."""
        label = f"{route.model}@{route.version}"
        try:
            folder = self.folder(route)
            return load_predictor(folder, route)
        except TandemError as exc:
            raise InvalidInput(f"{label} did not load: {exc}") from exc
        except Exception as exc:  # a broken file or library: the cause, for the hub's history
            log.exception("loading %s failed", label)
            raise InvalidInput(f"{label} did not load: {type(exc).__name__}: {exc}") from exc


def load_predictor(folder: Path, route: PolicyRoute) -> Predictor:
    """Load the model files in `folder` as `route` describes them and build its predictor."""
    meta: dict[str, Any] = json.loads((folder / MODEL_META).read_text())
    saved = SavedModel(
        flavor=route.flavor,
        format=route.format,
        trusted=route.format == "pickle",
        files=list(meta.get("files") or []),
        signature=route.signature,
        requirements=[],
        library_version=None,
    )
    model = load_model(folder, saved, trusted=route.trusted)
    return build_predictor(model, route.flavor, route.signature)
