"""RegisterStore: the SQL of every register, one generic store over the register types.

A register type (`Register`) names its table, what one entry is called, the column that names
an entry within its project (a per-project `number`, or a comment's `pk`) and how a row and a
model map to each other. The store numbers, inserts, changes, reads and lists entries of any
type the same way. No rules, no permissions: RegisterService checks those first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel
from sqlalchemy import Connection, Table, delete, func, insert, select, update

from tandem.errors import NotFound
from tandem.governance.registers.models import (
    ActionItem,
    ActionStatus,
    Comment,
    Hypothesis,
    HypothesisSet,
    Retrospective,
    Risk,
    RiskSet,
)
from tandem.governance.registers.tables import (
    action_items,
    comments,
    hypotheses,
    retrospectives,
    risks,
)

M = TypeVar("M", bound=BaseModel)
E = TypeVar("E", Hypothesis, Risk)


@dataclass(frozen=True, slots=True)
class Register(Generic[M]):
    """One register type: `table` holds its entries, `noun` names one in messages, `key` is the
    column that names an entry within its project, `model` reads a row back."""

    table: Table
    noun: str
    model: Callable[[Any, str], M]
    key: str = "number"


def _entry(model: type[E]) -> Callable[[Any, str], E]:
    """A hypothesis or risk from its row: the stored body plus who wrote it and when."""

    def read(row: Any, project: str) -> E:
        return model(
            project=project,
            number=row.number,
            created_at=row.created_at,
            created_by=row.created_by,
            updated_at=row.updated_at,
            updated_by=row.updated_by,
            **orjson.loads(row.body),
        )

    return read


def _retrospective(row: Any, project: str) -> Retrospective:
    """A retrospective without its action items (RegisterService adds their numbers)."""
    return Retrospective(
        project=project,
        number=row.number,
        title=row.title,
        format=row.format,
        entries=orjson.loads(row.entries),
        links=orjson.loads(row.links),
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _action(row: Any, project: str) -> ActionItem:
    return ActionItem(
        project=project,
        number=row.number,
        title=row.title,
        owner=row.owner,
        due=row.due,
        status=ActionStatus(row.status),
        source=row.source,
        kind=row.kind,
        created_at=row.created_at,
        created_by=row.created_by,
        done_at=row.done_at,
        done_by=row.done_by,
    )


def _comment(row: Any, project: str) -> Comment:
    return Comment(
        project=project,
        id=row.pk,
        target=row.target,
        body=row.body,
        author=row.author,
        mentions=orjson.loads(row.mentions),
        created_at=row.created_at,
    )


HYPOTHESES = Register(hypotheses, "hypothesis", _entry(Hypothesis))
RISKS = Register(risks, "risk", _entry(Risk))
RETROSPECTIVES = Register(retrospectives, "retrospective", _retrospective)
ACTIONS = Register(action_items, "action item", _action)
COMMENTS = Register(comments, "comment", _comment, key="pk")
REGISTERS = (HYPOTHESES, RISKS, RETROSPECTIVES, ACTIONS, COMMENTS)


def entry_columns(data: HypothesisSet | RiskSet) -> dict[str, Any]:
    """The columns a hypothesis or risk is stored in: its whole body as JSON, and the fields
    lists filter on."""
    columns: dict[str, Any] = {
        "body": data.model_dump_json(),
        "status": data.status.value,
        "owner": data.owner,
    }
    if isinstance(data, RiskSet):
        columns["review_date"] = iso_date(data.review_date)
    return columns


def iso_date(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


class RegisterStore:
    def add(
        self, conn: Connection, register: Register[Any], project_pk: int, values: dict[str, Any]
    ) -> int:
        """Insert an entry; its key: the next number in the project's sequence for a numbered
        register (the writer holds the write transaction; on PostgreSQL the unique key refuses a
        concurrent duplicate), else the new row's pk."""
        table = register.table
        if register.key == "number":
            current = conn.execute(
                select(func.coalesce(func.max(table.c.number), 0)).where(
                    table.c.project_pk == project_pk
                )
            ).scalar_one()
            number = int(current) + 1
            conn.execute(insert(table).values(project_pk=project_pk, number=number, **values))
            return number
        pk = conn.execute(
            insert(table).values(project_pk=project_pk, **values)
        ).inserted_primary_key
        assert pk is not None
        return int(pk[0])

    def change(
        self,
        conn: Connection,
        register: Register[Any],
        project_pk: int,
        key: int,
        values: dict[str, Any],
    ) -> None:
        table = register.table
        conn.execute(
            update(table)
            .where(table.c.project_pk == project_pk, table.c[register.key] == key)
            .values(**values)
        )

    def get(
        self, conn: Connection, register: Register[M], project: str, project_pk: int, key: int
    ) -> M:
        """Entry `key` of the project; NotFound if it has none."""
        table = register.table
        row = conn.execute(
            select(table).where(table.c.project_pk == project_pk, table.c[register.key] == key)
        ).first()
        if row is None:
            raise NotFound(f"project {project!r} has no {register.noun} {key}")
        return register.model(row, project)

    def rows_by_pk(
        self, conn: Connection, register: Register[Any], pks: Sequence[int]
    ) -> list[Any]:
        """The register's rows `pks` (those that exist)."""
        table = register.table
        return list(conn.execute(select(table).where(table.c.pk.in_(pks))).all())

    def pk_of(
        self, conn: Connection, register: Register[Any], project_pk: int, key: int
    ) -> int | None:
        """The pk of the project's entry `key`, or None."""
        table = register.table
        found = conn.execute(
            select(table.c.pk).where(table.c.project_pk == project_pk, table.c[register.key] == key)
        ).scalar()
        return None if found is None else int(found)

    def entries(
        self,
        conn: Connection,
        register: Register[M],
        project: str,
        project_pk: int,
        *,
        where: Mapping[str, Any] | None = None,
        order: Sequence[str] = ("number",),
    ) -> list[M]:
        """The project's entries whose columns equal `where`, in `order` (column names, `-` in
        front for descending)."""
        table = register.table
        query = select(table).where(table.c.project_pk == project_pk, *self._equal(table, where))
        rows = conn.execute(query.order_by(*self._order(table, order))).all()
        return [register.model(row, project) for row in rows]

    def keys(
        self,
        conn: Connection,
        register: Register[Any],
        project_pk: int,
        *,
        where: Mapping[str, Any] | None = None,
    ) -> list[int]:
        """The keys of the project's entries whose columns equal `where`, in key order."""
        table = register.table
        key = table.c[register.key]
        return list(
            conn.execute(
                select(key)
                .where(table.c.project_pk == project_pk, *self._equal(table, where))
                .order_by(key)
            )
            .scalars()
            .all()
        )

    def across(
        self,
        conn: Connection,
        register: Register[M],
        projects: Mapping[int, str],
        *,
        where: Mapping[str, Any] | None = None,
        order: Sequence[str] = ("pk",),
    ) -> list[M]:
        """Entries whose columns equal `where` in any of `projects` (pk -> name), in `order`."""
        table = register.table
        query = select(table).where(*self._equal(table, where))
        rows = conn.execute(query.order_by(*self._order(table, order))).all()
        return [register.model(r, projects[r.project_pk]) for r in rows if r.project_pk in projects]

    def comments_between(
        self, conn: Connection, project: str, project_pk: int, since: int, until: int
    ) -> list[Comment]:
        """The project's comments created in [since, until], oldest first."""
        rows = conn.execute(
            select(comments)
            .where(
                comments.c.project_pk == project_pk,
                comments.c.created_at >= since,
                comments.c.created_at <= until,
            )
            .order_by(comments.c.created_at, comments.c.pk)
        ).all()
        return [_comment(row, project) for row in rows]

    def purge_project(self, conn: Connection, project_pk: int) -> None:
        """Every register's entries about a purged project go with it."""
        for register in REGISTERS:
            table = register.table
            conn.execute(delete(table).where(table.c.project_pk == project_pk))

    @staticmethod
    def _equal(table: Table, where: Mapping[str, Any] | None) -> list[Any]:
        return [table.c[column] == value for column, value in (where or {}).items()]

    @staticmethod
    def _order(table: Table, order: Sequence[str]) -> list[Any]:
        return [
            table.c[name[1:]].desc() if name.startswith("-") else table.c[name] for name in order
        ]
