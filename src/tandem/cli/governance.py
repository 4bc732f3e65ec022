"""`tandem brief|criteria|raci|scorecard|project ...`: the agreement a project works to."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tandem.cli.output import console, err_console, fmt_value, get_client, handle_errors, print_json
from tandem.core.clock import format_ms
from tandem.errors import InvalidInput

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="the project (default: TANDEM_PROJECT)")]  # fmt: skip

brief_app = typer.Typer(
    help="The project's brief: business goal, user story, approach, dependencies, constraints, "
    "out of scope. Every change is a new version.",
    no_args_is_help=True,
)
criteria_app = typer.Typer(
    help="Success criteria: product, model, system and fairness checks each model version is "
    "scored against.",
    no_args_is_help=True,
)
raci_app = typer.Typer(
    help="Who is Responsible, Accountable, Consulted and Informed for each activity.",
    no_args_is_help=True,
)
project_app = typer.Typer(
    help="The brief, criteria and RACI as one YAML file in your repository (project as code). "
    "`tandem projects` creates and lists the projects themselves.",
    no_args_is_help=True,
)

VERDICT_STYLE = {"met": "green", "not-met": "red", "no-evidence": "yellow"}
ACTION_MARK = {"create": "[green]+[/]", "update": "[yellow]~[/]", "delete": "[red]-[/]"}


def _say(text: str) -> None:
    """Print Rich markup (the shared console prints text as is); values are escaped."""
    console.print(text, markup=True)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text") from None


def _print_diff(diff: str) -> None:
    for line in diff.splitlines():
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
        if line.startswith(("+++", "---")):
            style = "bold"
        _say(f"[{style}]{escape(line)}[/]")


# -- brief ---------------------------------------------------------------------------------


@brief_app.command("show")
@handle_errors
def brief_show(
    version: Annotated[int | None, typer.Option("--version", "-v", help="an older version")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="print it as the Markdown `brief apply` reads")] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Show the brief."""
    from tandem.governance.plan.documents import brief_markdown
    from tandem.governance.plan.models import BRIEF_FIELDS

    brief = get_client().governance.plan.brief(version=version, project=project)
    if as_json:
        print_json(brief)
        return
    if markdown:
        sys.stdout.write(brief_markdown(brief, f"{brief.project} brief") + "\n")
        return
    if brief.version == 0:
        _say(f"{brief.project} has no brief yet: write one with `tandem brief apply brief.md`")
        return
    _say(
        f"[bold]{escape(brief.project)} brief[/], version {brief.version} ({brief.status.value}), "
        f"by {escape(brief.created_by or '')} at {format_ms(brief.created_at)}"
    )
    for field, heading in BRIEF_FIELDS.items():
        text = getattr(brief, field).strip()
        _say(f"\n[bold]{heading}[/]\n{escape(text) if text else '[dim]—[/]'}")


