"""Registry models shared by the server and the SDK."""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tandem.core.validation import NonNegativeInt, Number


class Stage(enum.StrEnum):
    """A model version's lifecycle stage (DESIGN.md): each arrow is a gate."""

    DRAFT = "draft"
    READY_FOR_REVIEW = "ready-for-review"
    READY_FOR_PRODUCTION = "ready-for-production"
    PRODUCTION = "production"
    RETIRED = "retired"


class ModelFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str = Field(description="relative to the version's folder")
    oid: str
    size: NonNegativeInt


class Model(BaseModel):
    """A registered model in a project; its versions are listed separately."""

    project: str
    name: str
    description: str = ""
    tags: dict[str, str] = {}
    created_at: int
    created_by: str
    latest_version: int | None = None
    version_count: int = 0
    aliases: dict[str, int] = Field(default={}, description="alias -> version")


class ModelVersion(BaseModel):
    """One immutable version: where it came from, how to load it, and where it stands."""

    project: str
    model: str
    version: int
    flavor: str
    format: str
    trusted: bool = Field(description="pickle-based: loading it runs code")
    run_id: str | None = None
    artifact_path: str
    signature: dict[str, Any] | None = None
    requirements: list[str] = []
    library_version: str | None = None
    stage: Stage
    description: str = ""
    aliases: list[str] = []
    created_at: int
    created_by: str
    stage_changed_at: int
    stage_changed_by: str
    files: list[ModelFile] = []


class VersionCreate(BaseModel):
    """Register the model a run logged under `artifact_path` (a folder holding the model's
    files and the `tandem-model.json` that says how to load them)."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    artifact_path: str
    description: str = ""


class ModelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    tags: dict[str, str] | None = None


class VersionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str


class StageChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: Stage


class AliasSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Number


# How each flavor may be stored. Only "pickle" runs code when loaded (`trusted`), and the
# server never loads any of them: it stores files and records.
FORMATS: dict[str, frozenset[str]] = {
    "sklearn": frozenset({"skops", "pickle"}),
    "xgboost": frozenset({"xgboost-json", "xgboost-ubj"}),
    "lightgbm": frozenset({"lightgbm-text"}),
    "onnx": frozenset({"onnx"}),
    "python": frozenset({"pickle"}),
}
MODEL_META = "tandem-model.json"  # in a logged model's folder: how to load its files


class ModelMeta(BaseModel):
    """The content of `tandem-model.json`, written by `run.log_model`."""

    model_config = ConfigDict(extra="ignore")

    flavor: str
    format: str
    trusted: bool
    files: list[str] = Field(min_length=1)
    signature: dict[str, Any] | None = None
    requirements: list[str] = []
    library_version: str | None = None


CARD_SECTIONS = ("intended_use", "factors", "ethical_considerations", "caveats_and_recommendations")


class CardTexts(BaseModel):
    """The model card's free-text sections (Markdown); omitted ones are left as they are, an
    empty string clears one."""

    model_config = ConfigDict(extra="forbid")

    intended_use: str | None = None
    factors: str | None = None
    ethical_considerations: str | None = None
    caveats_and_recommendations: str | None = None


class ModelCard(BaseModel):
    """A version's model card: generated from the records (every figure names the evaluation,
    run or dataset version it came from), plus the team's free-text sections."""

    version: ModelVersion
    description: str = ""
    run: dict[str, Any] | None = Field(None, description="the source run: params, code version")
    training_data: list[dict[str, Any]] = []
    evaluations: list[dict[str, Any]] = Field([], description="this version's, newest first")
    texts: dict[str, str] = {}
    generated_at: int
