"""The project's living registers, shared by the server and the SDK: hypotheses, risks,
retrospectives and the action items they produce, and comments on any entity.

Each entry has a number per project (H3, R2, A7 in lists) and links to the entities that bear
on it, as references (`runs/ID`, `evaluations/ID`, `models/NAME@N`, ...)."""

from __future__ import annotations

import datetime as dt
import enum

from pydantic import BaseModel, ConfigDict, Field, computed_field


class HypothesisStatus(enum.StrEnum):
    OPEN = "open"
    SUPPORTED = "supported"
    REFUTED = "refuted"
    ABANDONED = "abandoned"


class HypothesisSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    statement: str = Field(min_length=1, max_length=5_000)
    metric: str = Field("", max_length=250)
    expected_effect: str = Field("", max_length=1_000, description="e.g. +2 points of recall")
    status: HypothesisStatus = HypothesisStatus.OPEN
    owner: str = Field(description="a member of the project")
    links: list[str] = Field([], description="runs and evaluations that support or refute it")


def _merged_links(current: list[str], added: list[str]) -> list[str]:
    return [*current, *(link for link in dict.fromkeys(added) if link not in current)]


class HypothesisPatch(BaseModel):
    """Change some of a hypothesis's fields; `add_links` adds to its links. Applied to the
    stored hypothesis in the same transaction, so concurrent changes to other fields stay."""

    model_config = ConfigDict(extra="forbid")

    statement: str | None = Field(None, min_length=1, max_length=5_000)
    metric: str | None = Field(None, max_length=250)
    expected_effect: str | None = Field(None, max_length=1_000)
    status: HypothesisStatus | None = None
    owner: str | None = None
    add_links: list[str] = Field([], description="runs and evaluations to link as well")

    def apply(self, current: HypothesisSet) -> HypothesisSet:
        changes = self.model_dump(exclude_none=True, exclude={"add_links"})
        base = current.model_dump(include=set(HypothesisSet.model_fields))
        links = _merged_links(current.links, self.add_links)
        return HypothesisSet.model_validate({**base, **changes, "links": links})


class Hypothesis(HypothesisSet):
    project: str
    number: int
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str


class Level(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class RiskStatus(enum.StrEnum):
    OPEN = "open"
    MITIGATED = "mitigated"
    ACCEPTED = "accepted"
    CLOSED = "closed"


class RiskSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=5_000)
    likelihood: Level = Level.MEDIUM
    impact: Level = Level.MEDIUM
    mitigation: str = Field("", max_length=10_000)
    owner: str = Field(description="a member of the project")
    status: RiskStatus = RiskStatus.OPEN
    review_date: dt.date | None = Field(None, description="when to look at it again")
    links: list[str] = []


class RiskPatch(BaseModel):
    """Change some of a risk's fields; `add_links` adds to its links (see HypothesisPatch)."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(None, min_length=1, max_length=5_000)
    likelihood: Level | None = None
    impact: Level | None = None
    mitigation: str | None = Field(None, max_length=10_000)
    owner: str | None = None
    status: RiskStatus | None = None
    review_date: dt.date | None = None
    add_links: list[str] = []

    def apply(self, current: RiskSet) -> RiskSet:
        changes = self.model_dump(exclude_none=True, exclude={"add_links"})
        base = current.model_dump(include=set(RiskSet.model_fields))
        links = _merged_links(current.links, self.add_links)
        return RiskSet.model_validate({**base, **changes, "links": links})


class Risk(RiskSet):
    model_config = ConfigDict(extra="ignore")  # `overdue` comes back computed

    project: str
    number: int
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def overdue(self) -> bool:
        """An open risk whose review date has passed."""
        return (
            self.status is RiskStatus.OPEN
            and self.review_date is not None
            and self.review_date < dt.datetime.now(dt.UTC).date()
        )


class RetroFormat(enum.StrEnum):
    START_STOP_CONTINUE = "start-stop-continue"
    FOUR_LS = "4ls"


RETRO_SECTIONS: dict[RetroFormat, tuple[str, ...]] = {
    RetroFormat.START_STOP_CONTINUE: ("start", "stop", "continue"),
    RetroFormat.FOUR_LS: ("liked", "learned", "lacked", "longed-for"),
}


class ActionKind(enum.StrEnum):
    """What a postmortem's action item does (docs/incidents.md); other items have none."""

    MITIGATE = "mitigate"  # lessen the harm if it happens again
    PREVENT = "prevent"  # stop it happening again
    PROCESS = "process"  # change how the team works


class ActionItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=1_000)
    owner: str = Field(description="a member of the project")
    due: dt.date | None = None
    kind: ActionKind | None = Field(None, description="mitigate, prevent or process")


class RetroCreate(BaseModel):
    """A retrospective (or a postmortem's review) in a format, with its action items."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    format: RetroFormat = RetroFormat.START_STOP_CONTINUE
    entries: dict[str, list[str]] = Field(
        {}, description="section -> notes; sections: start/stop/continue or liked/learned/..."
    )
    action_items: list[ActionItemCreate] = []
    links: list[str] = []


class Retrospective(BaseModel):
    project: str
    number: int
    title: str
    format: RetroFormat
    entries: dict[str, list[str]]
    links: list[str]
    action_items: list[int] = Field([], description="the numbers of its action items")
    created_at: int
    created_by: str


class ActionStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"


class ActionItem(BaseModel):
    project: str
    number: int
    title: str
    owner: str
    due: dt.date | None = None
    status: ActionStatus
    source: str = Field("", description="where it came from, e.g. retrospectives/2")
    kind: ActionKind | None = Field(None, description="a postmortem's: mitigate|prevent|process")
    created_at: int
    created_by: str
    done_at: int | None = None
    done_by: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def overdue(self) -> bool:
        return (
            self.status is ActionStatus.OPEN
            and self.due is not None
            and self.due < dt.datetime.now(dt.UTC).date()
        )


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str = Field(description="what it is about, e.g. models/churn-gbm@3 or gates/ID")
    body: str = Field(min_length=1, max_length=20_000, description="@name mentions a member")


class Comment(BaseModel):
    project: str
    id: int
    target: str
    body: str
    author: str
    mentions: list[str]
    created_at: int
