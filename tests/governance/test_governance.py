"""The brief, success criteria, RACI, scorecard and project-as-code, through the service layer,
the REST API and the SDK: versions and diffs, who may change what, and bad input that changes
nothing. The scorecard judges a real evaluation of a telco churn model."""

from __future__ import annotations

import math
from typing import Any

import pytest
from governance_world import Team
from starlette.testclient import TestClient

from tandem.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tandem.governance.plan.documents import (
    brief_markdown,
    parse_markdown_brief,
    parse_project_file,
    project_yaml,
)
from tandem.governance.plan.models import (
    BriefUpdate,
    CriterionKind,
    CriterionSet,
    RaciLetter,
    RaciSet,
    Verdict,
    parse_assignments,
)
from tandem.governance.plan.spec import CriterionSpec, ProjectSpec
from tandem.projects.models import ProjectCreate
from tandem.sdk.client import Client
from tandem.server.app import create_app

# -- brief -----------------------------------------------------------------------------------


def test_brief_versions_diff_and_authors(team: Team) -> None:
    gov, pm, ds = team.services.plan, team.principals["pm"], team.principals["ds"]
    assert gov.get_brief(pm, "churn").version == 0
    first = gov.set_brief(pm, "churn", BriefUpdate(goal="Cut churn", user_story="As a PM"))
    assert (first.version, first.created_by, first.status.value) == (1, "pm", "draft")
    second = gov.set_brief(
        ds,
        "churn",
        BriefUpdate(
            goal="Cut churn by 2 points", user_story="As a PM", status="agreed", base_version=1
        ),
    )
    assert (second.version, second.created_by) == (2, "ds")
    # saving the same text again makes no new version
    same = gov.set_brief(
        ds,
        "churn",
        BriefUpdate(goal="Cut churn by 2 points", user_story="As a PM", status="agreed"),
    )
    assert same.version == 2
    diff = gov.brief_diff(pm, "churn")
    assert (diff.a, diff.b, diff.author) == (1, 2, "ds")
    assert [c.field for c in diff.changes] == ["goal", "status"]
    assert "-Cut churn\n+Cut churn by 2 points" in diff.changes[0].diff
    assert gov.get_brief(pm, "churn", 1).goal == "Cut churn"
    assert [b.version for b in gov.brief_history(team.principals["viewer"], "churn")] == [2, 1]


def test_a_stale_brief_edit_is_refused_and_changes_nothing(team: Team) -> None:
    gov, pm = team.services.plan, team.principals["pm"]
    gov.set_brief(pm, "churn", BriefUpdate(goal="one"))
    gov.set_brief(team.principals["ds"], "churn", BriefUpdate(goal="two", base_version=1))
    with pytest.raises(Conflict, match="at version 2, not 1: ds saved it since"):
        gov.set_brief(pm, "churn", BriefUpdate(goal="mine", base_version=1))
    assert gov.get_brief(pm, "churn").goal == "two"


def test_who_may_write_the_brief_criteria_and_raci(team: Team) -> None:
    gov, p = team.services.plan, team.principals
    with pytest.raises(PermissionDenied, match="viewer may not plan:write"):
        gov.set_brief(p["viewer"], "churn", BriefUpdate(goal="x"))
    criterion = CriterionSet(
        kind="model", metric="roc_auc", comparator=">=", threshold=0.8, owner="data-scientist"
    )
    for i, who in enumerate(("pm", "ds", "mle", "comp", "padmin")):
        changed = criterion.model_copy(update={"threshold": 0.8 + i / 100})
        assert gov.put_criterion(p[who], "churn", "auc", changed).updated_by == who
    matrix = RaciSet(activities={"release-approval": {"pm": "A", "mle": "R", "comp": "C"}})
    for who in ("ds", "mle", "comp", "viewer"):
        with pytest.raises(PermissionDenied, match="raci:write"):
            gov.set_raci(p[who], "churn", matrix)
    assert gov.set_raci(p["pm"], "churn", matrix).accountable("release-approval") == "pm"
    assert gov.get_raci(p["viewer"], "churn").with_letter("release-approval", "R") == ["mle"]


