"""PII scan: which string columns hold personal data, and how much of it.

`scan_pii(table)` looks at the string (and categorical) columns of a table in one streaming pass
and reports, per column and kind, the share of non-null values that contain:

* ``email``: an e-mail address (``local@domain.tld``).
* ``phone``: a phone number: international with a ``+`` country code, North-American
  ``(555) 123-4567`` / ``555-123-4567`` (separators required), or UK national ``020 7946 0000``
  / ``07700900123`` (a leading 0 and 9-12 more digits). Best effort: zero-padded numeric codes
  of that length look like UK numbers too.
* ``card``: a payment card number: 13-19 digits (spaces or dashes allowed) starting 2-6, that
  pass the Luhn check. The Luhn sum is vectorised: the digits are read as one unsigned integer
  and each position is taken with integer arithmetic (no Python loop, no per-row lists). Only the
  first candidate in a value is checked.
* ``ssn``: a US Social Security number ``123-45-6789``, excluding what the SSA never issues
  (area 000, 666 or 900-999, group 00, serial 0000).
* ``nino``: a UK National Insurance number ``AB 12 34 56 C`` (spaces optional, upper case),
  excluding the prefixes HMRC never issues (D, F, I, Q, U, V as first or second letter, O second,
  and BG, GB, NK, KN, TN, NT, ZZ).
* ``ipv4`` (each octet 0-255) and ``ipv6`` (full and ``::``-compressed forms).
* ``name``: best effort: one of the 226 common English-language first names bundled below
  (frequent US and UK given names) followed by a capitalised word ("Maria Lopez"). It misses
  rarer names and flags some phrases ("Grace Period").

By default the first `SAMPLE_ROWS` rows are scanned (one pass, bounded time on any table); pass
``max_rows=None`` for every row. A finding is reported when its share reaches `min_share` (1 %
by default), so a stray match in free text does not raise an alarm; ``min_share=0`` reports
every match. Validation reuses `match_expressions` for the checks that tie a contract's
classification to the data, and `mask_value` to hide personal data in failing examples;
the data service hides it in served profiles with `mask_summary`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from tandem.data import frames
from tandem.data.frames import TableFormat

if TYPE_CHECKING:
    import polars as pl

SAMPLE_ROWS = 1_000_000  # rows scanned by default: ~1-2 s per string column here
MIN_SHARE = 0.01


class PiiKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CARD = "card"
    SSN = "ssn"
    NINO = "nino"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    NAME = "name"


FIRST_NAMES = [
    "Aaron",
    "Abigail",
    "Adam",
    "Adrian",
    "Aidan",
    "Alan",
    "Albert",
    "Alex",
    "Alexander",
    "Alexandra",
    "Alice",
    "Alicia",
    "Alison",
    "Amanda",
    "Amber",
    "Amelia",
    "Amy",
    "Andrea",
    "Andrew",
    "Angela",
    "Ann",
    "Anna",
    "Anne",
    "Anthony",
    "Arthur",
    "Ashley",
    "Austin",
    "Barbara",
    "Benjamin",
    "Beth",
    "Betty",
    "Beverly",
    "Bill",
    "Billy",
    "Bob",
    "Bobby",
    "Bradley",
    "Brandon",
    "Brenda",
    "Brian",
    "Brittany",
    "Bruce",
    "Bryan",
    "Carl",
    "Carol",
    "Caroline",
    "Carolyn",
    "Catherine",
    "Charles",
    "Charlie",
    "Charlotte",
    "Chloe",
    "Chris",
    "Christian",
    "Christina",
    "Christine",
    "Christopher",
    "Cynthia",
    "Daniel",
    "Danielle",
    "David",
    "Deborah",
    "Debra",
    "Denise",
    "Dennis",
    "Diana",
    "Diane",
    "Donald",
    "Donna",
    "Doris",
    "Dorothy",
    "Douglas",
    "Dylan",
    "Edward",
    "Elizabeth",
    "Ella",
    "Ellie",
    "Emily",
    "Emma",
    "Eric",
    "Ethan",
    "Eugene",
    "Evelyn",
    "Frances",
    "Frank",
    "Gabriel",
    "Gary",
    "George",
    "Gerald",
    "Gloria",
    "Grace",
    "Gregory",
    "Hannah",
    "Harold",
    "Harry",
    "Heather",
    "Helen",
    "Henry",
    "Isabella",
    "Isla",
    "Jack",
    "Jacob",
    "Jacqueline",
    "James",
    "Jane",
    "Janet",
    "Janice",
    "Jason",
    "Jean",
    "Jeffrey",
    "Jennifer",
    "Jeremy",
    "Jerry",
    "Jesse",
    "Jessica",
    "Joan",
    "Joe",
    "John",
    "Johnny",
    "Jonathan",
    "Jordan",
    "Jose",
    "Joseph",
    "Joshua",
    "Joyce",
    "Juan",
    "Judith",
    "Judy",
    "Julia",
    "Julie",
    "Justin",
    "Karen",
    "Katherine",
    "Kathleen",
    "Kathryn",
    "Kayla",
    "Keith",
    "Kelly",
    "Kenneth",
    "Kevin",
    "Kimberly",
    "Kyle",
    "Larry",
    "Laura",
    "Lauren",
    "Lawrence",
    "Leo",
    "Liam",
    "Lily",
    "Linda",
    "Lisa",
    "Logan",
    "Louis",
    "Lucy",
    "Madison",
    "Margaret",
    "Maria",
    "Marie",
    "Marilyn",
    "Mark",
    "Martha",
    "Mary",
    "Mason",
    "Matthew",
    "Megan",
    "Melissa",
    "Mia",
    "Michael",
    "Michelle",
    "Nancy",
    "Natalie",
    "Nathan",
    "Nicholas",
    "Nicole",
    "Noah",
    "Oliver",
    "Olivia",
    "Oscar",
    "Pamela",
    "Patricia",
    "Patrick",
    "Paul",
    "Peter",
    "Philip",
    "Rachel",
    "Ralph",
    "Randy",
    "Raymond",
    "Rebecca",
    "Richard",
    "Robert",
    "Roger",
    "Ronald",
    "Rose",
    "Roy",
    "Russell",
    "Ruth",
    "Ryan",
    "Samantha",
    "Samuel",
    "Sandra",
    "Sara",
    "Sarah",
    "Scott",
    "Sean",
    "Sharon",
    "Shirley",
    "Sophia",
    "Sophie",
    "Stephanie",
    "Stephen",
    "Steven",
    "Susan",
    "Teresa",
    "Terry",
    "Thomas",
    "Timothy",
    "Tyler",
    "Victoria",
    "Vincent",
    "Virginia",
    "Walter",
    "Wayne",
    "William",
    "Willie",
    "Zachary",
]

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_H = r"[0-9A-Fa-f]{1,4}"
_IPV6 = (
    rf"(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,7}}:|(?:{_H}:){{1,6}}:{_H}|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}"
    rf"|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}"
    rf"|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}|{_H}:(?::{_H}){{1,6}}|:(?:(?::{_H}){{1,7}}|:)"
)
# Patterns in the syntax both Polars (Rust regex: no look-around) and Python's `re` accept.
# Boundaries are spelled as (^|non-X) groups because look-around is not available.
PATTERNS: dict[PiiKind, str] = {
    PiiKind.EMAIL: r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    PiiKind.PHONE: (
        r"(?:^|[^0-9A-Za-z+])(?:\+[1-9][0-9]{0,2}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{1,4}"
        r"(?:[ .-]?[0-9]{2,4}){2,4}|\(?[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{4}"
        r"|0[1-9][0-9]{1,3}[ -]?[0-9]{3,4}[ -]?[0-9]{3,4})(?:$|[^0-9])"
    ),
    PiiKind.CARD: r"(?:^|[^0-9])([2-6](?:[ -]?[0-9]){12,18})(?:$|[^0-9])",
    PiiKind.SSN: r"(?:^|[^0-9-])([0-9]{3}-[0-9]{2}-[0-9]{4})(?:$|[^0-9-])",
    PiiKind.NINO: (
        r"(?:^|[^A-Za-z0-9])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?"
        r"[A-D](?:$|[^A-Za-z0-9])"
    ),
    PiiKind.IPV4: rf"(?:^|[^0-9.])(?:{_OCTET}\.){{3}}{_OCTET}(?:$|[^0-9.])",
    PiiKind.IPV6: rf"(?:^|[^0-9A-Fa-f:])(?:{_IPV6})(?:$|[^0-9A-Fa-f:])",
    PiiKind.NAME: (
        rf"\b(?:{'|'.join(FIRST_NAMES)})\s+[A-Z](?:'[A-Z])?[a-z]+(?:[A-Z][a-z]+)?(?:-[A-Z][a-z]+)?\b"
    ),
}
_NINO_BAD_PREFIXES = ["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"]
HASH_PATTERN = (
    r"^(?:[0-9A-Fa-f]{32}|[0-9A-Fa-f]{40}|[0-9A-Fa-f]{56}|[0-9A-Fa-f]{64}|[0-9A-Fa-f]{96}"
    r"|[0-9A-Fa-f]{128}|[A-Za-z0-9_-]{2,20}:[0-9A-Fa-f]{32,128}|\$[A-Za-z0-9-]+\$[!-~]+)$"
)


class PiiFinding(BaseModel):
    """Values of one kind of personal data found in one column."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    kind: PiiKind
    matched: int  # values that contain this kind of data
    scanned: int  # non-null values looked at
    rows_scanned: int  # rows looked at (the sample, or every row)
    share: float  # matched / scanned

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PiiFinding:
        return cls.model_validate(data)


