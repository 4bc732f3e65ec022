"""`tandem endpoints ...`, `tandem deploy ...` and `tandem predictions show` through the real
CLI on a real workspace (SQLite or PostgreSQL) with real scikit-learn models: every strategy,
the traffic changes, the history and what served when, and bad input (one line, one exit code,
nothing changed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from tandem.core.clock import now_ms
from tandem.deployments.models import LatencyBuckets, StatsReport, WindowStats
from tandem.sdk.client import Client

REAL_DATA = Path(os.environ.get("TANDEM_REAL_DATA", "/work/shared/data"))
FEATURES = ["tenure", "MonthlyCharges"]


@pytest.fixture
def models(sdk: Client) -> Client:
    """churn/churn-lr@1 and @2: logistic regressions on the telco data, saved as skops."""
    frame = pd.read_csv(REAL_DATA / "telco-churn.csv")
    sdk.projects.create("churn")
    with sdk.start_run(project="churn") as run:
        for c in (1.0, 0.1):
            model = LogisticRegression(C=c, max_iter=300).fit(frame[FEATURES], frame["Churn"])
            run.log_model(model, "churn-lr", example=frame[FEATURES].head(3))
    return sdk


def served(tandem: Any, name: str = "staging") -> dict[str, float]:
    """What the endpoint serves now: `model@version` -> weight, from `show --json`."""
    shown = tandem("endpoints", "show", name, "-p", "churn", "--json").json()
    return {f"{d['model']}@{d['version']}": d["weight"] for d in shown["deployments"]}


def events(tandem: Any, name: str = "staging") -> list[dict[str, Any]]:
    return tandem("endpoints", "history", name, "-p", "churn", "--json").json()["items"]


def test_endpoints_and_releases(tandem: Any, models: Client) -> None:
    created = tandem("endpoints", "create", "staging", "-d", "test", "--sampling", "50%",
                     "--sticky-key", "header:X-Customer", "-p", "churn")  # fmt: skip
    assert created.code == 0, created.stderr
    assert created.stdout.strip() == "created endpoint churn/endpoints/staging"
    prod = tandem("endpoints", "create", "prod", "--production", "-p", "churn", "--json").json()
    assert prod["production"] is True and prod["deployments"] == []
    listed = tandem("endpoints", "list", "-p", "churn", "--json").json()
    assert sorted(e["name"] for e in listed) == ["prod", "staging"]
    assert [e["sampling"] for e in listed if e["name"] == "staging"] == [0.5]
    settings = ["--sampling", "0.1", "--log-personal", "--sticky-key", "field:customer_id"]
    updated = tandem("endpoints", "update", "staging", *settings, "-p", "churn", "--json").json()
    assert (updated["sampling"], updated["log_personal"]) == (0.1, True)
    assert updated["sticky_key"] == "field:customer_id"
    nothing = tandem("endpoints", "update", "staging", "-p", "churn")
    assert nothing.code == 2 and nothing.stderr.startswith("error: nothing to change")
    before = tandem("endpoints", "history", "staging", "-p", "churn", "--at", "2001-01-01")
    assert before.code == 0 and "served: nothing" in before.stdout

    replaced = tandem("deploy", "churn-lr@1", "--to", "staging", "-m", "first", "-p", "churn")
    assert replaced.code == 0, replaced.stderr
    assert "serving churn-lr@1 100%" in replaced.stdout
    assert served(tandem) == {"churn-lr@1": 100}

    canary = tandem(
        "deploy", "churn-lr@2", "--to", "staging", "--strategy", "canary", "--steps", "5,25,50,100",
        "--interval", "10m", "--guard", "error_rate < 0.01", "--guard", "p99_ms<50",
        "--min-samples", "500", "-m", "C=0.1", "-p", "churn",
    )  # fmt: skip
    assert canary.code == 0, canary.stderr
    assert "step 1 of 4 (5%)" in canary.stdout
    assert served(tandem) == {"churn-lr@1": 95, "churn-lr@2": 5}
    shown = tandem("endpoints", "show", "staging", "-p", "churn")
    assert shown.code == 0
    expected = ("churn/endpoints/staging", "non-production", "field:customer_id",
                "[5%] -> 25% -> 50% -> 100%", "error_rate < 0.01; p99_ms < 50")  # fmt: skip
    for part in expected:
        assert part in shown.stdout, part
    analysed = tandem("endpoints", "analyse", "staging", "-p", "churn", "--json")
    assert analysed.code == 0, analysed.stderr
    assert analysed.json()["decision"] in ("hold", "inconclusive")
    assert served(tandem) == {"churn-lr@1": 95, "churn-lr@2": 5}  # no samples: never promoted

    paused = tandem("endpoints", "pause", "staging", "-m", "campaign", "-p", "churn")
    assert paused.code == 0 and paused.stdout.startswith("paused churn/endpoints/staging")
    shown = tandem("endpoints", "show", "staging", "-p", "churn", "--json").json()
    assert shown["rollout"]["status"] == "paused"
    assert tandem("endpoints", "resume", "staging", "-p", "churn").code == 0
    back = tandem("endpoints", "rollback", "staging", "-m", "drift on new customers",
                  "-p", "churn")  # fmt: skip
    assert back.code == 0 and "serving churn-lr@1 100%" in back.stdout
    assert served(tandem) == {"churn-lr@1": 100}

    blue = tandem("deploy", "churn-lr@2", "--to", "staging", "--strategy", "blue-green",
                  "--warm", "10m", "-p", "churn")  # fmt: skip
    assert blue.code == 0, blue.stderr
    assert "awaiting-promotion" in blue.stdout and "tandem endpoints promote staging" in blue.stdout
    promoted = tandem(
        "endpoints", "promote", "staging", "-m", "preview ok", "-p", "churn", "--json"
    )
    assert promoted.code == 0, promoted.stderr
    roles = {f"{d['model']}@{d['version']}": (d["role"], d["weight"])
             for d in promoted.json()["deployments"]}  # fmt: skip
    assert roles == {"churn-lr@2": ("primary", 100), "churn-lr@1": ("standby", 0)}
    assert promoted.json()["warm_until"] is not None

    history = events(tandem)
    kinds = [e["kind"] for e in history]
    assert kinds[:2] == ["promoted", "deployed"] and "rolled-back" in kinds and "paused" in kinds
    assert history[-1]["kind"] in ("created", "deployed")
    rolled = next(e for e in history if e["kind"] == "rolled-back")
    assert rolled["message"] == "drift on new customers" and rolled["actor_kind"] == "person"
    assert rolled["before"] == {"churn-lr@1": 95, "churn-lr@2": 5}
    assert rolled["after"] == {"churn-lr@1": 100}
    table = tandem("endpoints", "history", "staging", "-p", "churn")
    assert table.code == 0 and "drift on new customers" in table.stdout
    # what served when: the moment of the rollback's event, and the change that set it
    at = tandem("endpoints", "history", "staging", "-p", "churn", "--at", str(rolled["at"]))
    assert at.code == 0, at.stderr
    assert "served: churn-lr@1 100%" in at.stdout and "why: drift on new customers" in at.stdout
    at_json = tandem("endpoints", "history", "staging", "-p", "churn", "--at", str(rolled["at"]),
                     "--json").json()  # fmt: skip
    assert at_json["weights"] == {"churn-lr@1": 100} and at_json["event"]["seq"] == rolled["seq"]

    shadow = tandem("deploy", "churn-lr@1", "--to", "staging", "--strategy", "shadow", "--mirror",
                    "50%", "--guard", "agreement > 0.9", "-p", "churn", "--json")  # fmt: skip
    assert shadow.code == 0, shadow.stderr
    assert shadow.json()["rollout"]["mirror"] == 50
    assert {d["role"] for d in shadow.json()["deployments"]} >= {"primary", "shadow"}


def test_bad_input_is_one_line_and_changes_nothing(tandem: Any, models: Client) -> None:
    assert tandem("endpoints", "create", "staging", "-p", "churn").code == 0
    assert tandem("endpoints", "create", "prod", "--production", "-p", "churn").code == 0
    assert tandem("deploy", "churn-lr@1", "--to", "staging", "-p", "churn").code == 0
    seen = events(tandem)
    cases = [
        (
            ["deploy", "churn-lr@2", "--to", "staging", "--strategy", "sideways"],
            2,
            "unknown strategy 'sideways': use one of replace, canary, blue-green, shadow",
        ),
        (
            ["deploy", "churn-lr@2", "--to", "staging", "--guard", "latency < 5"],
            2,
            "unknown guard metric 'latency'",
        ),
        (
            ["deploy", "churn-lr@2", "--to", "staging", "--guard", "error_rate about 1"],
            2,
            "is not METRIC OP NUMBER",
        ),
        (
            ["deploy", "churn-lr@2", "--to", "staging", "--strategy", "canary", "--steps", "5,x"],
            2,
            "invalid --steps '5,x'",
        ),
        (
            ["deploy", "churn-lr@2", "--to", "staging", "--interval", "soon"],
            2,
            "invalid --interval 'soon'",
        ),
        (
            ["deploy", "churn-lr@2", "--to", "staging", "--mirror", "150%"],
            2,
            "invalid percentage '150%'",
        ),
        (["deploy", "churn-lr", "--to", "staging"], 2, "give the version to deploy"),
        (["deploy", "churn-lr@9", "--to", "staging"], 3, "churn-lr"),
        (["deploy", "churn-lr@2", "--to", "nowhere"], 3, "nowhere"),
        (["endpoints", "show", "nowhere"], 3, "nowhere"),
        (["endpoints", "history", "staging", "--at", "yesterday-ish"], 2, "invalid time"),
        (["endpoints", "create", "staging"], 4, "staging"),
        (["endpoints", "create", "other", "--sampling", "150"], 2, "invalid percentage"),
        (["endpoints", "promote", "staging"], 4, ""),  # nothing to promote
        (["endpoints", "rollback", "staging", "--expect-version", "0"], 4, ""),  # stale page
    ]
    for args, code, message in cases:
        outcome = tandem(*args, "-p", "churn")
        assert outcome.code == code, (args, outcome.code, outcome.stderr)
        assert len(outcome.stderr_lines) == 1 and outcome.stderr.startswith("error: "), args
        assert message in outcome.stderr, (args, outcome.stderr)
        assert outcome.stdout == "", args
    assert events(tandem) == seen  # nothing changed
    assert served(tandem) == {"churn-lr@1": 100}

    refused = tandem("deploy", "churn-lr@2", "--to", "prod", "-p", "churn")
    assert refused.code == 4 and len(refused.stderr_lines) == 1
    assert "ready-for-production" in refused.stderr and "tandem gate open" in refused.stderr
    assert served(tandem, "prod") == {}

    # a gateway reported traffic a moment ago: deleting would cut it off
    deployment = tandem("endpoints", "show", "staging", "-p", "churn", "--json").json()
    counts = [0] * (len(LatencyBuckets.BOUNDS_MS) + 1)
    counts[2] = 5
    window = WindowStats(deployment=deployment["deployments"][0]["id"], start=now_ms() - 1000,
                         end=now_ms(), requests=5, errors=0, latency_counts=counts)  # fmt: skip
    report = StatsReport(gateway="g1", policy_version=0, windows=[window])
    models.deployments.report("staging", report, project="churn")
    busy = tandem("endpoints", "delete", "staging", "-p", "churn")
    assert busy.code == 4 and len(busy.stderr_lines) == 1 and "served 5 requests" in busy.stderr
    assert served(tandem) == {"churn-lr@1": 100}

    nothing = tandem("endpoints", "create", "empty", "-p", "churn")
    assert nothing.code == 0
    deleted = tandem("endpoints", "delete", "empty", "-p", "churn", "--json")
    assert deleted.json() == {"deleted": "empty", "project": "churn"}
    assert tandem("endpoints", "show", "empty", "-p", "churn").code == 3


def test_guard_values_after_a_gateway_report(tandem: Any, models: Client) -> None:
    """The analysis reads what a gateway reported; show and analyse print each guard's value."""
    tandem("endpoints", "create", "staging", "-p", "churn")
    tandem("deploy", "churn-lr@1", "--to", "staging", "-p", "churn")
    canary = tandem(
        "deploy", "churn-lr@2", "--to", "staging", "--strategy", "canary", "--steps", "10,100",
        "--interval", "1h", "--guard", "error_rate < 0.01", "--min-samples", "100",
        "-p", "churn", "--json",
    ).json()  # fmt: skip
    candidate = canary["rollout"]["candidate"]
    counts = [0] * (len(LatencyBuckets.BOUNDS_MS) + 1)
    counts[3] = 200
    start = canary["rollout"]["step_started_at"]  # a window of the step being judged
    window = WindowStats(deployment=candidate, start=start, end=start + 1000, requests=200,
                         errors=10, latency_counts=counts)  # fmt: skip
    report = StatsReport(gateway="g1", policy_version=canary["policy_version"], windows=[window])
    models.deployments.report("staging", report, project="churn")
    shown = tandem("endpoints", "show", "staging", "-p", "churn")
    assert shown.code == 0
    assert "error_rate < 0.01" in shown.stdout and "0.05" in shown.stdout  # 10 of 200 failed
    assert served(tandem) == {"churn-lr@1": 100}  # the failing guard rolled it back at once
    latest = events(tandem)[0]
    assert latest["kind"] == "rolled-back" and latest["actor_kind"] == "analysis"


