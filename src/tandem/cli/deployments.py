"""`tandem endpoints ...`, `tandem deploy ...` and `tandem predictions show ...`: serving
endpoints, releases (replace, canary, blue-green, shadow), their history, and the prediction log.

Every command goes through the SDK (`client.deployments`, `client.predictions`), so it behaves
the same against the embedded workspace and a server; who may deploy to which endpoint is
decided by the hub (docs/deployments.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tandem.cli.output import console, err_console, get_client, handle_errors, print_json
from tandem.core.clock import format_ms, parse_duration, parse_instant
from tandem.core.units import parse_percent
from tandem.errors import InvalidInput

if TYPE_CHECKING:
    from tandem.deployments.models import DeploymentEvent, Endpoint, Rollout

endpoints_app = typer.Typer(
    help="Serving endpoints: traffic splits, rollouts, promote, pause, rollback and history.",
    no_args_is_help=True,
)
predictions_app = typer.Typer(
    help="The prediction log: which version answered a request, with what.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="project (default: TANDEM_PROJECT / tandem.toml)")]  # fmt: skip
EndpointArg = Annotated[str, typer.Argument(metavar="ENDPOINT", help="endpoint name, e.g. prod")]
MessageOpt = Annotated[str, typer.Option("--message", "-m", help="why (kept in the history)")]
ExpectOpt = Annotated[int | None, typer.Option("--expect-version", metavar="N", help="act only if the policy is still at version N (else exit 4, naming who changed it)")]  # fmt: skip
STRATEGIES = "replace, canary, blue-green, shadow"
BAR_WIDTH = 20  # characters of the split bar in `endpoints show`


# -- parsing -------------------------------------------------------------------------------


def parse_seconds(text: str, what: str) -> float:
    """`60s`, `10m`, `2h` or a plain number of seconds (`90`, `1.5`)."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            return float(parse_duration(text))
        except InvalidInput:
            raise InvalidInput(
                f"invalid {what} {text!r}: use a number of seconds or a number and a unit, "
                "e.g. 60s, 10m, 2h"
            ) from None
    if seconds != seconds or seconds < 0:  # NaN or negative
        raise InvalidInput(f"invalid {what} {text!r}: use a positive number of seconds")
    return seconds


def parse_steps(text: str) -> list[float]:
    """`5,25,50,100`: the candidate's weight (percent) at each canary step."""
    steps = []
    for part in text.split(","):
        if not part.strip():
            raise InvalidInput(f"invalid --steps {text!r}: use percentages, e.g. 5,25,50,100")
        try:
            steps.append(parse_percent(part))
        except InvalidInput:
            raise InvalidInput(
                f"invalid --steps {text!r}: {part.strip()!r} is not a percentage from 0 to 100 "
                "(e.g. 5,25,50,100)"
            ) from None
    return steps


def check_guards(guards: list[str]) -> list[str]:
    """Each guard parsed here first, so a typo is one line before anything is sent."""
    from tandem.deployments.models import Guard

    return [str(Guard.parse(text)) for text in guards]


# -- output --------------------------------------------------------------------------------


def _weights(weights: dict[str, float]) -> str:
    return ", ".join(f"{label} {weight:g}%" for label, weight in weights.items()) or "nothing"


def _bar(weight: float) -> str:
    filled = round(BAR_WIDTH * weight / 100)
    return "█" * filled + "·" * (BAR_WIDTH - filled)


def _rollout_line(rollout: Rollout) -> str:
    where = ""
    if rollout.strategy.value == "canary" and rollout.steps:
        step = min(rollout.step, len(rollout.steps) - 1)
        where = f", step {step + 1} of {len(rollout.steps)} ({rollout.steps[step]:g}%)"
    started = f"started {format_ms(rollout.started_at)} by {rollout.started_by}"
    return (
        f"rollout {rollout.id}: {rollout.strategy.value}, {rollout.status.value}{where}, {started}"
    )


def _print_endpoint(endpoint: Endpoint) -> None:
    kind = "production" if endpoint.production else "non-production"
    console.print(
        f"[bold]{escape(endpoint.project)}/endpoints/{escape(endpoint.name)}[/]  {kind}, "
        f"policy version {endpoint.policy_version}",
        markup=True,
        soft_wrap=True,
    )
    facts = [
        ("sticky key", endpoint.sticky_key or "-"),
        ("logging", f"{endpoint.sampling * 100:g}% of predictions"
                    + (", personal columns unmasked" if endpoint.log_personal else "")),
        ("created", f"{format_ms(endpoint.created_at)} by {endpoint.created_by}"),
    ]  # fmt: skip
    if endpoint.description:
        facts.insert(0, ("description", endpoint.description))
    if endpoint.rollback_target is not None:
        target = endpoint.rollback_target
        facts.append(("rollback to", f"{target.model}@{target.version} ({target.id})"))
    if endpoint.warm_until:
        facts.append(("warm until", format_ms(endpoint.warm_until)))
    for key, value in facts:
        console.print(f"  {key:<12} {escape(value)}", markup=True, soft_wrap=True)
    if endpoint.deployments:
        table = Table("deployment", "version", "role", "weight", "split", "trusted", "since", "by")
        for d in endpoint.deployments:
            table.add_row(
                d.id, f"{d.model}@{d.version}", d.role.value, f"{d.weight:g}%", _bar(d.weight),
                "yes" if d.runtime.trusted else "-", format_ms(d.created_at), d.created_by,
            )  # fmt: skip
        console.print(table)
    else:
        console.print("  nothing deployed: tandem deploy MODEL@VERSION --to " + endpoint.name)
    if endpoint.rollout is not None:
        _print_rollout(endpoint.rollout)


