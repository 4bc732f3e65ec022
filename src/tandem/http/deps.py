"""FastAPI dependencies every domain router uses: its service, the acting principal, and the
readers of bodies and writers of responses the routes share.

Nothing here knows the app's composition: the server puts on `app.state` a `ServiceRegistry`
(`registry`), the `Principals` that resolve callers (`principals`, the identity service), the
workspace owner (`owner`), `embedded`, `allow_open` and `is_loopback_peer` (`loopback_peers`);
a domain router asks for its own service by type
(`Annotated[TrackingService, service(TrackingService)]`).
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import inspect
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, ParamSpec, Protocol, TypeVar, cast
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from tandem.core.auth import Principal
from tandem.core.config import Settings
from tandem.core.net import is_loopback
from tandem.errors import (
    PayloadTooLarge,
    PermissionDenied,
    Unauthenticated,
    UnsupportedMediaType,
)

SESSION_COOKIE = "tandem_session"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

S = TypeVar("S")


class ServiceRegistry:
    """The services an app serves, by type: the server fills it
    (`Services.service_registry`), the routes ask it for theirs (`service`). A route may also
    ask by a `runtime_checkable` protocol it declares (a port another domain's service
    satisfies, so that the route's domain need not import that one): the one service that
    satisfies it answers."""

    def __init__(self, services: dict[type, object]) -> None:
        self._services = dict(services)

    def get(self, kind: type[S]) -> S:
        found = self.find(kind)
        if found is None:
            raise LookupError(f"this app serves no {kind.__name__}")
        return found

    def find(self, kind: type[S]) -> S | None:
        """The service, or None when the app has none (an optional one, like single sign-on)."""
        try:
            return cast(S, self._services[kind])
        except KeyError:
            pass
        if not getattr(kind, "_is_protocol", False):
            return None
        matches = {id(s): s for s in self._services.values() if isinstance(s, kind)}
        if len(matches) > 1:
            raise LookupError(f"more than one service is a {kind.__name__}")
        found = next(iter(matches.values()), None)
        if found is not None:
            self._services[kind] = found  # asked once per app, then found directly
        return found


def lookup(request: Request, kind: type[S]) -> S:
    """The app's service of type `kind` (a hot route's, which reads it without a dependency)."""
    registry: ServiceRegistry = request.app.state.registry
    return registry.get(kind)


def service(kind: type[Any]) -> Any:
    """A dependency on the app's service of type `kind` (for `Annotated`):
    `TrackingDep = Annotated[TrackingService, service(TrackingService)]`."""

    async def provide(request: Request) -> Any:
        registry: ServiceRegistry = request.app.state.registry
        return registry.get(kind)

    return Depends(provide)


def optional_service(kind: type[Any]) -> Any:
    """A dependency on the app's service of type `kind`, None when it has none."""

    async def provide(request: Request) -> Any:
        registry: ServiceRegistry = request.app.state.registry
        return registry.find(kind)

    return Depends(provide)


SettingsDep = Annotated[Settings, service(Settings)]


class Session(Protocol):
    """A signed-in browser, as the requests see it."""

    @property
    def principal(self) -> Principal: ...

    @property
    def csrf_token(self) -> str: ...


class Principals(Protocol):
    """Who is behind a request's credentials (the identity service is one)."""

    def session(self, session_id: str, source: str) -> Session | None: ...

    def principal_for_token(self, secret: str, source: str) -> Principal: ...

    def has_users(self) -> bool: ...

    def has_users_cached(self) -> bool | None: ...


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def web_session(request: Request) -> Session | None:
    """The signed-in browser behind the session cookie, if any (cached on the request)."""
    try:
        cached: Session | None = request.state.web_session
        return cached
    except AttributeError:  # not looked up yet for this request
        session_id = request.cookies.get(SESSION_COOKIE)
        found = None
        if session_id and not request.app.state.embedded:
            principals: Principals = request.app.state.principals
            found = await offload(principals.session, session_id, client_address(request))
        request.state.web_session = found
        return found


