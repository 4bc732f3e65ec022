"""`create_app(settings)`: the ASGI app behind `tandem server` and the embedded SDK."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from tandem.core.config import Settings
from tandem.core.version import __version__
from tandem.http.deps import (
    HotAPIRoute,
    HotRoute,
    hot_routes,
    is_upload_route,
    json_route,
    loopback_peers,
)
from tandem.http.policy import PUBLIC, policy
from tandem.server.container import Services
from tandem.server.errors import install_error_handlers
from tandem.server.strict import RejectControlCharacters

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    *,
    embedded: bool = False,
    allow_open: bool = False,
) -> FastAPI:
    """Build the app over `services` (or services built from `settings`).

    `embedded`: the app is only reachable in this process (the SDK's embedded workspace), so
    every request is the workspace owner's. `allow_open`: while the workspace has no users, a
    request without credentials from a loopback peer acts as the owner (`tandem server` on
    loopback); otherwise it is anonymous and must sign in. A served app (not embedded) checks
    every request's Host and body size first (`tandem.server.edge`).
    """
    owned = services is None
    services = services or Services.build(settings or Settings.load())
    app = build_app(embedded=embedded, allow_open=allow_open)
    bind_services(app, services, owned=owned)
    return app


def bind_services(app: FastAPI, services: Services, *, owned: bool = False) -> None:
    """Serve `services` from `app` (built by `build_app`); `owned`: close them on shutdown.
    The routes find them on `app.state` (`tandem.http.deps`): each its own service in the
    registry, the caller through the identity service, refusals recorded in the audit log."""
    app.state.services = services
    app.state.registry = services.service_registry()
    app.state.principals = services.identity
    app.state.denials = services.audit
    app.state.owner = services.owner
    app.state.owns_services = owned
    if not app.state.embedded:
        from tandem.server.edge import EdgePolicy

        app.state.edge = EdgePolicy.of(services.settings, _upload_paths(app))


def build_app(*, embedded: bool = False, allow_open: bool = False) -> FastAPI:
    """The app's routes, not yet bound to a workspace (`bind_services`): building them is most
    of an embedded command's start, so the resident process (ADR 16) builds them once."""
    from tandem.alerting.api import router as alerts_router
    from tandem.audit.api import router as audit_router
    from tandem.data.api import router as data_router
    from tandem.deployments.api import router as deployments_router
    from tandem.evaluation.api import router as evaluation_router
    from tandem.gc.api import router as gc_router
    from tandem.governance.decisions.api import router as decisions_router
    from tandem.governance.gates.api import router as gates_router
    from tandem.governance.notifications.api import router as notifications_router
    from tandem.governance.plan.api import router as plan_router
    from tandem.governance.registers.api import router as registers_router
    from tandem.identity.api import router as identity_router
    from tandem.incidents.api import router as incidents_router
    from tandem.lineage.api import router as lineage_router
    from tandem.monitoring.api import router as monitoring_router
    from tandem.outcomes.api import router as outcomes_router
    from tandem.predictions.api import router as predictions_router
    from tandem.projects.api import router as projects_router
    from tandem.registry.api import router as registry_router
    from tandem.tracking.api import router as tracking_router

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if app.state.owns_services:
            app.state.services.close()

    app = FastAPI(
        title="tandem",
        version=__version__,
        description="REST API of tandem: projects, runs, metrics, artifacts, users, audit log. "
        "Send an API token as `Authorization: Bearer <token>`; each route's `x-tandem-policy` "
        "says who may call it.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # Swagger UI loads from a CDN; the server must work offline
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.embedded = embedded
    app.state.allow_open = allow_open
    app.state.is_loopback_peer = loopback_peers()
    install_error_handlers(app)
    app.add_middleware(RejectControlCharacters)

    @app.get(f"{API_PREFIX}/health", tags=["meta"], openapi_extra=policy(PUBLIC))
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    # the logging hot path first: routes are matched in order
    routers = (
        tracking_router,
        projects_router,
        data_router,
        registry_router,
        deployments_router,
        evaluation_router,
        lineage_router,
        predictions_router,
        incidents_router,
        monitoring_router,
        outcomes_router,
        plan_router,
        gates_router,
        decisions_router,
        registers_router,
        notifications_router,
        alerts_router,
        gc_router,
        identity_router,
        audit_router,
    )
    for router in routers:
        app.include_router(router, prefix=API_PREFIX, dependencies=[Depends(json_route)])
    from tandem.server.compat.mlflow.routes import PREFIXES as MLFLOW_PREFIXES
    from tandem.server.compat.mlflow.routes import router as mlflow_router
    from tandem.server.compat.mlflow.routes import version_router as mlflow_version_router

    for prefix in MLFLOW_PREFIXES:  # MLflow's REST API (issue 24, ADR 34)
        app.include_router(mlflow_router, prefix=prefix)
    app.include_router(mlflow_version_router)
    app.state.hot_routes = [route for router in routers for route in hot_routes(router)]
    _document_raw_bodies(app, app.state.hot_routes)
    _serve_hot_routes_first(app, app.state.hot_routes)
    if not embedded:  # in process, only the SDK calls: no pages, no browser sign-in
        from tandem.identity.oidc_routes import router as oidc_router

        app.include_router(oidc_router)  # /login/oidc: single sign-on, when configured
        _mount_web(app)
        from tandem.server.edge import Edge

        app.add_middleware(Edge)
    return app


def _upload_paths(app: FastAPI) -> list[re.Pattern[str]]:
    """The paths of the routes that stream a file from the body (`deps.UPLOAD_BODY`). FastAPI
    keeps included routers as lazy wrappers: their routes are listed through their contexts."""
    from fastapi.routing import iter_route_contexts
    from starlette.routing import compile_path

    return [
        compile_path(str(route.path))[0]
        for route in iter_route_contexts(app.routes)
        if is_upload_route(route) or is_upload_route(getattr(route, "original_route", None))
    ]


def _serve_hot_routes_first(app: FastAPI, declared: list[HotAPIRoute]) -> None:
    """The hot routes (`deps.hot_route`, ADR 18) as plain Starlette routes, matched before any
    other; their FastAPI declarations, behind, describe them in the OpenAPI document."""
    app.router.routes[0:0] = [HotRoute(API_PREFIX, route) for route in declared]


def _document_raw_bodies(app: FastAPI, declared: list[HotAPIRoute]) -> None:
    """Add the schemas of the bodies the hot routes parse themselves (`deps.json_body`) to the
    OpenAPI document, next to the ones FastAPI collects."""
    from pydantic.json_schema import models_json_schema

    from tandem.server.openapi import complete_document

    raw_bodies = [route.body for route in declared if route.body is not None]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = FastAPI.openapi(app)
            _, extra = models_json_schema(
                [(model, "validation") for model in raw_bodies],
                ref_template="#/components/schemas/{model}",
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in extra.get("$defs", {}).items():
                schemas.setdefault(name, schema)
            complete_document(document)
            document["components"]["schemas"] = dict(sorted(schemas.items()))
        return app.openapi_schema or document

    app.openapi = openapi  # type: ignore[method-assign]


def _mount_web(app: FastAPI) -> None:
    """The server-rendered pages and their static files; web pages get HTML error pages,
    while /api/ keeps its problem+json handlers."""
    from starlette.staticfiles import StaticFiles

    from tandem.web.errors import install_web_error_pages
    from tandem.web.render import STATIC
    from tandem.web.routes import router as web_router

    install_web_error_pages(app)
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
