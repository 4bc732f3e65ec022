"""The run filter language, parsed into a small tree that `search.py` compiles to SQL.

    metrics.auc > 0.8 and params.model = 'gbm'
    (tags.team = "retention" or tags.team is null) and not status = 'failed'
    start_time >= '2026-11-01' and params.depth in (4, 6, 8)
    metrics.`val/loss` < 0.3 and user like 'ana%'

Fields are `metrics.<key>` (the run's latest value), `params.<key>`, `tags.<key>` and the
attributes `status`, `user`, `name`, `start_time`, `end_time`, `run_id` (or `id`) and `seed`
(optionally written `attributes.status`). A key with characters other than letters, digits and
`_-./:` is quoted with backticks or double quotes. Values are numbers or strings in single
quotes (double a quote to escape it: 'it''s'). Params and tags are text: a number compared with
them is compared as the text it was written as (`params.depth = 6` matches the param "6").
Operators: = != < <= > >= like ilike, `not like`, `not ilike`, in (...), `not in (...)`,
`is null`, `is not null`; combined with and, or, not and parentheses (keywords ignore case).
Every error names its 0-based position in the text, so the CLI can point at it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from tandem.errors import InvalidFilter

Kind = Literal["metric", "param", "tag", "attribute"]
Value = str | float | int | tuple[str | float | int, ...] | None

MAX_FILTER_LENGTH = 10_000
MAX_DEPTH = 50

_PREFIXES: dict[str, Kind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
ATTRIBUTES = ("status", "user", "name", "start_time", "end_time", "run_id", "id", "seed")
_TIME_ATTRIBUTES = {"start_time", "end_time"}
_NUMERIC_ATTRIBUTES = _TIME_ATTRIBUTES | {"seed"}
_STATUSES = ("running", "finished", "failed", "killed")
_ORDERING_OPS = {"<", "<=", ">", ">="}
_PATTERN_OPS = {"like", "ilike", "not like", "not ilike"}


@dataclass(frozen=True, slots=True)
class Field:
    kind: Kind
    key: str

    def __str__(self) -> str:
        prefix = {"metric": "metrics.", "param": "params.", "tag": "tags.", "attribute": ""}
        key = self.key if _BARE_KEY.fullmatch(self.key) else f"`{self.key}`"
        return prefix[self.kind] + key


@dataclass(frozen=True, slots=True)
class Comparison:
    field: Field
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Expr


Expr = Comparison | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderBy:
    field: Field
    descending: bool = False


# -- tokens ---------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_\-./:]+")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # word, number, string, quoted, op, lparen, rparen, comma, dot, end
    text: str
    position: int


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)(?![\w.]))
  | (?P<word>[A-Za-z0-9_][A-Za-z0-9_\-/:]*)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>`[^`]*`|"(?:[^"]|"")*")
  | (?P<op>==|!=|<>|<=|>=|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<dot>\.)
    """,
    re.VERBOSE,
)


def _tokens(text: str) -> Iterator[_Token]:
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            char = text[position]
            if char in "'`\"":
                raise _error(f"unterminated quote {char}", position, text)
            raise _error(f"unexpected character {char!r}", position, text)
        kind = match.lastgroup or ""
        if kind != "space":
            yield _Token(kind, match.group(), position)
        position = match.end()
    yield _Token("end", "", len(text))


def _error(message: str, position: int, text: str) -> InvalidFilter:
    return InvalidFilter(f"{message} at position {position}", position=position, filter=text)


