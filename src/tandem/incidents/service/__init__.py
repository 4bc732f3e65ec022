"""IncidentService: every rule about incidents, playbooks and postmortems (docs/incidents.md).

The signature other lanes call now; the body lands in the following commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

__all__ = ["IncidentService"]


class IncidentService:
    """The incidents domain's one entry, for the faces and for other domains."""

    def on_page(self, conn: Connection, project_pk: int, endpoint: str | None, alert: Any) -> int:
        """A page-severity alert opens an incident or joins the open one of its endpoint, in
        the alerting service's transaction (`conn`); returns the incident's number.

        `alert` is alerting's Alert (or a `PageAlert`): read by attribute or key for
        fingerprint, labels, annotations, severity and starts_at. No permission check: the
        caller acts as the worker, which holds `incident:write` in every project."""
        raise NotImplementedError