def _print_rollout(rollout: Rollout) -> None:
    console.print(_rollout_line(rollout), soft_wrap=True)
    if rollout.steps and rollout.strategy.value == "canary":
        marks = [
            f"[{s:g}%]" if i == rollout.step else f"{s:g}%" for i, s in enumerate(rollout.steps)
        ]
        console.print(f"  steps        {' -> '.join(marks)}", soft_wrap=True)
    if rollout.guards:
        console.print(f"  guards       {'; '.join(rollout.guards)}, at least "
                      f"{rollout.min_samples} requests per step", soft_wrap=True)  # fmt: skip
    if rollout.reason:
        console.print(f"  reason       {rollout.reason}", soft_wrap=True)
    analysis = rollout.last_analysis
    if analysis is None:
        return
    console.print(
        f"  analysis     {analysis.decision} at {format_ms(analysis.at)} over "
        f"{analysis.samples} requests" + (f": {analysis.reason}" if analysis.reason else ""),
        soft_wrap=True,
    )
    if analysis.guards:
        table = Table("guard", "value", "holds")
        for g in analysis.guards:
            holds = "-" if g.holds is None else "yes" if g.holds else "NO"
            table.add_row(g.guard, "-" if g.value is None else f"{g.value:.6g}", holds)
        console.print(table)


def _event_row(event: DeploymentEvent) -> list[str]:
    return [
        str(event.seq), format_ms(event.at), event.kind.value,
        event.actor + ("" if event.actor_kind == "person" else f" ({event.actor_kind})"),
        _weights(event.before), _weights(event.after), event.message or "-",
    ]  # fmt: skip


# -- tandem endpoints ------------------------------------------------------------------------


