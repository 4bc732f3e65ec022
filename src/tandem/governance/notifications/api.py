"""REST endpoints for your notifications and the project's webhook."""

from __future__ import annotations

from fastapi import APIRouter

from tandem.core.auth import Action
from tandem.governance.notifications.models import Notification, Webhook, WebhookSet
from tandem.server.deps import PrincipalDep, ServicesDep, offload
from tandem.server.policy import SIGNED_IN, policy

router = APIRouter(tags=["governance"])
PROJECT = "/projects/{project}"


@router.get("/me/notifications", openapi_extra=policy(SIGNED_IN))
async def my_notifications(
    services: ServicesDep, principal: PrincipalDep, unread: bool = False
) -> list[Notification]:
    return await offload(services.notifier.mine, principal, unread=unread)


@router.post("/me/notifications/read", openapi_extra=policy(SIGNED_IN))
async def read_notifications(services: ServicesDep, principal: PrincipalDep) -> dict[str, int]:
    """Mark all your notifications read."""
    return {"marked": await offload(services.notifier.mark_read, principal)}


@router.get(PROJECT + "/webhook", openapi_extra=policy(Action.PROJECT_WRITE))
async def get_webhook(project: str, services: ServicesDep, principal: PrincipalDep) -> Webhook:
    return await offload(services.notifier.webhook, principal, project)


@router.put(PROJECT + "/webhook", openapi_extra=policy(Action.PROJECT_WRITE))
async def set_webhook(
    project: str, body: WebhookSet, services: ServicesDep, principal: PrincipalDep
) -> Webhook:
    """Where notifications go as Slack-compatible JSON (`{"text": ...}`); "" removes it."""
    return await offload(services.notifier.set_webhook, principal, project, body)
