"""One place where the SDK talks HTTP: JSON in and out, problem+json turned back into the
`tandem.errors` class the server raised, connection failures into TransportError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson

from tandem.errors import ServerError, TransportError, from_problem

JSON_HEADERS = {"content-type": "application/json"}


class Http:
    """A thin wrapper over an `httpx.Client` (a real one, or the embedded app's TestClient)."""

    def __init__(self, client: httpx.Client, *, description: str) -> None:
        self.client = client
        self.description = description

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        content: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        if json is not None:
            content = orjson.dumps(json)
            headers = {**JSON_HEADERS, **(headers or {})}
        try:
            response = self.client.request(
                method, path, content=content, params=params, headers=headers
            )
        except httpx.TransportError as exc:
            raise TransportError(f"cannot reach tandem at {self.description}: {exc}") from exc
        if response.status_code >= 400:
            raise _error(response)
        return response

    @contextmanager
    def stream(self, method: str, path: str) -> Iterator[httpx.Response]:
        try:
            with self.client.stream(method, path) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                yield response
        except httpx.TransportError as exc:
            raise TransportError(f"cannot reach tandem at {self.description}: {exc}") from exc

    def close(self) -> None:
        self.client.close()


def _error(response: httpx.Response) -> Exception:
    try:
        problem = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        problem = None
    if isinstance(problem, dict) and "code" in problem:
        return from_problem(problem)
    return ServerError(f"HTTP {response.status_code} from tandem: {response.text[:200]}")
