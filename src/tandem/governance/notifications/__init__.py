"""Notifications: what a member is told (a sign-off they owe, a mention, an action item given to
them), kept for the web UI until read and sent to the project's webhook. See `service`."""
