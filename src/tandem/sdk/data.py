"""`client.data`: datasets from Python, embedded or remote, over the REST API.

Adding a path: against the embedded workspace the path is handed to the workspace, which reads
it in place (inside its data roots) and stores each file once; against a server each file is
hashed here (remembered by path, size and times, so unchanged files are not hashed again), only
the contents the server lacks are uploaded, then the version is created from the manifest.
Frames (Polars, pandas, Arrow) are written to Parquet and added the same way.
"""

from __future__ import annotations

import builtins
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from tandem.core.paging import Page
from tandem.core.refs import DatasetRef, parse_dataset_ref
from tandem.core.validation import check_dataset_name
from tandem.data.models import (
    Contract,
    Dataset,
    DatasetVersion,
    ManifestFile,
    RunLink,
)
from tandem.errors import InvalidInput, NotFound
from tandem.sdk.transport import Http, download_verified, safe_target

if TYPE_CHECKING:
    from tandem.sdk.client import Client

API = "/api/v1"
UPLOAD_CHUNK = 1 << 20


def _version_segment(ref: DatasetRef) -> str:
    return f"v{ref.version}" if ref.version is not None else "latest"


def read_contract(contract: str | Path | None) -> str | None:
    """A contract given as YAML text or as the path of a YAML file."""
    if contract is None:
        return None
    if isinstance(contract, Path) or (
        "\n" not in contract and contract.endswith((".yaml", ".yml"))
    ):
        path = Path(contract)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidInput(f"contract file {path} does not exist") from None
        except UnicodeDecodeError:
            raise InvalidInput(f"contract file {path} is not UTF-8 text") from None
    return contract


