"""Table versions end to end, embedded and against a live server: profiled, scanned and checked
against their contract when added; a blocking failure stores nothing; bad data is a clear error
that leaves nothing behind. The real Telco churn file and its real ODCS contract."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson
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
    churn = dict(profile["columns"]["Churn"]["top"])
    assert churn == {"No": 5174, "Yes": 1869}
    gender = profile["columns"]["gender"]  # classified restricted by the contract: masked
    assert gender["masked"] and gender["top"] == [["M***", 3555], ["F***", 3488]]
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


def test_megabyte_cells_keep_the_stored_profile_small(client: Client, services: Services) -> None:
    """Cells of a megabyte each: the profile shows (and stores) their beginning and a hash, so
    it stays small, and versions still compare value by value."""
    from sqlalchemy import func, select

    from tandem.data.profile import MAX_VALUE_CHARS
    from tandem.data.tables import dataset_versions

    client.projects.create("docs")
    pages = ["<html>" + "x" * 1_000_000 + f"{i}</html>" for i in range(3)]
    frame = pl.DataFrame({"id": [1, 2, 3, 4], "page": [*pages, pages[0]]})
    v1 = client.data.add("pages", frame, project="docs")
    v2 = client.data.add("pages", frame.reverse(), project="docs")
    assert (v1.rows, v2.version) == (4, 2)

    shown = client.data.version("docs/pages@v1")
    page = (shown.profile or {})["columns"]["page"]
    assert len(shown.model_dump_json()) < 20_000
    assert page["distinct"] == 3 and page["length"]["max"] == 1_000_014
    assert [count for _, count in page["top"]] == [2, 1, 1]
    assert all(len(value) == MAX_VALUE_CHARS for value, _ in page["top"])
    with services.db.read() as conn:
        stored = conn.execute(select(func.max(func.length(dataset_versions.c.profile)))).scalar()
    assert stored < 30_000  # summary and sketches together
    drift = client.data.diff("docs/pages@v1", "docs/pages@v2")["drift"]
    assert drift["drifted_columns"] == []
    compared = next(c for c in drift["columns"] if c["column"] == "page")
    assert len(compared["chart"]["categories"]) == 3

    short = """\
apiVersion: v3.1.0
kind: DataContract
id: pages
version: 1.0.0
status: active
schema:
  - name: pages
    properties:
      - name: page
        logicalType: string
        logicalTypeOptions: {maxLength: 1000}
"""
    result = client.data.validate("docs/pages@v1", contract=short)
    check = next(c for c in result["checks"] if c["id"] == "page:length")
    assert check["observed"] == 4 and len(check["examples"]) == 4
    assert all(len(e["values"]["page"]) == 200 for e in check["examples"])
    assert len(orjson.dumps(result)) < 10_000


HR_CONTRACT = """\
apiVersion: v3.0.2
kind: DataContract
id: staff
version: 1.0.0
status: active
schema:
  - name: staff
    properties:
      - name: id
        logicalType: integer
      - name: band
        logicalType: string
        classification: confidential
"""


def test_personal_values_are_masked_in_served_profiles_and_diffs(client: Client) -> None:
    """Columns the PII scan flags (email) or the contract classifies as sensitive (band) show
    masked values in the profile and in drift charts, wherever they are read."""
    client.projects.create("hr")
    rows = 40
    frame = pl.DataFrame(
        {
            "id": list(range(rows)),
            "email": [f"person{i}@example.com" for i in range(rows)],
            "band": [["Secret-A", "Secret-B"][i % 2] for i in range(rows)],
            "city": [["Oslo", "Rome"][i % 2] for i in range(rows)],
        }
    )
    client.data.add("staff", frame, project="hr", contract=HR_CONTRACT)
    client.data.add("staff", frame.head(30), project="hr")

    shown = client.data.version("hr/staff@v1")
    served = shown.model_dump_json()
    assert "@example.com" not in served and "Secret-" not in served
    columns = (shown.profile or {})["columns"]
    assert columns["email"]["masked"] and columns["band"]["masked"]
    assert columns["email"]["top"][0] == ["p***@e***.com", 1]
    assert sorted(columns["band"]["top"]) == [["S***", 20], ["S***", 20]]
    assert dict(columns["city"]["top"]) == {"Oslo": 20, "Rome": 20}  # not personal: shown
    assert "masked" not in columns["city"]

    diff = client.data.diff("hr/staff@v1", "hr/staff@v2")
    charts = {c["column"]: c["chart"] for c in diff["drift"]["columns"]}
    assert set(charts["band"]["categories"]) == {"S***"}
    assert "Oslo" in charts["city"]["categories"]
    assert "@example.com" not in str(diff) and "Secret-" not in str(diff)
    # a drafted contract does not take masked values for the allowed ones
    draft = client.data.draft_contract("hr/staff@v1")
    assert "S***" not in draft and "Secret-" not in draft and "Oslo" in draft
