"""Previous/next links over forward-only cursors: the links carry the cursors of the pages
before this one (`back`), so "previous" is a plain link too and every page has its own URL."""

from __future__ import annotations

from dataclasses import dataclass

FIRST = "~"  # the first page, which has no cursor ("~" is not in the cursors' base64 alphabet)
_KEEP = 30  # pages of history kept in the link


@dataclass(frozen=True, slots=True)
class Pager:
    prev: dict[str, str | None] | None  # query changes for the previous page, or None
    next: dict[str, str | None] | None  # and for the next one

    @classmethod
    def of(cls, cursor: str | None, back: str | None, next_cursor: str | None) -> Pager:
        chain = [c for c in back.split(".") if c][-_KEEP:] if back else []
        prev = None
        if chain:
            before = chain[-1]
            prev = {
                "cursor": None if before == FIRST else before,
                "back": ".".join(chain[:-1]) or None,
            }
        following: dict[str, str | None] | None = None
        if next_cursor:
            following = {"cursor": next_cursor, "back": ".".join([*chain, cursor or FIRST])}
        return cls(prev=prev, next=following)
