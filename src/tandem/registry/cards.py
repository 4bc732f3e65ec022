"""Model cards (Mitchell et al., "Model Cards for Model Reporting"), generated from the records.

`CardService.card` gathers what tandem knows about a version through the other services, as the
caller (so a card shows only what its reader may read): the version and its source run (params,
code version), the datasets the run trained on, and the version's evaluations. The team writes
the free-text sections (intended use, factors, ethical considerations, caveats); everything else
is generated, and every figure names the evaluation, run or dataset version it came from.

`render_markdown` writes the card as Markdown (the CLI prints it); `render_html` renders that
Markdown into one self-contained HTML page (no scripts, no external assets; raw HTML in the
team's text is escaped).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any, Protocol

from tandem.core.auth import Authorizer, Principal
from tandem.core.clock import format_ms, now_ms
from tandem.core.units import format_figure
from tandem.core.validation import check_text
from tandem.data.service import DataService
from tandem.errors import NotFound
from tandem.registry.models import CARD_SECTIONS, CardTexts, ModelCard
from tandem.registry.service import RegistryService
from tandem.tracking.service import TrackingService

MAX_TEXT = 50_000
TITLES = {
    "intended_use": "Intended use",
    "factors": "Factors",
    "ethical_considerations": "Ethical considerations",
    "caveats_and_recommendations": "Caveats and recommendations",
}
HEADLINE = ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss", "brier",
            "lift", "mae", "rmse", "mape", "r2")  # fmt: skip


class _Dumpable(Protocol):
    def model_dump(self) -> dict[str, Any]: ...


class EvaluationReader(Protocol):
    """What a card reads of a version's evaluations: `EvaluationService`, handed over by the
    container (evaluation depends on the registry, so the registry names no evaluation module)."""

    def list_for_model(
        self, principal: Principal, project: str, model: str, *, full: bool = False
    ) -> Sequence[_Dumpable]: ...


class CardService:
    def __init__(
        self,
        registry: RegistryService,
        tracking: TrackingService,
        data: DataService,
        evaluations: EvaluationReader,
        auth: Authorizer,
    ) -> None:
        self.registry = registry
        self.tracking = tracking
        self.data = data
        self.evaluations = evaluations
        self.auth = auth

    def card(self, principal: Principal, project: str, name: str, selector: str) -> ModelCard:
        version = self.registry.get_version(principal, project, name, selector)
        model = self.registry.get_model(principal, project, name)
        run: dict[str, Any] | None = None
        training: list[dict[str, Any]] = []
        if version.run_id is not None:
            try:
                found = self.tracking.get_run(principal, f"{project}/runs/{version.run_id}")
            except NotFound:
                found = None  # deleted, or a run the reader may not open
            if found is not None:
                env = found.environment
                run = {
                    "id": found.id, "name": found.name, "user": found.user,
                    "start_time": found.start_time, "params": dict(found.params),
                    "metrics": dict(found.metrics), "seed": found.seed,
                    "code": env.code.model_dump() if env else None,
                    "python": env.python if env else None,
                }  # fmt: skip
                training = [
                    link.model_dump()
                    for link in self.data.run_datasets(principal, found.id)
                    if link.role not in ("test", "output")
                ]
        evaluations = [
            e.model_dump() for e in self.evaluations.list_for_model(
                principal, project, f"{name}@{version.version}", full=True
            )
        ]  # fmt: skip
        texts = self.registry.card_texts(principal, project, name)
        return ModelCard(
            version=version, description=model.description, run=run, training_data=training,
            evaluations=evaluations, texts=texts, generated_at=now_ms(),
        )  # fmt: skip

    def set_texts(
        self, principal: Principal, project: str, name: str, texts: CardTexts
    ) -> dict[str, str]:
        given = {
            section: check_text(value, section, MAX_TEXT)
            for section in CARD_SECTIONS
            if (value := getattr(texts, section)) is not None
        }
        return self.registry.set_card_texts(principal, project, name, given)


# -- rendering -----------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """A table cell: numbers to 4 decimals, pipes and newlines escaped."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(card: ModelCard) -> str:
    v = card.version
    ref = f"{v.project}/{v.model}@{v.version}"
    lines = [
        f"# Model card: {ref}",
        "",
        f"Generated {format_ms(card.generated_at)} UTC from tandem's records. Sections marked "
        "*written by the team* are edited with `tandem models card-text`; everything else comes "
        "from the run, dataset versions and evaluations named next to it.",
        "",
        "## Model details",
        "",
        f"- **Model:** {v.project}/{v.model}, version {v.version}; stage **{v.stage.value}**"
        + (f"; aliases {', '.join(v.aliases)}" if v.aliases else ""),
        f"- **Flavor:** {v.flavor} {v.library_version or ''}, stored as {v.format}"
        + (" (pickle: loads only when trusted)" if v.trusted else ""),
        f"- **Registered:** {format_ms(v.created_at)} by {v.created_by}",
    ]
    if card.description or v.description:
        lines.append(f"- **Description:** {_cell(v.description or card.description)}")
    run = card.run
    if run:
        lines.append(
            f"- **Trained by run:** `{v.project}/runs/{run['id']}` ({_cell(run['name'])}), "
            f"started {format_ms(run['start_time'])} by {_cell(run['user'])}"
            + (f", seed {run['seed']}" if run.get("seed") is not None else "")
        )
        code = run.get("code") or {}
        if code.get("commit"):
            state = "with uncommitted changes" if code.get("dirty") else "clean"
            lines.append(f"- **Code:** commit `{code['commit'][:12]}` ({state})")
        if run["params"]:
            shown = ", ".join(f"{k}={_cell(p)}" for k, p in sorted(run["params"].items())[:30])
            lines.append(f"- **Parameters:** {shown}")
    elif v.run_id:
        lines.append(f"- **Trained by run:** `{v.project}/runs/{v.run_id}` (not readable)")
    if v.requirements:
        lines.append(f"- **Requires:** {', '.join(v.requirements)}")
    if v.signature:
        inputs = v.signature.get("inputs") or []
        lines.append(
            "- **Inputs:** "
            + ", ".join(f"{_cell(c['name'])} ({c['type']})" for c in inputs[:40])
            + (f" ... ({len(inputs)} in all)" if len(inputs) > 40 else "")
        )
    evaluations = card.evaluations
    slicings = sorted({s for e in evaluations for s in (e["report"] or {}).get("slices", {})})
    protected = sorted({s for e in evaluations for s in (e["report"] or {}).get("fairness", {})})
    _text(lines, card, "intended_use")
    _text(lines, card, "factors")
    if slicings:
        lines += ["", f"Evaluated per slice of: {', '.join(slicings)}."]
    if protected:
        lines.append(f"Fairness measured across: {', '.join(protected)}.")
    lines += ["", "## Metrics", ""]
    if evaluations:
        first = evaluations[0]["report"] or {}
        if first.get("threshold") is not None:
            lines.append(f"Labels are predicted positive when the score is at least "
                         f"{first['threshold']}.")  # fmt: skip
        boot = first.get("bootstrap")
        if boot:
            lines.append(
                f"Intervals are {format_figure(boot.get('confidence', 0) * 100, '.0f')}% "
                f"bootstrap percentile intervals over {boot.get('resamples')} resamples "
                f"(seed {boot.get('seed')})."
            )
        lines.append(f"Reported: {', '.join(first.get('overall', {}))}.")
    else:
        lines.append("No evaluation recorded yet: run `tandem evaluate`.")
    lines += ["", "## Evaluation data", ""]
    for e in evaluations:
        lines.append(
            f"- `{_dataset_ref(e)}`: {e['rows']:,} "
            f"rows, target `{_cell(e['target'])}` (evaluation `{e['id'][:12]}`)"
        )
    if not evaluations:
        lines.append("None recorded.")
    lines += ["", "## Training data", ""]
    for link in card.training_data:
        lines.append(
            f"- `{link['project']}/{link['dataset']}@v{link['version']}` as {link['role']} "
            f"(linked by run `{link['run_id'][:12]}`)"
        )
    if not card.training_data:
        lines.append("No dataset version is linked to the source run.")
    lines += ["", "## Quantitative analyses"]
    for e in evaluations:
        _analysis(lines, e)
    if not evaluations:
        lines += ["", "None recorded."]
    _text(lines, card, "ethical_considerations")
    _text(lines, card, "caveats_and_recommendations")
    return "\n".join(lines) + "\n"


