"""REST endpoints for the model registry: parse, call the service, return the model."""

from __future__ import annotations

from typing import Annotated, Protocol, runtime_checkable

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse, PlainTextResponse, StreamingResponse

from tandem.core.auth import Action, Principal
from tandem.core.paging import Page
from tandem.http.deps import PrincipalDep, blob_download, offload, service
from tandem.http.policy import policy
from tandem.registry.cards import CardService
from tandem.registry.models import (
    AliasSet,
    CardTexts,
    Model,
    ModelCard,
    ModelUpdate,
    ModelVersion,
    Stage,
    StageChange,
    VersionCreate,
    VersionUpdate,
)
from tandem.registry.service import RegistryService

router = APIRouter(tags=["models"])

CardsDep = Annotated[CardService, service(CardService)]


@runtime_checkable
class StageMoves(Protocol):
    """Who moves a version between stages: the gates (governance), which the registry does not
    import; the app serves the service that has this method."""

    def move_stage(
        self, principal: Principal, project: str, name: str, selector: str, stage: Stage
    ) -> ModelVersion: ...


StageMovesDep = Annotated[StageMoves, service(StageMoves)]

RegistryDep = Annotated[RegistryService, service(RegistryService)]

MODEL = "/projects/{project}/models/{name}"
VERSION = MODEL + "/versions/{version}"
Cursor = Annotated[str | None, Query(description="from the previous page's next_cursor")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Selector = Annotated[str, "a version number, an alias such as champion, or latest"]


@router.get("/projects/{project}/models", openapi_extra=policy(Action.MODEL_READ))
async def list_models(
    project: str,
    registry: RegistryDep,
    principal: PrincipalDep,
    q: Annotated[str | None, Query(description="part of the name or description")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[Model]:
    return await offload(registry.list_models, principal, project, q=q, cursor=cursor, limit=limit)


@router.get(MODEL, openapi_extra=policy(Action.MODEL_READ))
async def get_model(
    project: str, name: str, registry: RegistryDep, principal: PrincipalDep
) -> Model:
    return await offload(registry.get_model, principal, project, name)


@router.patch(MODEL, openapi_extra=policy(Action.MODEL_WRITE))
async def update_model(
    project: str, name: str, body: ModelUpdate, registry: RegistryDep, principal: PrincipalDep
) -> Model:
    return await offload(registry.update_model, principal, project, name, body)


@router.post(MODEL + "/versions", status_code=201, openapi_extra=policy(Action.MODEL_WRITE))
async def register_version(
    project: str, name: str, body: VersionCreate, registry: RegistryDep, principal: PrincipalDep
) -> ModelVersion:
    """Register the model a run logged under `artifact_path` as the model's next version."""
    return await offload(registry.register, principal, project, name, body)


@router.get(MODEL + "/versions", openapi_extra=policy(Action.MODEL_READ))
async def list_versions(
    project: str,
    name: str,
    registry: RegistryDep,
    principal: PrincipalDep,
    stage: Stage | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ModelVersion]:
    """Newest first."""
    return await offload(
        registry.list_versions, principal, project, name, stage=stage, cursor=cursor,
        limit=limit,
    )  # fmt: skip


@router.get(VERSION, openapi_extra=policy(Action.MODEL_READ))
async def get_version(
    project: str, name: str, version: Selector, registry: RegistryDep, principal: PrincipalDep
) -> ModelVersion:
    """A version by number, alias or `latest`, with its files."""
    return await offload(registry.get_version, principal, project, name, version)


@router.patch(VERSION, openapi_extra=policy(Action.MODEL_WRITE))
async def update_version(
    project: str, name: str, version: Selector, body: VersionUpdate, registry: RegistryDep,
    principal: PrincipalDep,
) -> ModelVersion:  # fmt: skip
    return await offload(
        registry.update_version, principal, project, name, version, body.description
    )


@router.post(VERSION + "/stage", openapi_extra=policy(Action.MODEL_WRITE))
async def set_stage(
    project: str, name: str, version: Selector, body: StageChange, gates: StageMovesDep,
    principal: PrincipalDep,
) -> ModelVersion:  # fmt: skip
    """Move the version to another lifecycle stage: back to draft directly; forward, or to
    retired, once the gate for that move is open and passes (409 `conflict` saying what it
    waits for, otherwise). See /projects/{project}/gates."""
    return await offload(gates.move_stage, principal, project, name, version, body.stage)


@router.put(MODEL + "/aliases/{alias}", openapi_extra=policy(Action.MODEL_WRITE))
async def set_alias(
    project: str, name: str, alias: str, body: AliasSet, registry: RegistryDep,
    principal: PrincipalDep,
) -> Model:  # fmt: skip
    """Point `alias` (champion, challenger, ...) at a version; it moves if it pointed elsewhere."""
    return await offload(registry.set_alias, principal, project, name, alias, body.version)


@router.delete(MODEL + "/aliases/{alias}", openapi_extra=policy(Action.MODEL_WRITE))
async def delete_alias(
    project: str, name: str, alias: str, registry: RegistryDep, principal: PrincipalDep
) -> Model:
    return await offload(registry.delete_alias, principal, project, name, alias)


@router.get(
    VERSION + "/files/{path:path}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
    openapi_extra=policy(Action.MODEL_READ),
)
async def download_file(
    project: str, name: str, version: Selector, path: str, registry: RegistryDep,
    principal: PrincipalDep,
) -> Response:  # fmt: skip
    found, chunks = await offload(registry.open_file, principal, project, name, version, path)
    return blob_download(found.path, found.oid, found.size, chunks)


@router.get(
    VERSION + "/card",
    responses={200: {"content": {"text/markdown": {}, "text/html": {}}}},
    openapi_extra=policy(Action.MODEL_READ),
)
async def model_card(
    project: str, name: str, version: Selector, cards: CardsDep, principal: PrincipalDep,
    format: Annotated[str, Query(pattern="^(json|markdown|html)$")] = "json",
) -> Response:  # fmt: skip
    """The version's model card: JSON (the record), Markdown, or one self-contained HTML page."""
    from tandem.registry.cards import render_html, render_markdown

    card: ModelCard = await offload(cards.card, principal, project, name, version)
    if format == "markdown":
        return PlainTextResponse(render_markdown(card), media_type="text/markdown; charset=utf-8")
    if format == "html":
        return HTMLResponse(
            render_html(card),
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )
    return Response(card.model_dump_json(), media_type="application/json")


@router.put(MODEL + "/card", openapi_extra=policy(Action.MODEL_WRITE))
async def set_card_texts(
    project: str, name: str, body: CardTexts, cards: CardsDep, principal: PrincipalDep
) -> dict[str, str]:
    """Write the card's free-text sections (Markdown); omitted ones stay, "" clears one."""
    return await offload(cards.set_texts, principal, project, name, body)
