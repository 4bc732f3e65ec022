"""Label matchers, silences, inhibition rules and fingerprints, as Alertmanager has them.

Pure functions over label sets (`dict[str, str]`); no I/O and no clock: whatever depends on
time takes `now` in milliseconds since the epoch. A label that is missing counts as the empty
string, as in Alertmanager (`team=""` matches an alert without `team`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

from tandem.errors import InvalidInput

Labels = Mapping[str, str]

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1
_SEPARATOR = 0xFF


def fingerprint(labels: Labels) -> str:
    """The alert's identity: Prometheus' FNV-1a 64 hash of the sorted label set, 16 hex digits.

    The same function as `model.LabelSet.Fingerprint()` in prometheus/common, so an alert has
    the fingerprint Alertmanager would give it; it is also the PagerDuty `dedup_key`.
    """
    digest = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode():
                digest = ((digest ^ byte) * _FNV_PRIME) & _MASK
            digest = ((digest ^ _SEPARATOR) * _FNV_PRIME) & _MASK
    return f"{digest:016x}"


class MatchType(StrEnum):
    """The four matcher operators."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@lru_cache(maxsize=1024)
def _anchored(pattern: str) -> re.Pattern[str]:
    # Alertmanager anchors every matcher regex at both ends: `=~"foo"` is `^(?:foo)$`.
    return re.compile(f"^(?:{pattern})$", re.DOTALL)


_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


@dataclass(frozen=True)
class Matcher:
    """`name op value`: `=` and `!=` compare strings, `=~` and `!~` fully anchored regexes."""

    name: str
    op: MatchType
    value: str

    def __post_init__(self) -> None:
        if self.op in (MatchType.REGEX, MatchType.NOT_REGEX):
            try:
                _anchored(self.value)
            except re.error as exc:
                raise InvalidInput(
                    f"matcher {self.name}{self.op}{self.value!r}: not a valid regex ({exc})",
                    matcher=str(self),
                ) from exc

    def matches(self, labels: Labels) -> bool:
        """Whether the label set satisfies this matcher (a missing label is the empty string)."""
        value = labels.get(self.name, "")
        if self.op is MatchType.EQUAL:
            return value == self.value
        if self.op is MatchType.NOT_EQUAL:
            return value != self.value
        found = _anchored(self.value).match(value) is not None
        return found if self.op is MatchType.REGEX else not found

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """Parse `severity="page"`, `team!=ml`, `env=~"prod|staging"`; quotes are optional.

        Raises:
            InvalidInput: the text is not `name op value`, or the regex does not compile.
        """
        found = _MATCHER.match(text)
        if found is None:
            raise InvalidInput(
                f"matcher {text!r}: expected name=value, name!=value, name=~regex or name!~regex",
                matcher=text,
            )
        name, op, raw = found.groups()
        value = raw
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"matcher {text!r}: bad quoting", matcher=text) from exc
        return cls(name, MatchType(op), value)

    def __str__(self) -> str:
        return f"{self.name}{self.op.value}{json.dumps(self.value)}"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "op": self.op.value, "value": self.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Matcher:
        return cls(str(data["name"]), MatchType(data["op"]), str(data["value"]))


def matches_all(matchers: Iterable[Matcher], labels: Labels) -> bool:
    """Whether every matcher matches (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    """Parse several matchers (see `Matcher.parse`)."""
    return tuple(Matcher.parse(t) for t in texts)


@dataclass(frozen=True)
class Silence:
    """Mutes the alerts all its matchers match while `starts_at <= now < ends_at`.

    `ends_at` is required (a silence always expires); `created_by` and `comment` say who and why.
    Build it with `Silence.create` to get the input checked.
    """

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: int
    ends_at: int
    created_by: str
    comment: str = ""

    @classmethod
    def create(
        cls,
        id: str,
        matchers: Iterable[Matcher | str],
        *,
        starts_at: int,
        ends_at: int | None,
        created_by: str,
        comment: str = "",
    ) -> Silence:
        """A checked silence.

        Raises:
            InvalidInput: no matchers, only matchers that match the empty label set (they would
                silence every alert), no `ends_at` or one not after `starts_at`, no author.
        """
        parsed = tuple(m if isinstance(m, Matcher) else Matcher.parse(m) for m in matchers)
        if not parsed:
            raise InvalidInput("a silence needs at least one matcher", field="matchers")
        if all(m.matches({}) for m in parsed):
            raise InvalidInput(
                "a silence needs at least one matcher that does not match an empty label set "
                "(it would silence every alert)",
                field="matchers",
            )
        if ends_at is None:
            raise InvalidInput("a silence needs an expiry (ends_at)", field="ends_at")
        if ends_at <= starts_at:
            raise InvalidInput("a silence must end after it starts", field="ends_at")
        if not created_by.strip():
            raise InvalidInput("a silence needs an author (created_by)", field="created_by")
        return cls(id, parsed, starts_at, ends_at, created_by, comment)

    def is_active(self, now: int) -> bool:
        """Started and not yet expired."""
        return self.starts_at <= now < self.ends_at

    def state(self, now: int) -> str:
        """`pending`, `active` or `expired`, as Alertmanager shows a silence."""
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def mutes(self, labels: Labels, now: int) -> bool:
        """Active, and every matcher matches the label set."""
        return self.is_active(now) and matches_all(self.matchers, labels)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": [m.to_json() for m in self.matchers],
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "created_by": self.created_by,
            "comment": self.comment,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Silence:
        return cls(
            str(data["id"]),
            tuple(Matcher.from_json(m) for m in data["matchers"]),
            int(data["starts_at"]),
            int(data["ends_at"]),
            str(data["created_by"]),
            str(data.get("comment", "")),
        )


@dataclass(frozen=True)
class InhibitRule:
    """A firing alert matching `source` mutes the alerts matching `target` with equal `equal`s.

    A label in `equal` missing on both sides counts as equal (both empty). An alert that matches
    both sides cannot be muted by another alert that also matches both sides (nor by itself).
    """

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()
    name: str = field(default="")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": [m.to_json() for m in self.source],
            "target": [m.to_json() for m in self.target],
            "equal": list(self.equal),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InhibitRule:
        return cls(
            tuple(Matcher.from_json(m) for m in data["source"]),
            tuple(Matcher.from_json(m) for m in data["target"]),
            tuple(str(n) for n in data.get("equal", ())),
            str(data.get("name", "")),
        )


def silenced_by(silences: Iterable[Silence], labels: Labels, now: int) -> list[str]:
    """Ids of the silences muting this label set at `now`, sorted."""
    return sorted(s.id for s in silences if s.mutes(labels, now))


def inhibited_by(
    rules: Iterable[InhibitRule], firing: Iterable[tuple[str, Labels]], labels: Labels
) -> list[str]:
    """Fingerprints of the firing alerts that inhibit this label set, sorted.

    Args:
        rules: the inhibition rules.
        firing: `(fingerprint, labels)` of every firing alert (the possible sources).
        labels: the target alert's labels.
    """
    sources = list(firing)
    found: set[str] = set()
    for rule in rules:
        if not matches_all(rule.target, labels):
            continue
        two_sided = matches_all(rule.source, labels)
        for fp, source in sources:
            if not matches_all(rule.source, source):
                continue
            if two_sided and matches_all(rule.target, source):
                continue
            if all(source.get(n, "") == labels.get(n, "") for n in rule.equal):
                found.add(fp)
    return sorted(found)
