"""IncidentService: every rule about incidents, playbooks and postmortems (docs/incidents.md).

Rules, all checked here so every face enforces them:
- Reading needs `monitor:read` (every role); opening, acknowledging, changing, ticking and
  writing postmortems need `incident:write` (every role but viewer). The permission is asked
  before anything is read. A rollback is the deployments domain's: it decides who may.
- An incident moves forward only: open → acknowledged → mitigated → resolved (steps may be
  skipped; moving past open acknowledges it). Each move records who and when, is an entry on
  its timeline and one audit event. An endpoint has at most one incident not resolved: a page
  alert for it joins that one (`on_page`, the alerting domain's `PageHandler`).
- A playbook (project.yaml `playbooks:` through `PlaybookSection`, or Markdown with
  checkboxes) is copied onto an incident when it opens; its steps are ticked with who and when.
- A postmortem follows a resolved incident: draft → in review → published. Publishing needs
  the RACI's Accountable for `incident-response`, every review checklist item confirmed and no
  member named in the root causes. Its action items are the registers' (kind, owner, due).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from tandem.incidents.service.incidents import IncidentOps
from tandem.incidents.service.playbooks import (
    PlaybookOps,
    PlaybookSection,
    parse_markdown,
    to_markdown,
)
from tandem.incidents.service.postmortems import PostmortemOps, blame_flags

__all__ = [
    "IncidentService", "PlaybookSection", "PostmortemNodes", "blame_flags", "parse_markdown",
    "to_markdown",
]  # fmt: skip


class IncidentService(PostmortemOps, PlaybookOps, IncidentOps):
    """The incidents domain's one entry, for the faces and for other domains. Its operations
    live in a module each, over the shared `IncidentCore` (base.py):

        incidents.py    open, on_page, status, notes, ticks, rollback, stats, timeline
        playbooks.py    playbooks, from Markdown or project.yaml (PlaybookSection)
        postmortems.py  the blameless review and its action items
    """

    # -- lineage's read model (no permission check: lineage checked) -----------------------

    def incident_pk_in(
        self, conn: Connection, project_pk: int, kind: str, number: int
    ) -> int | None:
        """The pk of incident `number` (`kind` incident) or of its postmortem (postmortem)."""
        if kind == "postmortem":
            return self.store.postmortem_pk(conn, project_pk, number)
        return self.store.incident_pk(conn, project_pk, number)

    def lineage_labels(
        self, conn: Connection, pks: Sequence[int]
    ) -> dict[int, tuple[int, str, str, str | None]]:
        """Incidents on the lineage graph: pk -> (project pk, ref, label, status)."""
        return {
            r.pk: (r.project_pk, f"incidents/{r.number}", f"#{r.number} {r.title}", r.status)
            for r in self.store.incidents_by_pk(conn, pks)
        }

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """gc: a purged project's incidents, playbooks and postmortems go with it."""
        self.store.purge_project(conn, project_pk)


class PostmortemNodes:
    """Postmortems on the lineage graph (lineage labels each kind through its own source)."""

    def __init__(self, service: IncidentService) -> None:
        self.service = service

    def lineage_labels(
        self, conn: Connection, pks: Sequence[int]
    ) -> dict[int, tuple[int, str, str, str | None]]:
        return {
            r.pk: (r.project_pk, f"postmortems/{r.number}", f"postmortem of #{r.number}", r.status)
            for r in self.service.store.postmortems_by_pk(conn, pks)
        }