def test_markdown_brief_round_trips_and_names_bad_sections() -> None:
    text = """# Churn
Status: in-review

## Business goal
Cut monthly churn by **2 points**.

## User story
As a retention manager,
I want a weekly list.

## Out of scope
Pricing.
"""
    brief = parse_markdown_brief(text)
    assert brief.goal == "Cut monthly churn by **2 points**."
    assert brief.user_story == "As a retention manager,\nI want a weekly list."
    assert (brief.out_of_scope, brief.approach, brief.status.value) == ("Pricing.", "", "in-review")
    assert parse_markdown_brief(brief_markdown(brief)) == brief
    with pytest.raises(InvalidInput, match="line 3: unknown brief section 'Budget'"):
        parse_markdown_brief("# x\n\n## Budget\n10k\n")
    with pytest.raises(InvalidInput, match="status"):
        parse_markdown_brief("Status: done\n## Goal\nx\n")


# -- criteria and the scorecard ----------------------------------------------------------------


def _criterion(kind: str, check: str, owner: str = "data-scientist", **rest: Any) -> CriterionSet:
    return CriterionSpec(kind=CriterionKind(kind), check=check, owner=owner, **rest).to_set()


def test_bad_criteria_are_refused_and_change_nothing(team: Team) -> None:
    gov, ds = team.services.plan, team.principals["ds"]
    bad = [
        ("auc", _criterion("model", "roc_auc >= 0.8", owner="boss"), "unknown role 'boss'"),
        ("auc", _criterion("model", "roc_auc >= 0.8", slice="gender"), "COLUMN=VALUE"),
        ("lat", _criterion("system", "p99_ms <= 50", slice="a=b"), "applies to no slice"),
        ("auc", _criterion("model", "roc_auc >= 0.8", dataset="../x"), "dataset '../x'"),
        ("Bad Key", _criterion("model", "roc_auc >= 0.8"), "criterion key 'Bad Key'"),
        (
            "auc",
            CriterionSet(kind="model", metric="auc", comparator="~", threshold=1, owner="admin"),
            "comparator '~'",
        ),
        (
            "auc",
            CriterionSet(
                kind="model", metric="auc", comparator=">", threshold=math.inf, owner="admin"
            ),
            "finite",
        ),
    ]
    for key, criterion, message in bad:
        with pytest.raises(InvalidInput, match=message):
            gov.put_criterion(ds, "churn", key, criterion)
    with pytest.raises(InvalidInput, match="METRIC OP NUMBER"):
        _criterion("model", "roc_auc is high")
    assert gov.list_criteria(ds, "churn") == []
    with pytest.raises(NotFound, match="no criterion 'auc'"):
        gov.delete_criterion(ds, "churn", "auc")


def test_a_changed_criterion_is_audited_with_its_old_value(team: Team) -> None:
    gov, ds, padmin = team.services.plan, team.principals["ds"], team.principals["padmin"]
    gov.put_criterion(ds, "churn", "auc", _criterion("model", "roc_auc >= 0.8"))
    gov.put_criterion(ds, "churn", "auc", _criterion("model", "roc_auc >= 0.85"))
    gov.put_criterion(ds, "churn", "auc", _criterion("model", "roc_auc >= 0.85"))  # no change
    events = team.services.audit.list(padmin, project="churn").items
    changes = [e for e in events if e.action.startswith("criterion.")]
    assert [e.action for e in changes] == ["criterion.update", "criterion.create"]
    assert changes[0].details["before"]["threshold"] == 0.8
    assert changes[0].details["after"]["threshold"] == 0.85


