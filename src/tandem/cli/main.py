"""`tandem`: the command line. Every command goes through the SDK, so it behaves the same against
an embedded workspace and a server (`--url`, `TANDEM_URL`)."""

from __future__ import annotations

import copy
import functools
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup
from typer.models import TyperInfo

from tandem.cli import output
from tandem.cli.access import audit, members_app, tokens_app, users_app
from tandem.cli.alerts import alerts_app
from tandem.cli.data import app as data_app
from tandem.cli.deployments import deploy as deploy_command
from tandem.cli.deployments import endpoints_app, predictions_app
from tandem.cli.evaluate import delete_evaluation as delete_evaluation_command
from tandem.cli.evaluate import evaluate as evaluate_command
from tandem.cli.evaluate import evaluations as evaluations_command
from tandem.cli.governance import (
    brief_app,
    criteria_app,
    decision_app,
    gate_app,
    project_app,
    raci_app,
    scorecard_command,
)
from tandem.cli.incidents import incidents_app, postmortems_app
from tandem.cli.lineage import lineage as lineage_command
from tandem.cli.monitoring import monitors_app
from tandem.cli.outcomes import labels_app, metrics_app, performance_app
from tandem.cli.pipelines import register as register_pipelines
from tandem.cli.projects import app as projects_app
from tandem.cli.registers import (
    action_app,
    activity_command,
    comment_app,
    hypothesis_app,
    notifications_command,
    retro_app,
    risk_app,
)
from tandem.cli.registry import app as models_app
from tandem.cli.residents import resident_app
from tandem.cli.serving import serve as serve_command
from tandem.cli.tracking import app as runs_app
from tandem.cli.worker import worker as worker_command
from tandem.cli.workspace import register as register_workspace

try:  # recent typer carries its own copy of click
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer runs on click itself
    from click import exceptions as click_errors  # type: ignore[no-redef]

NoArgsIsHelpError: Any = getattr(click_errors, "NoArgsIsHelpError", ())


class TandemGroup(TyperGroup):
    """The root command: a usage error (unknown option, missing argument, bad value) is one
    line on stderr and exit code 2, like every other bad input. Every command under it takes
    the root's options too (`with_global_options`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        add_global_options(self)  # the tree typer builds at once (the lazy one adds its own)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.ClickException as exc:
            if isinstance(exc, NoArgsIsHelpError):  # `tandem runs`: the group's help
                exc.show()
                sys.exit(exc.exit_code)
            hint = ""
            ctx = getattr(exc, "ctx", None)
            if isinstance(exc, click_errors.UsageError) and ctx is not None:
                hint = f" (see: {ctx.command_path} --help)"
            output.error_line(exc.format_message() + hint)
            sys.exit(exc.exit_code)
        except typer.Abort:
            output.err_console.print("aborted")
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="tandem",
    cls=TandemGroup,
    help="tandem: briefs, data, runs, models, evaluation, gates, pipelines and deployments in one place.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # The top-level help in plain text: rendering it with Rich costs ~40 ms of start-up, and
    # `tandem --help` should start as fast as `dvc --version`. Subcommands keep Rich's help.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    url: Annotated[str | None, typer.Option("--url", help="server URL (default: TANDEM_URL, or the embedded workspace)")] = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="default project (TANDEM_PROJECT)")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="show stack traces")] = False,
) -> None:  # fmt: skip
    output.reset_client()
    output.OPTIONS.update(url=url or None, project=project or None, executor=None)
    output.DEBUG["on"] = debug


def _set_url(value: str | None) -> None:
    if value:
        output.OPTIONS["url"] = value


def _set_project(value: str | None) -> None:
    if value:
        output.OPTIONS["project"] = value


def _set_debug(value: bool) -> None:
    if value:
        output.DEBUG["on"] = True


def _global_options(
    global_url: Annotated[str | None, typer.Option("--url", help="server URL (as `tandem --url`)", callback=_set_url, expose_value=False)] = None,
    global_project: Annotated[str | None, typer.Option("--project", "-p", help="default project (as `tandem --project`)", callback=_set_project, expose_value=False)] = None,
    global_debug: Annotated[bool, typer.Option("--debug", help="show stack traces", callback=_set_debug, expose_value=False)] = False,
) -> None:  # fmt: skip
    """The root's options, which every command takes too (`tandem runs show RUN -p churn`).
    Their names are their own, so a command's argument called `url` is not read as one."""


@functools.cache
def _global_params() -> tuple[Any, ...]:
    from typer.models import CommandInfo

    info = CommandInfo(callback=_global_options)
    return tuple(typer.main.get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=None).params)  # fmt: skip


def with_global_options(command: Any) -> Any:
    """`command` taking the root's options as well (those it does not declare itself), so a
    global option works after the command as before it."""
    taken = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for param in _global_params():
        if not taken.intersection(param.opts):
            command.params.append(copy.copy(param))
    return command


def _leaf(command_info: Any, **settings: Any) -> Any:
    return with_global_options(typer.main.get_command_from_info(command_info, **settings))


def add_global_options(group: Any) -> Any:
    """Give every command under `group` the root's options (for a tree typer built at once)."""
    for child in group.commands.values():
        if hasattr(child, "commands"):
            add_global_options(child)
        else:
            with_global_options(child)
    return group


