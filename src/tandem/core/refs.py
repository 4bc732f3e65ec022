"""References that read well in a CLI, a URL and a log line: `churn/runs/8f3a...`.

A bare id (`8f3a...`) uses the default project; a qualified one names its project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tandem.core.ids import is_run_id_prefix
from tandem.core.validation import MAX_NUMBER, parse_whole_number
from tandem.errors import InvalidInput


def parse_version_number(text: str) -> int | None:
    """`3`, `v3` or `V3` as the number 3; None if `text` is not a version number (1 to
    MAX_NUMBER, in ASCII digits). Every face parses versions here, so they agree."""
    number = parse_whole_number(text[1:] if text[:1] in ("v", "V") else text, MAX_NUMBER)
    return number if number else None


@dataclass(frozen=True, slots=True)
class RunRef:
    project: str | None
    run_id: str

    def __str__(self) -> str:
        return f"{self.project}/runs/{self.run_id}" if self.project else self.run_id


def parse_run_ref(text: str, default_project: str | None = None) -> RunRef:
    """Parse `ID`, `PROJECT/runs/ID` or `PROJECT/ID`; ID may be a unique prefix of 6+ hex digits."""
    parts = text.strip().split("/")
    if len(parts) == 1:
        project, run_id = default_project, parts[0]
    elif len(parts) == 2:
        project, run_id = parts
    elif len(parts) == 3 and parts[1] == "runs":
        project, run_id = parts[0], parts[2]
    else:
        raise InvalidInput(f"invalid run reference {text!r}: use RUN_ID or PROJECT/runs/RUN_ID")
    run_id = run_id.lower()
    if not is_run_id_prefix(run_id):
        raise InvalidInput(
            f"invalid run id {run_id!r}: a run id is 32 hex digits (a prefix of 6 or more works)"
        )
    return RunRef(project=project or None, run_id=run_id)


@dataclass(frozen=True, slots=True)
class DatasetRef:
    """`customers@v3`: a dataset, and one of its versions (None: the latest)."""

    project: str | None
    name: str
    version: int | None

    def __str__(self) -> str:
        text = f"{self.name}@v{self.version}" if self.version is not None else self.name
        return f"{self.project}/{text}" if self.project else text


def parse_dataset_ref(text: str, default_project: str | None = None) -> DatasetRef:
    """Parse `NAME`, `NAME@vN` (or `NAME@N`), `PROJECT/NAME@vN` or `PROJECT/datasets/NAME@vN`."""
    body, at, version_text = text.strip().partition("@")
    parts = body.split("/")
    if len(parts) == 1:
        project, name = default_project, parts[0]
    elif len(parts) == 2:
        project, name = parts
    elif len(parts) == 3 and parts[1] == "datasets":
        project, name = parts[0], parts[2]
    else:
        raise InvalidInput(f"invalid dataset reference {text!r}: use NAME@vN or PROJECT/NAME@vN")
    version: int | None = None
    if at:
        version = parse_version_number(version_text)
        if version is None:
            raise InvalidInput(
                f"invalid dataset version {version_text!r} in {text!r}: versions are v1, v2, ..."
            )
    if not name:
        raise InvalidInput(f"invalid dataset reference {text!r}: the name is missing")
    return DatasetRef(project=project or None, name=name, version=version)


@dataclass(frozen=True, slots=True)
class ModelRef:
    """`churn-gbm@3` or `churn-gbm@champion`: a model, and one of its versions by number or
    alias (neither: the latest)."""

    project: str | None
    name: str
    version: int | None = None
    alias: str | None = None

    @property
    def selector(self) -> str:
        """The version part as a URL segment: `3`, `champion` or `latest`."""
        if self.version is not None:
            return str(self.version)
        return self.alias or "latest"

    def __str__(self) -> str:
        text = self.name if self.selector == "latest" else f"{self.name}@{self.selector}"
        return f"{self.project}/{text}" if self.project else text


def parse_model_ref(text: str, default_project: str | None = None) -> ModelRef:
    """Parse `NAME`, `NAME@N` (or `@vN`), `NAME@ALIAS`, `PROJECT/NAME@...` or
    `PROJECT/models/NAME@...`."""
    body, at, selector = text.strip().partition("@")
    parts = body.split("/")
    if len(parts) == 1:
        project, name = default_project, parts[0]
    elif len(parts) == 2:
        project, name = parts
    elif len(parts) == 3 and parts[1] == "models":
        project, name = parts[0], parts[2]
    else:
        raise InvalidInput(f"invalid model reference {text!r}: use NAME@N or PROJECT/NAME@ALIAS")
    if not name:
        raise InvalidInput(f"invalid model reference {text!r}: the name is missing")
    if not at or selector == "latest":
        return ModelRef(project or None, name)
    version = parse_version_number(selector)
    if version is not None:
        return ModelRef(project or None, name, version=version)
    if _NUMBER_LIKE.fullmatch(selector):
        raise InvalidInput(
            f"invalid model version {selector!r}: versions are 1, 2, ... up to {MAX_NUMBER}"
        )
    return ModelRef(project or None, name, alias=check_alias(selector))


# What a reader would take for a version number (v0, 007, 99999999999999999999, ³): an error,
# not an alias.
_NUMBER_LIKE = re.compile(r"[vV]?\d+")


def check_alias(alias: str) -> str:
    """Aliases are lowercase words such as champion or challenger (not numbers: those are
    versions)."""
    if not _ALIAS.match(alias) or alias == "latest":
        raise InvalidInput(
            f"invalid alias {alias!r}: use a lowercase word such as champion "
            "(letters, digits, - and _, starting with a letter; not 'latest')"
        )
    return alias


_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