@brief_app.command("apply")
@handle_errors
def brief_apply(
    path: Annotated[Path, typer.Argument(help="brief.md (## sections) or brief.yaml (fields as keys)")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Save the brief a Markdown or YAML file holds as a new version, and show what changed.

    Examples:
      tandem brief apply docs/brief.md
      tandem brief show --markdown > docs/brief.md   # start from the current one
    """
    from tandem.governance.plan.documents import load_yaml, parse_markdown_brief, parse_yaml_brief

    text = _read(path)
    if path.suffix.lower() in (".md", ".markdown"):
        brief = parse_markdown_brief(text)
    elif path.suffix.lower() in (".yaml", ".yml"):
        brief = parse_yaml_brief(load_yaml(text, str(path)))
    else:
        raise InvalidInput(f"{path}: a brief is a .md or .yaml file")
    plan = get_client().governance.plan
    before = plan.brief(project=project).version
    saved = plan.set_brief(project=project, **brief.model_dump())
    if as_json:
        print_json(saved)
        return
    if saved.version == before:
        _say(f"brief unchanged (version {saved.version})")
        return
    _say(f"saved brief version {saved.version} of {escape(saved.project)}")
    for change in plan.brief_diff(before, saved.version, project=project).changes:
        _print_diff(change.diff)


@brief_app.command("history")
@handle_errors
def brief_history(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """List the brief's versions, newest first."""
    versions = get_client().governance.plan.brief_history(project=project)
    if as_json:
        print_json(versions)
        return
    if not versions:
        _say("no brief yet")
        return
    table = Table("version", "status", "by", "at")
    for b in versions:
        table.add_row(str(b.version), b.status.value, b.created_by or "", format_ms(b.created_at))
    console.print(table)


@brief_app.command("diff")
@handle_errors
def brief_diff(
    a: Annotated[int | None, typer.Argument(help="from this version (default: the one before B)")] = None,
    b: Annotated[int | None, typer.Argument(help="to this version (default: the newest)")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Show what changed between two versions of the brief, and who changed it."""
    diff = get_client().governance.plan.brief_diff(a, b, project=project)
    if as_json:
        print_json(diff)
        return
    _say(f"brief {diff.a} -> {diff.b}, by {escape(diff.author or '—')}")
    if not diff.changes:
        _say("no changes")
    for change in diff.changes:
        _print_diff(change.diff)


# -- criteria ------------------------------------------------------------------------------


@criteria_app.command("list")
@handle_errors
def criteria_list(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """List the project's success criteria."""
    from tandem.governance.plan.models import criterion_summary

    criteria = get_client().governance.plan.criteria(project=project)
    if as_json:
        print_json(criteria)
        return
    if not criteria:
        _say('no criteria yet: add one with `tandem criteria set auc model "roc_auc >= 0.8" --owner data-scientist`')  # fmt: skip
        return
    table = Table("key", "criterion", "owner", "updated")
    for c in criteria:
        table.add_row(c.key, criterion_summary(c), c.owner, f"{format_ms(c.updated_at)} by {c.updated_by}")  # fmt: skip
    console.print(table)


@criteria_app.command("set")
@handle_errors
def criteria_set(
    key: Annotated[str, typer.Argument(help="a short name, e.g. auc, parity, latency")],
    kind: Annotated[str, typer.Argument(help="product, model, system or fairness")],
    check: Annotated[str, typer.Argument(help="METRIC OP NUMBER, e.g. 'roc_auc >= 0.80'")],
    owner: Annotated[str, typer.Option("--owner", help="the role that owns it: product-manager, data-scientist, ml-engineer, compliance, ...")],
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="NAME or NAME@vN it is measured on")] = None,
    slice_: Annotated[str | None, typer.Option("--slice", help="model: COLUMN=VALUE; fairness: the protected attribute")] = None,
    description: Annotated[str, typer.Option("--description")] = "",
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Add a success criterion, or change one.

    Examples:
      tandem criteria set auc model "roc_auc >= 0.80" --dataset churn-holdout --owner data-scientist
      tandem criteria set parity fairness "demographic_parity_difference <= 0.05" --slice gender --owner compliance
      tandem criteria set latency system "p99_ms <= 50" --owner ml-engineer
      tandem criteria set uplift product "retention_uplift >= 2%" --owner product-manager
    """
    from tandem.governance.plan.models import criterion_summary

    criterion = get_client().governance.plan.set_criterion(
        key, kind, check, owner=owner, dataset=dataset, slice=slice_, description=description,
        project=project,
    )  # fmt: skip
    if as_json:
        print_json(criterion)
    else:
        _say(f"{criterion.key}: {escape(criterion_summary(criterion))}, owner {criterion.owner}")  # fmt: skip


@criteria_app.command("delete")
@handle_errors
def criteria_delete(key: str, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Delete a success criterion."""
    get_client().governance.plan.delete_criterion(key, project=project)
    if as_json:
        print_json({"deleted": key})
    else:
        _say(f"deleted criterion {escape(key)}")


# -- RACI ------------------------------------------------------------------------------------


@raci_app.command("show")
@handle_errors
def raci_show(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Show the RACI matrix: activities by members."""
    raci = get_client().governance.plan.raci(project=project)
    if as_json:
        print_json(raci)
        return
    if not raci.activities:
        _say("no RACI yet: e.g. `tandem raci set release-approval maria=A ana=R chen=C`")
        return
    members = sorted({m for row in raci.activities.values() for m in row})
    table = Table("activity", *members)
    for activity, row in sorted(raci.activities.items()):
        table.add_row(activity, *[row[m].value if m in row else "" for m in members])
    console.print(table)


@raci_app.command("set")
@handle_errors
def raci_set(
    activity: Annotated[str, typer.Argument(help="e.g. training, release-approval, monitoring")],
    assignments: Annotated[list[str] | None, typer.Argument(help="MEMBER=R|A|C|I ...; exactly one A")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="remove the activity")] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Set who is R, A, C or I for one activity (the other activities stay as they are).

    Example: tandem raci set release-approval maria=A ana=R chen=C ops=I
    """
    from tandem.governance.plan.models import parse_assignments

    row = parse_assignments(assignments or [])
    if not remove and not row:
        raise InvalidInput("name the members, e.g. maria=A ana=R, or pass --remove")
    plan = get_client().governance.plan
    if remove:
        raci = plan.remove_raci_activity(activity, project=project)
    else:
        raci = plan.set_raci_activity(activity, row, project=project)
    if as_json:
        print_json(raci)
    else:
        _say(f"{'removed' if remove else 'set'} {activity}")


# -- scorecard -------------------------------------------------------------------------------


def scorecard(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="NAME@N, NAME@ALIAS or PROJECT/NAME@N")],
    strict: Annotated[bool, typer.Option("--strict", help="exit 1 unless every criterion is met")] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Score a model version against the project's success criteria.

    Each criterion is met, not met or has no evidence yet, with the evaluation or run that
    decides it.

    Example: tandem scorecard churn-gbm@3
    """
    from tandem.governance.plan.models import criterion_summary

    card = get_client().governance.plan.scorecard(model, project=project)
    if as_json:
        print_json(card)
    else:
        _say(f"[bold]{escape(card.project)}/{escape(card.model)}@{card.version}[/] ({card.stage})")  # fmt: skip
        if not card.rows:
            _say("the project has no success criteria yet: `tandem criteria set ...`")
        table = Table("criterion", "check", "value", "verdict", "evidence")
        for row in card.rows:
            style = VERDICT_STYLE[row.verdict.value]
            evidence = row.evidence.ref if row.evidence else row.note
            if row.evidence and row.evidence.dataset:
                evidence += f" on {row.evidence.dataset}"
            table.add_row(
                row.criterion.key, criterion_summary(row.criterion), fmt_value(row.value),
                Text(row.verdict.value, style=style), evidence,
            )  # fmt: skip
        if card.rows:
            console.print(table)
        counts = card.counts
        _say(f"{counts['met']} met, {counts['not-met']} not met, {counts['no-evidence']} without evidence")  # fmt: skip
    if strict and not card.all_met:
        raise typer.Exit(1)


scorecard_command = handle_errors(scorecard)


# -- project as code ---------------------------------------------------------------------------


def _print_plan(plan: Any) -> None:
    if not plan.changes:
        _say("nothing to change: the project already says what the file says")
        return
    for change in plan.changes:
        mark = ACTION_MARK[change.action.value]
        if change.section == "brief":
            _say(f"{mark} brief: {escape(change.before or '')}")
            _print_diff(change.diff)
            continue
        line = f"{mark} {change.section} {escape(change.key)}"
        if change.action.value == "update":
            line += f": {escape(change.before or '')}\n    -> {escape(change.after or '')}"
        else:
            line += f": {escape(change.after or change.before or '')}"
        _say(line)


@project_app.command("apply")
@handle_errors
def project_apply(
    path: Annotated[Path, typer.Argument(help="project.yaml: brief, criteria and raci sections")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="apply without asking")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the plan and stop")] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Show what a project file would change, then apply it (all or nothing).

    A section in the file is the whole truth for that section (criteria not in it are
    deleted); a section left out is left alone.

    Examples:
      tandem project apply project.yaml --dry-run
      tandem project apply project.yaml --yes
      tandem project export > project.yaml
    """
    from tandem.governance.plan.documents import parse_project_file

    spec = parse_project_file(_read(path), str(path))
    name = project or spec.project
    resource = get_client().governance.plan
    plan = resource.plan(spec, project=name)
    if as_json and (dry_run or not plan.changes):
        print_json(plan)
        return
    if not as_json:
        _print_plan(plan)
    if dry_run or not plan.changes:
        return
    if not yes:
        if not sys.stdin.isatty():
            raise InvalidInput("not applied: pass --yes to apply without a terminal to confirm")
        if not typer.confirm(f"apply {len(plan.changes)} changes to {plan.project}?"):
            err_console.print("not applied")
            raise typer.Exit(1)
    applied = resource.apply(spec, project=name)
    if as_json:
        print_json(applied)
    else:
        _say(f"applied {len(applied.changes)} changes to {escape(applied.project)}")


@project_app.command("export")
@handle_errors
def project_export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file (default: stdout)")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Print the brief, criteria and RACI as the YAML `tandem project apply` reads."""
    from tandem.governance.plan.documents import project_yaml

    spec = get_client().governance.plan.export(project=project)
    if as_json:
        print_json(spec)
        return
    text = project_yaml(spec)
    if output is None:
        sys.stdout.write(text)
        return
    partial = output.with_name(f".{output.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(output)  # never a half-written file
    err_console.print(f"wrote {output}")


# -- gates -----------------------------------------------------------------------------------

gate_app = typer.Typer(
    help="Gates: moving a model version forward needs its checklist to hold and the "
    "accountable members to sign.",
    no_args_is_help=True,
)
decision_app = typer.Typer(
    help="Decision records (ADR style): proposed, accepted (then immutable), superseded.",
    no_args_is_help=True,
)
STAGES_HELP = "ready-for-review, ready-for-production, production or retired"


def _print_gate(gate: Any) -> None:
    state = {"open": "yellow", "passed": "green", "rejected": "red", "cancelled": "dim"}
    title = f"{gate.model}@{gate.version}: {gate.from_stage.value} -> {gate.to_stage.value}"
    head = f"gate {gate.id}  " if gate.id else "if opened now: "
    _say(f"[bold]{head}{escape(title)}[/]  [{state[gate.status.value]}]{gate.status.value}[/]")
    if gate.reason:
        _say(f"  reason: {escape(gate.reason)}")
    for item in gate.checklist:
        mark = "[green]✓[/]" if item.holds else "[red]✗[/]"
        _say(f"  {mark} {escape(item.key):<24} {escape(item.detail)}")
    for s in gate.signoffs:
        colour = "green" if s.decision.value == "approve" else "red"
        note = f": {escape(s.comment)}" if s.comment else ""
        past = "approved" if s.decision.value == "approve" else "rejected"
        _say(f"  [{colour}]{past}[/] by {escape(s.member)} ({s.role}){note}")
    if gate.status.value == "open":
        verdict = "[green]passes[/]" if gate.passes else "[red]does not pass yet[/]"
        waiting = f"; waiting for {', '.join(gate.waiting_for)}" if gate.waiting_for else ""
        _say(f"  {verdict}{escape(waiting)}")


@gate_app.command("open")
@handle_errors
def gate_open(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="NAME@N or NAME@ALIAS")],
    to: Annotated[str, typer.Option("--to", help=STAGES_HELP)],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Request moving a model version to a stage: opens its gate and shows its checklist.

    Example: tandem gate open churn-gbm@3 --to ready-for-production
    """
    gate = get_client().governance.gates.open(model, _stage(to), project=project)
    print_json(gate) if as_json else _print_gate(gate)


@gate_app.command("show")
@handle_errors
def gate_show(gate_id: Annotated[str, typer.Argument(metavar="GATE")], project: ProjectOpt = None, as_json: JsonOpt = False) -> None:  # fmt: skip
    """Show a gate: its checklist as it stands, sign-offs and what it waits for."""
    gate = get_client().governance.gates.get(gate_id, project=project)
    print_json(gate) if as_json else _print_gate(gate)


@gate_app.command("list")
@handle_errors
def gate_list(
    all_: Annotated[bool, typer.Option("--all", help="closed gates too")] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """List the open gates (every gate with --all), newest first."""
    gates = get_client().governance.gates.list(all=all_, project=project)
    if as_json:
        print_json(gates)
        return
    if not gates:
        _say("no open gates" if not all_ else "no gates")
        return
    table = Table("gate", "model", "to", "status", "waiting for", "opened")
    for g in gates:
        table.add_row(g.id, f"{g.model}@{g.version}", g.to_stage.value, g.status.value,
                      ", ".join(g.waiting_for), f"{format_ms(g.opened_at)} by {g.opened_by}")  # fmt: skip
    console.print(table)


@gate_app.command("sign")
@handle_errors
def gate_sign(
    gate_id: Annotated[str, typer.Argument(metavar="GATE")],
    approve: Annotated[bool, typer.Option("--approve", help="approve it")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="reject it (with --comment)")] = False,
    comment: Annotated[str, typer.Option("--comment", "-m", help="why; required to reject")] = "",
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Approve or reject a gate, as yourself (only the members the RACI marks accountable
    for the gate's activity sign). The approval that completes a gate whose checklist holds
    moves the version.

    Examples:
      tandem gate sign 3f9a2c1b7d4e --approve -m "Parity waived in decision 4; ship it"
      tandem gate sign 3f9a2c1b7d4e --reject -m "Recall for seniors is too low"
    """
    if approve == reject:
        raise InvalidInput("say --approve or --reject")
    gate = get_client().governance.gates.sign(
        gate_id, "approve" if approve else "reject", comment, project=project
    )
    print_json(gate) if as_json else _print_gate(gate)


@gate_app.command("check")
@handle_errors
def gate_check(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="NAME@N or NAME@ALIAS")],
    to: Annotated[str, typer.Option("--to", help=STAGES_HELP)],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Exit 0 if moving MODEL to the stage would pass now, 1 if not (for CI); prints why.

    Example: tandem gate check churn-gbm@3 --to ready-for-production
    """
    gate = get_client().governance.gates.check(model, _stage(to), project=project)
    print_json(gate) if as_json else _print_gate(gate)
    if not gate.passes:
        raise typer.Exit(1)


@gate_app.command("waive")
@handle_errors
def gate_waive(
    gate_id: Annotated[str, typer.Argument(metavar="GATE")],
    criterion: Annotated[str, typer.Argument(help="the criterion's key")],
    reason: Annotated[str, typer.Option("--reason", "-m", help="recorded as an accepted decision")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Waive a success criterion for the gate's version, as the criterion's owner role."""
    gate = get_client().governance.gates.waive(gate_id, criterion, reason, project=project)
    print_json(gate) if as_json else _print_gate(gate)


@gate_app.command("attest")
@handle_errors
def gate_attest(
    gate_id: Annotated[str, typer.Argument(metavar="GATE")],
    item: Annotated[str, typer.Argument(help="the project's own item, e.g. security-review")],
    comment: Annotated[str, typer.Option("--comment", "-m")] = "",
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Attest one of the project's own checklist items (`gates:` in project.yaml), as a member
    of the role it names."""
    gate = get_client().governance.gates.attest(gate_id, item, comment, project=project)
    print_json(gate) if as_json else _print_gate(gate)


@gate_app.command("cancel")
@handle_errors
def gate_cancel(
    gate_id: Annotated[str, typer.Argument(metavar="GATE")],
    reason: Annotated[str, typer.Option("--reason", "-m")] = "",
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Withdraw an open gate (its opener, or a role that may release models)."""
    gate = get_client().governance.gates.cancel(gate_id, reason, project=project)
    print_json(gate) if as_json else _print_gate(gate)


def _stage(text: str) -> str:
    stages = ("draft", "ready-for-review", "ready-for-production", "production", "retired")
    if text not in stages:
        raise InvalidInput(f"unknown stage {text!r}: use one of {', '.join(stages[1:])}")
    return text


# -- decision records --------------------------------------------------------------------------


def _print_decision(d: Any) -> None:
    _say(f"[bold]decision {d.number}: {escape(d.title)}[/]  ({d.status.value})")
    _say(f"  by {escape(d.created_by)} at {format_ms(d.created_at)}; approvers: {escape(', '.join(d.approvers) or '—')}")  # fmt: skip
    for label, text in (("Context", d.context), ("Options", d.options), ("Decision", d.decision),
                        ("Consequences", d.consequences)):  # fmt: skip
        if text:
            _say(f"\n[bold]{label}[/]\n{escape(text)}")
    if d.links:
        _say(f"\nlinks: {escape(', '.join(d.links))}")
    if d.superseded_by:
        _say(f"superseded by decision {d.superseded_by}")


@decision_app.command("add")
@handle_errors
def decision_add(
    title: Annotated[str, typer.Argument(help="what was decided, in a line")],
    decision: Annotated[str, typer.Option("--decision", "-d", help="the decision itself")],
    context: Annotated[str, typer.Option("--context")] = "",
    options: Annotated[str, typer.Option("--options", help="the options considered")] = "",
    consequences: Annotated[str, typer.Option("--consequences")] = "",
    link: Annotated[list[str] | None, typer.Option("--link", help="e.g. models/churn-gbm@3 (repeatable)")] = None,
    accept: Annotated[bool, typer.Option("--accept", help="record it accepted, with you as approver")] = False,
    supersedes: Annotated[int | None, typer.Option("--supersedes", help="the number it replaces")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Record a decision.

    Example: tandem decision add "Retire churn-gbm@2" -d "Replaced by @3" --link models/churn-gbm@2 --accept
    """
    record = get_client().governance.decisions.create(
        title, decision, context=context, options=options, consequences=consequences,
        links=link or [], accept=accept, supersedes=supersedes, project=project,
    )  # fmt: skip
    print_json(record) if as_json else _print_decision(record)


@decision_app.command("list")
@handle_errors
def decision_list(
    q: Annotated[str | None, typer.Option("--search", "-q", help="words in the title, context or decision")] = None,
    link: Annotated[str | None, typer.Option("--link", help="only those linked to this reference")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """List decision records, newest first."""
    records = get_client().governance.decisions.list(q=q, link=link, project=project)
    if as_json:
        print_json(records)
        return
    if not records:
        _say("no decisions")
        return
    table = Table("#", "title", "status", "by", "links")
    for d in records:
        table.add_row(str(d.number), d.title, d.status.value, d.created_by, ", ".join(d.links))
    console.print(table)


@decision_app.command("show")
@handle_errors
def decision_show(number: int, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Show a decision record."""
    record = get_client().governance.decisions.get(number, project=project)
    print_json(record) if as_json else _print_decision(record)


@decision_app.command("accept")
@handle_errors
def decision_accept(number: int, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Accept a proposed decision, as its approver; it cannot change after."""
    record = get_client().governance.decisions.accept(number, project=project)
    print_json(record) if as_json else _print_decision(record)


@project_app.command("webhook")
@handle_errors
def project_webhook(
    url: Annotated[str | None, typer.Argument(help="an http(s) URL, e.g. a Slack incoming webhook; '' to stop")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Show or set where the project's notifications go, as Slack-compatible JSON (project
    admins)."""
    notifications = get_client().governance.notifications
    hook = notifications.set_webhook(url, project=project) if url is not None else notifications.webhook(project=project)  # fmt: skip
    if as_json:
        print_json(hook)
    else:
        _say(escape(hook.url) if hook.url else "no webhook: notifications stay in tandem")