def match_expressions(column: pl.Expr) -> dict[PiiKind, pl.Expr]:
    """Per kind, a boolean expression: does each value of the string `column` contain it
    (null where the value is null)."""
    import polars as pl

    simple = (PiiKind.EMAIL, PiiKind.PHONE, PiiKind.IPV4, PiiKind.IPV6, PiiKind.NAME)
    out = {kind: column.str.contains(PATTERNS[kind]) for kind in simple}
    card = column.str.extract(PATTERNS[PiiKind.CARD], 1).str.replace_all(r"[ -]", "")
    out[PiiKind.CARD] = card.str.len_bytes().is_between(13, 19) & _luhn_ok(card)
    ssn = column.str.extract(PATTERNS[PiiKind.SSN], 1)
    area = ssn.str.slice(0, 3)
    out[PiiKind.SSN] = (
        (area != "000")
        & (area != "666")
        & (area.str.slice(0, 1) != "9")
        & (ssn.str.slice(4, 2) != "00")
        & (ssn.str.slice(7, 4) != "0000")
    )
    prefix = column.str.extract(PATTERNS[PiiKind.NINO], 1)
    out[PiiKind.NINO] = prefix.is_not_null() & ~prefix.is_in(_NINO_BAD_PREFIXES)
    # Keep nulls null (not false) so that means and sums count non-null values only.
    return {
        kind: pl.when(column.is_null()).then(None).otherwise(expr.fill_null(False))
        for kind, expr in out.items()
    }


