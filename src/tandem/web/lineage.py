"""The lineage drawing on run and dataset version pages: the neighbourhood of the entity,
three links each way, as server-rendered SVG (`tandem.lineage.render.svg`)."""

from __future__ import annotations

from markupsafe import Markup

from tandem.core.auth import Principal
from tandem.lineage.models import Direction
from tandem.lineage.render import svg
from tandem.web.deps import Services

PAGE_DEPTH = 3


def lineage_view(services: Services, principal: Principal, project: str, ref: str) -> Markup | None:
    """The drawing, or None when nothing is linked to the entity yet."""
    graph = services.lineage.graph(principal, project, ref, Direction.BOTH, PAGE_DEPTH)
    if len(graph.nodes) < 2:
        return None
    return Markup(svg(graph))
