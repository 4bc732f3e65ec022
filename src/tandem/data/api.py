"""REST endpoints for datasets: parse, call the service, return the model."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from tandem.core.auth import Action
from tandem.core.paging import Page
from tandem.core.refs import DatasetRef, parse_version_number
from tandem.core.validation import Number
from tandem.data.models import (
    Contract,
    ContractText,
    Dataset,
    DatasetUpdate,
    DatasetVersion,
    ManifestFile,
    MissingBlobs,
    RunDatasetLink,
    RunLink,
    VersionCreate,
)
from tandem.data.service import DataService
from tandem.errors import InvalidInput
from tandem.http.deps import (
    UPLOAD_BODY,
    PrincipalDep,
    blob_download,
    offload,
    service,
    spooled_upload,
)
from tandem.http.policy import SIGNED_IN, policy

router = APIRouter(tags=["datasets"])

DataDep = Annotated[DataService, service(DataService)]

DATASET = "/projects/{project}/datasets/{name}"
VERSION = DATASET + "/versions/{version}"

Cursor = Annotated[str | None, Query(description="from the previous page's next_cursor")]
Limit = Annotated[int, Query(ge=1, le=1000)]


def version_ref(project: str, name: str, version: str) -> DatasetRef:
    """`latest`, `v3` or `3` in a URL, as a reference."""
    if version == "latest":
        return DatasetRef(project, name, None)
    number = parse_version_number(version)
    if number is None:
        raise InvalidInput(f"invalid version {version!r}: use latest, v1, v2, ...")
    return DatasetRef(project, name, number)


@router.get("/datasets", response_model=Page[Dataset], openapi_extra=policy(SIGNED_IN))
async def search_datasets(
    data: DataDep,
    principal: PrincipalDep,
    project: str | None = None,
    q: Annotated[str | None, Query(description="part of the name or description")] = None,
    column: Annotated[str | None, Query(description="has a column of this name")] = None,
    owner: str | None = None,
    tag: Annotated[str | None, Query(description="KEY or KEY=VALUE")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[Dataset]:
    """Datasets in every project the caller may read (or in `project`), by project and name."""
    return await offload(
        data.list_datasets, principal, project, query=q, column=column, owner=owner,
        tag=tag, cursor=cursor, limit=limit,
    )  # fmt: skip


@router.post("/projects/{project}/datasets/blobs/missing", openapi_extra=policy(Action.DATA_WRITE))
async def missing_blobs(
    project: str, body: MissingBlobs, data: DataDep, principal: PrincipalDep
) -> MissingBlobs:
    """Which of these files' contents the caller must upload before adding a version."""
    oids = await offload(data.missing_blobs, principal, project, body.oids)
    return MissingBlobs(oids=oids)


@router.put(
    "/projects/{project}/datasets/blobs",
    status_code=201,
    openapi_extra=policy(Action.DATA_WRITE) | UPLOAD_BODY,
)
async def upload_blob(
    project: str, request: Request, data: DataDep, principal: PrincipalDep
) -> ManifestFile:
    """Upload one file's bytes (the body) for a version to come; answers its oid and size."""
    await offload(data.check_upload, principal, project)
    async with spooled_upload(request) as source:
        return await offload(data.upload_blob, principal, project, source)


@router.post(DATASET + "/versions", status_code=201, openapi_extra=policy(Action.DATA_WRITE))
async def add_version(
    project: str, name: str, body: VersionCreate, data: DataDep, principal: PrincipalDep
) -> DatasetVersion:
    """Add a version from uploaded files (`files`) or a server-side `path`; an unchanged
    dataset answers its latest version with `created: false`."""
    options: dict[str, Any] = {
        "contract": body.contract,
        "message": body.message,
        "run_id": body.run_id,
        "role": body.role,
        "create_dataset": body.create_dataset,
        "create_project": body.create_project,
    }
    if (body.files is None) == (body.path is None):
        raise InvalidInput("give either files (uploaded first) or a path, not both")
    if body.path is not None:
        return await offload(data.add_from_path, principal, project, name, body.path, **options)
    return await offload(
        data.add_from_manifest, principal, project, name, body.files or [], **options
    )


@router.get(DATASET, openapi_extra=policy(Action.DATA_READ))
async def get_dataset(project: str, name: str, data: DataDep, principal: PrincipalDep) -> Dataset:
    return await offload(data.get_dataset, principal, project, name)


@router.patch(DATASET, openapi_extra=policy(Action.DATA_WRITE))
async def update_dataset(
    project: str, name: str, body: DatasetUpdate, data: DataDep, principal: PrincipalDep
) -> Dataset:
    """Edit the catalog entry: description, owner, tags, column descriptions and owners."""
    return await offload(data.update_dataset, principal, project, name, body)


