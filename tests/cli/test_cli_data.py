"""`tandem data ...` on an embedded workspace: add, list, versions, show, get, validate, diff,
edit, contract init/show/set, and what bad input looks like (one line, non-zero exit)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tandem.sdk.client import Client

ROOT = Path(__file__).resolve().parents[2]
REAL_DATA = Path(os.environ.get("TANDEM_REAL_DATA", "/work/shared/data"))
TELCO_CONTRACT = ROOT / "examples" / "contracts" / "telco-churn.yaml"


@pytest.fixture
def telco(tmp_path: Path, sdk: Client) -> Path:
    sdk.projects.create("churn")
    target = tmp_path / "data" / "telco-churn.csv"
    target.parent.mkdir(parents=True)
    shutil.copyfile(REAL_DATA / "telco-churn.csv", target)
    return target


def test_add_show_list_versions_and_get(tandem: Any, telco: Path, tmp_path: Path) -> None:
    added = tandem(
        "data", "add", "telco", str(telco), "-p", "churn", "--contract", str(TELCO_CONTRACT),
        "-m", "first", "--json",
    ).json()  # fmt: skip
    assert (added["version"], added["rows"], added["validation_passed"]) == (1, 7043, True)

    again = tandem("data", "add", "telco", str(telco), "-p", "churn")
    assert again.code == 0 and "unchanged, still churn/telco@v1" in again.stdout

    shown = tandem("data", "show", "churn/telco@v1")
    assert shown.code == 0
    assert "tenure" in shown.stdout and "contract: passed" in shown.stdout
    assert "not run" in shown.stdout  # the contract's `type: text` rules are for people
    details = tandem("data", "show", "telco@v1", "-p", "churn", "--json").json()
    assert details["profile"]["columns"]["tenure"]["max"] == 72

    listed = tandem("data", "list", "-p", "churn", "--json").json()
    assert [d["name"] for d in listed["items"]] == ["telco"]
    assert tandem("data", "list", "-A", "--column", "tenure", "--json").json()["items"]
    assert tandem("data", "list", "-A", "--column", "nope", "--json").json()["items"] == []
    versions = tandem("data", "versions", "telco", "-p", "churn", "--json").json()
    assert [v["version"] for v in versions["items"]] == [1]

    out = tmp_path / "out"
    got = tandem("data", "get", "churn/telco@v1", str(out))
    assert got.code == 0, got.stderr
    assert (out / "telco-churn.csv").read_bytes() == telco.read_bytes()


def test_validate_exits_1_on_a_failing_check_and_diff_compares(
    tandem: Any, telco: Path, tmp_path: Path
) -> None:
    tandem("data", "add", "telco", str(telco), "-p", "churn", "--contract", str(TELCO_CONTRACT))
    passing = tandem("data", "validate", "churn/telco@v1")
    assert passing.code == 0 and "contract: passed" in passing.stdout
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        TELCO_CONTRACT.read_text().replace("mustBeBetween: [5000, 10000]", "mustBe: 10")
    )
    failing = tandem("data", "validate", "churn/telco@v1", "--contract", str(strict))
    assert failing.code == 1
    assert "FAILED" in failing.stdout and "rowCount" in failing.stdout

    # a second version with fewer rows, then the diff
    smaller = tmp_path / "smaller" / "telco-churn.csv"
    smaller.parent.mkdir()
    lines = telco.read_text().splitlines(keepends=True)
    smaller.write_text("".join(lines[:5001]))
    tandem("data", "contract", "set", "telco", str(TELCO_CONTRACT), "-p", "churn")
    assert tandem("data", "add", "telco", str(smaller), "-p", "churn").code == 0
    diff = tandem("data", "diff", "churn/telco@v1", "churn/telco@v2", "--json").json()
    assert diff["rows"] == {"a": 7043, "b": 5000}


def test_edit_and_contract_commands(tandem: Any, telco: Path, tmp_path: Path) -> None:
    tandem("data", "add", "telco", str(telco), "-p", "churn")
    edited = tandem(
        "data", "edit", "telco", "-p", "churn", "-d", "Telco customers", "--owner", "ana",
        "--tag", "domain=billing", "--column", "tenure", "--column-description", "months",
        "--json",
    ).json()  # fmt: skip
    assert (edited["description"], edited["owner"], edited["tags"]) == (
        "Telco customers", "ana", {"domain": "billing"},
    )  # fmt: skip
    tenure = next(c for c in edited["columns"] if c["name"] == "tenure")
    assert tenure["description"] == "months"

    draft = tmp_path / "draft.yaml"
    assert tandem("data", "contract", "init", "churn/telco@v1", "-o", str(draft)).code == 0
    assert "customerID" in draft.read_text()
    exists = tandem("data", "contract", "init", "churn/telco@v1", "-o", str(draft))
    assert exists.code == 2 and "exists" in exists.stderr
    assert tandem("data", "contract", "set", "telco", str(draft), "-p", "churn").code == 0
    shown = tandem("data", "contract", "show", "telco", "-p", "churn", "--json").json()
    assert shown["revision"] == 1 and shown["text"] == draft.read_text()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["data", "show", "churn/nope@v1"], 3, "does not exist"),
        (["data", "show", "churn/telco@v7"], 3, "no version v7"),
        (["data", "show", "churn/telco@seven"], 2, "invalid dataset version"),
        (["data", "add", "bad/name", "x.csv", "-p", "churn"], 2, "invalid dataset name"),
        (["data", "add", "t", "/nonexistent/x.csv", "-p", "churn"], 2, "outside the folders"),
        (["data", "edit", "telco", "-p", "churn", "--tag", "novalue"], 2, "KEY=VALUE"),
        (
            ["data", "validate", "churn/telco@v1", "--contract", "/nonexistent.yaml"],
            2,
            "does not exist",
        ),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    tandem: Any, telco: Path, args: list[str], code: int, message: str
) -> None:
    tandem("data", "add", "telco", str(telco), "-p", "churn")
    outcome = tandem(*args)
    assert outcome.code == code, (outcome.stdout, outcome.stderr)
    assert len(outcome.stderr_lines) == 1 and message in outcome.stderr
    assert "Traceback" not in outcome.stderr


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one local Ray cluster at a time on the machine
def test_add_and_validate_on_ray_equal_the_local_result(
    tandem: Any, sdk: Client, tmp_path: Path
) -> None:
    import polars as pl
    import ray

    sdk.projects.create("churn")
    parts = tmp_path / "data" / "telco"
    parts.mkdir(parents=True)
    frame = pl.read_csv(REAL_DATA / "telco-churn.csv", infer_schema_length=10_000)
    for i, offset in enumerate(range(0, frame.height, 2_000)):  # 4 files: 4 Ray tasks
        frame.slice(offset, 2_000).write_parquet(parts / f"part-{i}.parquet")
    contract = str(TELCO_CONTRACT)
    try:
        local = tandem(
            "data", "add", "local", str(parts), "-p", "churn", "-c", contract, "--json"
        ).json()  # fmt: skip
        distributed = tandem(
            "data", "add", "onray", str(parts), "-p", "churn", "-c", contract,
            "--executor", "ray", "--json",
        ).json()  # fmt: skip
        checked = tandem("data", "validate", "churn/onray@v1", "--executor", "ray", "--json")
    finally:
        ray.shutdown()
    assert checked.code == 0, checked.stderr
    assert (local["rows"], distributed["rows"]) == (7043, 7043)
    shown = [tandem("data", "show", f"churn/{n}@v1", "--json").json() for n in ("local", "onray")]
    assert shown[0]["profile"] == shown[1]["profile"]
    assert shown[0]["pii"] == shown[1]["pii"]

    def outcomes(result: dict[str, Any]) -> list[Any]:
        return [(c["id"], c["passed"], c["observed"]) for c in result["checks"]]

    assert outcomes(checked.json()) == outcomes(shown[0]["validation"])


def test_executor_is_checked(tandem: Any, telco: Path) -> None:
    bad = tandem("data", "add", "telco", str(telco), "-p", "churn", "--executor", "spark")
    assert bad.code == 2 and "spark" in bad.stderr
    remote = tandem(
        "--url", "http://127.0.0.1:9", "data", "add", "t", str(telco), "--executor", "ray"
    )  # fmt: skip
    assert remote.code == 2
    assert remote.stderr.strip() == (
        "error: --executor applies to the embedded workspace; a server profiles and validates "
        "where its own TANDEM_EXECUTOR says"
    )
