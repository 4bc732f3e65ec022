"""Model pages: a project's models, one model (versions, aliases, stages), one version (where it
came from, its evaluations with charts, its model card) and two versions side by side.

Every page asks the services with the caller's principal. Charts are drawn in the browser by
`static/data.js` from a JSON block the page carries (ROC and precision-recall curves,
reliability, per-slice bars, selection rates across protected groups)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from tandem.core.auth import Action
from tandem.core.refs import parse_version_number
from tandem.core.units import format_figure
from tandem.http.deps import PrincipalDep, offload
from tandem.http.policy import policy
from tandem.registry.models import ModelCard, ModelVersion
from tandem.web.deps import ServicesDep
from tandem.web.forms import checked_form
from tandem.web.gates import comment_context
from tandem.web.paging import Pager
from tandem.web.render import redirect, render

router = APIRouter(include_in_schema=False)

MODELS_PER_PAGE = 50
VERSIONS_PER_PAGE = 50
SLICE_METRIC = "roc_auc"  # the per-slice bars show this, or accuracy for labels-only reports
NOTICES = {"evaluation-deleted": "The evaluation was deleted (recorded in the audit log)."}


def _q(text: str) -> str:
    return quote(text, safe="")


def _crumbs(project: str, *rest: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [
        ("Projects", "/"),
        (project, f"/projects/{_q(project)}"),
        ("Models", f"/projects/{_q(project)}/models"),
        *rest,
    ]


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _helpers() -> dict[str, Any]:
    return {"quote": quote, "fmt": _fmt, "figure": format_figure}


@router.get("/projects/{project}/models", openapi_extra=policy(Action.MODEL_READ))
async def models_page(
    request: Request,
    project: str,
    services: ServicesDep,
    principal: PrincipalDep,
    q: str = "",
    cursor: str | None = None,
    back: str | None = None,
) -> Response:
    page = await offload(
        services.registry.list_models,
        principal,
        project,
        q=q.strip() or None,
        cursor=cursor or None,
        limit=MODELS_PER_PAGE,
    )
    context = {
        "project": project,
        "models": page.items,
        "q": q,
        "pager": Pager.of(cursor, back, page.next_cursor),
        "crumbs": [*_crumbs(project)[:-1], ("Models", None)],
        **_helpers(),
    }
    return render(request, "models.html", context, principal=principal)


@router.get("/projects/{project}/models/{name}", openapi_extra=policy(Action.MODEL_READ))
async def model_page(
    request: Request,
    project: str,
    name: str,
    services: ServicesDep,
    principal: PrincipalDep,
    cursor: str | None = None,
    back: str | None = None,
) -> Response:
    model = await offload(services.registry.get_model, principal, project, name)
    versions = await offload(
        services.registry.list_versions,
        principal,
        project,
        name,
        cursor=cursor or None,
        limit=VERSIONS_PER_PAGE,
    )
    evaluations = await offload(services.evaluations.list_for_model, principal, project, name)
    latest: dict[int, Any] = {}
    for e in evaluations:  # newest first: keep each version's latest
        latest.setdefault(e.model_version, e)
    context = {
        "project": project,
        "model": model,
        "versions": versions.items,
        "latest": latest,
        "pager": Pager.of(cursor, back, versions.next_cursor),
        "model_url": f"/projects/{_q(project)}/models/{_q(name)}",
        "crumbs": _crumbs(project, (name, None)),
        **_helpers(),
    }
    return render(request, "model.html", context, principal=principal)


def _charts(report: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Chart specs for data.js, each with a title; `prefix` tells evaluations apart."""
    charts: list[dict[str, Any]] = []
    curves = report.get("curves") or {}
    if curves.get("roc"):
        roc = curves["roc"]
        charts.append(
            {
                "title": "ROC curve",
                "type": "lines",
                "xlabel": "false positive rate",
                "ylabel": "true positive rate",
                "unit": True,
                "series": [
                    {"label": "model", "x": roc["fpr"], "y": roc["tpr"]},
                    {"label": "chance", "x": [0, 1], "y": [0, 1]},
                ],
            }
        )
    if curves.get("pr"):
        pr = curves["pr"]
        charts.append(
            {
                "title": "Precision-recall curve",
                "type": "lines",
                "xlabel": "recall",
                "ylabel": "precision",
                "unit": True,
                "series": [{"label": "model", "x": pr["recall"], "y": pr["precision"]}],
            }
        )
    calibration = report.get("calibration")
    if calibration and calibration.get("mean_predicted"):
        charts.append(
            {
                "title": f"Calibration (ECE {format_figure(calibration.get('ece'))})",
                "type": "lines",
                "xlabel": "mean predicted probability",
                "ylabel": "observed positive rate",
                "unit": True,
                "points": True,
                "series": [
                    {
                        "label": "model",
                        "x": calibration["mean_predicted"],
                        "y": calibration["positive_rate"],
                    },
                    {"label": "perfect", "x": [0, 1], "y": [0, 1]},
                ],
            }
        )
    for slicing, groups in (report.get("slices") or {}).items():
        metric = SLICE_METRIC if any(SLICE_METRIC in g for g in groups.values()) else "accuracy"
        labels = list(groups)[:40]
        charts.append(
            {
                "title": f"{metric} per {slicing}",
                "type": "cats",
                "x": labels,
                "y": "value",
                "series": [{"label": metric, "values": [groups[g].get(metric) for g in labels]}],
            }
        )
    for slicing, fair in (report.get("fairness") or {}).items():
        labels = list(fair.get("groups") or {})[:40]
        charts.append(
            {
                "title": f"Selection rate and TPR across {slicing} (parity difference "
                f"{format_figure(fair.get('demographic_parity_difference'))})",
                "type": "cats",
                "x": labels,
                "y": "share",
                "series": [
                    {
                        "label": "selection rate",
                        "values": [fair["groups"][g]["selection_rate"] for g in labels],
                    },
                    {
                        "label": "true positive rate",
                        "values": [fair["groups"][g]["tpr"] for g in labels],
                    },
                ],
            }
        )
    for chart in charts:
        chart["id"] = prefix
    return charts


