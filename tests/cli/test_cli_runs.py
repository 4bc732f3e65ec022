"""`tandem runs ...` on an embedded workspace: search, list, show, compare, history, delete,
restore, and what bad input looks like."""

from __future__ import annotations

from typing import Any

import pytest
from cli_helpers import Seeded, seed

from tandem.errors import InvalidFilter
from tandem.sdk.client import Client
from tandem.tracking.filters import parse_filter

FILTER = "metrics.auc > 0.8 and params.model = 'gbm'"


@pytest.fixture
def runs(sdk: Client) -> Seeded:
    return seed(sdk)


def ids_of(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


# -- search --------------------------------------------------------------------------------


def test_search_filters_orders_and_limits(tandem: Any, runs: Seeded) -> None:
    page = tandem(
        "runs", "search", FILTER, "--project", "churn", "--order-by", "metrics.auc",
        "--limit", "20", "--json",
    ).json()  # fmt: skip
    assert ids_of(page) == [runs.gbm_shallow, runs.gbm_deep]  # ascending auc, lr excluded
    assert page["next_cursor"] is None
    first = page["items"][0]
    assert first["project"] == "churn"
    assert first["params"]["model"] == "gbm"
    assert first["metrics"]["auc"] == pytest.approx(0.85)
    assert first["metrics"]["loss"] == pytest.approx(0.2)  # latest value, step 4

    descending = tandem(
        "runs", "search", FILTER, "-p", "churn", "-o", "-metrics.auc", "--json"
    ).json()  # fmt: skip
    assert ids_of(descending) == [runs.gbm_deep, runs.gbm_shallow]


def test_search_table_shows_the_filtered_and_ordered_fields(tandem: Any, runs: Seeded) -> None:
    result = tandem("runs", "search", FILTER, "-p", "churn", "--order-by", "metrics.auc")
    assert result.code == 0, result.stderr
    header = result.stdout.splitlines()[1]
    for column in ("id", "name", "status", "metrics.auc", "params.model"):
        assert column in header
    assert runs.gbm_deep[:8] in result.stdout and runs.gbm_shallow[:8] in result.stdout
    assert runs.lr[:8] not in result.stdout and runs.gbm_weak[:8] not in result.stdout
    assert "0.91" in result.stdout and "0.85" in result.stdout
    assert "next page" not in result.stdout
    assert result.stderr == ""


def test_search_pages_with_a_cursor(tandem: Any, runs: Seeded) -> None:
    args = ["runs", "search", "params.model = 'gbm'", "-p", "churn", "-o", "metrics.auc"]
    seen: list[str] = []
    cursor = None
    for expect_more in (True, True, False):
        extra = ["--cursor", cursor] if cursor else []
        page = tandem(*args, "--limit", "1", *extra, "--json").json()
        seen += ids_of(page)
        cursor = page["next_cursor"]
        assert (cursor is not None) is expect_more
    assert seen == [runs.gbm_weak, runs.gbm_shallow, runs.gbm_deep]

    # The human table prints the cursor to pass next, and that cursor works.
    table = tandem(*args, "--limit", "2")
    assert table.code == 0
    hint = [line for line in table.stdout.splitlines() if line.startswith("next page:")]
    assert len(hint) == 1
    printed = hint[0].split("--cursor ", 1)[1].strip()
    rest = tandem(*args, "--limit", "2", "--cursor", printed, "--json").json()
    assert ids_of(rest) == [runs.gbm_deep]


def test_search_with_fields_returns_only_those(tandem: Any, runs: Seeded) -> None:
    page = tandem(
        "runs", "search", "-p", "churn", "--field", "metrics.auc", "-o", "-metrics.auc", "--json"
    ).json()  # fmt: skip
    assert ids_of(page)[0] == runs.lr
    assert all(set(item["metrics"]) == {"auc"} for item in page["items"])
    assert all(item["params"] == {} for item in page["items"])


def test_search_table_columns_from_fields(tandem: Any, runs: Seeded) -> None:
    result = tandem(
        "runs", "search", "-p", "churn", "-f", "metric.auc", "-f", "params.*", "-f", "status",
        "-f", "attributes.user", "-f", "tags.team",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    header = result.stdout.splitlines()[1]
    assert "metrics.auc" in header and "tags.team" in header
    assert "params.*" not in header and "attributes.user" not in header
    assert "retention" in result.stdout and "0.91" in result.stdout


def test_search_table_with_fields_fills_the_filtered_and_ordered_columns(
    tandem: Any, runs: Seeded
) -> None:
    """--field narrows what comes back, but never empties the columns the filter and the
    order name (they used to print `-`)."""
    result = tandem(
        "runs", "search", "params.model = 'gbm'", "-p", "churn", "--field", "metrics.auc",
        "-o", "-metrics.loss", "-n", "1",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    header, row = result.stdout.splitlines()[1], result.stdout.splitlines()[3]
    assert "params.model" in header and "metrics.loss" in header and "metrics.auc" in header
    cells = [c.strip() for c in row.split("│")[1:-1]]
    assert "-" not in cells[5:], row
    assert cells[5] == "gbm"
    # A bare kind is all of it, like `metrics.*`.
    page = tandem("runs", "search", "-p", "churn", "--field", "metrics", "--json").json()
    assert all(set(item["metrics"]) >= {"auc"} for item in page["items"])
    assert all(item["params"] == {} for item in page["items"])


def test_search_with_no_match_says_so(tandem: Any, runs: Seeded) -> None:
    result = tandem("runs", "search", "metrics.auc > 2", "-p", "churn")
    assert result.code == 0
    assert "no runs match" in result.stdout
    assert tandem("runs", "search", "metrics.auc > 2", "-p", "churn", "--json").json() == {
        "items": [],
        "next_cursor": None,
    }


@pytest.mark.parametrize(
    "bad_filter",
    [
        "metrics.auc > 0.8 and params.model = gbm'",
        "metrics.auc >",
        "metrics.auc > 0.8 and (params.model = 'gbm'",
        "metrics.auc >> 0.8",
        "bogus.x = 1",
    ],
)
def test_malformed_filter_is_one_line_and_a_caret(
    tandem: Any, runs: Seeded, bad_filter: str
) -> None:
    with pytest.raises(InvalidFilter) as caught:
        parse_filter(bad_filter)
    position = caught.value.details["position"]

    result = tandem("runs", "search", bad_filter, "-p", "churn")
    assert result.code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and result.exception is None
    lines = result.stderr_lines
    assert len(lines) == 3, result.stderr
    assert lines[0].startswith("error: ")
    assert lines[1] == "  " + bad_filter
    assert lines[2] == "  " + " " * position + "^"
    assert lines[2].index("^") == 2 + position


def test_malformed_order_by_is_refused(tandem: Any, runs: Seeded) -> None:
    result = tandem("runs", "search", "-p", "churn", "-o", "metrics.auc sideways")
    assert result.code == 2
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


def test_debug_shows_the_trace(tandem: Any, runs: Seeded) -> None:
    result = tandem("--debug", "runs", "search", "metrics.auc >", "-p", "churn")
    assert result.code == 1  # the exception itself, not its exit code: the trace is shown
    assert isinstance(result.exception, InvalidFilter)


def test_search_needs_a_project(tandem: Any, runs: Seeded) -> None:
    result = tandem("runs", "search", FILTER)
    assert result.code == 2
    assert len(result.stderr_lines) == 1
    assert "--project" in result.stderr and "TANDEM_PROJECT" in result.stderr


def test_default_project_from_environment(
    tandem: Any, runs: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TANDEM_PROJECT", "churn")
    page = tandem("runs", "search", FILTER, "--json").json()
    assert set(ids_of(page)) == {runs.gbm_deep, runs.gbm_shallow}
    assert set(ids_of(tandem("runs", "list", "--json").json())) == set(runs.churn)
    # --project still wins.
    assert ids_of(tandem("runs", "list", "-p", "other", "--json").json()) == [runs.elsewhere]


def test_default_project_from_tandem_toml(tandem: Any, runs: Seeded, settings: Any) -> None:
    (settings.home.parent / "tandem.toml").write_text('project = "churn"\n')
    page = tandem("runs", "list", "--json").json()
    assert set(ids_of(page)) == set(runs.churn)


def test_root_project_option(tandem: Any, runs: Seeded) -> None:
    page = tandem("--project", "other", "runs", "list", "--json").json()
    assert ids_of(page) == [runs.elsewhere]
    # It does not leak into the next invocation.
    assert tandem("runs", "list").code == 2


def test_unknown_project_is_exit_3(tandem: Any, runs: Seeded) -> None:
    result = tandem("runs", "list", "-p", "nope")
    assert result.code == 3
    assert len(result.stderr_lines) == 1


# -- list ----------------------------------------------------------------------------------


def test_list_runs(tandem: Any, runs: Seeded) -> None:
    result = tandem("runs", "list", "-p", "churn")
    assert result.code == 0
    for run_id in runs.churn:
        assert run_id[:8] in result.stdout
    assert runs.elsewhere[:8] not in result.stdout
    for name in ("deep", "shallow", "linear", "weak"):
        assert name in result.stdout

    page = tandem("runs", "list", "-p", "churn", "--limit", "3", "--json").json()
    assert len(page["items"]) == 3 and page["next_cursor"]
    rest = tandem(
        "runs", "list", "-p", "churn", "--limit", "3", "--cursor", page["next_cursor"], "--json"
    ).json()  # fmt: skip
    assert set(ids_of(page) + ids_of(rest)) == set(runs.churn)
    assert rest["next_cursor"] is None


# -- show ----------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["full", "prefix", "qualified", "qualified-prefix", "upper"])
def test_show_by_reference(tandem: Any, runs: Seeded, form: str) -> None:
    run_id = runs.gbm_deep
    ref = {
        "full": run_id,
        "prefix": run_id[:8],
        "qualified": f"churn/runs/{run_id}",
        "qualified-prefix": f"churn/runs/{run_id[:10]}",
        "upper": run_id[:12].upper(),
    }[form]
    data = tandem("runs", "show", ref, "--json").json()
    assert data["id"] == run_id
    assert data["name"] == "deep"
    assert data["params"] == {"model": "gbm", "depth": "6", "lr": "0.1"}
    assert data["tags"] == {"team": "retention"}
    assert data["artifacts"] == []


def test_show_table(tandem: Any, runs: Seeded, sdk: Client) -> None:
    sdk.runs.upload_bytes(runs.gbm_deep, b"roc", "plots/roc.png")
    result = tandem("runs", "show", runs.gbm_deep[:6])
    assert result.code == 0, result.stderr
    out = result.stdout
    assert f"churn/runs/{runs.gbm_deep}" in out
    assert "status finished" in out
    for text in ("params", "depth", "gbm", "metrics", "auc", "0.91", "tags", "retention"):
        assert text in out
    assert "plots/roc.png" in out
    assert "None" not in out


def test_show_in_the_wrong_project_is_not_found(tandem: Any, runs: Seeded) -> None:
    result = tandem("runs", "show", f"other/runs/{runs.gbm_deep}")
    assert result.code == 3
    assert "not in project 'other'" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("ref", "code"),
    [
        ("0123456789abcdef0123456789abcdef", 3),  # well formed, no such run
        ("unused-prefix", 3),  # six hex digits no seeded run starts with
        ("abc", 2),  # too short to be a prefix
        ("not-hex-at-all", 2),
        ("a/b/c/d", 2),
    ],
)
def test_unknown_or_malformed_run_reference(tandem: Any, runs: Seeded, ref: str, code: int) -> None:
    if ref == "unused-prefix":
        seeded = [*runs.churn, runs.elsewhere]
        ref = next(p for p in ("abcdef", "fedcba") if not any(r.startswith(p) for r in seeded))
    result = tandem("runs", "show", ref)
    assert result.code == code
    assert len(result.stderr_lines) == 1
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr and result.exception is None


# -- compare -------------------------------------------------------------------------------


def test_compare_shows_differing_params_and_metrics_side_by_side(tandem: Any, runs: Seeded) -> None:
    result = tandem("runs", "compare", runs.gbm_deep, runs.gbm_shallow[:8], f"churn/runs/{runs.lr}")
    assert result.code == 0, result.stderr
    rows = {line.split()[1]: line for line in result.stdout.splitlines() if "│ " in line}
    assert "params.model" in rows and "params.depth" in rows
    assert "params.lr" not in rows  # the same in all three
    assert "same in all: lr" in result.stdout
    model = rows["params.model"]
    assert model.index("gbm") < model.rindex("gbm") < model.index("lr")
    depth = rows["params.depth"].split("│")
    assert [cell.strip() for cell in depth[2:5]] == ["6", "3", "-"]
    auc = rows["metrics.auc"].split("│")
    assert [cell.strip() for cell in auc[2:5]] == ["0.91", "0.85", "0.95"]
    assert "metrics.loss" in rows
    header = result.stdout
    for run_id in (runs.gbm_deep, runs.gbm_shallow, runs.lr):
        assert run_id[:8] in header


def test_compare_json(tandem: Any, runs: Seeded) -> None:
    data = tandem("runs", "compare", runs.gbm_deep, runs.gbm_weak, "--json").json()
    assert [r["id"] for r in data["runs"]] == [runs.gbm_deep, runs.gbm_weak]
    assert data["params_differ"] == ["depth"]
    assert data["params_same"] == ["lr", "model"]
    assert data["metric_keys"] == ["auc", "loss"]
    assert [r["metrics"]["auc"] for r in data["runs"]] == pytest.approx([0.91, 0.70])


def test_compare_needs_two_runs(tandem: Any, runs: Seeded) -> None:
    result = tandem("runs", "compare", runs.gbm_deep)
    assert result.code == 2
    assert result.stderr_lines == ["error: compare needs at least two runs"]


def test_compare_with_an_unknown_run(tandem: Any, runs: Seeded) -> None:
    result = tandem("runs", "compare", runs.gbm_deep, "0123456789abcdef0123456789abcdef")
    assert result.code == 3
    assert len(result.stderr_lines) == 1


# -- history -------------------------------------------------------------------------------


def test_history(tandem: Any, runs: Seeded) -> None:
    data = tandem("runs", "history", runs.gbm_deep[:8], "loss", "--json").json()
    assert data["run_id"] == runs.gbm_deep
    assert data["key"] == "loss"
    assert data["step"] == [0, 1, 2, 3, 4]
    assert data["value"] == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])
    assert len(data["timestamp"]) == 5

    table = tandem("runs", "history", runs.gbm_deep, "loss")
    assert table.code == 0
    assert "step" in table.stdout and "loss" in table.stdout
    assert "0.333333" in table.stdout and "0.2" in table.stdout


def test_history_of_an_unknown_metric(tandem: Any, runs: Seeded) -> None:
    result = tandem("runs", "history", runs.gbm_deep, "nope")
    assert result.code == 3
    assert "nope" in result.stderr
    assert len(result.stderr_lines) == 1


# -- delete and restore --------------------------------------------------------------------


def test_delete_and_restore(tandem: Any, runs: Seeded, sdk: Client) -> None:
    prefix = runs.gbm_weak[:8]
    result = tandem("runs", "delete", prefix)
    assert result.code == 0
    assert f"tandem runs restore {prefix}" in result.stdout
    assert sdk.runs.get(runs.gbm_weak).deleted_at is not None

    listed = tandem("runs", "list", "-p", "churn", "--json").json()
    assert runs.gbm_weak not in ids_of(listed)
    with_deleted = tandem("runs", "list", "-p", "churn", "--deleted", "--json").json()
    assert runs.gbm_weak in ids_of(with_deleted)
    table = tandem("runs", "search", "-p", "churn", "--deleted")
    assert "deleted" in table.stdout.splitlines()[1]

    shown = tandem("runs", "show", prefix)
    assert "deleted" in shown.stdout

    # Writing to a deleted run is refused; restoring twice is a conflict.
    restored = tandem("runs", "restore", f"churn/runs/{prefix}", "--json").json()
    assert restored["id"] == runs.gbm_weak and restored["deleted_at"] is None
    again = tandem("runs", "restore", prefix)
    assert again.code == 4
    assert len(again.stderr_lines) == 1
    assert runs.gbm_weak in ids_of(tandem("runs", "list", "-p", "churn", "--json").json())


def test_delete_json_and_wrong_project(tandem: Any, runs: Seeded, sdk: Client) -> None:
    refused = tandem("runs", "delete", f"other/runs/{runs.lr}")
    assert refused.code == 3
    assert sdk.runs.get(runs.lr).deleted_at is None  # nothing changed
    data = tandem("runs", "delete", runs.lr, "--json").json()
    assert data["id"] == runs.lr and data["deleted_at"] is not None


# -- output safety -------------------------------------------------------------------------


def test_user_text_is_not_read_as_markup(tandem: Any, sdk: Client) -> None:
    run = sdk.runs.create("markup")
    sdk.runs.update(run.id, name="[bold red]x[/] :thumbs_up:")
    sdk.runs.log_batch(run.id, params={"p": "[/oops]"}, tags={"t": "[link=x]y"})
    shown = tandem("runs", "show", run.id)
    assert shown.code == 0, shown.stderr
    assert "[bold red]x[/] :thumbs_up:" in shown.stdout
    assert "[/oops]" in shown.stdout and "[link=x]y" in shown.stdout
    listed = tandem("runs", "list", "-p", "markup")
    assert listed.code == 0 and "[bold red]x[/]" in listed.stdout


def test_nan_metric_values_show_as_nan(tandem: Any, sdk: Client) -> None:
    # ADR 33: a diverged loss is a value; the CLI shows it as NaN, and its JSON as "NaN"
    run = sdk.runs.create("churn")
    sdk.runs.log_batch(run.id, metrics=[("loss", 0.5, 0), ("loss", float("nan"), 1)])
    shown = tandem("runs", "show", run.id)
    assert shown.code == 0 and "NaN" in shown.stdout, shown.stderr
    assert tandem("runs", "show", run.id, "--json").json()["metrics"] == {"loss": "NaN"}
    points = tandem("runs", "history", run.id, "loss", "--json").json()
    assert points["value"] == [0.5, "NaN"]
    table = tandem("runs", "history", run.id, "loss").stdout
    assert "0.5" in table and "NaN" in table
