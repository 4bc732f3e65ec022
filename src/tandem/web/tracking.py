"""Run pages: a project's runs table, one run, an artifact preview, and runs compared.

The tables are rendered on the server from one search page (only the columns shown are
loaded); metric charts load their points from the REST API in the browser, one key at a time."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from tandem.core.auth import Action
from tandem.core.refs import RunRef
from tandem.errors import IntegrityError, InvalidFilter, InvalidInput
from tandem.http.deps import PrincipalDep, offload
from tandem.http.policy import policy
from tandem.tracking.models import Run, RunSearch
from tandem.web.deps import ServicesDep
from tandem.web.lineage import lineage_view
from tandem.web.paging import Pager
from tandem.web.preview import (
    PREVIEW_MAX_BYTES,
    TEXT_LIMIT,
    Preview,
    classify,
    failed,
    image_type,
    peek,
    read_head,
    too_large,
)
from tandem.web.render import redirect, render

router = APIRouter(include_in_schema=False)

RUNS_PER_PAGE = 50
MAX_COLUMNS = 30
DEFAULT_METRIC_COLUMNS = 8
DEFAULT_PARAM_COLUMNS = 6
_KINDS = ("metrics.", "params.", "tags.")


def parse_columns(raw: str | None) -> list[str] | None:
    """`metrics.auc,params.model` -> those columns; None when the user chose none."""
    if raw is None or not raw.strip():
        return None
    picked = [c.strip() for c in raw.split(",") if c.strip().startswith(_KINDS)]
    return list(dict.fromkeys(picked))[:MAX_COLUMNS]


def default_columns(items: list[Run]) -> list[str]:
    """With no columns chosen: the metric and param keys this page's runs have (a few)."""
    metrics = sorted({k for run in items for k in run.metrics})[:DEFAULT_METRIC_COLUMNS]
    params = sorted({k for run in items for k in run.params})[:DEFAULT_PARAM_COLUMNS]
    return [f"metrics.{k}" for k in metrics] + [f"params.{k}" for k in params]


def cell(run: Run, column: str) -> Any:
    kind, _, key = column.partition(".")
    source: dict[str, Any] = getattr(run, kind)
    return source.get(key)


def sort_link(current: str | None, column: str) -> tuple[str, str]:
    """(the order a header link asks for, its aria-sort now): descending first, then ascending."""
    now = (current or "").strip().lower()
    if now == f"{column} desc".lower():
        return f"{column} asc", "descending"
    if now in (f"{column} asc".lower(), column.lower()):
        return f"{column} desc", "ascending"
    return f"{column} desc", "none"


@router.get("/projects/{project}/runs", openapi_extra=policy(Action.RUN_READ))
async def runs_table(
    request: Request,
    project: str,
    services: ServicesDep,
    principal: PrincipalDep,
    filter: str = "",
    order: str = "",
    columns: str | None = None,
    cursor: str | None = None,
    back: str | None = None,
) -> Response:
    chosen = parse_columns(columns)
    fields = ["params.*", "metrics.*"] if chosen is None else ["name", *chosen]
    search = RunSearch(
        project=project,
        filter=filter or None,
        order_by=[order] if order.strip() else [],
        limit=RUNS_PER_PAGE,
        cursor=cursor or None,
        fields=fields,
    )
    error: dict[str, Any] | None = None
    items: list[Run] = []
    next_cursor = None
    try:
        page = await offload(services.tracking.search_runs, principal, search)
        items, next_cursor = page.items, page.next_cursor
    except InvalidFilter as exc:
        source = "order" if order and exc.details.get("filter") == order else "filter"
        position = int(exc.details.get("position", 0))
        text = order if source == "order" else filter
        error = {"message": exc.message, "source": source, "text": text, "position": position}
    shown = chosen if chosen is not None else default_columns(items)
    here = {"filter": filter, "order": order, "columns": columns, "cursor": cursor, "back": back}
    context = {
        "project": project,
        "runs": items,
        "columns": shown,
        "cell": cell,
        "sort_link": sort_link,
        "error": error,
        "here": here,
        "pager": Pager.of(cursor, back, next_cursor),
        "crumbs": [
            ("Projects", "/"),
            (project, f"/projects/{quote(project, safe='')}"),
            ("Runs", None),
        ],
    }
    return render(request, "runs.html", context, principal=principal, status=422 if error else 200)