def _luhn_ok(digits: pl.Expr) -> pl.Expr:
    """Luhn check of a string of 13-19 digits, as integer arithmetic on the whole number:
    position i from the right is (n // 10**i) % 10, doubled when i is odd."""
    import polars as pl

    number = digits.str.to_integer(base=10, dtype=pl.UInt64, strict=False)
    total: pl.Expr = pl.lit(0, dtype=pl.UInt64)
    for i in range(19):
        digit = (number // (10**i)) % 10
        if i % 2:
            digit = digit * 2
            digit = pl.when(digit > 9).then(digit - 9).otherwise(digit)
        total = total + digit
    return (total % 10) == 0


def scan_pii(
    table: pl.LazyFrame | pl.DataFrame | Sequence[Path],
    fmt: TableFormat | None = None,
    *,
    max_rows: int | None = SAMPLE_ROWS,
    min_share: float = MIN_SHARE,
    columns: Sequence[str] | None = None,
) -> list[PiiFinding]:
    """Scan the string columns of `table` for personal data in one streaming pass.

    Args:
        table: the table, or the files of one (lazy scans read only the string columns).
        fmt: the files' format, when `table` is a list of files.
        max_rows: scan the first `max_rows` rows; None scans every row.
        min_share: report a kind in a column when at least this share of its non-null values
            holds it (0 reports any match).
        columns: scan only these columns (default: every string or categorical column).

    Returns:
        Findings sorted by column then kind; JSON-ready with `PiiFinding.model_dump()`.

    Raises:
        UnreadableData: the table cannot be read.
    """
    import polars as pl

    if isinstance(table, pl.LazyFrame | pl.DataFrame):
        lazy = table.lazy()
    else:
        if fmt is None:
            raise ValueError("scan_pii needs the format of the files")
        lazy = frames.scan_table(list(table), fmt)
    try:
        schema = lazy.collect_schema()
    except Exception as error:
        raise frames.read_error(error, "the table") from None
    names = [
        name
        for name, dtype in schema.items()
        if _is_text(dtype) and (columns is None or name in columns)
    ]
    if not names:
        return []
    if max_rows is not None:
        lazy = lazy.head(max_rows)
    exprs: list[pl.Expr] = [pl.len().alias("__rows")]
    for i, name in enumerate(names):
        text = pl.col(name).cast(pl.String)
        exprs.append(text.count().alias(f"{i}:count"))
        for kind, match in match_expressions(text).items():
            exprs.append(match.sum().alias(f"{i}:{kind}"))
    row = frames.collect(lazy.select(exprs)).row(0, named=True)
    findings: list[PiiFinding] = []
    for i, name in enumerate(names):
        scanned = int(row[f"{i}:count"])
        for kind in PiiKind:
            matched = int(row[f"{i}:{kind}"] or 0)
            share = matched / scanned if scanned else 0.0
            if matched and share >= min_share:
                findings.append(
                    PiiFinding(
                        column=name,
                        kind=kind,
                        matched=matched,
                        scanned=scanned,
                        rows_scanned=int(row["__rows"]),
                        share=share,
                    )
                )
    return findings


def _is_text(dtype: Any) -> bool:
    import polars as pl

    return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)


