"""Compile a parsed filter and order into one SQL query with keyset pagination.

Shape of the query for `metrics.acc > 0.5 and params.model = 'x'` ordered by `metrics.acc DESC`:

    SELECT runs... FROM latest_metrics o JOIN runs ON runs.pk = o.run_pk
    WHERE o.project_pk = P AND o.key_id = K(acc) AND o.value > 0.5
      AND EXISTS (SELECT 1 FROM params WHERE run_pk = runs.pk AND key = 'model' AND value = 'x')
    ORDER BY o.value DESC, o.run_pk DESC LIMIT 101

When the first order key is a metric the filter requires, the query starts from that metric's
index `(project_pk, key_id, value, run_pk)` and stops after a page: at 100,000 runs it reads a few
hundred index entries, not 100,000 rows. Other order keys are outer-joined (runs without the key
sort last) and other conditions are correlated EXISTS probes on primary keys.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.sql.elements import KeyedColumnElement

from tandem.errors import InvalidFilter, InvalidInput
from tandem.tracking.filters import And, Comparison, Expr, Field, Not, Or, OrderBy
from tandem.tracking.tables import (
    RUN_COLUMNS,
    RUNS_WITH_PROJECT,
    latest_metrics,
    params,
    runs,
    tags,
)

ATTRIBUTE_COLUMNS: dict[str, KeyedColumnElement[Any]] = {
    "status": runs.c.status,
    "user": runs.c.user,
    "name": runs.c.name,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
    "run_id": runs.c.id,
    "id": runs.c.id,
    "seed": runs.c.seed,
}
NULLABLE_ATTRIBUTES = {"end_time", "seed"}
TEXT_OPS = {"=", "!=", "like", "ilike", "not like", "not ilike", "in", "not in"}


@dataclass(frozen=True, slots=True)
class OrderKey:
    expr: ColumnElement[Any]
    descending: bool
    nullable: bool


def _compare(column: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    result: ColumnElement[bool] = _comparison(column, op, value)
    return result


def _metric_compare(table: Any, op: str, value: Any) -> ColumnElement[bool]:
    """A metric comparison, which a NaN point never meets (ADR 33). NaN is stored as 0 with the
    is_nan flag, so the flag is read only when the comparison holds for 0: `loss > 0.5` stays
    a scan of the (project, key, value, run) index alone."""
    value = _floats(value)
    compared = _compare(table.c.value, op, value)
    if _holds_for_zero(op, value):
        compared = and_(compared, ~table.c.is_nan)
    return compared


def _floats(value: Any) -> Any:
    """Whole numbers compared with a metric as floats: PostgreSQL types a list by its first
    item, so `in (0, 0.5)` would otherwise compare with 0 and 0 (0.5 cast to an integer)."""
    if isinstance(value, list | tuple):
        return [float(v) if type(v) is int else v for v in value]
    return float(value) if type(value) is int else value


def _holds_for_zero(op: str, value: Any) -> bool:
    if op == "in":
        return any(_holds_for_zero("=", v) for v in value)
    checks = {
        "=": lambda v: v == 0,
        "<": lambda v: v > 0,
        "<=": lambda v: v >= 0,
        ">": lambda v: v < 0,
        ">=": lambda v: v <= 0,
    }
    check = checks.get(op)
    return True if check is None else bool(check(value))


def _comparison(column: ColumnElement[Any], op: str, value: Any) -> Any:
    match op:
        case "=":
            return column == value
        case "!=":
            return column != value
        case "<":
            return column < value
        case "<=":
            return column <= value
        case ">":
            return column > value
        case ">=":
            return column >= value
        case "like":
            return column.like(value)
        case "ilike":
            return column.ilike(value)
        case "not like":
            return column.not_like(value)
        case "not ilike":
            return column.not_ilike(value)
        case "in":
            return column.in_(list(value))
        case "not in":
            return column.not_in(list(value))
        case "is null":
            return column.is_(None)
        case "is not null":
            return column.is_not(None)
    raise InvalidInput(f"unsupported operator {op!r}")  # pragma: no cover - parser guards


class SearchCompiler:
    """Builds the search query for one project. `key_ids` resolves metric names to ids."""

    def __init__(self, project_pk: int, key_ids: Callable[[list[str]], dict[str, int]]) -> None:
        self.project_pk = project_pk
        self.key_ids = key_ids
        self._metric_ids: dict[str, int] = {}

    def _metric_id(self, key: str) -> int:
        if key not in self._metric_ids:
            # -1 matches nothing: a filter on a metric no run ever logged selects no run.
            self._metric_ids[key] = self.key_ids([key]).get(key, -1)
        return self._metric_ids[key]

    @property
    def cacheable(self) -> bool:
        """Whether the query stays right: not if it names a metric key that does not exist
        yet (a run may log it any moment)."""
        return -1 not in self._metric_ids.values()

    def condition(self, expr: Expr) -> ColumnElement[bool]:
        if isinstance(expr, And):
            return and_(*(self.condition(item) for item in expr.items))
        if isinstance(expr, Or):
            return or_(*(self.condition(item) for item in expr.items))
        if isinstance(expr, Not):
            return not_(self.condition(expr.item))
        return self._comparison(expr)

    def _comparison(self, cmp: Comparison) -> ColumnElement[bool]:
        field = cmp.field
        if field.kind == "attribute":
            return _compare(ATTRIBUTE_COLUMNS[field.key], cmp.op, cmp.value)
        if field.kind == "metric":
            table = latest_metrics
            key_match = table.c.key_id == self._metric_id(field.key)
        else:
            if cmp.op not in TEXT_OPS | {"is null", "is not null"}:
                kind = "params" if field.kind == "param" else "tags"
                raise InvalidFilter(
                    f"{kind}.{field.key}: {kind} are text, so they compare with =, !=, like, "
                    f"ilike, in and is null, not with {cmp.op}",
                    position=0,
                )
            table = params if field.kind == "param" else tags
            key_match = table.c.key == field.key
        has_key = exists().where(table.c.run_pk == runs.c.pk, key_match)
        if cmp.op == "is null":
            return ~has_key
        if cmp.op == "is not null":
            return has_key
        if cmp.op in {"!=", "not in", "not like", "not ilike"}:
            # "params.model != 'x'" also matches runs that have no such param, as SQL NULL won't.
            positive = {"!=": "=", "not in": "in", "not like": "like", "not ilike": "ilike"}
            if field.kind == "metric":  # nor does a NaN (ADR 33)
                value = _floats(cmp.value)
                matched = or_(_compare(table.c.value, positive[cmp.op], value), table.c.is_nan)
            else:
                matched = _compare(table.c.value, positive[cmp.op], cmp.value)
            return ~exists().where(table.c.run_pk == runs.c.pk, key_match, matched)
        return exists().where(
            table.c.run_pk == runs.c.pk,
            key_match,
            _metric_compare(table, cmp.op, cmp.value)
            if field.kind == "metric"
            else _compare(table.c.value, cmp.op, cmp.value),
        )

    def build(
        self,
        expr: Expr | None,
        order: tuple[OrderBy, ...],
        include_deleted: bool,
        after: list[Any] | None,
        limit: int,
        extra_columns: Sequence[Any] = (),
    ) -> tuple[Select[Any], list[OrderKey]]:
        conditions: list[ColumnElement[bool]] = [runs.c.project_pk == self.project_pk]
        if not include_deleted:
            conditions.append(runs.c.deleted_at.is_(None))
        required = _required_metrics(expr)
        query_from: Any = RUNS_WITH_PROJECT
        keys: list[OrderKey] = []
        driving = None
        driving_key = None
        for position, item in enumerate(order):
            field = item.field
            if field.kind == "attribute":
                keys.append(
                    OrderKey(
                        ATTRIBUTE_COLUMNS[field.key],
                        item.descending,
                        field.key in NULLABLE_ATTRIBUTES,
                    )
                )
                continue
            alias: Any
            if field.kind == "metric":
                alias = latest_metrics.alias(f"o{position}")
                on = and_(alias.c.run_pk == runs.c.pk, alias.c.key_id == self._metric_id(field.key))
                inner = position == 0 and field.key in required
                if inner:
                    driving, driving_key = alias, field.key
                    conditions.append(alias.c.project_pk == self.project_pk)
            else:
                alias = (params if field.kind == "param" else tags).alias(f"o{position}")
                on = and_(alias.c.run_pk == runs.c.pk, alias.c.key == field.key)
                inner = False
            query_from = query_from.join(alias, on, isouter=not inner)
            keys.append(OrderKey(alias.c.value, item.descending, nullable=not inner))
        if not keys or keys[-1].expr is not runs.c.start_time:
            pass
        if not order:
            keys.append(OrderKey(runs.c.start_time, True, False))
        # Tie-breaker: the run's pk, in the direction of the first key so an index serves both.
        tie_desc = keys[0].descending
        tie = driving.c.run_pk if driving is not None else runs.c.pk
        keys.append(OrderKey(tie, tie_desc, False))
        for part in _conjuncts(expr):
            if (
                driving is not None
                and isinstance(part, Comparison)
                and part.field.kind == "metric"
                and part.field.key == driving_key
                and part.op in FOLDABLE_OPS
            ):
                # the driving row is this run's value of that metric: compare it in the index
                # range scan instead of probing the run's metrics again for every row
                conditions.append(_metric_compare(driving, part.op, part.value))
            else:
                conditions.append(self.condition(part))
        if after is not None:
            if len(after) != len(keys):
                raise InvalidInput("invalid cursor for this search: start again without a cursor")
            conditions.append(_after(keys, after))
        order_clauses = []
        for key in keys:
            clause = key.expr.desc() if key.descending else key.expr.asc()
            order_clauses.append(clause.nulls_last() if key.nullable else clause)
        labelled = [key.expr.label(f"_k{i}") for i, key in enumerate(keys)]
        query = (
            select(*RUN_COLUMNS, *labelled, *extra_columns)
            .select_from(query_from)
            .where(*conditions)
            .order_by(*order_clauses)
            .limit(limit + 1)
        )
        return query, keys


# Comparisons of a metric that hold only for a run that has it, and then on its value alone.
FOLDABLE_OPS = frozenset({"=", "<", "<=", ">", ">=", "in"})


def _conjuncts(expr: Expr | None) -> tuple[Expr, ...]:
    """The conditions a matching run must meet each: the top level of a conjunction."""
    if expr is None:
        return ()
    return tuple(expr.items) if isinstance(expr, And) else (expr,)


def _required_metrics(expr: Expr | None) -> set[str]:
    """Metrics every matching run must have: those compared (not `is null`) at the top level
    of a conjunction. Ordering by one of these can use an inner join."""
    found: set[str] = set()
    for item in _conjuncts(expr):
        if (
            isinstance(item, Comparison)
            and item.field.kind == "metric"
            and item.op not in {"is null", "!=", "not in"}
        ):
            found.add(item.field.key)
    return found


def _after(keys: list[OrderKey], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the sort `keys` (with NULLS LAST)."""
    # Fast path for the common index-backed case: non-null keys all in one direction.
    if all(not k.nullable for k in keys) and len({k.descending for k in keys}) == 1:
        left = tuple_(*(k.expr for k in keys))
        right = tuple_(*values)
        return left < right if keys[0].descending else left > right
    clauses: list[ColumnElement[bool]] = []
    for i, key in enumerate(keys):
        prefix = [
            keys[j].expr.is_(None) if values[j] is None else keys[j].expr == values[j]
            for j in range(i)
        ]
        value = values[i]
        if value is None:
            beyond: ColumnElement[bool] = false()
        else:
            beyond = key.expr < value if key.descending else key.expr > value
            if key.nullable:
                beyond = or_(beyond, key.expr.is_(None))
        clauses.append(and_(*prefix, beyond) if prefix else beyond)
    return or_(*clauses) if clauses else true()


def field_names(field: Field) -> str:
    prefix = {"metric": "metrics.", "param": "params.", "tag": "tags.", "attribute": ""}
    return prefix[field.kind] + field.key


__all__ = ["OrderKey", "SearchCompiler", "field_names", "func"]


@dataclass(frozen=True, slots=True)
class PreparedSearch:
    """A search query compiled to the driver's SQL text, ready to run again as is."""

    sql: str
    params: Any
    key_count: int

    @classmethod
    def compile(cls, query: Select[Any], dialect: Any, key_count: int) -> PreparedSearch:
        compiled = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        values = compiled.params
        if compiled.positiontup is not None:
            params: Any = tuple(values[name] for name in compiled.positiontup)
        else:
            params = values
        return cls(str(compiled), params, key_count)


class SearchCache:
    """The most recent searches, compiled. Building and compiling a search with SQLAlchemy
    costs about as much as running it on a page of 2,000 runs; a UI or a script repeats the
    same few searches."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, PreparedSearch] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> PreparedSearch | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: Hashable, prepared: PreparedSearch) -> None:
        with self._lock:
            self._items[key] = prepared
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
