"""The filter language: what parses, into what, and where errors point."""

from __future__ import annotations

import pytest

from tandem.errors import InvalidFilter
from tandem.tracking.filters import (
    And,
    Comparison,
    Field,
    Not,
    Or,
    OrderBy,
    parse_filter,
    parse_order_by_list,
    referenced_fields,
)

AUC = Field("metric", "auc")
MODEL = Field("param", "model")


def test_blank_filter_means_every_run() -> None:
    assert parse_filter(None) is None
    assert parse_filter("   ") is None


def test_metric_and_param() -> None:
    assert parse_filter("metrics.auc > 0.8 and params.model = 'gbm'") == And(
        (Comparison(AUC, ">", 0.8), Comparison(MODEL, "=", "gbm"))
    )


def test_precedence_and_binds_tighter_than_or() -> None:
    expr = parse_filter("metrics.auc > 1 or metrics.auc < 0 and params.model = 'x'")
    assert isinstance(expr, Or)
    assert isinstance(expr.items[1], And)


def test_parentheses_not_and_null() -> None:
    expr = parse_filter("(tags.team = 'x' OR tags.team IS NULL) AND NOT status = 'FAILED'")
    assert expr == And(
        (
            Or(
                (
                    Comparison(Field("tag", "team"), "=", "x"),
                    Comparison(Field("tag", "team"), "is null", None),
                )
            ),
            Not(Comparison(Field("attribute", "status"), "=", "failed")),
        )
    )


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("metrics.`val/loss` < 1", Field("metric", "val/loss")),
        ('metrics."loss (train)" < 1', Field("metric", "loss (train)")),
        ("metrics.train.loss < 1", Field("metric", "train.loss")),
        ("metrics.val/loss < 1", Field("metric", "val/loss")),
        ("metrics.1st < 1", Field("metric", "1st")),
        ("attributes.status = 'running'", Field("attribute", "status")),
        ("id = 'abc'", Field("attribute", "run_id")),
    ],
)
def test_keys(text: str, field: Field) -> None:
    expr = parse_filter(text)
    assert isinstance(expr, Comparison)
    assert expr.field == field


def test_numbers_compared_with_params_are_text_as_written() -> None:
    expr = parse_filter("params.depth in (4, 6.50, 8) and params.lr = 1e-3")
    assert isinstance(expr, And)
    assert expr.items[0] == Comparison(Field("param", "depth"), "in", ("4", "6.50", "8"))
    assert expr.items[1] == Comparison(Field("param", "lr"), "=", "1e-3")


def test_quotes_escape_by_doubling() -> None:
    assert parse_filter("tags.note = 'it''s'") == Comparison(Field("tag", "note"), "=", "it's")


def test_dates_become_milliseconds_utc() -> None:
    expr = parse_filter("start_time >= '2026-11-01'")
    assert expr == Comparison(Field("attribute", "start_time"), ">=", 1_793_491_200_000)


@pytest.mark.parametrize(
    ("op_text", "op"),
    [("==", "="), ("<>", "!="), ("not like", "not like"), ("ILIKE", "ilike"), ("is not", "")],
)
def test_operator_spellings(op_text: str, op: str) -> None:
    if not op:
        expr = parse_filter("tags.x is not null")
        assert isinstance(expr, Comparison) and expr.op == "is not null"
        return
    expr = parse_filter(f"tags.x {op_text} 'a'")
    assert isinstance(expr, Comparison) and expr.op == op


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("metrics.auc >", 13, "expected a number"),
        ("metrics.auc > 'x'", 14, "is a number"),
        ("foo = 1", 0, "unknown attribute 'foo'"),
        ("bogus.x = 1", 0, "unknown field prefix"),
        ("params.a > 1", 11, "is text"),
        ("(metrics.a > 1", 14, "expected ')'"),
        ("metrics.a = 1 params.b = 'x'", 14, "expected 'and', 'or'"),
        ("status = 'nope'", 9, "unknown status"),
        ("metrics.a @ 1", 10, "unexpected character"),
        ("name = 'abc", 7, "unterminated quote"),
        ('params.m = "x"', 11, "single quotes"),
        ("start_time > 'yesterday'", 13, "not a date"),
        ("params.m in 'a'", 12, "expected '('"),
        ("tags.t is maybe", 10, "expected 'null'"),
        ("seed = 1.5", 7, "whole number"),
        ("metrics.auc like 'a%'", 17, "is a number"),
        ("metrics. > 1", 9, "expected a key"),
    ],
)
def test_errors_point_at_the_position(text: str, position: int, message: str) -> None:
    with pytest.raises(InvalidFilter) as caught:
        parse_filter(text)
    assert caught.value.details["position"] == position
    assert caught.value.details["filter"] == text
    assert message in caught.value.message


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(InvalidFilter, match="nests deeper"):
        parse_filter("(" * 200 + "metrics.a > 1" + ")" * 200)


def test_order_by_forms() -> None:
    assert parse_order_by_list(["-metrics.auc", "params.model DESC", "start_time asc"]) == (
        OrderBy(AUC, True),
        OrderBy(MODEL, True),
        OrderBy(Field("attribute", "start_time"), False),
    )
    assert parse_order_by_list("metrics.auc, name") == (
        OrderBy(AUC, False),
        OrderBy(Field("attribute", "name"), False),
    )
    assert parse_order_by_list(None) == (OrderBy(Field("attribute", "start_time"), True),)
    with pytest.raises(InvalidFilter):
        parse_order_by_list(["metrics.auc sideways"])


def test_referenced_fields() -> None:
    expr = parse_filter("metrics.auc > 1 and not (params.model = 'x' or metrics.auc < 0)")
    assert referenced_fields(expr) == {AUC, MODEL}
