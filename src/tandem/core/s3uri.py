"""`s3://bucket/prefix` locations, parsed strictly, compared by whole path segments.

A server may read objects only under the prefixes an administrator allowed, and never from its
own blob store; both rules compare locations here, so `s3://lake/churn` covers
`s3://lake/churn/2026/a.csv` but not `s3://lake/churn-private/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tandem.errors import InvalidInput

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # S3's bucket naming rules
SCHEME = "s3://"


@dataclass(frozen=True, slots=True)
class S3Location:
    """A bucket and a key prefix as path segments (no empty, `.` or `..` segment)."""

    bucket: str
    segments: tuple[str, ...] = ()

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        """Parse `s3://bucket/prefix` (a trailing slash or none: the same location).

        Raises:
            InvalidInput: not an s3:// URI, a bucket name S3 would refuse, or a prefix with
                empty, `.` or `..` segments.
        """
        if not uri.startswith(SCHEME):
            raise InvalidInput(f"invalid S3 location {uri!r}: use s3://bucket/prefix")
        bucket, _, prefix = uri[len(SCHEME) :].partition("/")
        if not _BUCKET.match(bucket):
            raise InvalidInput(f"invalid S3 location {uri!r}: {bucket!r} is not a bucket name")
        segments = tuple(prefix.removesuffix("/").split("/")) if prefix.strip("/") else ()
        if any(s in ("", ".", "..") or any(ord(c) < 32 for c in s) for s in segments):
            raise InvalidInput(
                f"invalid S3 location {uri!r}: the prefix has an empty, '.' or '..' segment"
            )
        return cls(bucket, segments)

    @property
    def prefix(self) -> str:
        """The key prefix, without a trailing slash ('' for the whole bucket)."""
        return "/".join(self.segments)

    def contains(self, other: S3Location) -> bool:
        """Whether `other` lies at or under this location, segment by segment."""
        return self.bucket == other.bucket and other.segments[: len(self.segments)] == self.segments

    def overlaps(self, other: S3Location) -> bool:
        """Whether either location holds the other."""
        return self.contains(other) or other.contains(self)

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}" if self.segments else f"{SCHEME}{self.bucket}"


def is_s3(value: str | None) -> bool:
    """Whether `value` (a setting or a user's path) names an object-store location."""
    return bool(value) and str(value).startswith(SCHEME)
