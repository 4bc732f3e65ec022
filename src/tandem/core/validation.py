"""Rules for names, keys and values shared by every domain.

Keys (params, metrics, tags) are 1-250 characters of letters (any script), digits, and `_ - . / :`
and spaces, with no leading or trailing space. `/` separates segments (`train/loss`), so a key
must not read as a path: no empty, `.` or `..` segment (`a//b`, `/a`, `a/`, `./a`, `a/../b`), as
MLflow refuses them (its keys name files). Values are text without NUL (PostgreSQL cannot store
it) up to a size limit. Metric values must be finite: SQLite stores NaN as NULL and JSON has no
NaN, so a NaN would silently become "no value" (see docs/adr/0007-finite-metric-values.md).
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from annotated_types import Ge, Le

from tandem.errors import InvalidInput

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_NAME_LENGTH = 250
MAX_PROJECT_NAME_LENGTH = 64
MAX_INT = 2**63 - 1
"""The largest integer the API takes: what SQLite and PostgreSQL store (64-bit BIGINT)."""
MAX_STEP = MAX_INT

# Every integer a client sends (path, query, body) has one of these types, so a number past 64
# bits is a 422 where it is parsed instead of an overflow in the database driver (a 500).
Int64 = Annotated[int, Ge(-MAX_INT - 1), Le(MAX_INT)]
NonNegativeInt = Annotated[int, Ge(0), Le(MAX_INT)]
# Versions and the numbers of records (decisions, risks, ...) are SQL INTEGER columns: 32 bits.
MAX_NUMBER = 2**31 - 1
Number = Annotated[int, Ge(1), Le(MAX_NUMBER)]
# A version where 0 means "before the first" (the brief's empty version, for a diff).
NumberOrZero = Annotated[int, Ge(0), Le(MAX_NUMBER)]
# A duration in seconds, which the server turns into milliseconds: that must fit too.
MAX_SECONDS = MAX_INT // 1000
Seconds = Annotated[int, Ge(0), Le(MAX_SECONDS)]

_KEY = re.compile(r"^[\w\-./: ]+$")
# An empty, "." or ".." segment: a key that reads as a path.
_PATH_LIKE = re.compile(r"(?:^|/)\.{0,2}(?:/|$)")
_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-.]*$")


# Keys already found valid: a run logs the same few keys again and again, on both sides of
# every request. Bounded, as the keys come from users.
_valid_keys: set[str] = set()
_MAX_VALID_KEYS = 4096


def check_key(key: str, kind: str) -> str:
    """Return `key` if it is a valid param, metric or tag key, else raise InvalidInput."""
    if type(key) is str and key in _valid_keys:
        return key
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"{kind} key must be a non-empty string", key=key)
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"{kind} key is {len(key)} characters long; the limit is {MAX_KEY_LENGTH}",
            key=key[:50] + "...",
        )
    if not _KEY.match(key) or key != key.strip():
        raise InvalidInput(
            f"{kind} key {key!r} has characters that are not allowed: use letters, digits, "
            "spaces (not at the ends) and _ - . / :",
            key=key,
        )
    if _PATH_LIKE.search(key):
        raise InvalidInput(
            f"{kind} key {key!r} reads as a path: '/' must separate non-empty segments "
            "that are not '.' or '..' (e.g. train/loss)",
            key=key,
        )
    if len(_valid_keys) >= _MAX_VALID_KEYS:
        _valid_keys.clear()
    _valid_keys.add(key)
    return key


def check_text(value: str, kind: str, limit: int) -> str:
    if "\x00" in value:
        raise InvalidInput(f"{kind} must not contain NUL characters")
    if len(value) > limit:
        raise InvalidInput(f"{kind} is {len(value)} characters long; the limit is {limit}")
    return value


# Characters no text document (a contract, a project file) may hold: C0 and C1 controls but tab,
# newline and carriage return (YAML refuses them, and no reader shows them), lone surrogates
# and the non-characters U+FFFE and U+FFFF.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_whole_number(text: str, limit: int = MAX_INT) -> int | None:
    """`text` as a number from 0 to `limit`, or None. ASCII digits only: `str.isdigit` also
    takes `³` (which `int` refuses) and other scripts' digits."""
    if _ASCII_DIGITS.fullmatch(text) is None:
        return None
    number = int(text)
    return number if number <= limit else None


def find_control_character(text: str) -> tuple[int, str] | None:
    """The line (1-based) and the first character of `text` that no document may hold, if
    any (see `_CONTROL`)."""
    found = _CONTROL.search(text)
    if found is None:
        return None
    return text.count("\n", 0, found.start()) + 1, found.group()


# The largest finite double: MLflow stores +-infinity as +-MAX_DOUBLE, and so does tandem (ADR 33).
MAX_DOUBLE = 1.7976931348623157e308


def check_metric_value(key: str, value: float) -> float:
    """A metric value as a float. NaN and the infinities are values (ADR 33): the server keeps
    NaN and stores the infinities as +-MAX_DOUBLE (`clamp_metric_value`)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"metric {key!r} must be a number, got {type(value).__name__}", key=key)
    return float(value)


def clamp_metric_value(value: float) -> float:
    """+-infinity as +-MAX_DOUBLE, as MLflow stores them; any other value (NaN too) unchanged."""
    if math.isinf(value):
        return MAX_DOUBLE if value > 0 else -MAX_DOUBLE
    return value


def wire_metric_value(value: float) -> float | str:
    """A metric value for tandem's JSON: NaN and the infinities as the strings proto-JSON uses
    ("NaN", "Infinity", "-Infinity"), since JSON has no such numbers."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def check_step(step: int) -> int:
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
        raise InvalidInput(f"step must be a whole number from 0 to {MAX_STEP}, got {step!r}")
    return step


def check_project_name(name: str) -> str:
    if not name or len(name) > MAX_PROJECT_NAME_LENGTH or not _PROJECT_NAME.match(name):
        raise InvalidInput(
            f"project name {name!r} is not valid: use 1-{MAX_PROJECT_NAME_LENGTH} lowercase "
            "letters, digits, '_', '-' or '.', starting with a letter or digit",
            name=name,
        )
    return name


def check_user_name(name: str) -> str:
    """User names follow the project-name rules: lowercase, short, safe in URLs and logs."""
    if not name or len(name) > MAX_PROJECT_NAME_LENGTH or not _PROJECT_NAME.match(name):
        raise InvalidInput(
            f"user name {name!r} is not valid: use 1-{MAX_PROJECT_NAME_LENGTH} lowercase "
            "letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    return name


_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_dataset_name(name: str) -> str:
    """A dataset name: letters, digits, '.', '_' and '-', starting with a letter or digit."""
    if not _DATASET_NAME.match(name):
        raise InvalidInput(
            f"invalid dataset name {name!r}: use letters, digits, '.', '_' and '-' "
            "(up to 128, starting with a letter or digit)"
        )
    return name


def check_model_name(name: str) -> str:
    """A model name: letters, digits, '.', '_' and '-', starting with a letter or digit."""
    if not _DATASET_NAME.match(name):
        raise InvalidInput(
            f"invalid model name {name!r}: use letters, digits, '.', '_' and '-' "
            "(up to 128, starting with a letter or digit)"
        )
    return name
