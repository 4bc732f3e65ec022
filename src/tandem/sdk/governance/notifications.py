"""`client.governance.notifications`: what you are told (a sign-off you owe, a mention, an
action item given to you), and where a project's notifications are sent (its webhook)."""

from __future__ import annotations

import builtins

from pydantic import TypeAdapter

from tandem.governance.notifications.models import Notification, Webhook, WebhookSet
from tandem.sdk.governance.resource import API, ProjectResource


class Notifications(ProjectResource):
    def list(self, *, unread: bool = False) -> builtins.list[Notification]:
        """Your notifications, newest first."""
        response = self._http.request(
            "GET", f"{API}/me/notifications", params={"unread": "true"} if unread else None
        )
        return TypeAdapter(list[Notification]).validate_json(response.content)

    def mark_read(self) -> int:
        response = self._http.request("POST", f"{API}/me/notifications/read")
        return int(response.json()["marked"])

    def webhook(self, *, project: str | None = None) -> Webhook:
        return Webhook.model_validate_json(self._get(project, "webhook"))

    def set_webhook(self, url: str, *, project: str | None = None) -> Webhook:
        """Send the project's notifications to `url` as Slack-compatible JSON ("" stops)."""
        return Webhook.model_validate_json(
            self._send("PUT", project, "webhook", WebhookSet(url=url))
        )
