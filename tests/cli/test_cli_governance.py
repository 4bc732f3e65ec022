"""`tandem brief`, `criteria`, `raci`, `scorecard` and `project apply|export` on a real
workspace (embedded, and a live server for one round): what they print, what they store, and
one-line errors with a non-zero exit that change nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.linear_model import LogisticRegression

from tandem.sdk.client import Client

TELCO = Path("/work/shared/data/telco-churn.csv")

BRIEF = """# Churn reduction
Status: draft

## Business goal
Cut monthly churn by 2 points.

## User story
As a retention manager, I want a weekly list of customers likely to leave.
"""

PROJECT = """project: churn
brief:
  status: agreed
  goal: Cut monthly churn by 2 points.
criteria:
  auc: {kind: model, check: roc_auc >= 0.6, dataset: holdout, owner: data-scientist}
  uplift: {kind: product, check: retention_uplift >= 2%, owner: product-manager}
raci:
  release-approval: {maria: A, ana: R}
"""


def test_brief_apply_show_history_and_diff(tandem: Any, sdk: Client, tmp_path: Path) -> None:
    sdk.projects.create("churn")
    path = tmp_path / "brief.md"
    path.write_text(BRIEF)
    first = tandem("brief", "apply", str(path), "-p", "churn")
    assert first.code == 0 and "saved brief version 1 of churn" in first.stdout
    assert "+Cut monthly churn by 2 points." in first.stdout
    path.write_text(BRIEF.replace("Status: draft", "Status: agreed").replace("2 points", "3"))
    second = tandem("brief", "apply", str(path), "-p", "churn")
    assert "saved brief version 2" in second.stdout
    assert "-Cut monthly churn by 2 points.\n+Cut monthly churn by 3." in second.stdout
    again = tandem("brief", "apply", str(path), "-p", "churn")
    assert again.stdout.strip() == "brief unchanged (version 2)"
    shown = tandem("brief", "show", "-p", "churn")
    assert "version 2 (agreed)" in shown.stdout and "Cut monthly churn by 3." in shown.stdout
    assert (
        tandem("brief", "show", "-p", "churn", "--version", "1", "--json").json()["status"]
        == "draft"
    )
    history = tandem("brief", "history", "-p", "churn", "--json").json()
    assert [b["version"] for b in history] == [2, 1]
    diff = tandem("brief", "diff", "1", "2", "-p", "churn", "--json").json()
    assert [c["field"] for c in diff["changes"]] == ["goal", "status"]
    # the Markdown `show --markdown` prints is what `apply` reads back: no new version
    path.write_text(tandem("brief", "show", "--markdown", "-p", "churn").stdout)
    assert "unchanged" in tandem("brief", "apply", str(path), "-p", "churn").stdout
    yaml_brief = tmp_path / "brief.yaml"
    yaml_brief.write_text("goal: From YAML\nstatus: in-review\n")
    assert "version 3" in tandem("brief", "apply", str(yaml_brief), "-p", "churn").stdout


def test_bad_input_is_one_line_and_changes_nothing(
    tandem: Any, sdk: Client, tmp_path: Path
) -> None:
    sdk.projects.create("churn")
    bad_section = tmp_path / "brief.md"
    bad_section.write_text("## Budget\n10k\n")
    text_file = tmp_path / "brief.txt"
    text_file.write_text("goal")
    # exit codes: 2 invalid input, 3 not found; 1 an unreadable file (an OSError)
    cases = [
        (("brief", "apply", str(bad_section)), 2, "unknown brief section 'Budget'"),
        (("brief", "apply", str(text_file)), 2, "a brief is a .md or .yaml file"),
        (("brief", "apply", str(tmp_path / "missing.md")), 1, "missing.md: no such file or folder"),
        (
            ("criteria", "set", "auc", "model", "roc_auc > high", "--owner", "data-scientist"),
            2,
            "METRIC OP NUMBER",
        ),
        (
            ("criteria", "set", "auc", "model", "roc_auc > 1", "--owner", "boss"),
            2,
            "unknown role 'boss'",
        ),
        (("criteria", "set", "auc", "vibes", "roc_auc > 1", "--owner", "admin"), 2, "kind"),
        (("criteria", "delete", "auc"), 3, "no criterion 'auc'"),
        (("raci", "set", "training", "ana=Q"), 2, "write MEMBER=R"),
        (("raci", "set", "training", "ana=R"), 2, "names ana, who is not a member of 'churn'"),
        (("scorecard", "nope@1"), 3, "model 'nope' does not exist"),
    ]
    for args, code, message in cases:
        outcome = tandem(*args, "-p", "churn")
        assert outcome.code == code, (args, outcome.stderr)
        assert len(outcome.stderr_lines) == 1 and message in outcome.stderr, (args, outcome.stderr)
        assert "Traceback" not in outcome.stderr and "Errno" not in outcome.stderr
    assert sdk.governance.plan.brief(project="churn").version == 0
    assert sdk.governance.plan.criteria(project="churn") == []


def test_criteria_raci_and_scorecard(tandem: Any, sdk: Client, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "telco.csv").write_bytes(TELCO.read_bytes())
    frame = pd.read_csv(TELCO)
    sdk.projects.create("churn")
    sdk.data.add("holdout", data / "telco.csv", project="churn")
    model = LogisticRegression().fit(frame[["tenure", "MonthlyCharges"]], frame["Churn"])
    with sdk.start_run(project="churn") as run:
        run.log_model(model, "churn-lr", example=frame[["tenure", "MonthlyCharges"]].head(3))
    evaluation = sdk.evaluations.evaluate(
        "churn-lr@1", "holdout@v1", "Churn", project="churn", positive="Yes", resamples=0
    )
    auc = evaluation.overall["roc_auc"]
    made = tandem(
        "criteria",
        "set",
        "auc",
        "model",
        f"roc_auc >= {auc - 0.05:.3f}",
        "--dataset",
        "holdout",
        "--owner",
        "data-scientist",
        "-p",
        "churn",
    )
    assert made.code == 0 and made.stdout.startswith("auc: model: roc_auc >= ")
    tandem(
        "criteria",
        "set",
        "uplift",
        "product",
        "retention_uplift >= 2%",
        "--owner",
        "product-manager",
        "-p",
        "churn",
    )
    listed = tandem("criteria", "list", "-p", "churn", "--json").json()
    assert [(c["key"], c["threshold"]) for c in listed][1] == ("uplift", 0.02)

    card = tandem("scorecard", "churn-lr@1", "-p", "churn")
    assert card.code == 0, card.stderr
    assert "met" in card.stdout and f"evaluations/{evaluation.id} on holdout@v1" in card.stdout
    assert "1 met, 0 not met, 1 without evidence" in card.stdout
    assert tandem("scorecard", "churn-lr@1", "-p", "churn", "--strict").code == 1
    with sdk.start_run(project="churn", tags={"tandem.model": "churn-lr@1"}) as ab_test:
        ab_test.log_metric("retention_uplift", 0.031)
    strict = tandem("scorecard", "churn/churn-lr@1", "--strict", "--json")
    assert strict.code == 0
    assert strict.json()["counts"] == {"met": 2, "not-met": 0, "no-evidence": 0}
    assert tandem("criteria", "delete", "uplift", "-p", "churn").code == 0

    for name in ("maria", "ana"):
        tandem("users", "create", name)
        tandem("members", "set", name, "-p", "churn", "--role", "product-manager")
    assert tandem("raci", "set", "release-approval", "maria=A", "ana=r", "-p", "churn").code == 0
    assert tandem("raci", "set", "training", "ana=A", "-p", "churn").code == 0
    shown = tandem("raci", "show", "-p", "churn")
    assert "release-approval" in shown.stdout and "training" in shown.stdout
    assert tandem("raci", "show", "-p", "churn", "--json").json()["activities"] == {
        "release-approval": {"ana": "R", "maria": "A"},
        "training": {"ana": "A"},
    }
    assert tandem("raci", "set", "training", "--remove", "-p", "churn").code == 0
    assert list(sdk.governance.plan.raci(project="churn").activities) == ["release-approval"]


def test_project_apply_shows_the_plan_and_export_round_trips(
    tandem: Any, sdk: Client, tmp_path: Path
) -> None:
    sdk.projects.create("churn")
    for name in ("maria", "ana"):
        tandem("users", "create", name)
        tandem("members", "set", name, "-p", "churn", "--role", "product-manager")
    path = tmp_path / "project.yaml"
    path.write_text(PROJECT)
    planned = tandem("project", "apply", str(path), "--dry-run")
    assert planned.code == 0
    assert (
        "+ criteria auc: model: roc_auc >= 0.6 on holdout (owner data-scientist)" in planned.stdout
    )
    assert "+ raci release-approval: ana R, maria A" in planned.stdout
    assert sdk.governance.plan.criteria(project="churn") == []
    refused = tandem("project", "apply", str(path))  # no terminal to confirm on
    assert refused.code == 2 and "pass --yes" in refused.stderr
    assert sdk.governance.plan.criteria(project="churn") == []
    applied = tandem("project", "apply", str(path), "--yes")
    assert applied.code == 0 and "applied 4 changes to churn" in applied.stdout
    assert "nothing to change" in tandem("project", "apply", str(path), "--yes").stdout
    exported = tmp_path / "exported.yaml"
    assert tandem("project", "export", "-p", "churn", "-o", str(exported)).code == 0
    assert "nothing to change" in tandem("project", "apply", str(exported), "--dry-run").stdout
    path.write_text(PROJECT.replace("0.6", "0.7").replace("maria: A, ana: R", "maria: A"))
    changed = tandem("project", "apply", str(path), "--yes", "--json").json()
    assert [(c["section"], c["action"]) for c in changed["changes"]] == [
        ("criteria", "update"),
        ("raci", "update"),
    ]
    path.write_text(PROJECT.replace("project: churn", "project: other"))
    wrong = tandem("project", "apply", str(path), "-p", "churn", "--yes")
    assert wrong.code == 2 and "for project 'other', not 'churn'" in wrong.stderr


def test_governance_commands_against_a_live_server(
    tandem: Any, remote: Client, tmp_path: Path
) -> None:
    remote.projects.create("churn")
    path = tmp_path / "brief.md"
    path.write_text(BRIEF)
    assert "saved brief version 1" in tandem("brief", "apply", str(path), "-p", "churn").stdout
    tandem(
        "criteria",
        "set",
        "auc",
        "model",
        "roc_auc >= 0.8",
        "--owner",
        "data-scientist",
        "-p",
        "churn",
    )
    assert remote.governance.plan.criteria(project="churn")[0].check == "roc_auc >= 0.8"
    exported = tandem("project", "export", "-p", "churn")
    assert (
        "check: roc_auc >= 0.8" in exported.stdout and "goal: Cut monthly churn" in exported.stdout
    )


def test_gate_open_check_sign_and_decisions(tandem: Any, sdk: Client, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "telco.csv").write_bytes(TELCO.read_bytes())
    frame = pd.read_csv(TELCO)
    sdk.projects.create("churn")
    sdk.data.add("holdout", data / "telco.csv", project="churn")
    model = LogisticRegression().fit(frame[["tenure"]], frame["Churn"])
    with sdk.start_run(project="churn") as run:
        run.log_model(model, "churn-lr", example=frame[["tenure"]].head(3))
    # the embedded workspace's owner is in the RACI for release approval
    owner = sdk.governance.plan.export(project="churn").project
    assert owner == "churn"
    check = tandem("gate", "check", "churn-lr@1", "--to", "ready-for-review", "-p", "churn")
    assert check.code == 1 and "if opened now" in check.stdout
    assert "✗ reproducible" in check.stdout and "✗ holdout-evaluation" in check.stdout
    opened = tandem(
        "gate", "open", "churn-lr@1", "--to", "ready-for-review", "-p", "churn", "--json"
    )
    gate = opened.json()
    assert gate["status"] == "open" and not gate["passes"]
    again = tandem("gate", "open", "churn-lr@1", "--to", "ready-for-review", "-p", "churn")
    assert again.code == 4 and "already has an open gate" in again.stderr
    listed = tandem("gate", "list", "-p", "churn")
    assert gate["id"] in listed.stdout and "ready-for-review" in listed.stdout
    shown = tandem("gate", "show", gate["id"], "-p", "churn")
    assert f"gate {gate['id']}" in shown.stdout and "does not pass yet" in shown.stdout
    staged = tandem("models", "stage", "churn-lr@1", "ready-for-review", "-p", "churn")
    assert (
        staged.code == 4
        and f"gate {gate['id']} for churn-lr@1 -> ready-for-review does not pass yet"
        in staged.stderr
    )
    neither = tandem("gate", "sign", gate["id"], "-p", "churn")
    assert neither.code == 2 and "say --approve or --reject" in neither.stderr
    # root is not a signer: that refusal comes before the rule about rejections' comments
    bare = tandem("gate", "sign", gate["id"], "--reject", "-p", "churn")
    assert bare.code == 5 and "not among the members who sign" in bare.stderr
    # nobody is accountable for evaluation here, so there is nobody to sign: refused
    nobody = tandem("gate", "sign", gate["id"], "--approve", "-p", "churn")
    assert nobody.code == 5 and "not among the members who sign" in nobody.stderr
    cancelled = tandem("gate", "cancel", gate["id"], "-m", "wrong version", "-p", "churn")
    assert cancelled.code == 0 and "cancelled" in cancelled.stdout
    assert (
        tandem("gate", "list", "--all", "-p", "churn", "--json").json()[0]["status"] == "cancelled"
    )

    added = tandem(
        "decision",
        "add",
        "Keep churn-lr@1 in draft",
        "-d",
        "It only uses tenure",
        "--link",
        "models/churn-lr@1",
        "-p",
        "churn",
    )
    assert added.code == 0 and "decision 1: Keep churn-lr@1 in draft" in added.stdout
    assert "(proposed)" in added.stdout
    accepted = tandem("decision", "accept", "1", "-p", "churn")
    assert accepted.code == 0 and "(accepted)" in accepted.stdout
    twice = tandem("decision", "accept", "1", "-p", "churn")
    assert twice.code == 4 and "cannot change" in twice.stderr
    found = tandem("decision", "list", "-q", "TENURE", "-p", "churn", "--json").json()
    assert [d["number"] for d in found] == [1]
    bad_link = tandem("decision", "add", "x", "-d", "y", "--link", "../etc", "-p", "churn")
    assert bad_link.code == 2 and "is not a reference" in bad_link.stderr
    assert tandem("decision", "show", "2", "-p", "churn").code == 3


RETRO = """title: v1 release
format: start-stop-continue
entries:
  start: [Evaluate on new customers]
  stop: [Hand-edited thresholds]
