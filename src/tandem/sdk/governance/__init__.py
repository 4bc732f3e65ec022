"""`client.governance`: one resource per governance aggregate, as on the server.

gov = client.governance
gov.plan.set_brief(goal="Cut monthly churn by 2 points", status="agreed")
gov.plan.set_criterion("auc", "model", "roc_auc >= 0.80", dataset="churn-holdout",
                       owner="data-scientist")
card = gov.plan.scorecard("churn-gbm@3")
gate = gov.gates.open("churn-gbm@3", "ready-for-production")
gov.decisions.create("Retire churn-gbm@2", "Replaced by @3", accept=True)
gov.registers.add_risk("Label drift", owner="ana")
gov.notifications.list(unread=True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tandem.sdk.governance.decisions import Decisions
from tandem.sdk.governance.gates import Gates
from tandem.sdk.governance.notifications import Notifications
from tandem.sdk.governance.plan import ProjectPlan
from tandem.sdk.governance.registers import Registers
from tandem.sdk.transport import Http

if TYPE_CHECKING:
    from tandem.sdk.client import Client

__all__ = ["Decisions", "Gates", "Governance", "Notifications", "ProjectPlan", "Registers"]


class Governance:
    """The governance resources: `plan` (brief, criteria, RACI, scorecards, project as code),
    `gates`, `decisions` (decision records), `registers` (hypotheses, risks, retrospectives,
    action items, comments, activity) and `notifications` (yours, and the project's webhook)."""

    def __init__(self, http: Http, client: Client) -> None:
        self.plan = ProjectPlan(http, client)
        self.gates = Gates(http, client)
        self.decisions = Decisions(http, client)
        self.registers = Registers(http, client)
        self.notifications = Notifications(http, client)
