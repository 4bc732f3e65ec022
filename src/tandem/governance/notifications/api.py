"""REST endpoints for your notifications and the project's webhook."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from tandem.core.auth import Action
from tandem.governance.notifications.models import Notification, Webhook, WebhookSet
from tandem.governance.notifications.service import Notifier
from tandem.http.deps import PrincipalDep, offload, service
from tandem.http.policy import SIGNED_IN, policy

router = APIRouter(tags=["governance"])

NotifierDep = Annotated[Notifier, service(Notifier)]
PROJECT = "/projects/{project}"


@router.get("/me/notifications", openapi_extra=policy(SIGNED_IN))
async def my_notifications(
    notifier: NotifierDep, principal: PrincipalDep, unread: bool = False
) -> list[Notification]:
    return await offload(notifier.mine, principal, unread=unread)


@router.post("/me/notifications/read", openapi_extra=policy(SIGNED_IN))
async def read_notifications(notifier: NotifierDep, principal: PrincipalDep) -> dict[str, int]:
    """Mark all your notifications read."""
    return {"marked": await offload(notifier.mark_read, principal)}


@router.get(PROJECT + "/webhook", openapi_extra=policy(Action.PROJECT_WRITE))
async def get_webhook(project: str, notifier: NotifierDep, principal: PrincipalDep) -> Webhook:
    return await offload(notifier.webhook, principal, project)


@router.put(PROJECT + "/webhook", openapi_extra=policy(Action.PROJECT_WRITE))
async def set_webhook(
    project: str, body: WebhookSet, notifier: NotifierDep, principal: PrincipalDep
) -> Webhook:
    """Where notifications go as Slack-compatible JSON (`{"text": ...}`); "" removes it."""
    return await offload(notifier.set_webhook, principal, project, body)