@endpoints_app.command()
@handle_errors
def create(
    name: EndpointArg,
    production: Annotated[bool, typer.Option("--production", help="takes only versions that passed their gate to ready-for-production")] = False,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    sticky_key: Annotated[str | None, typer.Option("--sticky-key", metavar="header:NAME|field:NAME", help="requests with the same value always reach the same version")] = None,
    sampling: Annotated[str, typer.Option("--sampling", help="share of predictions logged: 100%, 10%, 0.1")] = "100%",
    log_personal: Annotated[bool, typer.Option("--log-personal", help="log personal-data columns unmasked")] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Create an endpoint: a stable serving name in the project."""
    endpoint = get_client().deployments.create(
        name, project, production=production, description=description, sticky_key=sticky_key,
        sampling=parse_percent(sampling, fraction=True), log_personal=log_personal,
    )  # fmt: skip
    if as_json:
        print_json(endpoint)
        return
    kind = "production endpoint" if endpoint.production else "endpoint"
    console.print(f"created {kind} {endpoint.project}/endpoints/{endpoint.name}")


@endpoints_app.command()
@handle_errors
def update(
    name: EndpointArg,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    sticky_key: Annotated[str | None, typer.Option("--sticky-key", metavar="header:NAME|field:NAME", help='"" removes it')] = None,
    sampling: Annotated[str | None, typer.Option("--sampling", help="share of predictions logged: 100%, 10%, 0.1")] = None,
    log_personal: Annotated[bool | None, typer.Option("--log-personal/--mask-personal", help="log personal-data columns unmasked, or mask them")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Change an endpoint's settings; the ones not given stay (each change is in the history)."""
    if description is None and sticky_key is None and sampling is None and log_personal is None:
        raise InvalidInput(
            "nothing to change: give --description, --sticky-key, --sampling or --log-personal"
        )
    endpoint = get_client().deployments.update(
        name, project, description=description, sticky_key=sticky_key,
        sampling=parse_percent(sampling, fraction=True) if sampling is not None else None,
        log_personal=log_personal,
    )  # fmt: skip
    if as_json:
        print_json(endpoint)
        return
    console.print(
        f"updated {endpoint.project}/endpoints/{endpoint.name} "
        f"(policy version {endpoint.policy_version})"
    )


@endpoints_app.command("list")
@handle_errors
def list_endpoints(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """The project's endpoints, what each serves and its rollout."""
    endpoints = get_client().deployments.list(project)
    if as_json:
        print_json(endpoints)
        return
    if not endpoints:
        console.print("no endpoints: tandem endpoints create NAME [--production]")
        return
    table = Table("endpoint", "kind", "serving", "rollout", "policy", "updated")
    for e in endpoints:
        serving = {f"{d.model}@{d.version}": d.weight for d in e.deployments if d.weight > 0}
        rollout = "-"
        if e.rollout is not None:
            rollout = f"{e.rollout.strategy.value} {e.rollout.status.value}"
        table.add_row(
            e.name, "production" if e.production else "-", _weights(serving), rollout,
            str(e.policy_version), format_ms(e.updated_at),
        )  # fmt: skip
    console.print(table)


@endpoints_app.command()
@handle_errors
def show(name: EndpointArg, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """An endpoint: its split, its rollout with each guard's last value, its rollback target."""
    endpoint = get_client().deployments.get(name, project)
    if as_json:
        print_json(endpoint)
        return
    _print_endpoint(endpoint)


@endpoints_app.command()
@handle_errors
def history(
    name: EndpointArg,
    at: Annotated[str | None, typer.Option("--at", metavar="TIME", help="what served then, who put it there and why: ISO-8601 (UTC unless it has an offset) or ms")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="page size")] = 50,
    cursor: Annotated[str | None, typer.Option("--cursor", help="next_cursor printed by the previous page")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Every traffic change of an endpoint, newest first; with --at, what served at a moment."""
    deployments = get_client().deployments
    if at is not None:
        served = deployments.served_at(name, parse_instant(at), project)
        if as_json:
            print_json(served)
            return
        console.print(
            f"{served.endpoint} at {format_ms(served.at)} UTC served: {_weights(served.weights)}",
            soft_wrap=True,
        )
        event = served.event
        if event is None:
            console.print("  (before its first deployment)")
            return
        console.print(
            f"  set by event {event.seq} ({event.kind.value}) at {format_ms(event.at)} by "
            f"{event.actor} ({event.actor_kind})", soft_wrap=True,
        )  # fmt: skip
        if event.message:
            console.print(f"  why: {event.message}", soft_wrap=True)
        for key, value in event.evidence.items():
            console.print(f"  {key}: {value}", soft_wrap=True)
        return
    page = deployments.history(name, project, limit=limit, cursor=cursor)
    if as_json:
        print_json(page)
        return
    table = Table("#", "at (UTC)", "change", "by", "before", "after", "why")
    for event in page.items:
        table.add_row(*_event_row(event))
    console.print(table)
    if page.next_cursor:
        err_console.print(f"next page: --cursor {page.next_cursor}")


def _traffic_change(verb: str, past: str) -> Any:
    @handle_errors
    def change(
        name: EndpointArg,
        message: MessageOpt = "",
        expect: ExpectOpt = None,
        project: ProjectOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        act = getattr(get_client().deployments, verb)
        endpoint = act(name, project, message=message, expected_policy_version=expect)
        if as_json:
            print_json(endpoint)
            return
        serving = {f"{d.model}@{d.version}": d.weight for d in endpoint.deployments if d.weight}
        console.print(
            f"{past} {endpoint.project}/endpoints/{endpoint.name}: serving {_weights(serving)} "
            f"(policy version {endpoint.policy_version})",
            soft_wrap=True,
        )

    change.__name__ = verb
    return change


_TRAFFIC_HELP = {
    "promote": "Promote the rollout: the next canary step now, or switch a blue-green or shadow "
    "candidate to all traffic.",
    "pause": "Pause the rollout: the weights stay as they are and the analysis stops moving them.",
    "resume": "Resume a paused rollout.",
    "rollback": "Roll back: all traffic to the version the current one replaced, at once.",
}
for _verb, _past in (("promote", "promoted"), ("pause", "paused"), ("resume", "resumed"),
                     ("rollback", "rolled back")):  # fmt: skip
    endpoints_app.command(_verb, help=_TRAFFIC_HELP[_verb])(_traffic_change(_verb, _past))


@endpoints_app.command()
@handle_errors
def analyse(name: EndpointArg, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Run the rollout's analysis now (gateways trigger it with every report; cron or CI can
    too): advance, hold, pause or roll back by the guards."""
    analysis = get_client().deployments.analyse(name, project)
    if as_json:
        print_json(analysis.model_dump(mode="json") if analysis is not None else None)
        return
    if analysis is None:
        console.print(f"{name}: no running rollout to analyse")
        return
    console.print(
        f"{name}: {analysis.decision} over {analysis.samples} requests"
        + (f": {analysis.reason}" if analysis.reason else ""),
        soft_wrap=True,
    )
    for g in analysis.guards:
        value = "-" if g.value is None else f"{g.value:.6g}"
        holds = "no figure yet" if g.holds is None else "holds" if g.holds else "FAILS"
        console.print(f"  {g.guard:<24} {value:>12}  {holds}")


@endpoints_app.command()
@handle_errors
def delete(name: EndpointArg, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Delete an endpoint that takes no traffic (roll it back or undeploy first)."""
    client = get_client()
    client.deployments.delete(name, project)
    if as_json:
        print_json({"deleted": name, "project": client.project_name(project)})
        return
    console.print(f"deleted endpoint {name}")


# -- tandem deploy -------------------------------------------------------------------------


@handle_errors
def deploy(
    model: Annotated[str, typer.Argument(metavar="MODEL@VERSION", help="e.g. churn-lr@3 or churn-lr@champion")],
    to: Annotated[str, typer.Option("--to", metavar="ENDPOINT", help="the endpoint")],
    strategy: Annotated[str, typer.Option("--strategy", "-s", help=STRATEGIES)] = "replace",
    steps: Annotated[str | None, typer.Option("--steps", help="canary: the candidate's weight at each step, e.g. 5,25,50,100")] = None,
    interval: Annotated[str, typer.Option("--interval", help="canary: time per step, e.g. 60s, 5m")] = "60s",
    guards: Annotated[list[str] | None, typer.Option("--guard", "-g", help='e.g. "error_rate < 0.01", "p99_ms < 50"; repeatable')] = None,
    min_samples: Annotated[int, typer.Option("--min-samples", help="requests a step needs before it may advance")] = 100,
    mirror: Annotated[str, typer.Option("--mirror", help="shadow: share of traffic copied, e.g. 100%")] = "100%",
    warm: Annotated[str, typer.Option("--warm", help="blue-green: how long the replaced version stays warm, e.g. 10m")] = "10m",
    trusted: Annotated[bool, typer.Option("--trusted", help="load a pickle-based version (runs its code; audited)")] = False,
    message: MessageOpt = "",
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Release a model version to an endpoint: replace, canary (guarded steps), blue-green
    (preview, then promote) or shadow (mirrored, compared, never answers)."""
    from tandem.deployments.models import Strategy

    try:
        chosen = Strategy(strategy)
    except ValueError:
        raise InvalidInput(f"unknown strategy {strategy!r}: use one of {STRATEGIES}") from None
    if "@" not in model:
        raise InvalidInput(f"give the version to deploy: {model}@N or {model}@ALIAS")
    endpoint = get_client().deployments.deploy(
        to, model, project, strategy=chosen.value,
        steps=parse_steps(steps) if steps is not None else None,
        interval_s=parse_seconds(interval, "--interval"), guards=check_guards(list(guards or [])),
        min_samples=min_samples, mirror=parse_percent(mirror), warm_s=parse_seconds(warm, "--warm"),
        trusted=trusted, message=message,
    )  # fmt: skip
    if as_json:
        print_json(endpoint)
        return
    serving = {f"{d.model}@{d.version}": d.weight for d in endpoint.deployments if d.weight}
    console.print(
        f"deployed {model} to {endpoint.project}/endpoints/{endpoint.name} ({chosen.value}): "
        f"serving {_weights(serving)}",
        soft_wrap=True,
    )
    if endpoint.rollout is not None and endpoint.rollout.status.value != "completed":
        console.print(_rollout_line(endpoint.rollout), soft_wrap=True)
        if endpoint.rollout.status.value == "awaiting-promotion":
            console.print(f"next: tandem endpoints promote {endpoint.name}  (or rollback)")


# -- tandem predictions ----------------------------------------------------------------------


@predictions_app.command("show")
@handle_errors
def show_prediction(
    request_id: Annotated[str, typer.Argument(metavar="REQUEST_ID", help="the X-Request-Id the gateway answered with")],
    endpoint: Annotated[str, typer.Option("--endpoint", "-e", metavar="ENDPOINT", help="the endpoint that served it")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """One logged prediction: which version answered, when, how fast, with what."""
    import orjson

    found = get_client().predictions.get(endpoint, request_id, project)
    if as_json:
        print_json(found)
        return
    rows = [
        ("request", found.request_id),
        ("endpoint", f"{found.project}/endpoints/{found.endpoint}"),
        ("version", f"{found.model}@{found.version} (deployment {found.deployment})"),
        ("at", f"{format_ms(found.at)} UTC"),
        ("status", str(found.status)),
        ("latency", f"{found.latency_ms:.3f} ms"),
        ("inputs", orjson.dumps(found.inputs).decode()),
        ("output", orjson.dumps(found.output).decode()),
        ("segment", found.segment),
    ]
    for key, value in rows:
        console.print(f"  {key:<9} {escape(value)}", markup=True, soft_wrap=True)
