"""Control characters are refused where they cannot belong, before any route sees them: in the
URL's path and query (no name, id, reference or search needs one), and as NUL in a JSON body
(no text field takes it, and PostgreSQL cannot store it). Without this, each lookup by a name
from the URL would have to check it, and one that forgot answered 500 on PostgreSQL."""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tandem.http.deps import is_json_type
from tandem.http.errors import problem

# C0 controls and DEL; the query may keep tab, newline and carriage return (a multi-line
# search filter, say), the path may not.
_PATH_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
_QUERY_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# `\u0000` in a JSON string, unless its backslash is itself escaped (`\\u0000`)
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_TAIL = 64  # bytes of a body chunk kept to find an escape split across two chunks


class RejectControlCharacters:
    """ASGI middleware: a 422 problem for a control character in the path or query; a NUL in a
    JSON body fails the body's read with the same 422."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = _control_in_url(scope)
        if where is not None:
            detail = f"the request's {where} has a control character; remove it"
            response = problem(422, "invalid-input", "Invalid input", detail, scope["path"], {})
            await response(scope, receive, send)
            return
        if _is_json(scope):
            receive = _refuse_nul(receive)
        await self.app(scope, receive, send)


def _control_in_url(scope: Scope) -> str | None:
    raw_path = scope.get("raw_path") or scope["path"].encode()
    if _PATH_CONTROL.search(unquote_to_bytes(raw_path)):
        return "path"
    query: bytes = scope.get("query_string", b"")
    if query and _QUERY_CONTROL.search(unquote_to_bytes(query.replace(b"+", b" "))):
        return "query"
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return is_json_type(value)
    return False


def _refuse_nul(receive: Receive) -> Receive:
    tail = b""

    async def checked() -> Message:
        nonlocal tail
        message = await receive()
        if message["type"] == "http.request":
            chunk = tail + message.get("body", b"")
            # the substring test is a memchr-speed scan; the regex (which tells an escaped
            # backslash apart) only runs when it finds one: 17 us -> 0.3 us on a small body
            if b"\\u0000" in chunk and _JSON_NUL.search(chunk):
                # raised inside the route's read of the body, so its error handler answers
                raise HTTPException(422, "the JSON body has a NUL character (\\u0000) in a string")
            tail = chunk[-_TAIL:]
        return message

    return checked