action_items:
  - {title: Add a new-customer slice, owner: ana, due: 2020-02-01}
"""


def test_registers_from_the_command_line(tandem: Any, sdk: Client, tmp_path: Path) -> None:
    sdk.projects.create("churn")
    tandem("users", "create", "ana")
    tandem("members", "set", "ana", "-p", "churn", "--role", "data-scientist")
    made = tandem(
        "hypothesis",
        "add",
        "Contract type predicts churn",
        "--owner",
        "ana",
        "--metric",
        "roc_auc",
        "--expected",
        "+0.03",
        "-p",
        "churn",
    )
    assert made.code == 0 and made.stdout.strip() == "H1: Contract type predicts churn (open)"
    assert (
        tandem(
            "hypothesis",
            "set",
            "1",
            "--status",
            "supported",
            "--link",
            "evaluations/5f0c",
            "-p",
            "churn",
        ).code
        == 0
    )
    assert tandem("hypothesis", "list", "-p", "churn", "--json").json()[0]["links"] == [
        "evaluations/5f0c"
    ]
    bad = tandem("hypothesis", "set", "1", "--status", "maybe", "-p", "churn")
    assert bad.code == 2 and len(bad.stderr_lines) == 1 and "status" in bad.stderr

    tandem(
        "risk",
        "add",
        "Holdout misses new customers",
        "--owner",
        "ana",
        "--impact",
        "high",
        "--review",
        "2020-01-01",
        "-p",
        "churn",
    )
    listed = tandem("risk", "list", "-p", "churn")
    assert "R1" in listed.stdout and "OVERDUE" in listed.stdout
    assert tandem("risk", "set", "1", "--status", "mitigated", "-p", "churn").code == 0
    assert tandem("risk", "list", "--open", "-p", "churn", "--json").json() == []
    stranger = tandem("risk", "add", "x", "--owner", "bob", "-p", "churn")
    assert stranger.code == 2 and "owner 'bob' is not a member of 'churn'" in stranger.stderr

    retro = tmp_path / "retro.yaml"
    retro.write_text(RETRO)
    added = tandem("retro", "add", str(retro), "-p", "churn")
    assert added.code == 0 and "retrospective 1: v1 release; action items: A1" in added.stdout
    actions = tandem("action", "list", "-p", "churn")
    assert "Add a new-customer slice" in actions.stdout and "OVERDUE" in actions.stdout
    assert tandem("action", "done", "1", "-p", "churn").code == 0
    assert tandem("action", "list", "-p", "churn").stdout.strip() == "no open action items"
    retro.write_text("title: x\nformat: 4ls\nentries: {start: [y]}\n")
    wrong = tandem("retro", "add", str(retro), "-p", "churn")
    assert wrong.code == 2 and "has sections liked, learned, lacked, longed-for" in wrong.stderr

    commented = tandem("comment", "add", "models/churn-lr@1", "@ana please look", "-p", "churn")
    assert commented.code == 0 and "(notified ana)" in commented.stdout
    assert (
        "@ana please look" in tandem("comment", "list", "models/churn-lr@1", "-p", "churn").stdout
    )
    feed = tandem("activity", "-p", "churn", "-n", "3", "--json").json()
    assert [a["action"] for a in feed["items"]] == [
        "comment.create",
        "action.done",
        "retrospective.create",
    ]
    assert "no notifications" in tandem("notifications").stdout  # the owner was told nothing

    refused = tandem("project", "webhook", "ftp://example.com/x", "-p", "churn")
    assert refused.code == 2 and "must be an http(s) URL" in refused.stderr
    assert (
        "hooks.example.com"
        in tandem("project", "webhook", "https://hooks.example.com/T0/B0", "-p", "churn").stdout
    )
    assert "no webhook" in tandem("project", "webhook", "", "-p", "churn").stdout


def test_project_gate_items_are_attested_from_the_command_line(
    tandem: Any, sdk: Client, tmp_path: Path
) -> None:
    frame = pd.read_csv(TELCO)
    sdk.projects.create("churn")
    with sdk.start_run(project="churn") as run:
        run.log_model(
            LogisticRegression().fit(frame[["tenure"]], frame["Churn"]),
            "churn-lr",
            example=frame[["tenure"]].head(3),
        )
    path = tmp_path / "project.yaml"
    path.write_text(
        "gates:\n  ready-for-review:\n    items:\n      - {key: security-review, "
        "title: Security review passed, attested_by: compliance}\n"
    )

    planned = tandem("project", "apply", str(path), "-p", "churn", "--yes")
    assert (
        "+ gates ready-for-review: signed by A; security-review (by compliance)" in planned.stdout
    )
    gate = tandem(
        "gate", "open", "churn-lr@1", "--to", "ready-for-review", "-p", "churn", "--json"
    ).json()
    assert [i["key"] for i in gate["checklist"]][-2:] == ["project:security-review", "sign-offs"]
    unknown = tandem("gate", "attest", gate["id"], "pen-test", "-p", "churn")
    assert unknown.code == 3 and "has no item 'pen-test'" in unknown.stderr
    attested = tandem(
        "gate", "attest", gate["id"], "security-review", "-m", "no findings", "-p", "churn"
    )
    assert attested.code == 0 and "✓ project:security-review" in attested.stdout
    assert "gates:" in tandem("project", "export", "-p", "churn").stdout
