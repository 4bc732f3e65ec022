"""Evaluation records shared by the server and the SDK. The report itself is the JSON object
`tandem.evaluation.report` builds (its shape is documented there and in docs/evaluation.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EvaluationCreate(BaseModel):
    """A report computed where the model could be loaded (the SDK), recorded against the
    model version and dataset version it is about."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="NAME@N or NAME@ALIAS in the project")
    dataset: str = Field(description="NAME@vN, or PROJECT/NAME@vN from another project")
    baseline: str | None = Field(None, description="the model version compared against")
    target: str
    report: dict[str, Any] = Field(
        description="the report `tandem.evaluation.report` builds; checked against "
        "tandem.evaluation.schema.EvaluationReport (422 when it does not fit)"
    )


class Evaluation(BaseModel):
    id: str
    project: str
    model: str
    model_version: int
    dataset_project: str
    dataset: str
    dataset_version: int
    baseline_version: int | None = None
    task: str
    target: str
    threshold: float | None = None
    rows: int
    overall: dict[str, float | None] = {}
    created_at: int
    created_by: str
    report: dict[str, Any] | None = Field(None, description="the whole report, on `get`")
    unreadable: list[str] = Field(
        [],
        description="parts of a report recorded before reports were validated that do not fit "
        "the schema; they are left out of `report`",
    )
