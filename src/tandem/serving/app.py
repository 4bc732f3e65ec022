"""The gateway's ASGI app, written against the raw ASGI interface (no framework on the request
path: a one-row prediction is a few tens of microseconds of Python around the model).

Routes:
- `POST /invocations` (MLflow's JSON formats and `text/csv`), `POST /preview/invocations`
  (the blue-green candidate, before promotion);
- `POST /v2/models/{endpoint}/infer`, `GET /v2/models/{endpoint}`,
  `GET /v2/models/{endpoint}/ready`, `GET /v2/health/live`, `GET /v2/health/ready`,
  `GET /v2` (Open Inference Protocol v2);
- `GET /ping`, `GET /health` (MLflow's and a JSON summary), `GET /metrics` (Prometheus text).

Every prediction answer carries `X-Request-Id` (the client's when it sent a valid one) and
`X-Tandem-Version: model@version`. Errors are `application/problem+json` with a stable code.
After the answer is sent, the request is counted (`Recorder.observe`), logged
(`Recorder.log`), and mirrored to shadow deployments (`ShadowMirror`).
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import itertools
import logging
import math
import os
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from tandem.serving.formats import (
    Frame,
    RequestError,
    dump_outputs,
    mlflow_answer,
    parse_csv,
    parse_json,
    parse_v2,
    v2_answer,
)
from tandem.serving.metrics import RequestMetrics
from tandem.serving.recorder import Recorder
from tandem.serving.router import Route, RoutingTable
from tandem.serving.shadow import ShadowMirror

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Hook = Callable[[], Any]

PROBLEM_TYPE = "https://tandem.dev/problems/"
_JSON = (b"content-type", b"application/json")
_PROBLEM = (b"content-type", b"application/problem+json")
# what UUIDs, ULIDs and prefixed ids use; no slash, space, quote or percent sign
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@+=~{}\-]{1,200}$")
_TITLES = {400: "Bad request", 404: "Not found", 405: "Method not allowed",
           413: "Payload too large", 415: "Unsupported media type", 422: "Invalid input",
           500: "Prediction failed", 503: "Not ready"}  # fmt: skip


@dataclass(frozen=True)
class Limits:
    """What one request may ask for."""

    max_body_bytes: int = 10 * 1024 * 1024
    inline_rows: int = 256  # larger requests predict on a thread, off the event loop


def problem_body(status: int, code: str, detail: str, instance: str) -> bytes:
    """RFC 9457 problem details, the shape the hub's API uses."""
    return orjson.dumps(
        {"type": PROBLEM_TYPE + code, "title": _TITLES.get(status, "Error"), "status": status,
         "detail": detail, "code": code, "instance": instance}
    )  # fmt: skip


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Gateway:
    """The data plane of one endpoint: an ASGI app over a `RoutingTable` that `swap` replaces.

    `recorder` receives every answered prediction; `on_startup` / `on_shutdown` hooks (sync or
    async callables) run in the ASGI lifespan, where the control plane starts its poller."""

    def __init__(
        self,
        table: RoutingTable,
        recorder: Recorder,
        *,
        limits: Limits | None = None,
        on_startup: Iterable[Hook] = (),
        on_shutdown: Iterable[Hook] = (),
    ) -> None:
        self._table = table
        self.recorder = recorder
        # Background threads (shadow comparison, prediction-log shipping, policy polling) hold
        # the GIL in turns with the event loop: a 1 ms switch interval instead of 5 ms bounds
        # how long a request waits behind them.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        self.limits = limits or Limits()
        self.metrics = RequestMetrics(table.endpoint)
        self.shadow = ShadowMirror(recorder)
        self.on_startup = list(on_startup)
        self.on_shutdown = list(on_shutdown)
        self._failures: dict[str, tuple[float, int]] = {}  # deployment -> (last logged, since)
        self._routes: dict[tuple[str, str], Callable[..., Awaitable[None]]] = {
            ("POST", "/invocations"): self._invocations,
            ("POST", "/preview/invocations"): self._preview,
            ("GET", "/ping"): self._ping,
            ("GET", "/health"): self._health,
            ("GET", "/metrics"): self._metrics,
            ("GET", "/v2/health/live"): self._live,
            ("GET", "/v2/health/ready"): self._ping,
            ("GET", "/v2"): self._server_metadata,
        }

    # -- the control plane's handle -------------------------------------------------------

    @property
    def table(self) -> RoutingTable:
        return self._table

    def swap(self, table: RoutingTable) -> RoutingTable:
        """Serve `table` from the next request on; requests under way finish on the old one
        (one reference assignment: atomic, no request fails). Returns the old table."""
        old, self._table = self._table, table
        # The loaded models are long-lived: out of the collector's scans, so a collection on
        # the request path stays short (gc.freeze is a constant-time list splice).
        gc.freeze()
        if table.endpoint != self.metrics.endpoint:
            self.metrics.endpoint = table.endpoint
        return old

    # -- ASGI -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for hook in self.on_startup:
                        await _call(hook)
                except Exception as exc:
                    log.exception("gateway startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for hook in self.on_shutdown:
                    try:
                        await _call(hook)
                    except Exception:
                        log.exception("a gateway shutdown hook failed")
                await asyncio.to_thread(self.shadow.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        root = scope.get("root_path")
        if root and path.startswith(root):  # mounted under a prefix (a proxy, Ray Serve)
            path = path[len(root) :]
            scope = {**scope, "path": path}
        handler = self._routes.get((method, path))
        if handler is not None:
            await handler(scope, receive, send)
            return
        if path.startswith("/v2/models/"):
            await self._v2_model(scope, receive, send, method, path)
            return
        if any(p == path for _, p in self._routes):
            allowed = ", ".join(m for m, p in self._routes if p == path)
            await _send(send, 405, problem_body(405, "method-not-allowed",
                        f"{path} takes {allowed}", path),
                        [_PROBLEM, (b"allow", allowed.encode())])  # fmt: skip
            return
        await _send(send, 404, problem_body(404, "not-found", f"no such route: {method} {path}",
                    path), [_PROBLEM])  # fmt: skip

    # -- predictions ----------------------------------------------------------------------

    async def _invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._predict(scope, receive, send, "mlflow", preview=False)

    async def _preview(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._predict(scope, receive, send, "mlflow", preview=True)

    async def _predict(
        self, scope: Scope, receive: Receive, send: Send, protocol: str, *, preview: bool
    ) -> None:
        started = time.perf_counter()
        table = self._table  # one policy for the whole request
        path: str = scope["path"]
        content_type = b""
        length = -1
        client_id = b""
        sticky_header = table.sticky_header
        sticky_field = table.sticky_field
        header_key: str | None = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = int(value) if value.isdigit() else -1
            elif name == b"x-request-id":
                client_id = value
            elif name == sticky_header:
                header_key = value.decode("latin-1")
        route: Route | None = None
        request_id = ""
        frame: Frame | None = None
        rows: list[list[Any]] | None = None
        columns: list[str] | None = None
        try:
            request_id = _request_id(client_id)
            body = await self._body(receive, length)
            if body is None:
                return  # the client went away
            if protocol == "v2":
                frame, v2_id = parse_v2(body)
            else:
                frame = _parse_mlflow(body, content_type)
            if preview:
                route = table.preview
                if route is None:
                    raise RequestError(
                        404, "no-preview",
                        f"endpoint {table.endpoint!r} has no blue-green candidate in preview",
                    )  # fmt: skip
            else:
                key = header_key
                if sticky_field is not None and key is None:
                    value = frame.value_of(sticky_field)
                    key = None if value is None else str(value)
                route = table.pick(key)
                if route is None:
                    raise RequestError(
                        503, "not-ready",
                        f"endpoint {table.endpoint!r} has no deployment taking traffic yet",
                    )  # fmt: skip
            if len(frame.rows) > route.max_rows:
                raise RequestError(
                    413, "too-many-rows",
                    f"{len(frame.rows)} rows; {route.label} takes at most {route.max_rows} "
                    "per request",
                )  # fmt: skip
            prepared = route.predictor.schema.prepare(frame)
            rows, columns = prepared.rows, prepared.columns
            predict = route.predictor.predict
            try:
                if route.predictor.inline and len(rows) <= self.limits.inline_rows:
                    outputs = predict(prepared.input)
                else:
                    outputs = await asyncio.to_thread(predict, prepared.input)
            except Exception as exc:
                self._log_failure(route, request_id)
                raise RequestError(
                    500, "prediction-failed",
                    f"{route.label} failed: {type(exc).__name__}: {str(exc)[:300]}",
                ) from None  # fmt: skip
            outputs_json = dump_outputs(outputs)
            if protocol == "v2":
                answer = v2_answer(table.endpoint, route.label, v2_id or request_id, outputs)
            else:
                answer = mlflow_answer(outputs_json)
            status = 200
            headers = [
                (b"content-type", b"application/json"),
                (b"x-request-id", request_id.encode()),
                (b"x-tandem-version", route.label.encode()),
            ]
        except RequestError as error:
            status, outputs = error.status, None
            answer = outputs_json = problem_body(error.status, error.code, error.detail, path)
            headers = [_PROBLEM]
            if request_id:
                headers.append((b"x-request-id", request_id.encode()))
            if route is not None:
                headers.append((b"x-tandem-version", route.label.encode()))
        await _send(send, status, answer, headers)
        latency_ms = (time.perf_counter() - started) * 1000.0
        self.metrics.observe(route.label if route else "", status, latency_ms)
        if route is None:
            return
        recorder = self.recorder
        recorder.observe(route.deployment, status, latency_ms)
        inputs = b"null" if rows is None else orjson.dumps({"columns": columns, "data": rows})
        logged = outputs_json
        if outputs is not None and route.predictor.probabilities and rows is not None:
            # a classifier's class labels were answered; the log keeps its scores beside them
            # (after the answer was sent: the caller never waits for them)
            if route.predictor.inline and len(rows) <= self.limits.inline_rows:
                scored = route.predictor.log_output(prepared.input, outputs)
            else:
                scored = await asyncio.to_thread(
                    route.predictor.log_output, prepared.input, outputs
                )
            logged = scored if scored is not None else outputs_json
        recorder.log(
            (request_id, int(time.time() * 1000), route.deployment, route.model, route.version,
             status, latency_ms, inputs.decode(), logged.decode())
        )  # fmt: skip
        if outputs is not None and not preview and frame is not None:
            shadows = table.mirrors()
            if shadows:
                self.shadow.offer(frame, route, outputs, shadows)

    def _log_failure(self, route: Route, request_id: str) -> None:
        """A model's failure with its traceback, at most once per deployment every 10 s (a
        canary failing one request in five must not flood the log); the rest are counted."""
        now = time.monotonic()
        last, skipped = self._failures.get(route.deployment, (-math.inf, 0))
        if now - last < 10.0:
            self._failures[route.deployment] = (last, skipped + 1)
            return
        self._failures[route.deployment] = (now, 0)
        log.warning(
            "%s failed on request %s (%d more failures since the last report)",
            route.label, request_id, skipped, exc_info=True,
        )  # fmt: skip

    async def _body(self, receive: Receive, length: int) -> bytes | None:
        limit = self.limits.max_body_bytes
        if length > limit:
            raise RequestError(413, "payload-too-large",
                               f"the body is {length} bytes; the limit is {limit}")  # fmt: skip
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > limit:
                raise RequestError(413, "payload-too-large",
                                   f"the body is over the limit of {limit} bytes")  # fmt: skip
            return body
        chunks = [body]
        size = len(body)
        while message.get("more_body", False):
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError(413, "payload-too-large",
                                   f"the body is over the limit of {limit} bytes")  # fmt: skip
            chunks.append(chunk)
        return b"".join(chunks)

    # -- the Open Inference Protocol v2 -----------------------------------------------------

    async def _v2_model(
        self, scope: Scope, receive: Receive, send: Send, method: str, path: str
    ) -> None:
        parts = path[len("/v2/models/"):].split("/")  # fmt: skip
        table = self._table
        name, rest = parts[0], parts[1:]
        # /v2/models/{name}/versions/{v}/... : the version is the policy's, not the client's
        if len(rest) >= 2 and rest[0] == "versions":
            rest = rest[2:]
        if name != table.endpoint:
            await _send(send, 404, problem_body(404, "not-found",
                        f"this gateway serves model {table.endpoint!r}, not {name!r}", path),
                        [_PROBLEM])  # fmt: skip
            return
        action = "/".join(rest)
        if action == "infer" and method == "POST":
            await self._predict(scope, receive, send, "v2", preview=False)
        elif action == "" and method == "GET":
            await self._v2_metadata(send, table)
        elif action == "ready" and method == "GET":
            await self._ping(scope, receive, send)
        else:
            await _send(send, 404, problem_body(404, "not-found",
                        f"no such route: {method} {path}", path), [_PROBLEM])  # fmt: skip

    async def _v2_metadata(self, send: Send, table: RoutingTable) -> None:
        route = table.serving[0] if table.serving else None
        inputs = []
        if route is not None and route.predictor.schema.known:
            schema = route.predictor.schema
            inputs = [
                {"name": n, "datatype": _V2_OF_KIND[k], "shape": [-1]}
                for n, k in zip(schema.names, schema.kinds, strict=True)
            ]
        body = {
            "name": table.endpoint,
            "versions": [r.label for r in table.serving],
            "platform": route.predictor.flavor if route else "",
            "inputs": inputs,
            "outputs": [{"name": "predict", "datatype": "FP64", "shape": [-1]}],
        }
        await _send(send, 200, orjson.dumps(body), [_JSON])

    async def _server_metadata(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = {"name": "tandem", "version": _version(), "extensions": []}
        await _send(send, 200, orjson.dumps(body), [_JSON])

    # -- health and metrics ---------------------------------------------------------------

    async def _live(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _send(send, 200, b'{"live":true}', [_JSON])

    async def _ping(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._table.ready:
            await _send(send, 200, b'{"ready":true}', [_JSON])
        else:
            detail = f"endpoint {self._table.endpoint!r} has no deployment taking traffic yet"
            await _send(send, 503, problem_body(503, "not-ready", detail, scope["path"]),
                        [_PROBLEM])  # fmt: skip

    async def _health(self, scope: Scope, receive: Receive, send: Send) -> None:
        table = self._table
        body = {
            "endpoint": table.endpoint,
            "policy_version": table.policy_version,
            "ready": table.ready,
            "weights": table.weights(),
            "deployments": [
                {
                    "deployment": r.deployment,
                    "version": r.label,
                    "role": r.role.value,
                    "weight": r.weight,
                    "mirror": r.mirror,
                    "flavor": r.predictor.flavor,
                    "fast_path": r.predictor.shortcut or None,
                }
                for r in table.routes
            ],
            "shadow_dropped": self.shadow.dropped,
        }
        await _send(send, 200 if table.ready else 503, orjson.dumps(body), [_JSON])

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _send(send, 200, self.metrics.render(),
                    [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")])  # fmt: skip


_V2_OF_KIND = {"float": "FP64", "int": "INT64", "bool": "BOOL", "string": "BYTES"}


_ID_PREFIX = secrets.token_hex(6)  # this process's; the counter makes each id unique in it
_ID_COUNTER = itertools.count()


def _new_prefix() -> None:
    global _ID_PREFIX  # a forked worker must not repeat its parent's ids
    _ID_PREFIX = secrets.token_hex(6)


os.register_at_fork(after_in_child=_new_prefix)


def _request_id(client: bytes) -> str:
    """The client's id when valid, else one unique across processes and restarts."""
    if not client:
        return f"{_ID_PREFIX}{next(_ID_COUNTER):010x}"
    text = client.decode("latin-1")
    if _REQUEST_ID.match(text) is None:
        raise RequestError(
            400, "invalid-request-id",
            "X-Request-Id must be 1 to 200 characters of letters, digits and . _ : @ + = ~ { } -",
        )  # fmt: skip
    return text


def _parse_mlflow(body: bytes, content_type: bytes) -> Frame:
    media = content_type.split(b";", 1)[0].strip().lower()
    if media in (b"application/json", b""):
        return parse_json(body)
    if media == b"text/csv":
        return parse_csv(body)
    raise RequestError(
        415, "unsupported-media-type",
        f"Content-Type {media.decode('latin-1')!r}: send application/json or text/csv",
    )  # fmt: skip


async def _call(hook: Hook) -> None:
    result = hook()
    if inspect.isawaitable(result):
        await result


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("tandem")
    except metadata.PackageNotFoundError:
        return "0"
