"""Dataset pages: a project's datasets, one dataset (catalog, contract, versions), one version
(files, profile, validation, PII, runs) and two versions compared.

Every page asks `services.data` with the caller's principal; the catalog forms post back here,
pass the CSRF check first, then call `update_dataset`, which decides whether the caller may.
Profile and drift charts are drawn in the browser by `static/data.js` from a JSON block the
page carries (see `tandem.web.datacharts`); files download through the REST API."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from tandem.core.auth import Action, Principal
from tandem.core.refs import DatasetRef, parse_dataset_ref, parse_version_number
from tandem.core.units import format_bytes
from tandem.data.models import ColumnEdit, Contract, Dataset, DatasetUpdate, DatasetVersion
from tandem.errors import InvalidInput, NotFound, TandemError
from tandem.http.deps import PrincipalDep, offload
from tandem.http.policy import policy
from tandem.web import datacharts
from tandem.web.access import is_user_mistake
from tandem.web.deps import ServicesDep
from tandem.web.forms import checked_form, text
from tandem.web.lineage import lineage_view
from tandem.web.paging import Pager
from tandem.web.render import redirect, render

router = APIRouter(include_in_schema=False)

DATASETS_PER_PAGE = 50
VERSIONS_PER_PAGE = 50
VERSIONS_TO_PICK = 200  # versions offered in the diff page's choosers
FILES_SHOWN = 500
NOTICES = {"saved": "Catalog entry saved.", "column-saved": "Column saved."}
SEARCH_FIELDS = ("q", "column", "owner", "tag")
DESCRIPTION_LIMIT = 20_000  # well above the service's limit, so it reports the real length
TAGS_LIMIT = 100_000


def version_ref(project: str, name: str, version: str) -> DatasetRef:
    """`latest`, `v3` or `3` in a URL, as a reference (InvalidInput for anything else)."""
    if version == "latest":
        return DatasetRef(project, name, None)
    return parse_dataset_ref(f"{project}/{name}@{version}")


def parse_tags(raw: str) -> dict[str, str]:
    """`key=value`, one per line (blank lines ignored), as the tags the form asks for."""
    tags: dict[str, str] = {}
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"tags, line {number}: write key=value (one tag per line)")
        tags[key.strip()] = value.strip()
    return tags


def _q(text: str) -> str:
    return quote(text, safe="")


def _crumbs(project: str, *rest: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [("Projects", "/"), (project, f"/projects/{_q(project)}"),
            ("Datasets", f"/projects/{_q(project)}/datasets"), *rest]  # fmt: skip


def significant(value: Any) -> str:
    """A statistic to 4 significant digits."""
    return f"{value:.4g}" if datacharts.is_number(value) else "" if value is None else str(value)


def _helpers() -> dict[str, Any]:
    return {"quote": quote, "size": format_bytes, "label": datacharts.label, "sig": significant}


# -- a project's datasets ----------------------------------------------------------------------


@router.get("/projects/{project}/datasets", openapi_extra=policy(Action.DATA_READ))
async def datasets(
    request: Request,
    project: str,
    services: ServicesDep,
    principal: PrincipalDep,
    q: str = "",
    column: str = "",
    owner: str = "",
    tag: str = "",
    cursor: str | None = None,
    back: str | None = None,
) -> Response:
    page = await offload(
        services.data.list_datasets, principal, project, query=q.strip() or None,
        column=column.strip() or None, owner=owner.strip() or None, tag=tag.strip() or None,
        cursor=cursor or None, limit=DATASETS_PER_PAGE,
    )  # fmt: skip
    here = {"q": q, "column": column, "owner": owner, "tag": tag, "cursor": cursor, "back": back}
    context = {
        "project": project,
        "datasets": page.items,
        "here": here,
        "searched": any(here[k] for k in SEARCH_FIELDS),
        "pager": Pager.of(cursor, back, page.next_cursor),
        "crumbs": [*_crumbs(project)[:-1], ("Datasets", None)],
        **_helpers(),
    }
    return render(request, "datasets.html", context, principal=principal)


# -- one dataset -------------------------------------------------------------------------------


async def _dataset_page(
    request: Request,
    services: ServicesDep,
    principal: Principal,
    project: str,
    name: str,
    *,
    error: dict[str, str] | None = None,
    draft: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    dataset: Dataset = await offload(services.data.get_dataset, principal, project, name)
    q = request.query_params
    cursor, back = q.get("cursor") or None, q.get("back") or None
    versions = await offload(
        services.data.list_versions, principal, project, name, cursor=cursor,
        limit=VERSIONS_PER_PAGE,
    )  # fmt: skip
    contract: Contract | None
    try:
        contract = await offload(services.data.get_contract, principal, project, name)
    except NotFound:
        contract = None
    tags_text = "\n".join(f"{k}={v}" for k, v in sorted(dataset.tags.items()))
    base = f"/projects/{_q(project)}/datasets/{_q(dataset.name)}"
    context = {
        "project": project,
        "dataset": dataset,
        "versions": versions.items,
        "contract": contract,
        "base": base,
        "may_write": principal.may(Action.DATA_WRITE, project),
        "error": error,
        "draft": draft or {"description": dataset.description, "owner": dataset.owner,
                           "tags": tags_text},
        "notice": NOTICES.get(q.get("notice", "")),
        "here": {"cursor": cursor, "back": back},
        "pager": Pager.of(cursor, back, versions.next_cursor),
        "crumbs": _crumbs(project, (dataset.name, None)),
        **_helpers(),
    }  # fmt: skip
    return render(request, "dataset.html", context, principal=principal, status=status)


@router.get("/projects/{project}/datasets/{name}", openapi_extra=policy(Action.DATA_READ))
async def dataset_page(
    request: Request, project: str, name: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    return await _dataset_page(request, services, principal, project, name)


@router.post("/projects/{project}/datasets/{name}", openapi_extra=policy(Action.DATA_WRITE))
async def edit_dataset(
    request: Request, project: str, name: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """The catalog entry's description, owner and tags (a tag left out is removed)."""
    form = await checked_form(request, project)
    draft = {
        "description": text(form, "description", DESCRIPTION_LIMIT),
        "owner": text(form, "owner", DESCRIPTION_LIMIT),
        "tags": text(form, "tags", TAGS_LIMIT),
    }
    try:
        tags = parse_tags(draft["tags"])
        current = await offload(services.data.get_dataset, principal, project, name)
        removed = {key: "" for key in current.tags if key not in tags}
        data = DatasetUpdate(
            description=draft["description"], owner=draft["owner"].strip(),
            tags={**removed, **tags},
        )  # fmt: skip
        await offload(services.data.update_dataset, principal, project, name, data)
    except TandemError as exc:
        if not is_user_mistake(exc) or isinstance(exc, NotFound):
            raise
        return await _dataset_page(
            request, services, principal, project, name, error={"form": "dataset",
            "message": exc.message}, draft=draft, status=exc.status,
        )  # fmt: skip
    return redirect(f"/projects/{_q(project)}/datasets/{_q(name)}?notice=saved")


