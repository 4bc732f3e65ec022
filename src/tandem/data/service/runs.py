"""Run links: which dataset versions a run used (role train, test, input, ...) or produced
(role `output`). The runs are the tracking domain's, read and checked through
`TrackingService`; each link is also an edge of the lineage graph (`LineageLinks`)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection

from tandem.audit.service import AuditLog
from tandem.core.auth import Action, Principal
from tandem.core.clock import now_ms
from tandem.core.refs import parse_run_ref
from tandem.data.models import RunLink
from tandem.data.service.access import DatasetAccess
from tandem.data.store import DatasetStore
from tandem.errors import HiddenNotFound, InvalidInput, NotFound
from tandem.lineage.service import LineageLinks
from tandem.store.db import Database
from tandem.tracking.service import TrackingService

_ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def check_role(role: str) -> str:
    if not _ROLE.match(role):
        raise InvalidInput(
            f"invalid dataset role {role!r}: use a lowercase word such as train, test, input"
        )
    return role


class RunLinkService:
    def __init__(
        self,
        db: Database,
        store: DatasetStore,
        access: DatasetAccess,
        tracking: TrackingService,
        lineage: LineageLinks,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.store = store
        self.access = access
        self.tracking = tracking
        self.lineage = lineage
        self.audit = audit

    def link_run(self, principal: Principal, run_id: str, ref: str, role: str = "input") -> RunLink:
        """Record that run `run_id` used (or produced, role `output`) a dataset version.

        The caller must be allowed to write the run and to read the dataset, which may be in
        another project (`ref` as PROJECT/NAME@vN; NAME@vN is in the run's project).

        Raises:
            NotFound: no such run or version, or one the caller may not see.
            PermissionDenied: a member of the run's project who may not write runs there.
            Conflict: the run is deleted.
        """
        with self.db.write() as conn:
            run = self.writable_run(conn, principal, run_id)
            role = check_role(role)
            project, parsed = self.access.ref(ref, run.project)
            try:
                target = self.access.dataset(
                    conn, principal, project, parsed.name, Action.DATA_READ
                )
            except NotFound as error:
                raise HiddenNotFound(str(error)) from None
            row = self.access.version_row(conn, target, parsed.version)
            now = now_ms()
            self.store.link_run(conn, run.pk, row.pk, role, now)
            self.lineage.link_run_dataset(
                conn, (run.pk, run.project_pk), (row.pk, target.project_pk),
                output=role == "output", now=now,
            )  # fmt: skip
            self.audit.record(
                conn, principal, "run.dataset.link", f"{run.id}", project=run.project,
                dataset=f"{project}/{target.name}@v{row.version}", role=role,
            )  # fmt: skip
        return RunLink(
            run_id=run.id, run_name=run.name, run_project=run.project, project=project,
            dataset=target.name, version=row.version, role=role, created_at=now,
        )  # fmt: skip

    def run_datasets(self, principal: Principal, run_id: str) -> list[RunLink]:
        """The dataset versions a run used or produced, that the caller may read.

        Raises:
            NotFound: no such run, or one the caller may not read.
        """
        with self.db.read() as conn:
            run = self.tracking.run_to_read(conn, principal, parse_run_ref(run_id).run_id)
            rows = self.store.datasets_of_run(conn, run.pk)
            names = self.access.project_names(conn, {r.project_pk for r in rows})
        links = [
            RunLink(
                run_id=run.id,
                run_name=run.name,
                run_project=run.project,
                project=names[r.project_pk],
                dataset=r.dataset,
                version=r.version,
                role=r.role,
                created_at=r.created_at,
            )
            for r in rows
        ]
        return [link for link in links if principal.may(Action.DATA_READ, link.project)]

    # -- for the other data operations ----------------------------------------------------

    def writable_run(self, conn: Connection, principal: Principal, run_id: str) -> Any:
        """The run `run_id` if the caller may write it (runs it may not read are not found)."""
        ref = parse_run_ref(run_id)
        return self.tracking.run_to_write(conn, principal, ref.run_id, "linking data to it")

    def link_new_version(
        self, conn: Connection, principal: Principal, version_pk: int, run_id: str | None,
        role: str,
    ) -> None:  # fmt: skip
        """Link a version the caller has just written (so may read) to a run it may write."""
        if run_id is None:
            return
        run = self.writable_run(conn, principal, run_id)
        self.store.link_run(conn, run.pk, version_pk, role, now_ms())

    def runs_of_version(
        self, conn: Connection, version_pk: int, project: str, dataset: str, version: int
    ) -> list[RunLink]:
        """The live runs linked to a version, each with its own project (which may not be the
        dataset's `project`). No permission check: the caller keeps those it may read."""
        rows = self.store.runs_of_version(conn, version_pk)
        runs = self.tracking.live_runs(conn, {r.run_pk for r in rows})
        return [
            RunLink(
                run_id=runs[r.run_pk][0],
                run_name=runs[r.run_pk][1],
                run_project=runs[r.run_pk][2],
                project=project,
                dataset=dataset,
                version=version,
                role=r.role,
                created_at=r.created_at,
            )
            for r in rows
            if r.run_pk in runs
        ]
