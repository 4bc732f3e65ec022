"""OpenLineage run events for stage runs, so lineage tools (Marquez, DataHub, OpenMetadata)
can read what tandem records: START when a stage starts, COMPLETE or FAIL when it ends.

The target is `--openlineage` or TANDEM_OPENLINEAGE_URL: an http(s) URL the events are POSTed
to as JSON (Marquez: http://host:5000/api/v1/lineage), or a file (`file:///path` or a plain
path) each event is appended to as one JSON line. An http(s) target meets the outbound policy
(tandem.core.outbound): a loopback or private address needs TANDEM_OUTBOUND_ALLOW_HOSTS; a
refused or failed event is reported as a warning and never fails the pipeline run.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tandem.core.version import __version__
from tandem.errors import InvalidInput, TandemError, TransportError

if TYPE_CHECKING:
    from tandem.core.outbound import OutboundPolicy

PRODUCER = f"https://github.com/tandem-ml/tandem/tree/v{__version__}"
SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"


class Emitter:
    def __init__(self, target: str, outbound: OutboundPolicy | None = None) -> None:
        self.target = target
        if target.startswith(("http://", "https://")):
            from tandem.core.outbound import OutboundPolicy

            policy = outbound or OutboundPolicy()
            self._http: Any = policy.client(10.0, what="OpenLineage endpoint")
            self._file: Path | None = None
        else:
            path = Path(target.removeprefix("file://")).expanduser()
            if path.is_dir():
                raise InvalidInput(f"OpenLineage target {target} is a folder: name a file")
            self._http = None
            self._file = path

    def emit(self, event: dict[str, Any]) -> None:
        body = orjson.dumps(event)
        if self._file is not None:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            with self._file.open("ab") as handle:
                handle.write(body + b"\n")
            return
        try:
            response = self._http.post(self.target, content=body,
                                       headers={"content-type": "application/json"})  # fmt: skip
        except TandemError:
            raise  # refused by the outbound policy: its message says why
        except Exception as exc:
            raise TransportError(
                f"cannot send OpenLineage events to {self.target}: {exc}"
            ) from None
        if response.status_code >= 300:
            raise TransportError(
                f"{self.target} refused an OpenLineage event: HTTP {response.status_code}"
            )

    def close(self) -> None:
        if self._http is not None:
            self._http.close()


def error_facet(message: str) -> dict[str, Any]:
    return {
        "_producer": PRODUCER,
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json",
        "message": message,
        "programmingLanguage": "shell",
    }


def run_uuid(run_id: str) -> str:
    """A tandem run id (32 hex digits) in the UUID form OpenLineage asks for."""
    return str(uuid.UUID(hex=run_id))


def stage_event(
    event_type: str,
    *,
    project: str,
    pipeline: str,
    stage: str,
    run_id: str,
    root: Path,
    inputs: list[str],
    datasets: list[str],
    outputs: list[str],
    facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One RunEvent; files are named in the `file://` namespace of the work tree's host path,
    dataset versions in `tandem://PROJECT`."""
    files = f"file://{root}"
    return {
        "eventType": event_type,
        "eventTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "producer": PRODUCER,
        "schemaURL": SCHEMA,
        "run": {"runId": run_uuid(run_id), "facets": facets or {}},
        "job": {"namespace": f"tandem://{project}", "name": f"{pipeline}.{stage}", "facets": {}},
        "inputs": [{"namespace": files, "name": path} for path in inputs]
        + [{"namespace": f"tandem://{ref.split('/')[0]}", "name": ref} for ref in datasets],
        "outputs": [{"namespace": files, "name": path} for path in outputs],
    }
