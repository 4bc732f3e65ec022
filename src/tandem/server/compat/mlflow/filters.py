"""MLflow's run filter and order syntax, rewritten into tandem's filter language
(`tandem.tracking.filters`), which is a superset of it: the parse, its errors (with the
position) and the SQL are tandem's.

What differs is only naming, so the rewrite is textual and keeps every position where it was:
each replacement is no longer than what it replaces and is padded with spaces, so an error at
position N is at N in the text the client sent.

    attributes.run_name / attributes.user_id / attributes.created   -> name / user / start_time
    tags.mlflow.runName (any quoting)                               -> the run's name
    "a value" after an operator (MLflow quotes values either way)   -> 'a value'
"""

from __future__ import annotations

import re

_PREFIX = r"(?:attributes|attribute|attr|run)\."
_ATTRIBUTES = {
    "run_name": "name",
    "user_id": "user",
    "created": "start_time",
    "Created": "start_time",
    "run_id": "run_id",
    "status": "status",
    "start_time": "start_time",
    "end_time": "end_time",
}
# One regex over the text, alternatives in order: quoted strings are skipped as they are
# (nothing inside a value is rewritten), except a double-quoted value after an operator.
_TOKEN = re.compile(
    r"""
    (?P<single>'(?:[^']|'')*')
  | (?P<value>(?<=[=<>(,]) \s* "(?:[^"\\]|"")*"
             | (?<=[lL][iI][kK][eE]) \s+ "(?:[^"\\]|"")*")
  | (?P<runname>tags?\.(?:mlflow\.runName\b|`mlflow\.runName`|"mlflow\.runName"))
  | (?P<attribute>(?<![\w.`"])(?:attributes|attribute|attr|run)\.(?P<name>[A-Za-z_]+)\b)
  | (?P<quoted>`[^`]*`|"(?:[^"]|"")*")
    """,
    re.VERBOSE,
)


def _padded(new: str, old: str) -> str:
    return new + " " * (len(old) - len(new)) if len(new) <= len(old) else new


def _rewrite(match: re.Match[str]) -> str:
    text = match.group()
    kind = match.lastgroup
    if kind == "value":
        lead = text[: len(text) - len(text.lstrip())]
        inner = text.lstrip()[1:-1].replace('""', '"').replace("'", "''")
        return _padded(f"{lead}'{inner}'", text)
    if kind == "runname":
        return _padded("attr.name", text)
    if kind == "attribute":
        name = match.group("name")
        target = _ATTRIBUTES.get(name)
        if target is None:
            return text  # tandem's parser names it unknown, at its position
        return _padded(f"attr.{target}", text)
    return text  # a quoted string or identifier, as it is


def translate_filter(text: str | None) -> str | None:
    """MLflow's `filter` as tandem's filter language; None or blank stays None."""
    if text is None or not text.strip():
        return None
    return _TOKEN.sub(_rewrite, text)


def translate_order_by(clauses: list[str]) -> list[str]:
    """MLflow's `order_by` clauses (`metrics.rmse ASC`, `attributes.start_time DESC`)."""
    return [_TOKEN.sub(_rewrite, clause) for clause in clauses]


__all__ = ["translate_filter", "translate_order_by"]
