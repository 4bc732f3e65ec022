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


# Commands whose output is a document of its own (YAML, Markdown) or a server's log: no --json.
NO_JSON = {
    "tandem serve": "runs a server until stopped",
    "tandem server": "runs a server until stopped",
    "tandem data contract init": "prints an ODCS YAML draft",
    "tandem models card-text": "prints the model card's Markdown",
}


def leaves(group: Any, path: str = "tandem") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in group.commands:
        child = group.commands[name]
        if hasattr(child, "commands"):
            found.update(leaves(child, f"{path} {name}"))
        else:
            found[f"{path} {name}"] = child
    return found


def test_every_command_takes_the_global_options_and_json() -> None:
    """The README puts `-p churn` after the command everywhere: every command takes the root's
    options (-p/--project, --url, --debug) itself, and every command that prints data takes
    --json (docs/cli.md promises it)."""
    commands = leaves(command())
    assert len(commands) > 100
    missing_json = []
    for path, leaf in commands.items():
        options = {opt for param in leaf.params for opt in (*param.opts, *param.secondary_opts)}
        for opt in ("-p", "--project", "--url", "--debug"):
            assert opt in options, f"{path} does not take {opt}"
        if "--json" not in options and path not in NO_JSON:
            missing_json.append(path)
    assert missing_json == []
    assert set(NO_JSON) <= set(commands)


def test_a_global_option_after_the_command_sets_the_default_project(tandem: Any, sdk: Any) -> None:
    sdk.projects.create("churn")
    with sdk.start_run(project="churn") as run:
        run.log_metrics({"auc": 0.9})
    listed = tandem("runs", "list", "--json", "-p", "churn").json()
    assert [r["id"] for r in listed["items"]] == [run.id]
    shown = tandem("runs", "show", run.id[:8], "-p", "churn", "--json").json()
    assert shown["project"] == "churn"
    # `runs history` takes no project of its own: -p is the global option there.
    history = tandem("runs", "history", run.id, "auc", "--project", "churn", "--json")
    assert history.code == 0, history.stderr
    broken = tandem("runs", "show", "nosuchrun", "-p", "churn", "--debug")
    assert broken.code != 0 and broken.exception is not None  # --debug: the trace, not a line
