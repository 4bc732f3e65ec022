"""A lineage graph as text for a terminal, or as Graphviz DOT (shared by the CLI and web UI)."""

from __future__ import annotations

from tandem.lineage.models import LineageGraph, LineageNode

KIND_LABEL = {
    "run": "run",
    "dataset-version": "dataset",
    "artifact": "artifact",
    "model-version": "model",
    "evaluation": "evaluation",
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
