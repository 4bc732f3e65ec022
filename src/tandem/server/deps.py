"""FastAPI dependencies every domain router uses: the services and the acting principal."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, NamedTuple, ParamSpec, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from tandem.core.auth import Principal
from tandem.core.net import is_loopback
from tandem.errors import (
    PayloadTooLarge,
    PermissionDenied,
    Unauthenticated,
    UnsupportedMediaType,
)
from tandem.identity.service import WebSession, constant_time_equal
from tandem.server.container import Services

SESSION_COOKIE = "tandem_session"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def web_session(request: Request) -> WebSession | None:
    """The signed-in browser behind the session cookie, if any (cached on the request)."""
    try:
        cached: WebSession | None = request.state.web_session
        return cached
    except AttributeError:  # not looked up yet for this request
        session_id = request.cookies.get(SESSION_COOKIE)
        found = None
        if session_id and not request.app.state.embedded:
            services: Services = request.app.state.services
            found = await offload(services.identity.session, session_id, client_address(request))
        request.state.web_session = found
        return found


async def get_principal(request: Request) -> Principal:
    """Who is calling: the owner for an embedded workspace (and, while the workspace has no
    users, for a loopback caller of an app told it may be open: `tandem server` on loopback);
    else the user behind the API token or the session cookie; else anonymous, whom the
    services refuse everything but signing in."""
    services: Services = request.app.state.services
    if request.app.state.embedded:
        return services.owner
    source = client_address(request)
    authorization = request.headers.get("authorization")
    principal: Principal
    if authorization:
        request.state.principal = Principal.anonymous(source)  # who the audit names if refused
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated("send the API token as: Authorization: Bearer <token>")
        principal = await offload(services.identity.principal_for_token, secret.strip(), source)
    elif (session := await web_session(request)) is not None:
        principal = session.principal
        # Browsers send cookies with cross-site requests too, so a change made with the cookie
        # must carry the page's CSRF token: scripts send the header, and web forms post a
        # hidden field that `tandem.web` checks.
        if (
            request.method not in _SAFE_METHODS
            and request.url.path.startswith("/api/")
            and not constant_time_equal(request.headers.get(CSRF_HEADER, ""), session.csrf_token)
        ):
            request.state.principal = principal
            raise PermissionDenied("missing or wrong CSRF token: send the X-CSRF-Token header")
    elif (
        request.app.state.allow_open
        and _is_loopback_peer(source)
        and not await _has_users(services)
    ):
        _check_same_origin(request.scope)
        principal = Principal.local_owner(source=source, via="open")
    else:
        principal = Principal.anonymous(source)
    request.state.principal = principal
    return principal


# Open mode asks on every request; peers are few (measured: 1.5 us uncached, 0.05 us cached).
_is_loopback_peer = functools.lru_cache(maxsize=1024)(is_loopback)


def _check_same_origin(scope: Any) -> None:
    """Open mode trusts whoever can reach loopback, which includes pages of any web site in the
    user's browser: refuse a request that a page of another origin sent (browsers send
    `Origin` on every cross-origin request, and on every POST)."""
    origin = host = None
    for name, value in scope["headers"]:
        if name == b"origin":
            origin = value
        elif name == b"host":
            host = value
    if origin is None or host is None:
        return
    scheme, _, netloc = origin.lower().partition(b"://")
    if _netloc(netloc, scheme) != _netloc(host.lower(), scope["scheme"].encode()):
        raise PermissionDenied(
            f"cross-origin request from {origin.decode('latin-1')!r} refused: a workspace "
            "without users answers pages of its own origin only"
        )


_DEFAULT_PORTS = {b"http": b"80", b"https": b"443", b"ws": b"80", b"wss": b"443"}


def _netloc(netloc: bytes, scheme: bytes) -> bytes:
    """`host:port`, with the scheme's default port made explicit."""
    if netloc.rpartition(b":")[2].isdigit() and not netloc.endswith(b"]"):
        return netloc
    return netloc + b":" + _DEFAULT_PORTS.get(scheme, b"")


async def _has_users(services: Services) -> bool:
    known = services.identity.has_users_cached()
    return known if known is not None else await offload(services.identity.has_users)


P = ParamSpec("P")
T = TypeVar("T")

ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]


_INLINE: ContextVar[bool] = ContextVar("tandem_inline", default=False)


@contextlib.contextmanager
def inline_calls() -> Iterator[None]:
    """Within: requests are in process (embedded) and have an event loop to themselves, so
    blocking service calls run directly instead of hopping to a worker thread (~0.4 ms each)."""
    token = _INLINE.set(True)
    try:
        yield
    finally:
        _INLINE.reset(token)


M = TypeVar("M", bound=BaseModel)

# Models the hot routes parse themselves (`json_body`): the app adds their schemas to the
# OpenAPI document, which would otherwise only know the models FastAPI parses.
RAW_BODY_MODELS: list[type[BaseModel]] = []


