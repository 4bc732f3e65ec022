"""A lineage graph as text for a terminal, or as Graphviz DOT (shared by the CLI and web UI)."""

from __future__ import annotations

from tandem.lineage.models import LineageGraph, LineageNode

KIND_LABEL = {
    "run": "run",
    "dataset-version": "dataset",
    "artifact": "artifact",
    "model-version": "model",
    "evaluation": "evaluation",
    "incident": "incident",
    "postmortem": "postmortem",
    "endpoint": "endpoint",
    "deployment": "deployment",
    "action-item": "action",
}


def _line(node: LineageNode) -> str:
    status = f" [{node.status}]" if node.status else ""
    return f"{KIND_LABEL[node.kind.value]} {node.label}{status}  {node.ref}"


def text_tree(graph: LineageGraph) -> str:
    """The root, then what it came from (upstream, ↑) and what came from it (downstream, ↓),
    each as an indented tree; a node reached twice is printed once and then referred to."""
    nodes = {node.id: node for node in graph.nodes}
    children: dict[int, list[int]] = {}
    parents: dict[int, list[int]] = {}
    for edge in graph.edges:
        children.setdefault(edge.src, []).append(edge.dst)
        parents.setdefault(edge.dst, []).append(edge.src)
    lines = [_line(nodes[graph.root])]
    for title, adjacency, sign in (("upstream", parents, -1), ("downstream", children, 1)):
        branch: list[str] = []
        _branch(nodes, adjacency, sign, graph.root, "  ", {graph.root}, branch)
        if branch:
            lines.append(f"{title}:")
            lines.extend(branch)
    if graph.truncated:
        lines.append("(cut at the node limit: ask for less depth)")
    return "\n".join(lines)


def _branch(
    nodes: dict[int, LineageNode],
    adjacency: dict[int, list[int]],
    sign: int,
    pk: int,
    prefix: str,
    seen: set[int],
    out: list[str],
) -> None:
    kids = [k for k in adjacency.get(pk, []) if k in nodes and nodes[k].depth * sign > 0]
    kids.sort(key=lambda k: (abs(nodes[k].depth), nodes[k].ref))
    for index, kid in enumerate(kids):
        last = index == len(kids) - 1
        mark = "└─ " if last else "├─ "
        if kid in seen:
            out.append(f"{prefix}{mark}{_line(nodes[kid])} (shown above)")
            continue
        seen.add(kid)
        out.append(f"{prefix}{mark}{_line(nodes[kid])}")
        _branch(nodes, adjacency, sign, kid, prefix + ("   " if last else "│  "), seen, out)


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped + '"'


SHAPES = {
    "run": "box",
    "dataset-version": "cylinder",
    "artifact": "note",
    "model-version": "component",
    "evaluation": "ellipse",
    "incident": "octagon",
    "postmortem": "note",
    "endpoint": "house",
    "deployment": "cds",
    "action-item": "note",
}


def dot(graph: LineageGraph) -> str:
    """Graphviz DOT, inputs to the left: `tandem lineage REF --format dot | dot -Tsvg`."""
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for node in graph.nodes:
        label = f"{KIND_LABEL[node.kind.value]}\n{node.label}"
        style = ", style=bold" if node.id == graph.root else ""
        lines.append(
            f"  n{node.id} [label={_quote(label)}, shape={SHAPES[node.kind.value]}, "
            f"tooltip={_quote(node.ref)}{style}];"
        )
    for edge in graph.edges:
        lines.append(f"  n{edge.src} -> n{edge.dst} [label={_quote(edge.relation)}];")
    lines.append("}")
    return "\n".join(lines)


def page_url(node: LineageNode) -> str | None:
    """The web page of a node's entity (None: it has no page of its own)."""
    from urllib.parse import quote

    parts = node.ref.split("/")
    project = quote(parts[0], safe="")
    if node.kind.value == "run":
        return f"/projects/{project}/runs/{parts[2]}"
    if node.kind.value == "artifact":
        path = quote("/".join(parts[4:]), safe="/")
        return f"/projects/{project}/runs/{parts[2]}?preview={path}#preview"
    if node.kind.value == "dataset-version":
        name, _, version = parts[2].partition("@")
        return f"/projects/{project}/datasets/{quote(name, safe='')}/versions/{version}"
    if node.kind.value == "model-version":
        name, _, version = parts[2].partition("@")
        return f"/projects/{project}/models/{quote(name, safe='')}/versions/{version}"
    if node.kind.value == "incident":
        return f"/projects/{project}/incidents/{parts[2]}"
    if node.kind.value == "postmortem":
        return f"/projects/{project}/incidents/{parts[2]}/postmortem"
    if node.kind.value == "endpoint":
        return f"/projects/{project}/endpoints/{quote(parts[2], safe='')}"
    return None


BOX_W, BOX_H, GAP_X, GAP_Y = 190, 44, 60, 14


def svg(graph: LineageGraph, max_per_column: int = 12) -> str:
    """The graph as an inline SVG, inputs on the left, one column per distance from the root;
    each box links to its entity's page. Server-rendered: no script, no layout library."""
    from html import escape

    columns: dict[int, list[LineageNode]] = {}
    for node in graph.nodes:
        columns.setdefault(node.depth, []).append(node)
    depths = sorted(columns)
    place: dict[int, tuple[int, int]] = {}
    hidden = 0
    for x_index, depth in enumerate(depths):
        nodes = sorted(columns[depth], key=lambda n: (n.kind.value, n.label))
        hidden += max(len(nodes) - max_per_column, 0)
        for y_index, node in enumerate(nodes[:max_per_column]):
            place[node.id] = (x_index * (BOX_W + GAP_X) + 4, y_index * (BOX_H + GAP_Y) + 4)
    rows = max(min(len(c), max_per_column) for c in columns.values())
    width = len(depths) * (BOX_W + GAP_X) - GAP_X + 8
    height = rows * (BOX_H + GAP_Y) - GAP_Y + 8
    out = [
        f'<svg class="lineage" role="img" aria-label="lineage graph" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for edge in graph.edges:
        if edge.src in place and edge.dst in place:
            (x1, y1), (x2, y2) = place[edge.src], place[edge.dst]
            if x1 > x2:
                (x1, y1), (x2, y2) = (x2, y2), (x1, y1)
            sx, sy, ex, ey = x1 + BOX_W, y1 + BOX_H / 2, x2, y2 + BOX_H / 2
            mid = (sx + ex) / 2
            out.append(
                f'<path class="edge" d="M{sx},{sy} C{mid},{sy} {mid},{ey} {ex},{ey}">'
                f"<title>{escape(edge.relation)}</title></path>"
            )
    for node in graph.nodes:
        if node.id not in place:
            continue
        x, y = place[node.id]
        root = " root" if node.id == graph.root else ""
        label = node.label if len(node.label) <= 26 else node.label[:25] + "…"
        box = (
            f'<g class="node {node.kind.value}{root}"><title>{escape(node.ref)}</title>'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="5"/>'
            f'<text x="{x + 8}" y="{y + 16}" class="kind">{escape(KIND_LABEL[node.kind.value])}'
            f"{' · ' + escape(node.status) if node.status else ''}</text>"
            f'<text x="{x + 8}" y="{y + 34}">{escape(label)}</text></g>'
        )
        url = page_url(node)
        out.append(f'<a href="{escape(url)}">{box}</a>' if url and node.id != graph.root else box)
    out.append("</svg>")
    if hidden:
        out.append(
            f'<p class="muted">{hidden} more not drawn: see <code>tandem lineage</code>.</p>'
        )
    return "".join(out)
