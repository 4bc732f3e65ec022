"""The governance tests' shared pieces (a module of its own: test folders that each have a
conftest cannot import theirs by that name)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tandem.core.auth import Principal, Role
from tandem.server.container import Services

TELCO = Path("/work/shared/data/telco-churn.csv")
CONTRACT = Path(__file__).resolve().parents[2] / "examples" / "contracts" / "telco-churn.yaml"
NUMERIC = ["tenure", "MonthlyCharges"]
CATEGORICAL = ["Contract", "InternetService", "gender", "SeniorCitizen"]
ROLES = {
    "pm": Role.PRODUCT_MANAGER,
    "ds": Role.DATA_SCIENTIST,
    "mle": Role.ML_ENGINEER,
    "comp": Role.COMPLIANCE,
    "viewer": Role.VIEWER,
    "padmin": Role.ADMIN,
}


@dataclass
class Team:
    services: Services
    principals: dict[str, Principal] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}