def raw_json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its body with `json_body(request, model)`: the
    document describes the body as if FastAPI parsed it."""
    RAW_BODY_MODELS.append(model)
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    invalid = {"$ref": "#/components/schemas/HTTPValidationError"}
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "responses": {
            "422": {
                "description": "Validation Error",
                "content": {"application/json": {"schema": invalid}},
            }
        },
    }


def is_json_type(content_type: bytes) -> bool:
    """Whether a Content-Type is JSON: application/json or application/*+json, any parameters."""
    media = content_type.partition(b";")[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


def _unsupported(content_type: bytes | None) -> UnsupportedMediaType:
    shown = content_type.decode("latin-1") if content_type is not None else "none"
    return UnsupportedMediaType(
        f"this route takes a JSON body: send Content-Type: application/json (not {shown})"
    )


def check_json(request: Request) -> None:
    """Refuse a body that is not declared JSON before reading it (415): a page of another site
    may send text/plain or a form without asking first (no CORS preflight), never JSON."""
    for name, value in request.scope["headers"]:
        if name == b"content-type":
            if is_json_type(value):
                return
            raise _unsupported(value)
    raise _unsupported(None)


async def json_route(request: Request) -> None:
    """Dependency of every /api/ route: a route whose body FastAPI parses as JSON refuses a
    non-empty body of another content type (415). Raw uploads and body-less routes are
    untouched; FastAPI has already read the body (within the edge's limit) when this runs."""
    field = getattr(request.scope.get("route"), "body_field", None)
    if field is None or isinstance(field.field_info, params.Form):
        return
    if await request.body():
        check_json(request)


async def json_body(request: Request, model: type[M]) -> M:
    """The request body as `model`, parsed and validated in one pass in Rust. FastAPI's own body
    handling (JSON in Python, then validation, then its dependency machinery) cost a small
    request ~0.09 ms, as much as the service call behind it. Errors are the same 422 problem;
    a body that is not JSON is refused (415) before it is read."""
    check_json(request)
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None


HotEndpoint = Callable[..., Awaitable[Response]]
E = TypeVar("E", bound=HotEndpoint)


class HotDeclaration(NamedTuple):
    method: str
    path: str  # under /api/v1
    endpoint: HotEndpoint
    openapi_extra: dict[str, Any] | None


# The hot routes (ADR 18). The app serves them ahead of FastAPI's routes, whose matching and
# parameter solving cost a small request ~60 us; FastAPI's declaration of each stays, for the
# OpenAPI document.
HOT_ROUTES: list[HotDeclaration] = []


class HotRoute(Route):
    """A hot route as served: a plain Starlette route, with its declaration's `openapi_extra`
    (its policy, which the route inventory reads)."""

    def __init__(self, prefix: str, declaration: HotDeclaration) -> None:
        method, path, endpoint, self.openapi_extra = declaration
        super().__init__(prefix + path, _plain_endpoint(endpoint), methods=[method])


def hot_route(router: APIRouter, method: str, path: str, **declaration: Any) -> Callable[[E], E]:
    """Declare a hot route on `router` (as `router.api_route` would) and serve it ahead of
    FastAPI's routing. Its endpoint takes the `Request` and string parameters only: the path's
    by name, the others from the query string, with the endpoint's defaults; it reads its own
    body and caller (`json_body`, `get_principal`) and returns a `Response`."""

    def register(endpoint: E) -> E:
        router.add_api_route(path, endpoint, methods=[method], **declaration)
        HOT_ROUTES.append(HotDeclaration(method, path, endpoint, declaration.get("openapi_extra")))
        return endpoint

    return register


def _plain_endpoint(endpoint: HotEndpoint) -> Callable[[Request], Awaitable[Response]]:
    """A hot route's endpoint as Starlette calls one: with the request alone."""
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(endpoint).parameters.items()
        if name != "request"
    }

    async def serve(request: Request) -> Response:
        path, query = request.path_params, request.query_params
        arguments = {
            name: path[name] if name in path else query.get(name, default)
            for name, default in defaults.items()
        }
        return await endpoint(request=request, **arguments)

    return serve


def served() -> bool:
    """Whether this request came over the network (not an embedded, in-process one)."""
    return not _INLINE.get()


async def offload(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call blocking service code from an endpoint: on a worker thread when served, so the
    server's event loop keeps answering; inline for an embedded request."""
    if _INLINE.get():
        return fn(*args, **kwargs)
    return await run_in_threadpool(fn, *args, **kwargs)


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serialize an already-valid model once, in Rust. FastAPI would validate it against the
    route's response model again first, which costs more than the query on a search page and
    a fifth of a small logging request."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


# `openapi_extra` of the routes that stream a file from the body (`spooled_upload`): the edge
# gives their bodies the upload limit (TANDEM_MAX_UPLOAD_BYTES) rather than the JSON one.
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def is_upload_route(route: object) -> bool:
    extra = getattr(route, "openapi_extra", None) or {}
    return "application/octet-stream" in extra.get("requestBody", {}).get("content", {})


@contextlib.asynccontextmanager
async def spooled_upload(request: Request, services: Services) -> AsyncIterator[Path]:
    """The request body, streamed into a temporary file inside the workspace (removed after).
    A served app's edge refuses a body over TANDEM_MAX_UPLOAD_BYTES; this check is the
    embedded app's."""
    limit = services.settings.max_upload_bytes
    tmp_dir = services.settings.home / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    try:
        size = 0
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(
                        f"the upload is larger than this server's limit of {limit} bytes",
                        limit=limit,
                    )
                out.write(chunk)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def blob_download(path: str, oid: str, size: int, chunks: Iterator[bytes]) -> StreamingResponse:
    """A stored file's bytes as an attachment named after `path`, with its hash in ETag and
    X-Tandem-Oid (the SDK checks the bytes against it) and no content sniffing."""
    filename = quote(path.rsplit("/", 1)[-1])
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(size),
            "ETag": f'"{oid}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
            "X-Tandem-Oid": oid,
        },
    )
