"""`client.models`: the model registry from Python, embedded or remote, over the REST API.

    version = run.log_model(model, name="churn-gbm", example=X_test[:5])
    client.models.set_alias("churn-gbm", "champion", version.version)
    model = tandem.load_model("churn-gbm@champion")

Logging a model writes it in a safe format (`tandem.registry.flavors`), uploads its files and a
`tandem-model.json` describing them as the run's artifacts under `models/<name>/`, then
registers them as the model's next version. Loading downloads a version's files into a
temporary folder, checks each against its hash, and reads the model back; pickle-based versions
load only with `trusted=True`.
"""

from __future__ import annotations

import builtins
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tandem.core.paging import Page
from tandem.core.refs import ModelRef, check_alias, parse_model_ref
from tandem.core.validation import check_model_name
from tandem.errors import InvalidInput
from tandem.registry.models import MODEL_META, Model, ModelVersion, Stage
from tandem.sdk.transport import Http, download_verified, safe_target

if TYPE_CHECKING:
    from tandem.sdk.client import Client

API = "/api/v1"


class Models:
    """Registered models: versions, stages, aliases; logging and loading model files."""

    def __init__(self, http: Http, client: Client) -> None:
        self._http = http
        self._client = client

    def _ref(self, ref: str, project: str | None) -> ModelRef:
        parsed = parse_model_ref(ref, project or self._client.settings.project)
        if parsed.project is None:
            self._client.project_name(None)  # raises the clear "no project" error
        return parsed

    def _base(self, project: str, name: str) -> str:
        check_model_name(name)
        return f"{API}/projects/{quote(project, safe='')}/models/{quote(name, safe='')}"

    # -- reading --------------------------------------------------------------------------

    def list(
        self, project: str | None = None, *, query: str | None = None, cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Model]:  # fmt: skip
        name = self._client.project_name(project)
        params: dict[str, Any] = {"limit": limit}
        if query:
            params["q"] = query
        if cursor:
            params["cursor"] = cursor
        url = f"{API}/projects/{quote(name, safe='')}/models"
        return Page[Model].model_validate_json(
            self._http.request("GET", url, params=params).content
        )

    def get(self, name: str, project: str | None = None) -> Model:
        ref = self._ref(name, project)
        url = self._base(ref.project or "", ref.name)
        return Model.model_validate_json(self._http.request("GET", url).content)

    def versions(
        self, name: str, project: str | None = None, *, stage: Stage | str | None = None,
        cursor: str | None = None, limit: int = 50,
    ) -> Page[ModelVersion]:  # fmt: skip
        """Newest first."""
        ref = self._ref(name, project)
        params: dict[str, Any] = {"limit": limit}
        if stage is not None:
            params["stage"] = Stage(stage).value
        if cursor:
            params["cursor"] = cursor
        url = self._base(ref.project or "", ref.name) + "/versions"
        return Page[ModelVersion].model_validate_json(
            self._http.request("GET", url, params=params).content
        )

    def version(self, ref: str, project: str | None = None) -> ModelVersion:
        """`NAME@3`, `NAME@champion`, `NAME` (the latest) or `PROJECT/NAME@...`, with files."""
        parsed = self._ref(ref, project)
        url = self._base(parsed.project or "", parsed.name) + f"/versions/{parsed.selector}"
        return ModelVersion.model_validate_json(self._http.request("GET", url).content)

    # -- writing --------------------------------------------------------------------------

    def register(
        self, name: str, run_id: str, artifact_path: str, project: str | None = None,
        description: str = "",
    ) -> ModelVersion:  # fmt: skip
        """Register the model a run logged under `artifact_path` as the next version."""
        ref = self._ref(name, project)
        body = {"run_id": run_id, "artifact_path": artifact_path, "description": description}
        url = self._base(ref.project or "", ref.name) + "/versions"
        return ModelVersion.model_validate_json(self._http.request("POST", url, json=body).content)

    def set_stage(self, ref: str, stage: Stage | str, project: str | None = None) -> ModelVersion:
        parsed = self._ref(ref, project)
        url = self._base(parsed.project or "", parsed.name) + f"/versions/{parsed.selector}/stage"
        body = {"stage": Stage(stage).value}
        return ModelVersion.model_validate_json(self._http.request("POST", url, json=body).content)

    def set_alias(self, name: str, alias: str, version: int, project: str | None = None) -> Model:
        ref = self._ref(name, project)
        url = self._base(ref.project or "", ref.name) + f"/aliases/{check_alias(alias)}"
        return Model.model_validate_json(
            self._http.request("PUT", url, json={"version": version}).content
        )

    def delete_alias(self, name: str, alias: str, project: str | None = None) -> Model:
        ref = self._ref(name, project)
        url = self._base(ref.project or "", ref.name) + f"/aliases/{check_alias(alias)}"
        return Model.model_validate_json(self._http.request("DELETE", url).content)

    def update(
        self, name: str, project: str | None = None, *, description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> Model:  # fmt: skip
        ref = self._ref(name, project)
        body: dict[str, Any] = {}
        if description is not None:
            body["description"] = description
        if tags is not None:
            body["tags"] = tags
        url = self._base(ref.project or "", ref.name)
        return Model.model_validate_json(self._http.request("PATCH", url, json=body).content)

    # -- model cards ----------------------------------------------------------------------

    def card(self, ref: str, project: str | None = None, *, format: str = "json") -> Any:
        """A version's model card: a `ModelCard` (format "json"), or its Markdown or
        self-contained HTML text."""
        from tandem.registry.models import ModelCard

        if format not in ("json", "markdown", "html"):
            raise InvalidInput(f"unknown card format {format!r}: use json, markdown or html")
        parsed = self._ref(ref, project)
        url = self._base(parsed.project or "", parsed.name) + f"/versions/{parsed.selector}/card"
        response = self._http.request("GET", url, params={"format": format})
        return (
            ModelCard.model_validate_json(response.content) if format == "json" else response.text
        )

    def set_card_texts(self, name: str, project: str | None = None, **texts: str) -> dict[str, str]:
        """Write the card's free-text sections: intended_use, factors, ethical_considerations,
        caveats_and_recommendations (Markdown; "" clears one)."""
        ref = self._ref(name, project)
        url = self._base(ref.project or "", ref.name) + "/card"
        result: dict[str, str] = self._http.request("PUT", url, json=texts).json()
        return result

    # -- model files ----------------------------------------------------------------------

    def log(
        self, run_id: str, project: str, model: Any, name: str, *, flavor: str | None = None,
        signature: dict[str, Any] | None = None, example: Any = None, trusted: bool = False,
        description: str = "",
    ) -> ModelVersion:  # fmt: skip
        """Save `model` in a safe format, upload it as the run's artifacts under
        `models/<name>/` and register it as the next version of model `name`."""
        from tandem.registry.flavors import save_model

        check_model_name(name)
        folder = f"models/{name}"
        with tempfile.TemporaryDirectory(prefix="tandem-model-") as tmp:
            saved = save_model(model, Path(tmp), flavor=flavor, example=example,
                               signature=signature, trusted=trusted)  # fmt: skip
            meta = {
                "flavor": saved.flavor, "format": saved.format, "trusted": saved.trusted,
                "files": saved.files, "signature": saved.signature,
                "requirements": saved.requirements, "library_version": saved.library_version,
            }  # fmt: skip
            for file in saved.files:
                self._client.runs.upload_artifact(run_id, Path(tmp) / file, f"{folder}/{file}")
            meta_bytes = json.dumps(meta, indent=1).encode()
            self._client.runs.upload_bytes(run_id, meta_bytes, f"{folder}/{MODEL_META}")
        return self.register(name, run_id, folder, project, description)

    def download(
        self, ref: str, destination: str | Path, project: str | None = None
    ) -> tuple[ModelVersion, builtins.list[Path]]:
        """Write a version's files under the folder `destination`, each checked against its
        hash (a failed transfer leaves no partial file)."""
        version = self.version(ref, project)
        base = self._base(version.project, version.model) + f"/versions/{version.version}/files/"
        written = [
            download_verified(
                self._http, base + quote(f.path), f.path, safe_target(destination, f.path)
            )
            for f in version.files
        ]
        return version, written

    def load(self, ref: str, project: str | None = None, *, trusted: bool = False) -> Any:
        """The model object of a version (`NAME@3`, `NAME@champion`, `NAME`). Versions stored
        with pickle run code when loaded: they load only with `trusted=True`."""
        from tandem.registry.flavors import SavedModel, load_model

        with tempfile.TemporaryDirectory(prefix="tandem-model-") as tmp:
            version, _ = self.download(ref, tmp, project)
            meta = json.loads((Path(tmp) / MODEL_META).read_text())
            saved = SavedModel(
                flavor=version.flavor, format=version.format, trusted=version.trusted,
                files=meta["files"], signature=version.signature,
                requirements=version.requirements, library_version=version.library_version,
            )  # fmt: skip
            return load_model(Path(tmp), saved, trusted=trusted)
