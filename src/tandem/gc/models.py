from __future__ import annotations

from pydantic import BaseModel, Field

from tandem.core.validation import Seconds


class GcRequest(BaseModel):
    older_than_seconds: Seconds = Field(0, description="purge only what was deleted this long ago")
    grace_seconds: Seconds = Field(
        3600, description="keep unreferenced blobs younger than this (uploads in flight)"
    )
    dry_run: bool = False


class GcReport(BaseModel):
    dry_run: bool
    projects_purged: list[str]
    runs_purged: int
    blobs_deleted: int
    bytes_freed: int
