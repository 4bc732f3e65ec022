"""What the lineage API speaks: nodes, edges and the graph around one entity."""

from __future__ import annotations

import enum
from typing import NamedTuple

from pydantic import BaseModel, Field

from tandem.errors import InvalidInput

MAX_DEPTH = 50
DEFAULT_DEPTH = 10
MAX_NODES = 5_000  # a walk stops growing past this; the graph says it was cut


class NodeKind(enum.StrEnum):
    RUN = "run"
    DATASET_VERSION = "dataset-version"
    ARTIFACT = "artifact"
    MODEL_VERSION = "model-version"
    EVALUATION = "evaluation"
    INCIDENT = "incident"
    POSTMORTEM = "postmortem"
    ENDPOINT = "endpoint"
    DEPLOYMENT = "deployment"
    ACTION_ITEM = "action-item"


class Relation(enum.StrEnum):
    """What an edge means, read from its source to its destination."""

    CONSUMED_BY = "consumed-by"  # input -> the run that read it
    PRODUCED = "produced"  # run -> what it wrote
    EVALUATED_ON = "evaluated-on"  # dataset version -> evaluation
    EVALUATED = "evaluated"  # model version -> evaluation
    INVOLVED_IN = "involved-in"  # endpoint, deployment, model or dataset version -> incident
    DEPLOYED_AS = "deployed-as"  # model version -> its deployment
    SERVES = "serves"  # deployment -> the endpoint whose traffic it takes
    FOLLOWED_UP_BY = "followed-up-by"  # postmortem -> an action item it created
    REVIEWED_IN = "reviewed-in"  # incident -> its postmortem


class Entity(NamedTuple):
    """An entity as the graph names it: what a domain passes when it links its entities."""

    kind: NodeKind
    entity_pk: int
    project_pk: int
    path: str = ""  # artifacts: the path inside the run


class NodeLabel(NamedTuple):
    """How a domain describes one of its entities on the graph (its lineage read model)."""

    project_pk: int
    ref: str  # inside its project, e.g. "runs/8f3a...", "datasets/customers@v3"
    label: str
    status: str | None = None


class Direction(enum.StrEnum):
    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"
    BOTH = "both"


class LineageNode(BaseModel):
    id: int = Field(description="the node's number in this graph's edges")
    kind: NodeKind
    ref: str = Field(description="e.g. churn/runs/8f3a..., churn/datasets/customers@v3")
    label: str
    project: str
    depth: int = Field(description="links from the root: negative upstream, positive downstream")
    status: str | None = None


class LineageEdge(BaseModel):
    src: int
    dst: int
    relation: str


class LineageGraph(BaseModel):
    root: int
    nodes: list[LineageNode]
    edges: list[LineageEdge]
    truncated: bool = Field(False, description="the walk stopped at the node limit")


class LinkCreate(BaseModel):
    """An edge between two entities named by reference, e.g. an artifact of one run read by
    another: `{"src": "churn/runs/ab12.../artifacts/out/x.csv", "dst": "churn/runs/cd34...",
    "relation": "consumed-by"}`."""

    src: str
    dst: str
    relation: Relation = Relation.CONSUMED_BY


REF_FORMS = (
    "RUN_ID, runs/RUN_ID, runs/RUN_ID/artifacts/PATH, datasets/NAME@vN, models/NAME@N, "
    "evaluations/ID, incidents/N, postmortems/N, endpoints/NAME, deployments/ID, actions/N "
    "(each may start with PROJECT/)"
)


def split_ref(text: str, default_project: str | None) -> tuple[NodeKind, str | None, str]:
    """`[PROJECT/]KIND/REST` (or a bare run id) as (kind, project, rest)."""
    parts = text.strip().strip("/").split("/")
    project: str | None
    kinds = {
        "runs": NodeKind.RUN,
        "datasets": NodeKind.DATASET_VERSION,
        "models": NodeKind.MODEL_VERSION,
        "evaluations": NodeKind.EVALUATION,
        "incidents": NodeKind.INCIDENT,
        "postmortems": NodeKind.POSTMORTEM,
        "endpoints": NodeKind.ENDPOINT,
        "deployments": NodeKind.DEPLOYMENT,
        "actions": NodeKind.ACTION_ITEM,
    }
    if len(parts) == 1 and parts[0]:
        return NodeKind.RUN, default_project, parts[0]
    if len(parts) >= 3 and parts[1] in kinds:
        project, segment, rest = parts[0], parts[1], parts[2:]
    elif len(parts) >= 2 and parts[0] in kinds:
        project, segment, rest = default_project, parts[0], parts[1:]
    else:
        raise InvalidInput(f"invalid lineage reference {text!r}: use {REF_FORMS}")
    kind = kinds[segment]
    if kind is NodeKind.RUN and len(rest) >= 3 and rest[1] == "artifacts":
        return NodeKind.ARTIFACT, project, "/".join([rest[0], *rest[2:]])
    if len(rest) != 1 or not rest[0]:
        raise InvalidInput(f"invalid lineage reference {text!r}: use {REF_FORMS}")
    return kind, project, rest[0]