# -- the same tests on single values, for masking examples -----------------------------------------

_COMPILED = {kind: re.compile(pattern) for kind, pattern in PATTERNS.items()}
_EMAIL_FULL = re.compile(r"^([^@\s]+)@([^@\s.]+)((?:\.[^@\s.]+)*)\.([A-Za-z]{2,})$")


def detect(value: str) -> PiiKind | None:
    """The first kind of personal data `value` contains, if any (same rules as the scan)."""
    for kind, pattern in _COMPILED.items():
        match = pattern.search(value)
        if not match:
            continue
        if kind is PiiKind.CARD:
            digits = re.sub(r"[ -]", "", match.group(1))
            if not (13 <= len(digits) <= 19 and _luhn_python(digits)):
                continue
        if kind is PiiKind.SSN:
            ssn = match.group(1)
            if ssn[:3] in ("000", "666") or ssn[0] == "9" or ssn[4:6] == "00" or ssn[7:] == "0000":
                continue
        if kind is PiiKind.NINO and match.group(1) in _NINO_BAD_PREFIXES:
            continue
        return kind
    return None


def _luhn_python(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        digit = int(char)
        if i % 2:
            digit = digit * 2 - 9 if digit * 2 > 9 else digit * 2
        total += digit
    return total % 10 == 0


def mask_value(value: Any) -> str | None:
    """`value` with personal data hidden: ``j***@e***.com`` for an e-mail address,
    ``4*** **** **** 1111`` for a card number (first digit and last four kept), otherwise the
    first character and ``***``."""
    if value is None:
        return None
    text = str(value)
    email = _EMAIL_FULL.match(text)
    if email:
        return f"{email.group(1)[0]}***@{email.group(2)[0]}***.{email.group(4)}"
    digits = sum(c.isdigit() for c in text)
    if 13 <= digits <= 19 and re.fullmatch(r"[0-9 -]+", text):
        seen, out = 0, []
        for char in text:
            if char.isdigit():
                out.append(char if seen == 0 or seen >= digits - 4 else "*")
                seen += 1
            else:
                out.append(char)
        return "".join(out)
    return f"{text[:1]}***"


def mask_summary(summary: Mapping[str, Any], columns: Collection[str]) -> dict[str, Any]:
    """A copy of a profile's summary (`tandem.data.profile`) with the values of `columns`
    hidden by `mask_value`: their most frequent values and, for text, min and max. Counts and
    statistics stay; each masked column says ``"masked": true``."""
    shown = dict(summary.get("columns") or {})
    for name in columns:
        column = shown.get(name)
        if column is None:
            continue
        column = dict(column, masked=True)
        column["top"] = [[mask_value(value), count] for value, count in column.get("top") or []]
        if column.get("type") in ("string", "categorical"):
            for key in ("min", "max"):
                if key in column:
                    column[key] = mask_value(column[key])
        shown[name] = column
    return {**summary, "columns": shown}