def test_prediction_show(tandem: Any, models: Client) -> None:
    import pyarrow as pa

    tandem("endpoints", "create", "staging", "-p", "churn")
    endpoint = tandem("deploy", "churn-lr@1", "--to", "staging", "-p", "churn", "--json").json()
    deployment = endpoint["deployments"][0]["id"]
    table = pa.table(
        {
            "request_id": ["req-1", "req-2"],
            "at": pa.array([now_ms(), now_ms()], pa.int64()),
            "deployment": [deployment] * 2,
            "model": ["churn-lr"] * 2,
            "version": pa.array([1, 1], pa.int64()),
            "status": pa.array([200, 422], pa.int32()),
            "latency_ms": [0.4, 0.1],
            "inputs": ['{"tenure": [3], "MonthlyCharges": [80.5]}', '{"tenure": ["x"]}'],
            "output": ['{"predictions": ["Yes"]}', '{"error": "tenure"}'],
        }
    )
    models.predictions.ship("staging", table, gateway="g1", batch="b1", project="churn")
    shown = tandem("predictions", "show", "req-1", "--endpoint", "staging", "-p", "churn")
    assert shown.code == 0, shown.stderr
    for part in ("churn-lr@1", "200", "0.400 ms", '"tenure"', "predictions"):
        assert part in shown.stdout, part
    found = tandem("predictions", "show", "req-2", "-e", "staging", "-p", "churn", "--json").json()
    assert found["status"] == 422 and found["version"] == 1
    missing = tandem("predictions", "show", "req-3", "-e", "staging", "-p", "churn")
    assert missing.code == 3 and missing.stderr.startswith("error: ")


def test_remote_server(tandem: Any, models: Client, remote: Client) -> None:
    """The same commands against a live server (TANDEM_URL)."""
    assert tandem("endpoints", "create", "staging", "-p", "churn").code == 0
    deployed = tandem("deploy", "churn-lr@2", "--to", "staging", "-p", "churn")
    assert deployed.code == 0, deployed.stderr
    assert remote.deployments.get("staging", "churn").deployments[0].version == 2
    assert events(tandem)[0]["kind"] == "deployed"
