"""Audit log models (the REST schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class AuditEvent(BaseModel):
    """One thing that happened: who (`actor`, signed in `via`, from `source`), what (`action` on
    `target` in `project`), when (`at`, ms since the epoch) and how it ended (`outcome`)."""

    id: int
    at: int
    actor: str
    via: str
    source: str
    action: str
    outcome: str = Field(description="ok, denied or failed")
    project: str | None
    target: str
    details: dict[str, Any]


class Activity(BaseModel):
    """One change in a project's feed: who did what to which entity, when."""

    id: int
    at: int
    actor: str
    action: str = Field(description="e.g. gate.approve, brief.update, model.version.register")
    target: str
