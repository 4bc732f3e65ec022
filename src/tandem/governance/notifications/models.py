"""Notifications and the project's webhook: the shapes shared by the server and the SDK."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Notification(BaseModel):
    id: int
    project: str
    kind: str = Field(description="sign-off, mention, action-item")
    message: str
    link: str = Field(description="the page it is about, e.g. /projects/churn/gates/ID")
    created_at: int
    read_at: int | None = None


class WebhookSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field("", description="an http(s) URL, e.g. a Slack incoming webhook; '' removes it")


class Webhook(BaseModel):
    project: str
    url: str
    updated_at: int | None = None
    updated_by: str | None = None
