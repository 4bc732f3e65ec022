"""The order stages run in: a stage runs after every stage whose output it reads."""

from __future__ import annotations

import graphlib
from collections.abc import Iterable

from tandem.errors import InvalidInput
from tandem.pipelines.spec import Pipeline, paths_overlap


def producers(pipeline: Pipeline) -> dict[str, str]:
    """Each declared output -> the stage that writes it.

    Raises:
        InvalidInput: two stages write the same path (or one inside the other).
    """
    owner: dict[str, str] = {}
    for stage in pipeline.stages.values():
        for out in stage.outputs:
            for other, name in owner.items():
                if paths_overlap(out, other):
                    shared = min(out, other, key=len)
                    raise InvalidInput(f"stages {name!r} and {stage.name!r} both write {shared!r}")
            owner[out] = stage.name
    return owner


class OutputIndex:
    """Finds the declared outputs a path overlaps (is, lies inside, or contains) without
    comparing it with every output: 10,000 dependencies x 50 outputs stay cheap."""

    def __init__(self, owner: dict[str, str]) -> None:
        self.owner = owner
        self.inside: dict[str, list[str]] = {}  # folder -> the outputs below it
        for out in owner:
            parts = out.split("/")
            for i in range(1, len(parts)):
                self.inside.setdefault("/".join(parts[:i]), []).append(out)

    def matches(self, path: str) -> list[str]:
        if path == "." or "." in self.owner:
            return list(self.owner)
        found = [path] if path in self.owner else []
        parts = path.split("/")
        found += [
            "/".join(parts[:i]) for i in range(1, len(parts)) if "/".join(parts[:i]) in self.owner
        ]
        return found + self.inside.get(path, [])


def upstream_outputs(pipeline: Pipeline, stage_name: str) -> list[tuple[str, str, str]]:
    """(dependency, upstream stage, its output) for each dependency another stage writes."""
    index = OutputIndex(producers(pipeline))
    return [
        (dep, index.owner[out], out)
        for dep in pipeline.stages[stage_name].deps
        for out in index.matches(dep)
        if index.owner[out] != stage_name
    ]


def build_graph(pipeline: Pipeline) -> dict[str, set[str]]:
    """stage -> the stages it must wait for.

    Raises:
        InvalidInput: a cycle (named stage by stage) or two stages writing one output.
    """
    index = OutputIndex(producers(pipeline))
    graph: dict[str, set[str]] = {name: set() for name in pipeline.stages}
    for stage in pipeline.stages.values():
        for dep in stage.deps:
            for out in index.matches(dep):
                name = index.owner[out]
                if name == stage.name:
                    raise InvalidInput(f"stage {stage.name!r} reads its own output {out!r}")
                graph[stage.name].add(name)
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(reversed(exc.args[1]))
        raise InvalidInput(f"the stages depend on each other in a cycle: {cycle}") from None
    return graph


def with_upstream(graph: dict[str, set[str]], targets: Iterable[str]) -> set[str]:
    """`targets` and every stage they need, directly or not."""
    wanted: set[str] = set()
    stack = list(targets)
    while stack:
        name = stack.pop()
        if name not in wanted:
            wanted.add(name)
            stack.extend(graph[name])
    return wanted
