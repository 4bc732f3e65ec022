"""`tandem` builds each group's commands on first use (`tandem.cli.main.command`); the tree it
ends up with must be the one typer builds all at once: same commands, options, defaults and
help, at every level."""

from __future__ import annotations

import functools
from typing import Any

import typer.main

from tandem.cli.main import app, build_all, command


def walk(group: Any, parent: Any = None, path: str = "tandem") -> dict[str, str]:
    """Every command's path -> its help text, rendered in its own context."""
    context = group.make_context(path.rsplit(" ", 1)[-1], [], parent=parent,
                                 resilient_parsing=True)  # fmt: skip
    found = {path: group.get_help(context)}
    for name in getattr(group, "commands", {}):
        found.update(walk(group.commands[name], context, f"{path} {name}"))
    return found


def test_the_lazy_tree_is_the_tree_typer_builds() -> None:
    lazy, full = walk(command()), walk(typer.main.get_command(app))
    assert list(lazy) == list(full)  # the same commands, in the same order
    assert len(lazy) > 100
    for path, text in full.items():
        assert lazy[path] == text, path


def test_commands_are_built_on_first_use() -> None:
    tree = command.__wrapped__()  # a fresh tree, not the cached one
    assert all(isinstance(v, functools.partial) for v in dict.values(tree.commands))
    runs = tree.commands["runs"]
    assert runs.name == "runs" and "search" in runs.commands
    assert not isinstance(dict.__getitem__(tree.commands, "runs"), functools.partial)
    assert isinstance(dict.__getitem__(tree.commands, "data"), functools.partial)
    assert tree.commands.get("nosuch") is None
    build_all(tree)  # what the resident does before it forks
    assert not any(isinstance(v, functools.partial) for v in dict.values(tree.commands))
    assert not any(isinstance(v, functools.partial) for v in dict.values(runs.commands))