@router.delete(DATASET, openapi_extra=policy(Action.DATA_DELETE))
async def delete_dataset(
    project: str, name: str, data: DataDep, principal: PrincipalDep
) -> Dataset:
    return await offload(data.delete_dataset, principal, project, name)


@router.post(DATASET + "/restore", openapi_extra=policy(Action.DATA_DELETE))
async def restore_dataset(
    project: str, name: str, data: DataDep, principal: PrincipalDep
) -> Dataset:
    return await offload(data.restore_dataset, principal, project, name)


@router.get(
    DATASET + "/versions",
    response_model=Page[DatasetVersion],
    openapi_extra=policy(Action.DATA_READ),
)
async def list_versions(
    project: str,
    name: str,
    data: DataDep,
    principal: PrincipalDep,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[DatasetVersion]:
    """Versions, newest first."""
    return await offload(data.list_versions, principal, project, name, cursor=cursor, limit=limit)


@router.get(VERSION, openapi_extra=policy(Action.DATA_READ))
async def get_version(
    project: str, name: str, version: str, data: DataDep, principal: PrincipalDep
) -> DatasetVersion:
    """A version with its files, profile, PII findings, latest validation and runs."""
    return await offload(data.get_version, principal, version_ref(project, name, version))


@router.get(
    VERSION + "/files/{path:path}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
    openapi_extra=policy(Action.DATA_READ),
)
async def download_file(
    project: str, name: str, version: str, path: str, data: DataDep,
    principal: PrincipalDep,
) -> StreamingResponse:  # fmt: skip
    ref = version_ref(project, name, version)
    file, chunks = await offload(data.open_file, principal, ref, path)
    return blob_download(file.path, file.oid, file.size, chunks)


@router.post(VERSION + "/validate", openapi_extra=policy(Action.DATA_WRITE))
async def validate_version(
    project: str,
    name: str,
    version: str,
    data: DataDep,
    principal: PrincipalDep,
    body: ContractText | None = None,
) -> dict[str, Any]:
    """Check the version against the dataset's contract (or the one given, which becomes the
    dataset's contract) and store the result with the version."""
    ref = version_ref(project, name, version)
    contract = body.text if body is not None else None
    return await offload(data.validate, principal, ref, contract=contract)


@router.get(VERSION + "/contract-draft", openapi_extra=policy(Action.DATA_READ))
async def draft_contract(
    project: str, name: str, version: str, data: DataDep, principal: PrincipalDep
) -> ContractText:
    """An ODCS contract drafted from the version's profile, for a person to edit."""
    ref = version_ref(project, name, version)
    return ContractText(text=await offload(data.draft_contract, principal, ref))


@router.get(DATASET + "/contract", openapi_extra=policy(Action.DATA_READ))
async def get_contract(
    project: str,
    name: str,
    data: DataDep,
    principal: PrincipalDep,
    revision: Annotated[Number | None, Query()] = None,
) -> Contract:
    return await offload(data.get_contract, principal, project, name, revision)


@router.put(DATASET + "/contract", openapi_extra=policy(Action.DATA_WRITE))
async def set_contract(
    project: str, name: str, body: ContractText, data: DataDep, principal: PrincipalDep
) -> Contract:
    return await offload(data.set_contract, principal, project, name, body.text)


@router.get("/projects/{project}/datasets-diff", openapi_extra=policy(Action.DATA_READ))
async def diff_versions(
    project: str,
    data: DataDep,
    principal: PrincipalDep,
    a: Annotated[str, Query(description="NAME@vN (or PROJECT/NAME@vN)")],
    b: Annotated[str, Query(description="NAME@vN (or PROJECT/NAME@vN)")],
) -> dict[str, Any]:
    """Schema changes, row count change and drift per column from version A to version B."""
    return await offload(data.diff, principal, a, b, project)


@router.post("/runs/{run_id}/datasets", status_code=201, openapi_extra=policy(Action.RUN_WRITE))
async def link_run_dataset(
    run_id: str, body: RunDatasetLink, data: DataDep, principal: PrincipalDep
) -> RunLink:
    """Record that the run used (role train, test, input, ...) or produced (output) a version."""
    return await offload(data.link_run, principal, run_id, body.dataset, body.role)


@router.get("/runs/{run_id}/datasets", openapi_extra=policy(Action.RUN_READ))
async def run_datasets(run_id: str, data: DataDep, principal: PrincipalDep) -> list[RunLink]:
    return await offload(data.run_datasets, principal, run_id)