def _text(lines: list[str], card: ModelCard, section: str) -> None:
    lines += ["", f"## {TITLES[section]}", ""]
    text = card.texts.get(section)
    if text:
        lines += ["*Written by the team.*", "", text.strip()]
    else:
        option = section.replace("_", "-")
        lines.append(
            f"*Not written yet:* `tandem models card-text {card.version.model} --{option} TEXT`."
        )


def _dataset_ref(e: dict[str, Any]) -> str:
    return f"{e['dataset_project']}/{e['dataset']}@v{e['dataset_version']}"


def _analysis(lines: list[str], e: dict[str, Any]) -> None:
    report = e["report"] or {}
    lines += [
        "",
        f"### Evaluation `{e['id'][:12]}` on `{_dataset_ref(e)}`",
        "",
        f"{format_ms(e['created_at'])} by {e['created_by']}, {e['rows']:,} rows.",
        "",
    ]
    if e.get("unreadable"):
        lines += [
            f"*Recorded before reports were checked: left out as unreadable: "
            f"{_cell(', '.join(e['unreadable']))}.*",
            "",
        ]
    boot = (report.get("bootstrap") or {}).get("metrics", {})
    diff = (report.get("baseline") or {}).get("difference", {})
    base = f" vs version {e['baseline_version']}" if e.get("baseline_version") else ""
    header = "| metric | value | interval |" + (f" difference{base} | p |" if diff else "")
    lines += [header, "|---|---|---|" + ("---|---|" if diff else "")]
    for metric, value in report.get("overall", {}).items():
        ci = boot.get(metric)
        row = f"| {_cell(metric)} | {_cell(value)} | " + (
            f"{_cell(ci.get('low'))} - {_cell(ci.get('high'))} |" if ci else "- |"
        )
        if diff:
            d = diff.get(metric)
            row += (
                f" {format_figure(d.get('mean'), '+.4f')} | {_cell(d.get('p_value'))} |"
                if d
                else " - | - |"
            )
        lines.append(row)
    for slicing, groups in (report.get("slices") or {}).items():
        metrics = [m for m in HEADLINE if any(m in g for g in groups.values())][:5]
        lines += ["", f"Per slice, {slicing}:", ""]
        lines.append("| group | count | " + " | ".join(metrics) + " |")
        lines.append("|---|---|" + "---|" * len(metrics))
        for label, g in list(groups.items())[:50]:
            cells = " | ".join(_cell(g.get(m)) for m in metrics)
            lines.append(f"| {_cell(label)} | {format_figure(g.get('count'), ',.0f')} | {cells} |")
    for slicing, fair in (report.get("fairness") or {}).items():
        lines += [
            "",
            f"Fairness across {slicing}: demographic parity difference "
            f"{_cell(fair.get('demographic_parity_difference'))} "
            f"(ratio {_cell(fair.get('demographic_parity_ratio'))}), "
            f"equalized odds difference {_cell(fair.get('equalized_odds_difference'))} "
            f"(ratio {_cell(fair.get('equalized_odds_ratio'))}).",
        ]
    calibration = report.get("calibration")
    if calibration:
        lines += ["", f"Calibration: expected calibration error {_cell(calibration.get('ece'))} "
                      f"over {_cell(calibration.get('bins'))} bins."]  # fmt: skip
    latency = report.get("latency")
    if latency:
        p50 = format_figure(latency.get("p50_ms"), ".2f")
        p99 = format_figure(latency.get("p99_ms"), ".2f")
        bulk = format_figure(latency.get("rows_per_second"), ",.0f")
        lines += ["", f"Latency on the evaluating machine: p50 {p50} ms and p99 {p99} ms for one "
                      f"row; {bulk} rows/s in bulk."]  # fmt: skip


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{title}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #1d232a; }}
h1 {{ font-size: 1.6rem; }} h2 {{ margin-top: 2rem; border-bottom: 1px solid #d6dbe0; }}
table {{ border-collapse: collapse; margin: .5rem 0; }}
th, td {{ border: 1px solid #d6dbe0; padding: .2rem .6rem; text-align: left; }}
th {{ background: #f3f5f7; }} code {{ background: #f3f5f7; padding: 0 .2rem; }}
</style></head><body>
{body}
</body></html>
"""


def render_html(card: ModelCard) -> str:
    """One self-contained page: the Markdown card rendered, raw HTML in it escaped."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(render_markdown(card))
    v = card.version
    return PAGE.format(
        title=html.escape(f"Model card: {v.project}/{v.model}@{v.version}"), body=body
    )
