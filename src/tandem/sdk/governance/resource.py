"""What every governance resource shares: paths under a project, JSON bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tandem.sdk.transport import Http

if TYPE_CHECKING:
    from tandem.sdk.client import Client

API = "/api/v1"


class ProjectResource:
    def __init__(self, http: Http, client: Client) -> None:
        self._http = http
        self._client = client

    def _path(self, project: str | None, rest: str) -> str:
        return f"{API}/projects/{quote(self._client.project_name(project), safe='')}/{rest}"

    def _send(self, method: str, project: str | None, rest: str, body: Any) -> bytes:
        response = self._http.request(
            method, self._path(project, rest), json=body.model_dump(mode="json")
        )
        return response.content

    def _get(self, project: str | None, rest: str, params: dict[str, Any] | None = None) -> bytes:
        return self._http.request("GET", self._path(project, rest), params=params or None).content


def q(text: str) -> str:
    """`text` as one path segment."""
    return quote(text, safe="")