@router.get(
    "/projects/{project}/models/{name}/versions/{version}", openapi_extra=policy(Action.MODEL_READ)
)
async def version_page(
    request: Request,
    project: str,
    name: str,
    version: str,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    from markdown_it import MarkdownIt

    from tandem.registry.cards import render_markdown

    number = parse_version_number(version)
    selector = version if number is None else str(number)
    card: ModelCard = await offload(services.cards.card, principal, project, name, selector)
    charts: list[dict[str, Any]] = []
    views = []
    for i, e in enumerate(card.evaluations):
        report = e["report"] or {}
        first = len(charts)
        charts += _charts(report, f"e{i}")
        views.append({"e": e, "report": report, "charts": range(first, len(charts))})
    v: ModelVersion = card.version
    serving = await offload(
        services.deployments.serving, principal, project, model=name, version=v.version
    )
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    model_url = f"/projects/{_q(project)}/models/{_q(name)}"
    api = f"/api/v1/projects/{_q(project)}/models/{_q(name)}/versions/{v.version}"
    context = {
        "project": project,
        "v": v,
        "card": card,
        "evaluations": views,
        "charts": charts,
        "card_html": markdown.render(render_markdown(card)),
        "serving": serving,
        "serving_empty": "Not deployed: tandem deploy "
        f"{v.model}@{v.version} --to ENDPOINT -p {project}",
        "model_url": model_url,
        "download": api + "/files/",
        "card_download": api + "/card?format=html",
        "may_delete_evaluations": principal.may(Action.PROJECT_WRITE, project),
        "notice": NOTICES.get(request.query_params.get("notice", "")),
        "crumbs": _crumbs(project, (name, model_url), (f"version {v.version}", None)),
        **await comment_context(
            services,
            principal,
            project,
            f"models/{name}@{v.version}",
            f"{model_url}/versions/{v.version}",
        ),
        **_helpers(),
    }
    return render(request, "model_version.html", context, principal=principal)


@router.post(
    "/projects/{project}/evaluations/{evaluation_id}/delete",
    openapi_extra=policy(Action.PROJECT_WRITE),
)
async def delete_evaluation(
    request: Request,
    project: str,
    evaluation_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    """An admin deletes an evaluation from its model version's page; back to that page."""
    await checked_form(request, project)
    deleted = await offload(services.evaluations.delete, principal, project, evaluation_id)
    page = f"/projects/{_q(project)}/models/{_q(deleted.model)}/versions/{deleted.model_version}"
    return redirect(page + "?notice=evaluation-deleted#evaluations-h")


@router.get("/projects/{project}/models/{name}/compare", openapi_extra=policy(Action.MODEL_READ))
async def compare_page(
    request: Request,
    project: str,
    name: str,
    services: ServicesDep,
    principal: PrincipalDep,
    a: str = "",
    b: str = "",
) -> Response:
    """Two versions side by side: facts, and the headline metrics of each one's latest
    evaluation (on the same dataset version where both have one)."""
    model = await offload(services.registry.get_model, principal, project, name)
    latest = model.latest_version or 1
    a = a.strip() or str(max(latest - 1, 1))
    b = b.strip() or str(latest)
    left = await offload(services.cards.card, principal, project, name, a)
    right = await offload(services.cards.card, principal, project, name, b)
    shared = {(e["dataset_project"], e["dataset"], e["dataset_version"]) for e in left.evaluations}
    common = [
        e
        for e in right.evaluations
        if (e["dataset_project"], e["dataset"], e["dataset_version"]) in shared
    ]

    def pick(card: ModelCard) -> dict[str, Any] | None:
        if common:
            key = (common[0]["dataset_project"], common[0]["dataset"], common[0]["dataset_version"])
            for e in card.evaluations:
                if (e["dataset_project"], e["dataset"], e["dataset_version"]) == key:
                    return e
        return card.evaluations[0] if card.evaluations else None

    ea, eb = pick(left), pick(right)
    metrics = list(
        dict.fromkeys([*((ea or {}).get("overall") or {}), *((eb or {}).get("overall") or {})])
    )
    model_url = f"/projects/{_q(project)}/models/{_q(name)}"
    context = {
        "project": project,
        "model": model,
        "left": left,
        "right": right,
        "ea": ea,
        "eb": eb,
        "metrics": metrics,
        "same_data": bool(common),
        "model_url": model_url,
        "crumbs": _crumbs(project, (name, model_url), ("compare", None)),
        **_helpers(),
    }
    return render(request, "model_compare.html", context, principal=principal)
