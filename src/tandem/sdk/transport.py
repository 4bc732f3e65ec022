"""One place where the SDK talks HTTP: JSON in and out, problem+json turned back into the
`tandem.errors` class the server raised, connection failures into TransportError."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
from blake3 import blake3

from tandem.core.paths import check_artifact_path
from tandem.errors import IntegrityError, InvalidInput, ServerError, TransportError, from_problem

JSON_HEADERS = {"content-type": "application/json"}


class Http:
    """A thin wrapper over an `httpx.Client` (a real one, or the embedded app's TestClient)."""

    def __init__(self, client: httpx.Client, *, description: str, in_process: bool = False) -> None:
        """`in_process`: the client's transport calls the app in this process (the embedded
        workspace), with no base URL, headers, cookies or redirects to handle, so requests go
        to it directly: httpx's client machinery cost ~0.1 ms a call, as much as the route."""
        self.client = client
        self.description = description
        # Called before every request but the courier's: sends the creation of runs the SDK
        # deferred (ADR 19), so no request can name a run the server has not heard of yet.
        self.before_request: Callable[[], None] | None = None
        self._direct: httpx.BaseTransport | None = client._transport if in_process else None
        self._base = str(client.base_url).rstrip("/")
        self._urls: dict[str, httpx.URL] = {}  # by path, for requests to the app in process

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
        """Send a request; raise the `tandem.errors` class of a problem+json answer."""
        if self.before_request is not None:
            self.before_request()
        return self.send(method, path, json=json, params=params, content=content, headers=headers)

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        content: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """`request` without `before_request`: for the courier, which sends the creations."""
        if json is not None:
            content = orjson.dumps(json)
            headers = {**JSON_HEADERS, **(headers or {})}
        try:
            if self._direct is not None:
                url = self._urls.get(path)
                if url is None:  # parsing a URL is half the cost of building a request
                    if len(self._urls) >= 256:
                        self._urls.clear()
                    url = self._urls[path] = httpx.URL(self._base + path)
                response = self._direct.handle_request(
                    httpx.Request(method, url, content=content, params=params, headers=headers)
                )
            else:
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
        if self.before_request is not None:
            self.before_request()
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


DOWNLOAD_CHUNK = 1 << 20


def download_verified(http: Http, url: str, name: str, target: Path, progress: Any = None) -> Path:
    """Stream `url` into the file `target`, checking the bytes against the server's
    X-Tandem-Oid; the file appears whole or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tandem-download-")
    try:
        hasher = blake3()
        with os.fdopen(fd, "wb") as out, http.stream("GET", url) as response:
            expected = response.headers.get("x-tandem-oid")
            for chunk in response.iter_bytes(DOWNLOAD_CHUNK):
                hasher.update(chunk)
                out.write(chunk)
                if progress is not None:
                    progress(len(chunk))
        check_download(name, expected, hasher.hexdigest())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def check_download(name: str, expected: str | None, digest: str) -> None:
    if expected and expected != digest:
        raise IntegrityError(f"{name}: downloaded bytes do not match their hash; try again")


def safe_target(destination: str | Path, relative: str) -> Path:
    """Where a file at `relative` goes under the folder `destination`: never outside it, never
    through a symbolic link."""
    root = Path(destination).resolve()
    rel = check_artifact_path(relative)
    target = root / rel
    for parent in [target, *target.parents]:
        if parent == root:
            break
        if parent.is_symlink():
            raise InvalidInput(f"refusing to write through the symbolic link {parent}")
    if not target.resolve().is_relative_to(root):
        raise InvalidInput(f"{rel} would be written outside {root}")
    return target