@app.command()
def version(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Print tandem's version."""
    from tandem.core.version import __version__

    if as_json:
        output.print_json({"version": __version__})
    else:
        output.console.print(__version__)


app.add_typer(projects_app, name="projects")
app.add_typer(runs_app, name="runs")
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")
app.command("evaluate")(evaluate_command)
models_app.command("evaluations")(evaluations_command)
models_app.command("delete-evaluation")(delete_evaluation_command)
app.command("lineage")(lineage_command)
app.add_typer(brief_app, name="brief")
app.add_typer(criteria_app, name="criteria")
app.add_typer(raci_app, name="raci")
app.command("scorecard")(scorecard_command)
app.add_typer(project_app, name="project")
app.add_typer(gate_app, name="gate")
app.add_typer(endpoints_app, name="endpoints")
app.command("deploy")(deploy_command)
app.add_typer(predictions_app, name="predictions")
app.add_typer(incidents_app, name="incidents")
app.add_typer(postmortems_app, name="postmortems")
app.add_typer(monitors_app, name="monitors")
app.add_typer(labels_app, name="labels")
app.add_typer(performance_app, name="performance")
app.add_typer(metrics_app, name="metrics")
app.add_typer(alerts_app, name="alerts")
app.add_typer(decision_app, name="decision")
app.add_typer(hypothesis_app, name="hypothesis")
app.add_typer(risk_app, name="risk")
app.add_typer(retro_app, name="retro")
app.add_typer(action_app, name="action")
app.add_typer(comment_app, name="comment")
app.command("activity")(activity_command)
app.command("notifications")(notifications_command)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(members_app, name="members")
app.command()(audit)
app.command("serve")(serve_command)
app.command("worker")(worker_command)
app.add_typer(resident_app, name="resident")
register_workspace(app)
register_pipelines(app)


@functools.cache
def command() -> Any:
    """The click command tree behind `app`, the same as `typer.main.get_command(app)` builds,
    but each group's commands are built on first use: building a command inspects its
    signature, and doing that for every command cost more than most commands (0.06 s). The
    resident process builds them all before it forks (ADR 16)."""
    settings = {
        "pretty_exceptions_short": app.pretty_exceptions_short,
        "rich_markup_mode": app.rich_markup_mode,
        "suggest_commands": app.suggest_commands,
    }
    return _lazy_group(TyperInfo(app), settings)


class _LazyCommands(dict[str, Any]):
    """A group's commands by name; each value is built from its typer registration the first
    time it is read (click reads them through `get`, `[]`, `values` and `items`)."""

    def __init__(self, builders: dict[str, Callable[[], Any]]) -> None:
        super().__init__(builders)
        self._built: set[str] = set()

    def _built_command(self, name: str) -> Any:
        if name not in self._built:
            super().__setitem__(name, super().__getitem__(name)())
            self._built.add(name)
        return super().__getitem__(name)

    def __getitem__(self, name: str) -> Any:
        return self._built_command(name)

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, value)
        self._built.add(name)

    def get(self, name: str, default: Any = None) -> Any:
        return self._built_command(name) if name in self else default

    def values(self) -> list[Any]:  # type: ignore[override]
        return [self._built_command(name) for name in self]

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return [(name, self._built_command(name)) for name in self]


def _lazy_group(info: TyperInfo, settings: dict[str, Any]) -> Any:
    """What `typer.main.get_group_from_info` builds for `info`, with lazy commands."""
    instance = info.typer_instance
    assert instance is not None
    shallow = copy.copy(instance)  # the group itself: its callback and options, no commands
    shallow.registered_commands, shallow.registered_groups = [], []
    shallow_info = copy.copy(info)
    shallow_info.typer_instance = shallow
    group = typer.main.get_group_from_info(shallow_info, **settings)
    builders: dict[str, Callable[[], Any]] = {}
    for command_info in instance.registered_commands:
        assert command_info.callback is not None
        name = command_info.name or typer.main.get_command_name(command_info.callback.__name__)
        builders[name] = functools.partial(
            _leaf,
            command_info,
            pretty_exceptions_short=settings["pretty_exceptions_short"],
            rich_markup_mode=settings["rich_markup_mode"],
        )
    for group_info in instance.registered_groups:
        group_name = typer.main.solve_typer_info_defaults(group_info).name
        assert group_name, "every sub-app is added with a name"
        builders[group_name] = functools.partial(_lazy_group, group_info, settings)
    group.commands = _LazyCommands(builders)
    return group


def build_all(group: Any) -> None:
    """Build every command under `group` now (the resident, before it forks)."""
    for child in group.commands.values():
        if isinstance(getattr(child, "commands", None), _LazyCommands):
            build_all(child)


def exit_on_signal(signum: int, _frame: object) -> None:
    """Terminated or hung up: unwind as after Ctrl-C, so a running stage's processes are
    taken down and its run is recorded as killed, not left running."""
    raise SystemExit(128 + signum)


def main() -> None:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:  # not under `nohup`
            signal.signal(signum, exit_on_signal)
    command().main(prog_name="tandem")


if __name__ == "__main__":
    main()