async def get_principal(request: Request) -> Principal:
    """Who is calling: the owner for an embedded workspace (and, while the workspace has no
    users, for a loopback caller of an app told it may be open: `tandem server` on loopback);
    else the user behind the API token or the session cookie; else anonymous, whom the
    services refuse everything but signing in."""
    if request.app.state.embedded:
        owner: Principal = request.app.state.owner
        return owner
    principals: Principals = request.app.state.principals
    source = client_address(request)
    authorization = request.headers.get("authorization")
    principal: Principal
    if authorization:
        request.state.principal = Principal.anonymous(source)  # who the audit names if refused
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated("send the API token as: Authorization: Bearer <token>")
        principal = await offload(principals.principal_for_token, secret.strip(), source)
    elif (session := await web_session(request)) is not None:
        principal = session.principal
        # Browsers send cookies with cross-site requests too, so a change made with the cookie
        # must carry the page's CSRF token: scripts send the header, and web forms post a
        # hidden field that `tandem.web` checks.
        if (
            request.method not in _SAFE_METHODS
            and request.url.path.startswith(("/api/", "/ajax-api/"))
            and not _constant_time_equal(request.headers.get(CSRF_HEADER, ""), session.csrf_token)
        ):
            request.state.principal = principal
            raise PermissionDenied("missing or wrong CSRF token: send the X-CSRF-Token header")
    elif (
        request.app.state.allow_open
        and request.app.state.is_loopback_peer(source)
        and not await _has_users(principals)
    ):
        _check_same_origin(request.scope)
        principal = Principal.local_owner(source=source, via="open")
    else:
        principal = Principal.anonymous(source)
    request.state.principal = principal
    return principal


def loopback_peers() -> Callable[[str], bool]:
    """Whether a peer address is loopback, remembered: open mode asks on every request and
    peers are few (measured: 1.5 us uncached, 0.05 us cached). The server keeps one per app
    (`app.state.is_loopback_peer`)."""
    return functools.lru_cache(maxsize=1024)(is_loopback)


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


async def _has_users(principals: Principals) -> bool:
    known = principals.has_users_cached()
    return known if known is not None else await offload(principals.has_users)


def _constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


P = ParamSpec("P")
T = TypeVar("T")

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


def raw_json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its body with `json_body(request, model)`: the
    document describes the body as if FastAPI parsed it (the app adds the schemas of the hot
    routes' bodies, `HotAPIRoute.body`, to its document)."""
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


class HotAPIRoute(APIRoute):
    """A hot route's FastAPI declaration (ADR 18): it describes the route in the OpenAPI
    document, while the app serves the route itself ahead of FastAPI's routing (`HotRoute`).
    `body`: the model the endpoint reads itself (`json_body`), whose schema the app adds."""

    body: type[BaseModel] | None = None


def hot_routes(router: APIRouter) -> list[HotAPIRoute]:
    """The hot routes declared on `router`, in the order they were declared."""
    return [route for route in router.routes if isinstance(route, HotAPIRoute)]


class HotRoute(Route):
    """A hot route as served: a plain Starlette route, with its declaration's `openapi_extra`
    (its policy, which the route inventory reads). FastAPI's matching and parameter solving
    cost a small request ~60 us."""

    def __init__(self, prefix: str, declared: HotAPIRoute) -> None:
        self.openapi_extra = declared.openapi_extra
        super().__init__(
            prefix + declared.path,
            _plain_endpoint(declared.endpoint),
            methods=sorted(declared.methods or ()),
        )


def hot_route(
    router: APIRouter,
    method: str,
    path: str,
    *,
    body: type[BaseModel] | None = None,
    **declaration: Any,
) -> Callable[[E], E]:
    """Declare a hot route on `router` (as `router.api_route` would); the app serves it ahead of
    FastAPI's routing. Its endpoint takes the `Request` and string parameters only: the path's
    by name, the others from the query string, with the endpoint's defaults; it reads its own
    body (`json_body`, of the model `body` the document describes) and caller (`get_principal`)
    and returns a `Response`."""
    if body is not None:
        declaration["openapi_extra"] = {
            **(declaration.get("openapi_extra") or {}),
            **raw_json_body(body),
        }

    def register(endpoint: E) -> E:
        router.add_api_route(
            path, endpoint, methods=[method], route_class_override=HotAPIRoute, **declaration
        )
        declared = router.routes[-1]
        assert isinstance(declared, HotAPIRoute)
        declared.body = body
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


# Binary bodies a route may take: files (`UPLOAD_BODY`) and batches of Arrow record batches
# (the prediction log's, up to its own limit, which is past the JSON one).
UPLOAD_MEDIA_TYPES = ("application/octet-stream", "application/vnd.apache.arrow.stream")


def is_upload_route(route: object) -> bool:
    extra = getattr(route, "openapi_extra", None) or {}
    content = extra.get("requestBody", {}).get("content", {})
    return any(media in content for media in UPLOAD_MEDIA_TYPES)


@contextlib.asynccontextmanager
async def spooled_upload(request: Request) -> AsyncIterator[Path]:
    """The request body, streamed into a temporary file inside the workspace (removed after).
    A served app's edge refuses a body over TANDEM_MAX_UPLOAD_BYTES; this check is the
    embedded app's."""
    settings = lookup(request, Settings)
    limit = settings.max_upload_bytes
    tmp_dir = settings.home / "tmp"
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
