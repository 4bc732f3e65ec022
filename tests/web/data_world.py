"""Datasets for the web tests: the real Telco churn table in two versions, and a small table with
personal data and failing warnings (a module of its own, imported by name like web_world)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tandem.server.container import Services

ROOT = Path(__file__).resolve().parents[2]
REAL_DATA = Path(os.environ.get("TANDEM_REAL_DATA", "/work/shared/data"))
TELCO_CSV = REAL_DATA / "telco-churn.csv"
TELCO_CONTRACT = ROOT / "examples" / "contracts" / "telco-churn.yaml"
TELCO_V2_ROWS = 5000

PEOPLE_CONTRACT = """\
apiVersion: v3.0.2
kind: DataContract
id: people
version: 1.0.0
status: active
schema:
  - name: people
    properties:
      - name: id
        logicalType: integer
        required: true
      - name: score
        logicalType: integer
        logicalTypeOptions:
          maximum: 5
        customProperties:
          - property: severity
            value: warning
      - name: email
        logicalType: string
        classification: restricted
        logicalTypeOptions:
          maxLength: 10
        customProperties:
          - property: severity
            value: warning
"""


@dataclass
class Tables:
    folder: Path  # inside the data roots

    def path(self, *parts: str) -> str:
        return str(self.folder.joinpath(*parts))


def data_folder(services: Services, tmp_path: Path) -> Tables:
    """A folder outside the workspace that the data service may read."""
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    services.data.data_roots = (folder,)
    return Tables(folder)


def add_telco(services: Services, tables: Tables, project: str, versions: int = 2) -> None:
    """`telco` in `project`: v1 the real file with its contract; v2 its first 5,000 rows with
    MonthlyCharges 30 % higher (passes the contract, with a warning)."""
    import polars as pl

    first = tables.folder / "v1"
    first.mkdir(exist_ok=True)
    shutil.copy(TELCO_CSV, first / "telco-churn.csv")
    owner = services.owner
    services.data.add_from_path(
        owner, project, "telco", str(first / "telco-churn.csv"),
        contract=TELCO_CONTRACT.read_text(), message="as published",
    )  # fmt: skip
    if versions < 2:
        return
    second = tables.folder / "v2"
    second.mkdir(exist_ok=True)
    frame = pl.read_csv(TELCO_CSV, infer_schema_length=0).head(TELCO_V2_ROWS)
    frame = frame.with_columns((pl.col("MonthlyCharges").cast(pl.Float64) * 1.3).round(2))
    frame.write_csv(second / "telco-churn.csv")
    services.data.add_from_path(
        owner, project, "telco", str(second / "telco-churn.csv"), message="prices up 30%"
    )


def add_people(services: Services, tables: Tables, project: str) -> None:
    """`people`: 40 rows, every email an email address (longer than the contract's warning
    allows), score 6 five times (a warning: the contract allows up to 5) and once empty."""
    rows = ["id,email,score,city"]
    for i in range(1, 41):
        score = "" if i == 3 else str(i % 7)
        rows.append(f"{i},user{i}@example.com,{score},{['Oslo', 'Rome', 'Paris'][i % 3]}")
    (tables.folder / "people.csv").write_text("\n".join(rows) + "\n")
    services.data.add_from_path(
        services.owner, project, "people", tables.path("people.csv"), contract=PEOPLE_CONTRACT
    )
