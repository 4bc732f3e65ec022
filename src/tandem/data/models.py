"""Dataset models shared by the server and the SDK.

Profiles, validation results, PII findings and drift reports travel as plain JSON objects
(`dict[str, Any]`): their shapes are defined, and documented, by the modules that compute them
(`tandem.data.profile`, `validate`, `pii`, `drift`), so there is one definition of each.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tandem.core.validation import NonNegativeInt


class ManifestFile(BaseModel):
    """One file of a dataset version: where it sits in the version, and its content."""

    model_config = ConfigDict(frozen=True)

    path: str = Field(description="relative POSIX path inside the version")
    oid: str = Field(description="BLAKE3 of the file's bytes")
    size: NonNegativeInt


class ColumnInfo(BaseModel):
    """A column as the data has it, with what people wrote about it in the catalog."""

    name: str
    type: str
    description: str = ""
    owner: str = ""


class Dataset(BaseModel):
    """A named dataset in a project; its versions are listed separately."""

    project: str
    name: str
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = {}
    created_at: int
    created_by: str
    deleted_at: int | None = None
    latest_version: int | None = None
    version_count: int = 0
    contract_revision: int | None = None
    columns: list[ColumnInfo] = []


class DatasetVersion(BaseModel):
    """One immutable version. `profile`, `pii` and `validation` are filled on `show`."""

    project: str
    dataset: str
    version: int
    digest: str
    format: str | None = None
    rows: int | None = None
    size: int
    file_count: int
    source: str = ""
    message: str = ""
    created_at: int
    created_by: str
    contract_revision: int | None = None
    schema_: list[dict[str, str]] = Field([], alias="schema")
    validation_passed: bool | None = None
    created: bool = Field(True, description="false when an add found this version unchanged")
    files: list[ManifestFile] | None = None
    profile: dict[str, Any] | None = None
    pii: list[dict[str, Any]] | None = None
    validation: dict[str, Any] | None = None
    runs: list[RunLink] | None = None

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    @property
    def ref(self) -> str:
        return f"{self.project}/{self.dataset}@v{self.version}"


class RunLink(BaseModel):
    """A run that used (or produced) a dataset version, in a role. The run and the dataset
    may be in different projects."""

    run_id: str
    run_name: str | None = None
    run_project: str = Field(description="the run's project")
    project: str = Field(description="the dataset's project")
    dataset: str
    version: int
    role: str
    created_at: int


class VersionCreate(BaseModel):
    """Add a version from files already uploaded (by oid) or from a server-side path."""

    model_config = ConfigDict(extra="forbid")

    files: list[ManifestFile] | None = Field(
        None, description="the version's manifest; every oid must be uploaded first"
    )
    path: str | None = Field(
        None,
        description="a file or folder on the server, inside its data roots, or an s3:// prefix",
    )
    contract: str | None = Field(None, description="ODCS YAML to set as the dataset's contract")
    message: str = ""
    run_id: str | None = Field(None, description="link the version to this run")
    role: str = Field("input", description="the run's use of it: train, test, input, output, ...")
    create_dataset: bool = True
    create_project: bool = False


class DatasetUpdate(BaseModel):
    """Catalog edits: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    owner: str | None = None
    tags: dict[str, str] | None = Field(None, description="merged into the tags; '' removes")
    columns: dict[str, ColumnEdit] | None = None


class ColumnEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    owner: str | None = None


class RunDatasetLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(description="NAME@vN, NAME (latest) or PROJECT/NAME@vN")
    role: str = "input"


class MissingBlobs(BaseModel):
    oids: list[str]


class ContractText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str


class Contract(BaseModel):
    project: str
    dataset: str
    revision: int
    text: str
    digest: str
    created_at: int
    created_by: str


DatasetUpdate.model_rebuild()
DatasetVersion.model_rebuild()