# -- parser ---------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = list(_tokens(text))
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at_word(self, *words: str) -> bool:
        token = self.current
        return token.kind == "word" and token.text.lower() in words

    def peek_word(self, offset: int, word: str) -> bool:
        index = self.index + offset
        if index >= len(self.tokens):
            return False
        token = self.tokens[index]
        return token.kind == "word" and token.text.lower() == word

    def fail(self, message: str, token: _Token | None = None) -> InvalidFilter:
        token = token or self.current
        return _error(message, token.position, self.text)

    def describe(self, token: _Token) -> str:
        return "the end of the filter" if token.kind == "end" else repr(token.text)

    # expr := or_expr ; or_expr := and_expr ("or" and_expr)* ; and_expr := unary ("and" unary)*
    def parse(self) -> Expr:
        expr = self.or_expr()
        if self.current.kind != "end":
            raise self.fail(f"expected 'and', 'or' or the end, found {self.describe(self.current)}")
        return expr

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.at_word("or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Expr:
        items = [self.unary()]
        while self.at_word("and"):
            self.advance()
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"filter nests deeper than {MAX_DEPTH} levels")
        try:
            if self.at_word("not"):
                self.advance()
                return Not(self.unary())
            if self.current.kind == "lparen":
                self.advance()
                expr = self.or_expr()
                if self.current.kind != "rparen":
                    raise self.fail(f"expected ')', found {self.describe(self.current)}")
                self.advance()
                return expr
            return self.comparison()
        finally:
            self.depth -= 1

    def field(self) -> Field:
        token = self.current
        if token.kind == "end":
            raise self.fail("expected a field such as metrics.auc, found the end of the filter")
        if token.kind not in {"word", "quoted"}:
            raise self.fail(f"expected a field such as metrics.auc, found {self.describe(token)}")
        self.advance()
        name = _unquote(token.text) if token.kind == "quoted" else token.text
        prefix = _PREFIXES.get(name.lower()) if token.kind == "word" else None
        if prefix is not None and self.current.kind == "dot":
            self.advance()
            key = self.key()
            if prefix == "attribute":
                return self.attribute(key, token)
            return Field(prefix, key)
        if token.kind == "word" and self.current.kind == "dot":
            raise self.fail(
                f"unknown field prefix {name!r}: use metrics., params., tags. or attributes.",
                token,
            )
        return self.attribute(name, token)

    def key(self) -> str:
        # A bare key may contain dots (metrics.train.loss): glue word/number/dot tokens that
        # touch each other, since the tokenizer splits on them.
        token = self.current
        if token.kind == "quoted":
            self.advance()
            key = _unquote(token.text)
        elif token.kind in {"word", "number"}:
            parts = [self.advance()]
            while self.current.kind in {"word", "number", "dot"} and self.current.position == (
                parts[-1].position + len(parts[-1].text)
            ):
                parts.append(self.advance())
            key = "".join(part.text for part in parts)
        else:
            raise self.fail(f"expected a key after the dot, found {self.describe(token)}")
        if not key or len(key) > 250:
            raise self.fail("keys are 1 to 250 characters long", token)
        return key

    def attribute(self, name: str, token: _Token) -> Field:
        lowered = name.lower()
        if lowered not in ATTRIBUTES:
            raise self.fail(
                f"unknown attribute {name!r}: use metrics.<key>, params.<key>, tags.<key> or "
                f"one of {', '.join(ATTRIBUTES)}",
                token,
            )
        return Field("attribute", "run_id" if lowered == "id" else lowered)

    def operator(self) -> str:
        token = self.current
        if token.kind == "op":
            self.advance()
            return {"==": "=", "<>": "!="}.get(token.text, token.text)
        if self.at_word("like", "ilike", "in"):
            self.advance()
            return token.text.lower()
        if self.at_word("not"):
            self.advance()
            if self.at_word("like", "ilike", "in"):
                return "not " + self.advance().text.lower()
            raise self.fail("expected like, ilike or in after 'not'")
        if self.at_word("is"):
            self.advance()
            if self.at_word("null"):
                self.advance()
                return "is null"
            if self.at_word("not") and self.peek_word(1, "null"):
                self.advance()
                self.advance()
                return "is not null"
            raise self.fail("expected 'null' or 'not null' after 'is'")
        raise self.fail(
            f"expected an operator (=, !=, <, <=, >, >=, like, ilike, in, is null), "
            f"found {self.describe(token)}"
        )

    def literal(self) -> tuple[str | float | int, str, _Token]:
        """A value, its kind ('number' or 'string') and its token."""
        token = self.current
        if token.kind == "string":
            self.advance()
            return token.text[1:-1].replace("''", "'"), "string", token
        if token.kind == "number":
            self.advance()
            text = token.text
            is_int = re.fullmatch(r"[-+]?\d+", text) is not None
            return (int(text) if is_int else float(text)), "number", token
        if token.kind == "quoted" and token.text.startswith('"'):
            raise self.fail("strings take single quotes: 'text' (double quotes are for keys)")
        raise self.fail(f"expected a number or a 'quoted string', found {self.describe(token)}")

    def comparison(self) -> Comparison:
        field = self.field()
        op = self.operator()
        if op in {"is null", "is not null"}:
            return Comparison(field, op, None)
        if op in {"in", "not in"}:
            if self.current.kind != "lparen":
                raise self.fail(f"expected '(' after {op}, as in params.model in ('a', 'b')")
            self.advance()
            values: list[str | float | int] = []
            while True:
                values.append(self.convert(field, op, *self.literal()))
                if self.current.kind == "comma":
                    self.advance()
                    continue
                if self.current.kind == "rparen":
                    self.advance()
                    break
                raise self.fail(f"expected ',' or ')', found {self.describe(self.current)}")
            return Comparison(field, op, tuple(values))
        value = self.convert(field, op, *self.literal())
        return Comparison(field, op, value)

    def convert(
        self, field: Field, op: str, value: str | float | int, kind: str, token: _Token
    ) -> str | float | int:
        """Check the value suits the field and put it in the form the store keeps."""
        if field.kind == "metric":
            if op in _PATTERN_OPS:
                raise self.fail(f"{field} is a number: use =, !=, <, <=, >, >= or in", token)
            if kind != "number":
                raise self.fail(f"{field} is a number: compare it with a number", token)
            return value
        if field.kind in {"param", "tag"}:
            if op in _ORDERING_OPS:
                raise self.fail(
                    f"{field} is text: compare it with =, !=, like, ilike or in, not {op}", token
                )
            return token.text if kind == "number" else value
        key = field.key
        if key in _NUMERIC_ATTRIBUTES and op in _PATTERN_OPS:
            raise self.fail(f"{key} is not text: {op} does not apply to it", token)
        if key not in _NUMERIC_ATTRIBUTES and op in _ORDERING_OPS:
            raise self.fail(f"{key} is text: compare it with =, !=, like, ilike or in", token)
        if key in _TIME_ATTRIBUTES:
            return value if kind == "number" else self.timestamp(str(value), token)
        if key == "seed":
            if not isinstance(value, int):
                raise self.fail("seed is a whole number", token)
            return value
        if kind == "number":
            raise self.fail(f"{key} is text: put the value in single quotes", token)
        if key == "status" and op not in _PATTERN_OPS:
            status = str(value).lower()
            if status not in _STATUSES:
                raise self.fail(
                    f"unknown status {value!r}: use one of {', '.join(_STATUSES)}", token
                )
            return status
        return value

    def timestamp(self, text: str, token: _Token) -> int:
        """An ISO date or date-time ('2026-11-01', '2026-11-01T09:30'); UTC unless it says."""
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(
                f"{text!r} is not a date: use '2026-11-01' or '2026-11-01T09:30:00'", token
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)