class Datasets:
    """Datasets: versions, contracts, validation, the catalog and drift."""

    def __init__(self, http: Http, client: Client) -> None:
        self._http = http
        self._client = client

    def _ref(self, ref: str, project: str | None) -> DatasetRef:
        parsed = parse_dataset_ref(ref, project or self._client.settings.project)
        if parsed.project is None:
            self._client.project_name(None)  # raises the clear "no project" error
        return parsed

    def _base(self, project: str, name: str) -> str:
        check_dataset_name(name)
        return f"{API}/projects/{quote(project, safe='')}/datasets/{quote(name, safe='')}"

    # -- adding ---------------------------------------------------------------------------

    def add(
        self,
        name: str,
        source: Any,
        *,
        project: str | None = None,
        contract: str | Path | None = None,
        message: str = "",
        run_id: str | None = None,
        role: str = "input",
        create_project: bool = False,
        progress: Any = None,
    ) -> DatasetVersion:
        """Add a version of dataset `name` from a file or folder path, an `s3://` prefix, or a
        Polars/pandas frame or Arrow table. Unchanged content returns the latest version with
        `created` false.

        Args:
            contract: ODCS YAML (text or a file path); becomes the dataset's contract.
            run_id: link the version to this run, in `role` (train, test, input, output...).
            progress: called with a byte count as files are uploaded (remote only).

        Raises:
            ContractViolated: a blocking check failed; nothing was added.
        """
        project = self._client.project_name(project)
        options = {
            "contract": read_contract(contract),
            "message": message,
            "run_id": run_id,
            "role": role,
            "create_project": create_project,
        }
        if isinstance(source, str) and source.startswith("s3://"):
            return self._create(project, name, {"path": source, **options})
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if self._client.is_embedded:
                return self._create(project, name, {"path": str(path.absolute()), **options})
            return self._add_uploaded(project, name, path, options, progress)
        with tempfile.TemporaryDirectory(prefix="tandem-frame-") as folder:
            path = Path(folder) / f"{name}.parquet"
            write_frame(source, path)
            return self._add_uploaded(project, name, path, options, progress)

    def _create(self, project: str, name: str, body: dict[str, Any]) -> DatasetVersion:
        response = self._http.request("POST", self._base(project, name) + "/versions", json=body)
        return DatasetVersion.model_validate_json(response.content)

    def _add_uploaded(self, project: str, name: str, path: Path, options: dict[str, Any],
                      progress: Any) -> DatasetVersion:  # fmt: skip
        from tandem.data.ingest import discover, hash_source

        files = discover(path)
        cache = self._client.hash_cache()
        oids = []
        for file in files:
            oid = cache.get(file) or hash_source(file).oid
            oids.append(oid)
        cache.put(list(zip(files, oids, strict=True)))
        blobs = f"{API}/projects/{quote(project, safe='')}/datasets/blobs"
        try:
            missing = self._missing(blobs, oids)
        except NotFound:
            if not options["create_project"]:
                raise
            # Files go to a project before its version is made: create it first, as the
            # server does for a version of files it can read itself.
            self._client.projects.ensure(project)
            missing = self._missing(blobs, oids)
        for file, oid in zip(files, oids, strict=True):
            if oid in missing:
                self._upload(blobs, file.local, progress)
                missing.discard(oid)
        manifest = [
            ManifestFile(path=f.path, oid=oid, size=f.size).model_dump()
            for f, oid in zip(files, oids, strict=True)
        ]
        return self._create(project, name, {"files": manifest, **options})

    def _missing(self, blobs: str, oids: Sequence[str]) -> set[str]:
        """Which of `oids` the server wants uploaded."""
        body = {"oids": sorted(set(oids))}
        answer = self._http.request("POST", blobs + "/missing", json=body)
        return set(orjson.loads(answer.content)["oids"])

    def _upload(self, url: str, local: Path, progress: Any) -> None:
        def chunks() -> Iterator[bytes]:
            with local.open("rb") as handle:
                while chunk := handle.read(UPLOAD_CHUNK):
                    if progress is not None:
                        progress(len(chunk))
                    yield chunk

        self._http.request(
            "PUT", url, content=chunks(), headers={"content-type": "application/octet-stream"}
        )

    # -- reading --------------------------------------------------------------------------

    def get(self, name: str, project: str | None = None) -> Dataset:
        """A dataset's catalog entry: description, owner, tags, columns, latest version."""
        response = self._http.request("GET", self._base(self._client.project_name(project), name))
        return Dataset.model_validate_json(response.content)

    def list(
        self,
        project: str | None = None,
        *,
        query: str | None = None,
        column: str | None = None,
        owner: str | None = None,
        tag: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
        all_projects: bool = False,
    ) -> Page[Dataset]:
        """One page of datasets in `project` (or, with `all_projects`, every project you may
        read), filtered by name/description text, column, owner or tag (KEY or KEY=VALUE)."""
        params: dict[str, Any] = {"limit": limit}
        if not all_projects:
            params["project"] = self._client.project_name(project)
        for key, value in (("q", query), ("column", column), ("owner", owner), ("tag", tag),
                           ("cursor", cursor)):  # fmt: skip
            if value is not None:
                params[key] = value
        response = self._http.request("GET", f"{API}/datasets", params=params)
        return Page[Dataset].model_validate_json(response.content)

    def versions(
        self, name: str, project: str | None = None, *, cursor: str | None = None,
        limit: int = 50,
    ) -> Page[DatasetVersion]:  # fmt: skip
        """One page of a dataset's versions, newest first."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        url = self._base(self._client.project_name(project), name) + "/versions"
        return Page[DatasetVersion].model_validate_json(
            self._http.request("GET", url, params=params).content
        )

    def version(self, ref: str, project: str | None = None) -> DatasetVersion:
        """`NAME@vN` (or `NAME` for the latest) with its files, profile, PII findings, latest
        validation and the runs that used it."""
        parsed = self._ref(ref, project)
        url = (
            self._base(parsed.project or "", parsed.name) + f"/versions/{_version_segment(parsed)}"
        )
        return DatasetVersion.model_validate_json(self._http.request("GET", url).content)

    def download(
        self, ref: str, destination: str | Path, project: str | None = None, *,
        progress: Any = None,
    ) -> builtins.list[Path]:  # fmt: skip
        """Write the version's files under the folder `destination`, byte for byte (each file
        verified against its hash; a failed transfer leaves no partial file)."""
        version = self.version(ref, project)
        base = self._base(version.project, version.dataset) + f"/versions/v{version.version}/files/"
        written = []
        for file in version.files or []:
            target = safe_target(destination, file.path)
            written.append(
                download_verified(self._http, base + quote(file.path), file.path, target, progress)
            )
        return written

    # -- contracts, validation, drift -----------------------------------------------------

    def validate(
        self, ref: str, project: str | None = None, *, contract: str | Path | None = None
    ) -> dict[str, Any]:
        """Check a version against its dataset's contract (or `contract`, which becomes it);
        the result is stored with the version and returned."""
        parsed = self._ref(ref, project)
        url = (
            self._base(parsed.project or "", parsed.name)
            + f"/versions/{_version_segment(parsed)}/validate"
        )
        text = read_contract(contract)
        body = {"text": text} if text is not None else None
        result: dict[str, Any] = orjson.loads(self._http.request("POST", url, json=body).content)
        return result

    def contract(
        self, name: str, project: str | None = None, revision: int | None = None
    ) -> Contract:
        url = self._base(self._client.project_name(project), name) + "/contract"
        params = {"revision": revision} if revision else None
        return Contract.model_validate_json(self._http.request("GET", url, params=params).content)

    def set_contract(self, name: str, contract: str | Path, project: str | None = None) -> Contract:
        url = self._base(self._client.project_name(project), name) + "/contract"
        response = self._http.request("PUT", url, json={"text": read_contract(contract)})
        return Contract.model_validate_json(response.content)

    def draft_contract(self, ref: str, project: str | None = None) -> str:
        """ODCS YAML drafted from a version's profile, for a person to edit."""
        parsed = self._ref(ref, project)
        url = (
            self._base(parsed.project or "", parsed.name)
            + f"/versions/{_version_segment(parsed)}/contract-draft"
        )
        return str(orjson.loads(self._http.request("GET", url).content)["text"])

    def diff(self, a: str, b: str, project: str | None = None) -> dict[str, Any]:
        """Schema changes, row count change and drift per column from version `a` to `b`."""
        parsed = self._ref(a, project)
        url = f"{API}/projects/{quote(parsed.project or '', safe='')}/datasets-diff"
        result: dict[str, Any] = orjson.loads(
            self._http.request("GET", url, params={"a": a, "b": b}).content
        )
        return result

    # -- catalog --------------------------------------------------------------------------

    def update(
        self,
        name: str,
        project: str | None = None,
        *,
        description: str | None = None,
        owner: str | None = None,
        tags: Mapping[str, str] | None = None,
        columns: Mapping[str, Mapping[str, str]] | None = None,
    ) -> Dataset:
        """Edit the catalog: description, owner, tags ('' removes one), and per column a
        description and owner, e.g. `columns={"tenure": {"description": "months"}}`."""
        body: dict[str, Any] = {}
        for key, value in (("description", description), ("owner", owner)):
            if value is not None:
                body[key] = value
        if tags is not None:
            body["tags"] = dict(tags)
        if columns is not None:
            body["columns"] = {k: dict(v) for k, v in columns.items()}
        url = self._base(self._client.project_name(project), name)
        return Dataset.model_validate_json(self._http.request("PATCH", url, json=body).content)

    def delete(self, name: str, project: str | None = None) -> Dataset:
        url = self._base(self._client.project_name(project), name)
        return Dataset.model_validate_json(self._http.request("DELETE", url).content)

    def restore(self, name: str, project: str | None = None) -> Dataset:
        url = self._base(self._client.project_name(project), name) + "/restore"
        return Dataset.model_validate_json(self._http.request("POST", url).content)

    # -- runs -----------------------------------------------------------------------------

    def link_run(self, run_id: str, ref: str, role: str = "input") -> RunLink:
        response = self._http.request(
            "POST", f"{API}/runs/{quote(run_id, safe='/')}/datasets",
            json={"dataset": ref, "role": role},
        )  # fmt: skip
        return RunLink.model_validate_json(response.content)

    def of_run(self, run_id: str) -> builtins.list[RunLink]:
        """The dataset versions a run used or produced."""
        response = self._http.request("GET", f"{API}/runs/{quote(run_id, safe='/')}/datasets")
        return [RunLink.model_validate(item) for item in orjson.loads(response.content)]


def write_frame(frame: Any, path: Path) -> None:
    """Write a Polars DataFrame or LazyFrame, a pandas DataFrame or an Arrow table as Parquet."""
    kind = (type(frame).__module__.split(".")[0], type(frame).__name__)
    if kind in (("polars", "DataFrame"), ("polars", "LazyFrame")):
        frame.lazy().sink_parquet(path) if kind[1] == "LazyFrame" else frame.write_parquet(path)
    elif kind == ("pandas", "DataFrame"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    elif kind == ("pyarrow", "Table"):
        import pyarrow.parquet as pq

        pq.write_table(frame, path)
    else:
        raise InvalidInput(
            f"cannot add a {type(frame).__name__}: give a path, an s3:// prefix, a Polars or "
            "pandas DataFrame, or an Arrow table"
        )
