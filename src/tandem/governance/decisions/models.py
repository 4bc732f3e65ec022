"""Decision records: the shapes shared by the server and the SDK, and the references they link
to."""

from __future__ import annotations

import enum
import re

from pydantic import BaseModel, ConfigDict, Field

from tandem.core.validation import Number
from tandem.errors import InvalidInput


class DecisionStatus(enum.StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    SUPERSEDED = "superseded"


_LINK = re.compile(r"^[\w\-./@:]{1,500}$")
LINK_KINDS = (
    "models", "datasets", "runs", "evaluations", "criteria", "gates", "decisions",
    "endpoints", "incidents", "postmortems",
)  # fmt: skip


def check_links(links: list[str]) -> list[str]:
    """References as `KIND/...` or `PROJECT/KIND/...` with KIND one of `LINK_KINDS`."""
    for link in links:
        parts = link.split("/")
        well_formed = bool(_LINK.match(link)) and not any(p in ("", ".", "..") for p in parts)
        kind_at = 1 if len(parts) > 2 and parts[1] in LINK_KINDS else 0
        if not well_formed or parts[kind_at] not in LINK_KINDS or len(parts) < kind_at + 2:
            raise InvalidInput(
                f"link {link!r} is not a reference such as models/churn-gbm@3, "
                "datasets/customers@v2, runs/ID or evaluations/ID"
            )
    return sorted(set(links))


class DecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    context: str = ""
    options: str = ""
    decision: str = Field(min_length=1)
    consequences: str = ""
    links: list[str] = Field([], description="what it is about, e.g. models/churn-gbm@3")
    accept: bool = Field(False, description="record it as accepted (you are its approver)")
    supersedes: Number | None = Field(None, description="the number of the decision it replaces")


class DecisionRecord(BaseModel):
    project: str
    number: int
    title: str
    context: str
    options: str
    decision: str
    consequences: str
    status: DecisionStatus
    links: list[str]
    approvers: list[str]
    superseded_by: int | None = None
    created_at: int
    created_by: str
    accepted_at: int | None = None