@router.post("/projects/{project}/datasets/{name}/columns", openapi_extra=policy(Action.DATA_WRITE))
async def edit_column(
    request: Request, project: str, name: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """One column's description and owner in the catalog."""
    form: FormData = await checked_form(request, project)
    column = text(form, "column", 1000)
    description = text(form, "description", DESCRIPTION_LIMIT)
    owner = text(form, "owner", DESCRIPTION_LIMIT).strip()
    try:
        if not column:
            raise InvalidInput("which column? the form sent none")
        edit = ColumnEdit(description=description, owner=owner)
        data = DatasetUpdate(columns={column: edit})
        await offload(services.data.update_dataset, principal, project, name, data)
    except TandemError as exc:
        if not is_user_mistake(exc) or isinstance(exc, NotFound):
            raise
        return await _dataset_page(
            request, services, principal, project, name, error={"form": "column",
            "column": column, "message": exc.message, "description": description,
            "owner": owner}, status=exc.status,
        )  # fmt: skip
    return redirect(f"/projects/{_q(project)}/datasets/{_q(name)}?notice=column-saved#columns")


# -- one version -------------------------------------------------------------------------------


def _blocking_severities() -> frozenset[str]:
    from tandem.data.contract import SEVERITIES_BLOCKING  # loads YAML: only when a page needs it

    return SEVERITIES_BLOCKING


@router.get(
    "/projects/{project}/datasets/{name}/versions/{version}",
    openapi_extra=policy(Action.DATA_READ),
)
async def version_page(
    request: Request,
    project: str,
    name: str,
    version: str,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    ref = version_ref(project, name, version)
    shown: DatasetVersion = await offload(services.data.get_version, principal, ref)
    lineage = await offload(
        lineage_view, services, principal, project, f"datasets/{shown.dataset}@v{shown.version}"
    )
    rows = datacharts.profile_rows(shown.profile)
    charts = [row["chart"] for row in rows if row["chart"] is not None]
    index = 0
    for row in rows:  # each row's chart by its place in `charts`
        row["chart_index"] = index if row["chart"] is not None else None
        index += row["chart"] is not None
    files = shown.files or []
    dataset_url = f"/projects/{_q(project)}/datasets/{_q(shown.dataset)}"
    context = {
        "project": project,
        "v": shown,
        "files": files[:FILES_SHOWN],
        "files_hidden": max(len(files) - FILES_SHOWN, 0),
        "profile_rows": rows,
        "charts": charts,
        "validation": datacharts.validation_view(shown.validation, _blocking_severities()),
        "pii": shown.pii or [],
        "runs": shown.runs or [],
        "lineage": lineage,
        "dataset_url": dataset_url,
        "download": f"/api/v1/projects/{_q(project)}/datasets/{_q(shown.dataset)}"
                    f"/versions/v{shown.version}/files/",
        "crumbs": _crumbs(project, (shown.dataset, dataset_url), (f"v{shown.version}", None)),
        **_helpers(),
    }  # fmt: skip
    return render(request, "dataset_version.html", context, principal=principal)


# -- two versions ------------------------------------------------------------------------------


def _version_text(raw: str) -> str:
    raw = raw.strip()
    return raw if raw[:1] in ("v", "V") or not raw else f"v{raw}"


@router.get("/projects/{project}/datasets/{name}/diff", openapi_extra=policy(Action.DATA_READ))
async def diff_page(
    request: Request,
    project: str,
    name: str,
    services: ServicesDep,
    principal: PrincipalDep,
    a: str = "",
    b: str = "",
) -> Response:
    """Version `a` (the reference) against `b`; with neither given, the latest against the one
    before it."""
    dataset = await offload(services.data.get_dataset, principal, project, name)
    versions = await offload(
        services.data.list_versions, principal, project, name, limit=VERSIONS_TO_PICK
    )
    numbers = [v.version for v in versions.items]
    if not a and not b and len(numbers) >= 2:
        a, b = f"v{numbers[1]}", f"v{numbers[0]}"
    a, b = _version_text(a), _version_text(b)
    report: dict[str, Any] | None = None
    error: str | None = None
    status = 200
    charts: list[dict[str, Any]] = []
    drift_rows: list[dict[str, Any]] = []
    if a and b:
        try:
            ref_a, ref_b = version_ref(project, name, a), version_ref(project, name, b)
            report = await offload(services.data.diff, principal, str(ref_a), str(ref_b), project)
            drift_rows, charts = await _drift_view(services, principal, report, ref_a, ref_b)
        except TandemError as exc:
            if not is_user_mistake(exc):
                raise
            error, status, report = exc.message, exc.status, None
    elif a or b:
        error, status = "pick two versions to compare", 422
    for number in (a, b):  # a version older than the choosers' list stays chosen
        chosen = parse_version_number(number)
        if chosen is not None and chosen not in numbers:
            numbers.append(chosen)
    dataset_url = f"/projects/{_q(project)}/datasets/{_q(dataset.name)}"
    context = {
        "project": project,
        "dataset": dataset,
        "numbers": sorted(numbers, reverse=True),
        "a": a,
        "b": b,
        "report": report,
        "rows_change": datacharts.row_change(report["rows"]) if report else None,
        "drift": report.get("drift") if report else None,
        "drift_rows": drift_rows,
        "charts": charts,
        "error": error,
        "dataset_url": dataset_url,
        "crumbs": _crumbs(project, (dataset.name, dataset_url), ("Compare versions", None)),
        **_helpers(),
    }
    return render(request, "dataset_diff.html", context, principal=principal, status=status)


def _columns(profile: dict[str, Any] | None) -> dict[str, Any]:
    return dict((profile or {}).get("columns") or {})


async def _drift_view(
    services: ServicesDep,
    principal: Principal,
    report: dict[str, Any],
    ref_a: DatasetRef,
    ref_b: DatasetRef,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The drift table's rows, each with its chart's index: the drift report's binned
    distributions, else (no drift report, or a column it could not bin) the two profiles'."""
    names = (report["a"].rsplit("@", 1)[-1], report["b"].rsplit("@", 1)[-1])
    drift = report.get("drift")
    rows = datacharts.drift_rows(drift)
    charts: list[dict[str, Any]] = []
    missing = [r for r in rows if not r["column"].get("chart")]
    profiles: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    if drift is None or missing:
        va = await offload(services.data.get_version, principal, ref_a)
        vb = await offload(services.data.get_version, principal, ref_b)
        profiles = (_columns(va.profile), _columns(vb.profile))
    if drift is None:  # no report: still show the two distributions, column by column
        rows = [
            {"column": {"column": column}, "statistic": "", "rule": "", "others": {}}
            for column in profiles[0] if column in profiles[1]
        ]  # fmt: skip
    for row in rows:
        column = row["column"]["column"]
        if row["column"].get("chart"):
            chart = datacharts.drift_chart(row["column"], names)
        else:  # the report could not bin this column: each profile's own bins
            chart = datacharts.profiles_chart(
                profiles[0].get(column), profiles[1].get(column), names
            )
        row["chart_index"] = len(charts) if chart is not None else None
        if chart is not None:
            chart["title"] = column
            charts.append(chart)
    return rows, charts
