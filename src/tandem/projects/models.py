"""Project models shared by the server and the SDK."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Project(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    description: str = ""
    created_at: int = Field(description="milliseconds since the epoch, UTC")
    deleted_at: int | None = None
    run_count: int | None = None


class ProjectCreate(BaseModel):
    name: str
    description: str = ""