@router.get("/projects/{project}/runs/{run_id}", openapi_extra=policy(Action.RUN_READ))
async def run_page(
    request: Request,
    project: str,
    run_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    preview: str | None = None,
) -> Response:
    ref = str(RunRef(project, run_id))
    run = await offload(services.tracking.get_run, principal, ref)
    artifacts = await offload(services.tracking.list_artifacts, principal, ref)
    datasets = await offload(services.data.run_datasets, principal, run.id)
    lineage = await offload(lineage_view, services, principal, project, f"runs/{run.id}")
    shown: Preview | None = None
    previewed = next((a for a in artifacts if a.path == preview), None) if preview else None
    if previewed is not None and previewed.size > PREVIEW_MAX_BYTES:
        # showing any of it means verifying all of it first: not for a page view
        shown = too_large(previewed.size)
    elif previewed is not None:
        try:
            _, chunks = await offload(
                services.tracking.open_artifact, principal, ref, previewed.path
            )
            head, truncated = await offload(read_head, chunks, TEXT_LIMIT)
            shown = classify(head, truncated)
        except IntegrityError as exc:  # the page stands; the preview says what is wrong
            shown = failed(exc)
    base = f"/projects/{quote(project, safe='')}/runs/{quote(run.id, safe='')}"
    context = {
        "project": project,
        "run": run,
        "artifacts": artifacts,
        "datasets": datasets,
        "lineage": lineage,
        "preview_path": preview if shown else None,
        "preview": shown,
        "base": base,
        "quote": quote,
        "charts": {"project": project, "runs": [{"id": run.id, "name": run.name}]},
        "crumbs": [("Projects", "/"), (project, f"/projects/{quote(project, safe='')}"),
                   (run.name or run.id, None)],
    }  # fmt: skip
    return render(request, "run.html", context, principal=principal)


@router.get(
    "/projects/{project}/runs/{run_id}/preview/{path:path}",
    openapi_extra=policy(Action.ARTIFACT_READ),
)
async def preview_artifact(
    project: str, run_id: str, path: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """An image artifact, typed from its magic bytes so the browser shows it as an image and
    nothing else; anything else is refused (download it through the REST API instead)."""
    ref = str(RunRef(project, run_id))
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'",
        "Cache-Control": "private, max-age=300",
    }
    try:
        artifact, chunks = await offload(services.tracking.open_artifact, principal, ref, path)
        head = await offload(peek, chunks)
    except IntegrityError as exc:  # small blobs are verified before their first byte
        headers["Cache-Control"] = "no-store"
        return Response(
            f"no preview: {failed(exc).text}\n", status_code=409, media_type="text/plain",
            headers=headers,
        )  # fmt: skip
    content_type = image_type(head)
    if content_type is None:
        return Response(
            "no preview: not a PNG, JPEG, GIF or WebP image; download it instead\n",
            status_code=415,
            media_type="text/plain",
            headers=headers,
        )
    headers["Content-Length"] = str(artifact.size)
    body = itertools.chain([head] if head else [], chunks)
    return StreamingResponse(body, media_type=content_type, headers=headers)


@router.get("/projects/{project}/compare", openapi_extra=policy(Action.RUN_READ))
async def compare(
    request: Request,
    project: str,
    services: ServicesDep,
    principal: PrincipalDep,
    runs: str = "",
    run: list[str] = Query(default_factory=list),
) -> Response:
    if run:  # the runs table's checkboxes: go to the shareable ?runs=a,b URL
        ids = ",".join(dict.fromkeys([*filter(None, runs.split(",")), *run]))
        return redirect(f"/projects/{quote(project, safe='')}/compare?{urlencode({'runs': ids})}")
    ids_list = list(dict.fromkeys(i.strip() for i in runs.split(",") if i.strip()))
    if len(ids_list) < 2:
        raise InvalidInput("pick at least two runs to compare")
    refs = [str(RunRef(project, i)) for i in ids_list]
    comparison = await offload(services.tracking.compare_runs, principal, refs)
    context = {
        "project": project,
        "cmp": comparison,
        "quote": quote,
        "charts": {
            "project": project,
            "runs": [{"id": r.id, "name": r.name or r.id} for r in comparison.runs],
        },
        "crumbs": [("Projects", "/"), (project, f"/projects/{quote(project, safe='')}"),
                   ("Compare", None)],
    }  # fmt: skip
    return render(request, "compare.html", context, principal=principal)
