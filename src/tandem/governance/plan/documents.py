"""The brief as a document people keep in their repository: Markdown with one `##` section per
field (and an optional `Status:` line), or YAML with the fields as keys.

    # Churn reduction
    Status: agreed

    ## Business goal
    Cut monthly churn by 2 points in a quarter.

    ## User story
    As a retention manager, I want a weekly list of customers likely to leave ...
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from tandem.errors import InvalidInput
from tandem.governance.plan.models import BRIEF_FIELDS, BriefStatus, BriefText
from tandem.governance.plan.spec import ProjectSpec

_HEADING = re.compile(r"^##\s+(.+?)\s*#*\s*$")
_STATUS = re.compile(r"^status:\s*(\S+)\s*$", re.IGNORECASE)
# Each field answers to its heading, its key, and the key with spaces for underscores.
_NAMES = {
    name.lower(): field
    for field, title in BRIEF_FIELDS.items()
    for name in (title, field, field.replace("_", " "))
} | {"goal": "goal", "ml approach": "approach", "non-goals": "out_of_scope"}


def parse_markdown_brief(text: str) -> BriefText:
    """A brief from Markdown: `## Business goal`, `## User story`, `## Proposed ML approach`,
    `## Dependencies`, `## Constraints`, `## Out of scope`; `Status: draft|in-review|agreed`
    before the first section. Text before the first section (a title) is ignored."""
    fields: dict[str, list[str]] = {}
    status: str | None = None
    current: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        heading = _HEADING.match(line)
        if heading:
            title = heading.group(1).strip()
            current = _NAMES.get(title.lower())
            if current is None:
                known = ", ".join(BRIEF_FIELDS.values())
                raise InvalidInput(f"line {number}: unknown brief section {title!r}: use {known}")
            if current in fields:
                raise InvalidInput(f"line {number}: section {title!r} appears twice")
            fields[current] = []
        elif current is not None:
            fields[current].append(line)
        elif (found := _STATUS.match(line)) is not None:
            status = found.group(1).lower()
    values: dict[str, Any] = {k: "\n".join(v).strip() for k, v in fields.items()}
    if status is not None:
        values["status"] = status
    return _brief(values, "the Markdown brief")


def parse_yaml_brief(data: Any) -> BriefText:
    """A brief from a parsed YAML mapping of fields (or a project file's `brief:`)."""
    if not isinstance(data, dict):
        raise InvalidInput("a YAML brief is a mapping of fields: goal, user_story, approach, ...")
    if isinstance(data.get("brief"), dict):
        data = data["brief"]
    return _brief(data, "the YAML brief")


def _brief(values: dict[str, Any], what: str) -> BriefText:
    try:
        return BriefText.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'brief'}: {e['msg']}" for e in exc.errors()
        )
        statuses = ", ".join(s.value for s in BriefStatus)
        raise InvalidInput(
            f"{what} is not valid: {problems} (status is one of {statuses})"
        ) from None


def brief_markdown(brief: BriefText, title: str = "Brief") -> str:
    """The brief as the Markdown `parse_markdown_brief` reads back."""
    lines = [f"# {title}", f"Status: {brief.status.value}", ""]
    for field, heading in BRIEF_FIELDS.items():
        lines += [f"## {heading}", getattr(brief, field).strip(), ""]
    return "\n".join(lines)


def load_yaml(text: str, what: str) -> Any:
    """Parse YAML safely; a syntax error names the line."""
    import yaml

    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise InvalidInput(f"{what}: {problem}{line}") from None


def parse_project_file(text: str, what: str = "the project file") -> ProjectSpec:
    """A project-as-code document (see `tandem.governance.plan.spec`), checked key by key."""
    data = load_yaml(text, what)
    if not isinstance(data, dict):
        raise InvalidInput(f"{what} must be a mapping with brief, criteria and raci sections")
    try:
        return ProjectSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise InvalidInput(f"{what}: {where}: {first['msg']}{more}") from None


def project_yaml(spec: ProjectSpec) -> str:
    """`spec` as YAML that `parse_project_file` reads back: blocks for long text, keys in
    the order people read them."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    data = spec.model_dump(mode="json", exclude_none=True)
    for item in (data.get("criteria") or {}).values():
        if not item.get("description"):
            item.pop("description", None)
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