def test_scorecard_judges_each_kind_from_the_evaluation_and_runs(
    evaluated: tuple[Client, dict],
) -> None:
    client, report = evaluated
    gov = client.governance.plan
    auc = report["overall"]["roc_auc"]
    female_recall = report["slices"]["gender"]["Female"]["recall"]
    parity = report["fairness"]["gender"]["demographic_parity_difference"]
    p99 = report["latency"]["p99_ms"]
    gov.set_criterion(
        "auc",
        "model",
        f"roc_auc >= {auc - 0.01}",
        dataset="holdout",
        owner="data-scientist",
        project="churn",
    )
    gov.set_criterion(
        "auc-v9",
        "model",
        "roc_auc >= 0.5",
        dataset="holdout@v9",
        owner="data-scientist",
        project="churn",
    )
    gov.set_criterion(
        "recall-f",
        "model",
        f"recall > {female_recall}",
        slice="gender=Female",
        owner="data-scientist",
        project="churn",
    )
    gov.set_criterion(
        "parity",
        "fairness",
        f"demographic_parity_difference <= {parity + 0.001}",
        slice="gender",
        owner="compliance",
        project="churn",
    )
    gov.set_criterion(
        "parity-all",
        "fairness",
        "demographic_parity_difference <= 0",
        owner="compliance",
        project="churn",
    )
    gov.set_criterion(
        "latency", "system", f"p99_ms <= {p99 * 100 + 1}", owner="ml-engineer", project="churn"
    )
    gov.set_criterion(
        "uplift", "product", "retention_uplift >= 2%", owner="product-manager", project="churn"
    )

    card = gov.scorecard("churn-lr@1", project="churn")
    rows = {r.criterion.key: r for r in card.rows}
    assert rows["auc"].verdict is Verdict.MET and math.isclose(rows["auc"].value, auc)
    assert rows["auc"].evidence.ref == f"evaluations/{report['id']}"
    assert rows["auc"].evidence.dataset == "holdout@v1"
    assert rows["auc-v9"].verdict is Verdict.NO_EVIDENCE
    assert "no evaluation of this version on holdout@v9" in rows["auc-v9"].note
    assert rows["recall-f"].verdict is Verdict.NOT_MET  # strictly greater than itself
    assert math.isclose(rows["recall-f"].value, female_recall)
    assert rows["parity"].verdict is Verdict.MET and math.isclose(rows["parity"].value, parity)
    assert rows["parity-all"].verdict is Verdict.NOT_MET and math.isclose(
        rows["parity-all"].value, parity
    )
    assert rows["latency"].verdict is Verdict.MET and math.isclose(rows["latency"].value, p99)
    assert (
        rows["uplift"].verdict is Verdict.NO_EVIDENCE and "retention_uplift" in rows["uplift"].note
    )
    assert card.counts == {"met": 3, "not-met": 2, "no-evidence": 2}

    # an A/B test's analysis, tagged for the version, is the product evidence
    with client.start_run(project="churn", tags={"tandem.model": "churn-lr@1"}) as run:
        run.log_metric("retention_uplift", 0.025)
    rows = {r.criterion.key: r for r in gov.scorecard("churn-lr@1", project="churn").rows}
    assert rows["uplift"].verdict is Verdict.MET and rows["uplift"].value == 0.025
    assert rows["uplift"].evidence.ref == f"runs/{run.id}"

    # editing a criterion re-judges the version at once
    gov.set_criterion(
        "auc",
        "model",
        f"roc_auc >= {auc + 0.01}",
        dataset="holdout",
        owner="data-scientist",
        project="churn",
    )
    rows = {r.criterion.key: r for r in gov.scorecard("churn-lr@1", project="churn").rows}
    assert rows["auc"].verdict is Verdict.NOT_MET
    with pytest.raises(NotFound):
        gov.scorecard("churn-lr@7", project="churn")


# -- RACI --------------------------------------------------------------------------------------


def test_raci_needs_exactly_one_accountable_member_per_activity(team: Team) -> None:
    gov, pm = team.services.plan, team.principals["pm"]
    gov.set_raci(pm, "churn", RaciSet(activities={"training": {"ds": "A"}}))
    bad = [
        ({"training": {"ds": "R"}}, "0 accountable members \\(none\\)"),
        ({"training": {"ds": "A", "mle": "A"}}, "2 accountable members \\(ds, mle\\)"),
        ({"training": {"ds": "A", "stranger": "R"}}, "stranger, who is not a member"),
        ({"Training!": {"ds": "A"}}, "activity 'Training!'"),
    ]
    for matrix, message in bad:
        with pytest.raises(InvalidInput, match=message):
            gov.set_raci(pm, "churn", RaciSet.model_validate({"activities": matrix}))
    assert gov.get_raci(pm, "churn").activities == {"training": {"ds": "A"}}


