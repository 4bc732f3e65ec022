"""Table versions end to end, embedded and against a live server: profiled, scanned and checked
against their contract when added; a blocking failure stores nothing; bad data is a clear error
that leaves nothing behind. The real Telco churn file and its real ODCS contract."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from tandem.errors import ContractViolated, InvalidContract, InvalidInput, UnreadableData
from tandem.sdk.client import Client
from tandem.server.container import Services

ROOT = Path(__file__).resolve().parents[2]
REAL_DATA = Path(os.environ.get("TANDEM_REAL_DATA", "/work/shared/data"))
TELCO_CONTRACT = ROOT / "examples" / "contracts" / "telco-churn.yaml"


@pytest.fixture
def telco(tmp_path: Path) -> Path:
    target = tmp_path / "data" / "telco-churn.csv"
    target.parent.mkdir(parents=True)
    shutil.copyfile(REAL_DATA / "telco-churn.csv", target)
    return target


def blob_count(services: Services) -> int:
    return sum(1 for _ in services.blobs.list())


def test_a_table_is_profiled_scanned_and_checked_when_added(client: Client, telco: Path) -> None:
    client.projects.create("churn")
    v1 = client.data.add("telco", telco, project="churn", contract=TELCO_CONTRACT)
    assert (v1.version, v1.format, v1.rows, v1.validation_passed) == (1, "csv", 7043, True)
    assert [c["name"] for c in v1.schema_][:3] == ["customerID", "gender", "SeniorCitizen"]

    shown = client.data.version("churn/telco@v1")
    profile = shown.profile or {}
    assert profile["rows"] == 7043
    tenure = profile["columns"]["tenure"]
    frame = pl.read_csv(telco)
    assert (tenure["min"], tenure["max"]) == (0, 72)
    assert tenure["mean"] == pytest.approx(frame["tenure"].mean(), rel=1e-9)
    assert tenure["std"] == pytest.approx(frame["tenure"].std(), rel=1e-9)
    gender = dict(profile["columns"]["gender"]["top"])
    assert gender == {"Male": 3555, "Female": 3488}
    assert "state" not in profile  # the sketches are stored, not served
    validation = shown.validation or {}
    assert validation["checks"] and all(
        c["passed"] or c["severity"] != "error" for c in validation["checks"]
    )
    assert client.data.contract("telco", "churn").revision == 1


def test_a_blocking_failure_refuses_the_version_and_stores_nothing(
    client: Client, telco: Path, services: Services
) -> None:
    client.projects.create("churn")
    strict = TELCO_CONTRACT.read_text().replace("mustBeBetween: [5000, 10000]", "mustBe: 10")
    assert strict != TELCO_CONTRACT.read_text()
    before = blob_count(services)
    with pytest.raises(ContractViolated, match="blocking contract checks failed") as caught:
        client.data.add("telco", telco, project="churn", contract=strict)
    assert caught.value.details["failed"]
    assert client.data.list("churn").items == []
    assert blob_count(services) == before


def test_validate_checks_a_stored_version_against_a_new_contract(
    client: Client, telco: Path
) -> None:
    client.projects.create("churn")
    client.data.add("telco", telco, project="churn", contract=TELCO_CONTRACT)
    strict = TELCO_CONTRACT.read_text().replace("mustBeBetween: [5000, 10000]", "mustBe: 10")
    result = client.data.validate("churn/telco@v1", contract=strict)
    failed = [c for c in result["checks"] if not c["passed"]]
    assert [c["observed"] for c in failed if c["kind"] == "rowCount"] == [7043]
    assert client.data.contract("telco", "churn").revision == 2
    assert client.data.version("churn/telco@v1").validation_passed is False


def test_a_drafted_contract_parses_and_passes_on_its_own_data(client: Client, telco: Path) -> None:
    client.projects.create("churn")
    client.data.add("telco", telco, project="churn")
    draft = client.data.draft_contract("churn/telco@v1")
    assert "apiVersion" in draft and "customerID" in draft
    result = client.data.validate("churn/telco@v1", contract=draft)
    assert all(c["passed"] for c in result["checks"]), [
        c for c in result["checks"] if not c["passed"]
    ]


def test_frames_are_versioned_as_parquet(client: Client) -> None:
    client.projects.create("churn")
    frame = pl.DataFrame({"id": [1, 2, 3], "email": ["a@x.com", "b@y.org", "c@z.net"]})
    with client.start_run(project="churn", name="prep") as run:
        v1 = run.log_dataset(frame, name="users", role="output")
        same = run.log_dataset(frame.to_pandas(), name="users-pandas", role="output")
        arrow = run.log_dataset(pa.table({"x": [1.5, 2.5]}), name="arrow")
    assert (v1.format, v1.rows, same.rows, arrow.rows) == ("parquet", 3, 3, 2)
    pii = client.data.version("churn/users@v1").pii or []
    assert [(f["column"], f["kind"]) for f in pii] == [("email", "email")]
    assert pii[0]["share"] == pytest.approx(1.0)
    with pytest.raises(InvalidInput, match="cannot add a"):
        client.data.add("bad", pd.Series([1, 2]), project="churn")


# -- bad data ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty"),
        ("ragged.csv", b"a,b\n1,2\n3\n4,5,6\n", "cannot read"),
        ("latin1.csv", "a,b\n1,caf\xe9\n".encode("latin1"), "UTF-8"),
        ("mixed.csv", b"a\n" + b"1\n" * 20_000 + b"oops\n", "cannot read"),
        ("broken.parquet", b"PAR1 not really parquet", "cannot read"),
    ],
)
def test_unreadable_tables_are_clear_errors_and_store_nothing(
    client: Client, tmp_path: Path, services: Services, name: str, content: bytes, message: str
) -> None:
    client.projects.create("churn")
    path = tmp_path / "bad" / name
    path.parent.mkdir()
    path.write_bytes(content)
    before = blob_count(services)
    with pytest.raises(UnreadableData, match=message):
        client.data.add("bad", path, project="churn")
    assert client.data.list("churn").items == []
    assert blob_count(services) == before


def test_a_bad_contract_names_the_line_and_field(client: Client, telco: Path) -> None:
    client.projects.create("churn")
    broken = TELCO_CONTRACT.read_text().replace("logicalType: object", "logicalTyp: object", 1)
    with pytest.raises(InvalidContract, match=r"line \d+: schema\[0\]\.logicalTyp: unknown key"):
        client.data.add("telco", telco, project="churn", contract=broken)
    assert client.data.list("churn").items == []