def _unquote(text: str) -> str:
    quote = text[0]
    return text[1:-1].replace(quote * 2, quote) if quote == '"' else text[1:-1]


# -- public API -----------------------------------------------------------------------------


def parse_filter(text: str | None) -> Expr | None:
    """Parse a filter; None or blank text means 'every run'. Raises InvalidFilter."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_FILTER_LENGTH:
        raise _error(f"filter is longer than {MAX_FILTER_LENGTH} characters", 0, text[:200])
    return _Parser(text).parse()


def parse_order_by(text: str) -> OrderBy:
    """`metrics.auc`, `metrics.auc DESC`, `-metrics.auc` (descending) or `start_time ASC`."""
    stripped = text.strip()
    descending = False
    if stripped.startswith("-"):
        descending, stripped = True, stripped[1:]
    parser = _Parser(stripped)
    field = parser.field()
    if parser.at_word("asc", "desc"):
        descending = parser.advance().text.lower() == "desc"
    if parser.current.kind != "end":
        raise parser.fail(f"expected ASC, DESC or the end, found {parser.describe(parser.current)}")
    return OrderBy(field, descending)


def parse_order_by_list(order: Sequence[str] | str | None) -> tuple[OrderBy, ...]:
    """Order keys from a list, or one comma-separated string. Default: newest runs first."""
    if order is None:
        return (OrderBy(Field("attribute", "start_time"), descending=True),)
    items = order.split(",") if isinstance(order, str) else list(order)
    parsed = tuple(parse_order_by(item) for item in items if item.strip())
    if len(parsed) > 5:
        raise InvalidFilter("order by at most 5 keys", position=0, filter=", ".join(items))
    return parsed or (OrderBy(Field("attribute", "start_time"), descending=True),)


def referenced_fields(expr: Expr | None) -> set[Field]:
    """Every field a filter mentions (the CLI shows them as columns)."""
    if expr is None:
        return set()
    if isinstance(expr, Comparison):
        return {expr.field}
    if isinstance(expr, Not):
        return referenced_fields(expr.item)
    found: set[Field] = set()
    for item in expr.items:
        found |= referenced_fields(item)
    return found