def test_one_raci_activity_changes_on_the_stored_matrix(team: Team) -> None:
    """Setting one row keeps the other activities as stored at that moment, so two people
    editing different rows keep both rows (the CLI and the web form set one row each)."""
    gov, p = team.services.plan, team.principals

    def row(*items: str) -> dict[str, RaciLetter]:
        return parse_assignments(list(items))

    gov.set_raci_activity(p["pm"], "churn", "training", row("ds=A"))
    gov.set_raci_activity(p["pm"], "churn", "monitoring", row("mle=A", "ds=C"))
    assert gov.get_raci(p["viewer"], "churn").activities == {
        "monitoring": {"ds": "C", "mle": "A"},
        "training": {"ds": "A"},
    }
    with pytest.raises(InvalidInput, match="0 accountable members"):
        gov.set_raci_activity(p["pm"], "churn", "training", row("ds=R"))
    with pytest.raises(InvalidInput, match="the RACI has no activity 'deploy'"):
        gov.remove_raci_activity(p["pm"], "churn", "deploy")
    with pytest.raises(PermissionDenied):
        gov.remove_raci_activity(p["viewer"], "churn", "training")
    gov.set_raci_activity(p["pm"], "churn", "deploy", row())  # an empty row for no row: nothing
    assert gov.remove_raci_activity(p["pm"], "churn", "training").activities == {
        "monitoring": {"ds": "C", "mle": "A"}
    }


# -- project as code ---------------------------------------------------------------------------

PROJECT_FILE = """
project: churn
brief:
  status: agreed
  goal: Cut monthly churn by 2 points.
criteria:
  auc: {kind: model, check: roc_auc >= 0.80, dataset: holdout, owner: data-scientist}
  latency: {kind: system, check: p99_ms <= 50, owner: ml-engineer}
raci:
  release-approval: {pm: A, mle: R, comp: C}
"""


def test_project_file_plans_applies_and_exports_back(team: Team) -> None:
    gov, pm = team.services.plan, team.principals["pm"]
    gov.put_criterion(pm, "churn", "old", _criterion("model", "accuracy >= 0.5"))
    spec = parse_project_file(PROJECT_FILE)
    plan = gov.plan(pm, "churn", spec)
    assert not plan.applied
    assert [(c.section, c.action.value, c.key) for c in plan.changes] == [
        ("brief", "update", "brief"),
        ("criteria", "create", "auc"),
        ("criteria", "create", "latency"),
        ("criteria", "delete", "old"),
        ("raci", "create", "release-approval"),
    ]
    assert gov.list_criteria(pm, "churn")[0].key == "old"  # a plan changes nothing
    applied = gov.apply(pm, "churn", spec)
    assert applied.applied and applied.changes == plan.changes
    assert [c.key for c in gov.list_criteria(pm, "churn")] == ["auc", "latency"]
    assert gov.get_brief(pm, "churn").goal == "Cut monthly churn by 2 points."
    assert gov.plan(pm, "churn", spec).changes == []
    exported = gov.export(pm, "churn")
    assert parse_project_file(project_yaml(exported)) == exported
    assert gov.plan(pm, "churn", exported).changes == []


