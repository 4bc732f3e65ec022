"""`client.lineage`: the graph around any entity, and links a client records itself.

graph = client.lineage.graph("datasets/customers@v3", direction="downstream")
print(tandem.lineage.render.text_tree(graph))
client.lineage.link("runs/ab12.../artifacts/out/features.parquet", "runs/cd34...")
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from tandem.lineage.models import (
    DEFAULT_DEPTH,
    Direction,
    LineageEdge,
    LineageGraph,
    LinkCreate,
    Relation,
    split_ref,
)
from tandem.sdk.transport import Http

if TYPE_CHECKING:
    from tandem.sdk.client import Client

API = "/api/v1"


class Lineage:
    def __init__(self, http: Http, client: Client) -> None:
        self._http = http
        self._client = client

    def graph(
        self,
        ref: str,
        *,
        direction: Direction | str = Direction.BOTH,
        depth: int = DEFAULT_DEPTH,
        project: str | None = None,
    ) -> LineageGraph:
        """What `ref` was made from (upstream) and what was made from it (downstream).

        `ref`: `RUN_ID`, `runs/ID`, `runs/ID/artifacts/PATH`, `datasets/NAME@vN`,
        `models/NAME@N` or `evaluations/ID`, each optionally `PROJECT/...`.
        """
        _, named, _ = split_ref(ref, None)  # a bad reference fails here, before any request
        project_name = named or self._client.project_name(project)
        response = self._http.request(
            "GET",
            f"{API}/projects/{quote(project_name, safe='')}/lineage",
            params={"ref": ref, "direction": Direction(direction).value, "depth": depth},
        )
        return LineageGraph.model_validate_json(response.content)

    def link(
        self,
        src: str,
        dst: str,
        relation: Relation | str = Relation.CONSUMED_BY,
        *,
        project: str | None = None,
    ) -> LineageEdge:
        """Record that `src` was consumed by run `dst` (or, `relation="produced"`, that run
        `src` produced `dst`)."""
        body = LinkCreate(src=src, dst=dst, relation=Relation(relation))
        project_name = self._client.project_name(project)
        response = self._http.request(
            "POST",
            f"{API}/projects/{quote(project_name, safe='')}/lineage/links",
            json=body.model_dump(mode="json"),
        )
        return LineageEdge.model_validate_json(response.content)