def test_a_bad_project_file_changes_nothing(team: Team) -> None:
    gov, pm, ds = team.services.plan, team.principals["pm"], team.principals["ds"]
    spec = parse_project_file(PROJECT_FILE)
    broken = ProjectSpec.model_validate(
        {**spec.model_dump(), "raci": {"release-approval": {"pm": "R"}}}
    )
    with pytest.raises(InvalidInput, match="0 accountable"):
        gov.apply(pm, "churn", broken)
    # a data scientist may edit criteria but not the RACI: the whole file is refused
    with pytest.raises(PermissionDenied, match="raci:write"):
        gov.apply(ds, "churn", spec)
    with pytest.raises(InvalidInput, match="for project 'other'"):
        gov.apply(pm, "churn", spec.model_copy(update={"project": "other"}))
    assert gov.get_brief(pm, "churn").version == 0
    assert gov.list_criteria(pm, "churn") == []
    assert gov.get_raci(pm, "churn").activities == {}
    with pytest.raises(InvalidInput, match=r"criteria\.auc\.owner: Field required"):
        parse_project_file("criteria:\n  auc: {kind: model, check: auc > 1}\n")
    with pytest.raises(InvalidInput, match="expected key at line 3"):
        parse_project_file("brief:\n  goal: x\n goal: y\n")


# -- REST --------------------------------------------------------------------------------------


def test_rest_speaks_problem_json_for_refusals(team: Team) -> None:
    api = TestClient(create_app(services=team.services), base_url="http://127.0.0.1")
    put = api.put("/api/v1/projects/churn/brief", json={"goal": "g"}, headers=team.auth("viewer"))
    assert put.status_code == 403
    assert put.headers["content-type"].startswith("application/problem+json")
    ok = api.put("/api/v1/projects/churn/brief", json={"goal": "g"}, headers=team.auth("pm"))
    assert ok.status_code == 200 and ok.json()["version"] == 1
    stale = api.put(
        "/api/v1/projects/churn/brief",
        json={"goal": "h", "base_version": 0},
        headers=team.auth("pm"),
    )
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    bad = api.put(
        "/api/v1/projects/churn/raci",
        json={"activities": {"x": {"pm": "Z"}}},
        headers=team.auth("pm"),
    )
    assert bad.status_code == 422
    spec = ProjectSpec(
        criteria={
            "auc": CriterionSpec(kind="model", check="roc_auc >= 0.8", owner="data-scientist")
        }
    )
    body = spec.model_dump(mode="json", exclude_none=True)
    plan = api.post("/api/v1/projects/churn/spec/plan", json=body, headers=team.auth("viewer"))
    assert plan.status_code == 200 and plan.json()["changes"][0]["key"] == "auc"
    refused = api.put("/api/v1/projects/churn/spec", json=body, headers=team.auth("viewer"))
    assert refused.status_code == 403
    assert api.get("/api/v1/projects/churn/criteria", headers=team.auth("viewer")).json() == []


def test_gc_forgets_a_purged_projects_governance(team: Team) -> None:
    from tandem.gc.models import GcRequest

    services, owner = team.services, team.services.owner
    services.plan.apply(owner, "churn", parse_project_file(PROJECT_FILE))
    services.projects.delete(owner, "churn")
    services.gc.collect(owner, GcRequest(grace_seconds=0))
    services.projects.create(owner, ProjectCreate(name="churn"))
    assert services.plan.list_criteria(owner, "churn") == []
    assert services.plan.get_brief(owner, "churn").version == 0


def test_sdk_brief_and_criteria_embedded_and_remote(client: Client) -> None:
    client.projects.create("churn")
    gov = client.governance.plan
    gov.set_brief(goal="g1", project="churn")
    gov.set_brief(goal="g2", project="churn", base_version=1)
    assert (
        gov.brief(project="churn").goal == "g2"
        and gov.brief(version=1, project="churn").goal == "g1"
    )
    assert gov.brief_diff(project="churn").changes[0].field == "goal"
    with pytest.raises(Conflict):
        gov.set_brief(goal="g3", project="churn", base_version=1)
    gov.set_criterion("auc", "model", "roc_auc >= 0.8", owner="data-scientist", project="churn")
    assert [c.check for c in gov.criteria(project="churn")] == ["roc_auc >= 0.8"]
    gov.delete_criterion("auc", project="churn")
    assert gov.criteria(project="churn") == []
    assert gov.export(project="churn").brief.goal == "g2"
