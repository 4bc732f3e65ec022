"""Data contracts in the Open Data Contract Standard (ODCS v3): parse, model, and draft.

`parse_contract(text, source)` reads an ODCS YAML document (apiVersion v3.0.0-v3.0.2 or v3.1.0,
`kind: DataContract`) into a `Contract`. Every key ODCS defines is accepted, with the types it
defines; an unknown key or a wrong type is an `InvalidContract` whose one-line message names the
file, the line and the field, e.g.
``contracts/customers.yaml line 14: schema[0].properties[3].requird: unknown key (did you mean
'required'?)``. Regular expressions and SQL expressions are compiled while parsing, so a contract
that parses can be run. A YAML null counts as an absent key (an empty `description:` in a draft).

What tandem checks, and how a contract says it (see `tandem.data.validate` for the semantics):

* per property (column): presence; `logicalType` and `physicalType` (physical names such as
  `int32`, `BIGINT`, `VARCHAR(20)`, `category`, `timestamp`; unknown physical names are not
  checked); `required`; `unique`; `primaryKey` (required, and unique: alone, or together with
  the other primary-key properties); ranges with
  `logicalTypeOptions` `minimum`/`maximum`/`exclusiveMinimum`/`exclusiveMaximum` (v3.1 bounds, or
  v3.0 booleans); `pattern` (full match, Polars/Rust regex syntax: no look-around);
  `minLength`/`maxLength`; `multipleOf`; `format` email/uuid/ipv4/ipv6.
* quality rules (`quality:` on a property or a schema object), ODCS library metrics `nullValues`,
  `missingValues` (`arguments.missingValues`), `invalidValues` (`arguments.validValues` and/or
  `arguments.pattern`), `duplicateValues` (`arguments.properties` at object level), `rowCount`,
  with the ODCS operators (`mustBe`, `mustNotBe`, `mustBeGreaterThan`, `mustBeGreaterOrEqualTo`,
  `mustBeLessThan`, `mustBeLessOrEqualTo`, `mustBeBetween` and `mustNotBeBetween`, both inclusive)
  and `unit: rows|percent` (percent of all rows). With no operator a rule must be 0 (`rowCount`:
  greater than 0). ODCS v3.0's `rule:` names are accepted too (`validValues` with a `validValues`
  list, `duplicateCount`, `nullCheck`, `rowCount`).
* custom expressions: `type: sql` with either `query: SELECT COUNT(*) FROM {object} WHERE <cond>`
  (the metric is the number of rows where `<cond>` holds) or a bare boolean SQL expression (the
  metric is the number of rows where it is false; null counts as passing, as in a SQL CHECK).
  `type: custom` with `engine: tandem` (or `polars`) and an `implementation` that is a boolean SQL
  expression works the same way. `{property}`/`${column}` and `{object}`/`${table}` are replaced.
  Rules for other engines (soda, greatExpectations...) and `type: text` are kept, not run.
* freshness: the ODCS way is the SLA property `latency` (ODCS: "preferred to freshness"; the name
  `freshness` is accepted too): ``slaProperties: [{property: latency, value: 24, unit: h,
  element: orders.updated_at}]`` means the newest `updated_at` is at most 24 hours old. As a
  quality rule, `metric: freshness` (a tandem extension; `rule: freshness` also works) on a
  timestamp property, with an operator such as `mustBeLessThan: 24` and `unit: hours`. Units:
  s, min, h, d, w, y and their long forms. Naive timestamps are taken as UTC.
* classification and policy: `classification` (free text in ODCS; tandem knows `public`,
  `internal`, `confidential`, `restricted`, `pii`, `personal`, `sensitive`, `secret`). A `public`
  column must not look like personal data (PII scan); values of the other non-internal classes are
  masked in failing examples. ``customProperties: [{property: policy, value: hashed}]`` means every
  value must be a hash (hex digest of 32/40/56/64/96/128 characters, `algo:hexdigest`, or a
  `$id$...` crypt string).
* a schema object's ``customProperties: [{property: columnSet, value: closed|ordered}]``: the
  data has no column the contract does not name (`closed`), in the contract's order too
  (`ordered`). The default, `open`, lets extra columns through.

Severity: a property's checks have severity `error` (blocking) unless the property says
``customProperties: [{property: severity, value: warning}]``; a quality rule has severity
`warning` unless it says `severity: error`. Only `error` blocks.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from tandem.core.validation import find_control_character
from tandem.errors import InvalidContract

SUPPORTED_API_VERSIONS = ("v3.0.0", "v3.0.1", "v3.0.2", "v3.1.0")
LOGICAL_TYPES = ("string", "date", "timestamp", "time", "number", "integer", "object", "array")
LOGICAL_TYPES_ALL = (*LOGICAL_TYPES, "boolean")
SEVERITIES_BLOCKING = frozenset({"error"})
CLASSIFICATIONS_SENSITIVE = frozenset(
    {"confidential", "restricted", "pii", "personal", "sensitive", "secret"}
)
POLICIES = ("hashed",)
COLUMN_SETS = ("open", "closed", "ordered")
STRING_FORMATS_CHECKED = ("email", "uuid", "ipv4", "ipv6")

# Library metrics (v3.1 names) and the v3.0 `rule:` names they replace.
METRICS = (
    "nullValues",
    "missingValues",
    "invalidValues",
    "duplicateValues",
    "rowCount",
    "freshness",
)
METRIC_ALIASES = {
    "nullCheck": "nullValues",
    "notNull": "nullValues",
    "validValues": "invalidValues",
    "duplicateCount": "duplicateValues",
    "uniqueness": "duplicateValues",
}
OPERATORS = (
    "mustBe",
    "mustNotBe",
    "mustBeGreaterThan",
    "mustBeGreaterOrEqualTo",
    "mustBeLessThan",
    "mustBeLessOrEqualTo",
    "mustBeBetween",
    "mustNotBeBetween",
)
DIMENSIONS = {
    "accuracy": "ac",
    "completeness": "cp",
    "conformity": "cf",
    "consistency": "cs",
    "coverage": "cv",
    "timeliness": "tm",
    "uniqueness": "uq",
}
# Time units for freshness, in seconds ("m" is left out: minutes or months?).
TIME_UNITS = {
    **dict.fromkeys(("s", "sec", "second", "seconds"), 1),
    **dict.fromkeys(("min", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hour", "hours"), 3_600),
    **dict.fromkeys(("d", "day", "days"), 86_400),
    **dict.fromkeys(("w", "week", "weeks"), 7 * 86_400),
    **dict.fromkeys(("y", "yr", "year", "years"), 365 * 86_400),
}
_SELECT_COUNT = re.compile(
    r"^\s*select\s+count\s*\(\s*(?:\*|1)\s*\)\s+from\s+\S+(?:\s+where\s+(?P<cond>.+?))?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)

# -- the document's shape -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scalar:
    kind: str  # "string", "boolean", "integer", "number", "scalar", "any"


@dataclass(frozen=True)
class _List:
    item: _Spec


@dataclass(frozen=True)
class _Obj:
    fields: Mapping[str, _Spec]
    required: tuple[str, ...] = ()
    open: bool = False  # accept keys it does not name (server types, rule arguments)


@dataclass(frozen=True)
class _Either:
    """A mapping or a list (ODCS team: an object in v3.1, a list of members before)."""

    mapping: _Obj
    sequence: _List


_Spec = _Scalar | _List | _Obj | _Either

STR, BOOL, INT, NUM = _Scalar("string"), _Scalar("boolean"), _Scalar("integer"), _Scalar("number")
SCALAR, ANY = _Scalar("scalar"), _Scalar("any")
TAGS = _List(STR)
CUSTOM_PROPERTIES = _List(
    _Obj({"id": STR, "property": STR, "value": ANY, "description": STR}, ("property", "value"))
)
AUTH_DEFS = _List(_Obj({"id": STR, "url": STR, "type": STR, "description": STR}, ("url", "type")))
_COMMON = {
    "tags": TAGS,
    "customProperties": CUSTOM_PROPERTIES,
    "authoritativeDefinitions": AUTH_DEFS,
}
QUALITY = _List(
    _Obj(
        {
            "id": STR,
            "name": STR,
            "description": STR,
            "type": STR,
            "metric": STR,
            "rule": STR,
            "arguments": _Obj({}, open=True),
            "validValues": _List(SCALAR),
            **dict.fromkeys(OPERATORS[:2], SCALAR),
            **dict.fromkeys(OPERATORS[2:6], NUM),
            **dict.fromkeys(OPERATORS[6:], _List(NUM)),
            "unit": STR,
            "query": STR,
            "engine": STR,
            "implementation": ANY,
            "dimension": STR,
            "method": STR,
            "severity": STR,
            "businessImpact": STR,
            "scheduler": STR,
            "schedule": STR,
            **_COMMON,
        }
    )
)
_ELEMENT = {"id": STR, "name": STR, "physicalType": STR, "description": STR, "businessName": STR}
RELATIONSHIPS = _List(_Obj({}, open=True))
_PROPERTY_FIELDS: dict[str, _Spec] = {
    **_ELEMENT,
    **_COMMON,
    "primaryKey": BOOL,
    "primaryKeyPosition": INT,
    "logicalType": STR,
    "logicalTypeOptions": _Obj({}, open=True),
    "physicalName": STR,
    "required": BOOL,
    "unique": BOOL,
    "partitioned": BOOL,
    "partitionKeyPosition": INT,
    "classification": STR,
    "encryptedName": STR,
    "transformSourceObjects": _List(STR),
    "transformLogic": STR,
    "transformDescription": STR,
    "examples": _List(ANY),
    "criticalDataElement": BOOL,
    "relationships": RELATIONSHIPS,
    "quality": QUALITY,
}
PROPERTY = _Obj(_PROPERTY_FIELDS, ("name",))
# Nested properties (objects, arrays) have the same keys; `items` of an array has no name.
_PROPERTY_FIELDS["properties"] = _List(PROPERTY)
_PROPERTY_FIELDS["items"] = _Obj(_PROPERTY_FIELDS)
SCHEMA_OBJECT = _Obj(
    {
        **_ELEMENT,
        **_COMMON,
        "logicalType": STR,
        "physicalName": STR,
        "dataGranularityDescription": STR,
        "properties": _List(PROPERTY),
        "relationships": RELATIONSHIPS,
        "quality": QUALITY,
    },
    ("name",),
)
TEAM_MEMBER = _Obj(
    {
        "id": STR,
        "username": STR,
        "name": STR,
        "description": STR,
        "role": STR,
        "dateIn": STR,
        "dateOut": STR,
        "replacedByUsername": STR,
        **_COMMON,
    },
    ("username",),
)
TEAM = _Either(
    _Obj({"id": STR, "name": STR, "description": STR, "members": _List(TEAM_MEMBER), **_COMMON}),
    _List(TEAM_MEMBER),
)
ROLE = _Obj(
    {
        "id": STR,
        "role": STR,
        "description": STR,
        "access": STR,
        "firstLevelApprovers": STR,
        "secondLevelApprovers": STR,
        "customProperties": CUSTOM_PROPERTIES,
    },
    ("role",),
)
SLA = _Obj(
    {
        "id": STR,
        "property": STR,
        "value": SCALAR,
        "valueExt": SCALAR,
        "unit": STR,
        "element": STR,
        "driver": STR,
        "description": STR,
        "scheduler": STR,
        "schedule": STR,
    },
    ("property", "value"),
)
SUPPORT = _Obj(
    {
        "id": STR,
        "channel": STR,
        "url": STR,
        "description": STR,
        "tool": STR,
        "scope": STR,
        "invitationUrl": STR,
        "customProperties": CUSTOM_PROPERTIES,
    },
    ("channel",),
)
DOCUMENT = _Obj(
    {
        "version": STR,
        "kind": STR,
        "apiVersion": STR,
        "id": STR,
        "name": STR,
        "tenant": STR,
        "tags": TAGS,
        "status": STR,
        # Server keys depend on the server type (host, port, catalog...); tandem does not use them.
        "servers": _List(_Obj({}, open=True)),
        "dataProduct": STR,
        "description": _Obj(
            {
                "usage": STR,
                "purpose": STR,
                "limitations": STR,
                "authoritativeDefinitions": AUTH_DEFS,
                "customProperties": CUSTOM_PROPERTIES,
            }
        ),
        "domain": STR,
        "schema": _List(SCHEMA_OBJECT),
        "support": _List(SUPPORT),
        "price": _Obj({"priceAmount": NUM, "priceCurrency": STR, "priceUnit": STR}),
        "team": TEAM,
        "roles": _List(ROLE),
        "slaDefaultElement": STR,
        "slaProperties": _List(SLA),
        "authoritativeDefinitions": AUTH_DEFS,
        "customProperties": CUSTOM_PROPERTIES,
        "contractCreatedTs": STR,
    },
    ("version", "apiVersion", "kind", "id", "status"),
)
_OPTION_KEYS = {
    "string": {"minLength", "maxLength", "pattern", "format"},
    "integer": {
        "multipleOf",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "format",
    },
    "date": {"format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
    "timestamp": {"format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
    | {"timezone", "defaultTimezone"},
    "object": {"maxProperties", "minProperties", "required"},
    "array": {"maxItems", "minItems", "uniqueItems"},
    "boolean": set(),
}
_OPTION_KEYS["number"] = _OPTION_KEYS["integer"]
_OPTION_KEYS["time"] = _OPTION_KEYS["timestamp"]


# -- the model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityRule:
    """One ODCS quality rule (or SLA freshness), normalised. `column` is the property it sits on
    (None at object level); `operators` maps ODCS operator names to their values."""

    path: str
    line: int
    type: str
    metric: str | None
    column: str | None
    id: str | None
    name: str | None
    description: str | None
    arguments: Mapping[str, Any]
    operators: Mapping[str, Any]
    unit: str
    severity: str
    condition: str | None = None  # SQL boolean expression (sql/custom rules tandem runs)
    counts_true: bool = False  # the metric counts rows where `condition` holds (SELECT COUNT form)
    engine: str | None = None
    runnable: bool = True
    note: str | None = None  # why tandem does not run it, when it does not


@dataclass(frozen=True)
class Property:
    """One column of a schema object, with everything tandem checks about it."""

    name: str
    path: str
    line: int
    logical_type: str | None
    physical_type: str | None
    required: bool
    unique: bool
    primary_key: bool
    classification: str | None
    description: str | None
    options: Mapping[str, Any]
    quality: tuple[QualityRule, ...]
    custom: Mapping[str, Any]
    severity: str
    policy: str | None
    column: str  # the column in the data: `physicalName`, else `name`
    examples: tuple[Any, ...] = ()

    @property
    def is_sensitive(self) -> bool:
        """Whether values of this column are masked in reports."""
        return (self.classification or "").lower() in CLASSIFICATIONS_SENSITIVE


@dataclass(frozen=True)
class SchemaObject:
    """One table (ODCS schema object) with its properties and object-level rules."""

    name: str
    path: str
    line: int
    physical_name: str | None
    description: str | None
    properties: tuple[Property, ...]
    quality: tuple[QualityRule, ...]
    column_set: str
    custom: Mapping[str, Any]

    def property(self, name: str) -> Property | None:
        """The property called `name` (its ODCS name, else its physical column name)."""
        found = next((p for p in self.properties if p.name == name), None)
        return found or next((p for p in self.properties if p.column == name), None)


@dataclass(frozen=True)
class TeamMember:
    username: str
    name: str | None
    role: str | None
    description: str | None


@dataclass(frozen=True)
class Contract:
    """A parsed ODCS data contract. `document` is the YAML as plain data, for storage."""

    api_version: str
    id: str
    name: str | None
    version: str
    status: str
    description: Mapping[str, Any]
    domain: str | None
    schema: tuple[SchemaObject, ...]
    team: tuple[TeamMember, ...]
    team_name: str | None
    custom: Mapping[str, Any]
    source: str
    document: Mapping[str, Any] = field(repr=False)

    @property
    def owners(self) -> list[TeamMember]:
        return [m for m in self.team if "owner" in (m.role or "").lower()]

    @property
    def stewards(self) -> list[TeamMember]:
        return [m for m in self.team if "steward" in (m.role or "").lower()]

    def object(self, name: str | None = None) -> SchemaObject:
        """The schema object called `name`, or the only one when `name` is None.

        Raises:
            InvalidContract: no such object, or several and no name given.
        """
        if name is None:
            if len(self.schema) == 1:
                return self.schema[0]
            names = ", ".join(o.name for o in self.schema) or "none"
            raise InvalidContract(
                f"{self.source}: the contract describes {len(self.schema)} schema objects "
                f"({names}); say which one the table is",
                field="schema",
            )
        for obj in self.schema:
            if name in (obj.name, obj.physical_name):
                return obj
        raise InvalidContract(f"{self.source}: no schema object named {name!r}", field="schema")


# -- parsing --------------------------------------------------------------------------------------


def load_contract(path: str | Path) -> Contract:
    """Read and parse the ODCS contract in the file `path` (see `parse_contract`); messages
    name the file as given."""
    with open(path, encoding="utf-8") as handle:
        return parse_contract(handle.read(), source=str(path))


def parse_contract(text: str, source: str = "contract") -> Contract:
    """Parse an ODCS v3 YAML document into a `Contract`.

    Args:
        text: the YAML text.
        source: how messages name the document (a file name, say).

    Raises:
        InvalidContract: the text is not YAML, is empty or not a mapping, names an unknown key,
            has a value of the wrong type, an unsupported apiVersion or kind, a regular
            expression or SQL expression that does not compile, or a rule tandem cannot read.
            `details` has `line` (1-based) and `field` (a dotted path) when known.
    """
    control = find_control_character(text)
    if control is not None:
        at, char = control
        raise InvalidContract(
            f"{source} line {at}: the control character U+{ord(char):04X} is not allowed",
            line=at,
        )
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark else None
            problem = error.problem or error.context or "invalid YAML"
            where = f" line {line}" if line else ""
            raise InvalidContract(
                f"{source}{where}: not valid YAML: {problem}", line=line
            ) from None
        except yaml.YAMLError as error:
            raise InvalidContract(f"{source}: not valid YAML: {error}") from None
        if root is None:
            raise InvalidContract(f"{source}: the contract is empty", line=1)
        if not isinstance(root, yaml.MappingNode):
            raise InvalidContract(
                f"{source} line {root.start_mark.line + 1}: the contract must be a mapping of "
                f"keys to values, not {_node_kind(root)}",
                line=root.start_mark.line + 1,
            )
        walker = _Walker(loader, source)
        document = walker.walk(root, DOCUMENT, "")
        return _Builder(source, walker.lines).contract(document)
    finally:
        loader.dispose()


def _node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag.endswith(":null"):
        return "null"
    return f"the value {node.value!r}"


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class _Walker:
    """Checks a YAML node tree against a spec and turns it into plain data, remembering the line
    of every field so that later checks can point at it too."""

    def __init__(self, loader: yaml.SafeLoader, source: str) -> None:
        self.loader = loader
        self.source = source
        self.lines: dict[str, int] = {}

    def fail(self, node: yaml.Node, path: str, problem: str) -> InvalidContract:
        line = node.start_mark.line + 1
        return InvalidContract(
            f"{self.source} line {line}: {path}: {problem}", line=line, field=path
        )

    def walk(self, node: yaml.Node, spec: _Spec, path: str) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(spec, _Either):
            if isinstance(node, yaml.ScalarNode):
                raise self.fail(node, path, f"expected a mapping or a list, got {_node_kind(node)}")
            spec = spec.sequence if isinstance(node, yaml.SequenceNode) else spec.mapping
        if isinstance(spec, _Obj):
            return self.walk_mapping(node, spec, path)
        if isinstance(spec, _List):
            if not isinstance(node, yaml.SequenceNode):
                raise self.fail(node, path, f"expected a list, got {_node_kind(node)}")
            return [self.walk(item, spec.item, _join(path, i)) for i, item in enumerate(node.value)]
        return self.scalar(node, spec, path)

    def walk_mapping(self, node: yaml.Node, spec: _Obj, path: str) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, path, f"expected a mapping, got {_node_kind(node)}")
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise self.fail(key_node, path or "(top level)", "keys must be plain names")
            sub = _join(path, key)
            if key in out:
                raise self.fail(key_node, sub, "duplicate key")
            self.lines[sub] = key_node.start_mark.line + 1
            if key not in spec.fields and not spec.open:
                hint = difflib.get_close_matches(key, list(spec.fields), n=1, cutoff=0.6)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise self.fail(key_node, sub, f"unknown key{suggestion}")
            value_spec = spec.fields.get(key, ANY)
            if _is_null(value_node):
                if value_spec in (ANY, SCALAR):
                    out[key] = None  # ODCS allows null values (custom properties, SLA values)
                continue  # `description:` with no value: as if absent
            out[key] = self.walk(value_node, value_spec, sub)
        for key in spec.required:
            if key not in out:
                raise self.fail(node, path or "(top level)", f"missing required key {key!r}")
        return out

    def scalar(self, node: yaml.Node, spec: _Scalar, path: str) -> Any:
        if spec.kind == "any":
            return self.loader.construct_object(node, deep=True)
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, path, f"expected {_article(spec.kind)}, got {_node_kind(node)}")
        if spec.kind == "string":
            # YAML reads `version: 1.0` or `id: 42` as numbers; ODCS means the text.
            return str(node.value)
        value = self.loader.construct_object(node)
        if spec.kind == "scalar":
            return value
        ok = {
            "boolean": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
        }[spec.kind]
        if not ok:
            raise self.fail(node, path, f"expected {_article(spec.kind)}, got {_node_kind(node)}")
        return value


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _article(kind: str) -> str:
    return {"integer": "an integer", "scalar": "a single value"}.get(kind, f"a {kind}")


class _Builder:
    """Turns the checked plain data into the model, with the checks that need context (types
    of options, metric names, regexes and SQL that compile)."""

    def __init__(self, source: str, lines: Mapping[str, int]) -> None:
        self.source = source
        self.lines = lines

    def fail(self, path: str, problem: str) -> InvalidContract:
        line = self._line(path)
        where = f" line {line}" if line else ""
        return InvalidContract(f"{self.source}{where}: {path}: {problem}", line=line, field=path)

    def _line(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", path)
        return None

    def contract(self, doc: Mapping[str, Any]) -> Contract:
        if doc["kind"] != "DataContract":
            raise self.fail("kind", f"must be 'DataContract', not {doc['kind']!r}")
        if doc["apiVersion"] not in SUPPORTED_API_VERSIONS:
            raise self.fail(
                "apiVersion",
                f"{doc['apiVersion']!r} is not supported (use one of "
                f"{', '.join(SUPPORTED_API_VERSIONS)})",
            )
        objects = [
            self.schema_object(o, f"schema[{i}]") for i, o in enumerate(doc.get("schema", []))
        ]
        self._unique_names([o.name for o in objects], "schema", "schema object")
        objects = self._add_sla_freshness(doc.get("slaProperties", []), objects)
        team = doc.get("team", [])
        members = team if isinstance(team, list) else team.get("members", [])
        return Contract(
            api_version=doc["apiVersion"],
            id=doc["id"],
            name=doc.get("name"),
            version=doc["version"],
            status=doc["status"],
            description=doc.get("description", {}),
            domain=doc.get("domain"),
            schema=tuple(objects),
            team=tuple(
                TeamMember(m["username"], m.get("name"), m.get("role"), m.get("description"))
                for m in members
            ),
            team_name=None if isinstance(team, list) else team.get("name"),
            custom=self.custom(doc.get("customProperties", []), "customProperties"),
            source=self.source,
            document=doc,
        )

    def _unique_names(self, names: Sequence[str], path: str, what: str) -> None:
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                raise self.fail(f"{path}[{i}].name", f"{what} {name!r} is declared twice")
            seen.add(name)

    def custom(self, items: Sequence[Mapping[str, Any]], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, item in enumerate(items):
            if item["property"] in out:
                raise self.fail(f"{path}[{i}].property", f"{item['property']!r} appears twice")
            out[item["property"]] = item["value"]
        return out

    def schema_object(self, obj: Mapping[str, Any], path: str) -> SchemaObject:
        if obj.get("logicalType", "object") != "object":
            raise self.fail(f"{path}.logicalType", "a schema object's logicalType is 'object'")
        custom = self.custom(obj.get("customProperties", []), f"{path}.customProperties")
        column_set = str(custom.get("columnSet", "open"))
        if column_set not in COLUMN_SETS:
            raise self.fail(
                f"{path}.customProperties",
                f"columnSet must be one of {', '.join(COLUMN_SETS)}, not {column_set!r}",
            )
        props = [
            self.property(p, f"{path}.properties[{i}]", obj["name"])
            for i, p in enumerate(obj.get("properties", []))
        ]
        self._unique_names([p.name for p in props], f"{path}.properties", "property")
        names = {p.name: p.column for p in props}
        rules = tuple(
            self.rule(r, f"{path}.quality[{i}]", None, obj["name"], names)
            for i, r in enumerate(obj.get("quality", []))
        )
        return SchemaObject(
            name=obj["name"],
            path=path,
            line=self._line(path) or 1,
            physical_name=obj.get("physicalName"),
            description=obj.get("description"),
            properties=tuple(props),
            quality=rules,
            column_set=column_set,
            custom=custom,
        )

    def property(self, prop: Mapping[str, Any], path: str, object_name: str) -> Property:
        logical = prop.get("logicalType")
        if logical is not None and logical not in LOGICAL_TYPES_ALL:
            raise self.fail(
                f"{path}.logicalType",
                f"{logical!r} is not an ODCS logical type ({', '.join(LOGICAL_TYPES_ALL)})",
            )
        options = self.options(
            prop.get("logicalTypeOptions", {}), logical, f"{path}.logicalTypeOptions"
        )
        custom = self.custom(prop.get("customProperties", []), f"{path}.customProperties")
        severity = str(custom.get("severity", "error")).lower()
        if severity not in ("error", "warning", "info"):
            raise self.fail(
                f"{path}.customProperties",
                f"severity must be error, warning or info, not {severity!r}",
            )
        policy = custom.get("policy")
        if policy is not None and policy not in POLICIES:
            raise self.fail(
                f"{path}.customProperties",
                f"policy must be one of {', '.join(POLICIES)}, not {policy!r}",
            )
        column = prop.get("physicalName") or prop["name"]
        rules = tuple(
            self.rule(r, f"{path}.quality[{i}]", column, object_name, {prop["name"]: column})
            for i, r in enumerate(prop.get("quality", []))
        )
        primary = bool(prop.get("primaryKey", False))
        return Property(
            name=prop["name"],
            path=path,
            line=self._line(path) or 1,
            logical_type=logical,
            physical_type=prop.get("physicalType"),
            required=bool(prop.get("required", False)) or primary,
            unique=bool(prop.get("unique", False)),
            primary_key=primary,
            classification=prop.get("classification"),
            description=prop.get("description"),
            options=options,
            quality=rules,
            custom=custom,
            severity=severity,
            policy=policy,
            column=column,
            examples=tuple(prop.get("examples", [])),
        )

    def options(self, options: Mapping[str, Any], logical: str | None, path: str) -> dict[str, Any]:
        allowed = _OPTION_KEYS.get(logical or "", set().union(*_OPTION_KEYS.values()))
        out: dict[str, Any] = {}
        for key, value in options.items():
            sub = f"{path}.{key}"
            if key not in allowed:
                hint = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                kind = f" for logicalType {logical!r}" if logical else ""
                raise self.fail(sub, f"unknown option{kind}{suggestion}")
            out[key] = self.option(key, value, logical, sub)
        return out

    def option(self, key: str, value: Any, logical: str | None, path: str) -> Any:
        temporal = logical in ("date", "timestamp", "time")
        if key in ("minimum", "maximum") or (
            key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool)
        ):
            if temporal:
                return self.instant(value, logical, path)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.fail(path, f"expected a number, got {value!r}")
            return value
        if key in ("exclusiveMinimum", "exclusiveMaximum", "timezone", "uniqueItems"):
            if not isinstance(value, bool):
                raise self.fail(path, f"expected true or false, got {value!r}")
            return value
        if key in (
            "minLength",
            "maxLength",
            "minItems",
            "maxItems",
            "minProperties",
            "maxProperties",
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise self.fail(path, f"expected a whole number >= 0, got {value!r}")
            return value
        if key == "multipleOf":
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise self.fail(path, f"expected a number > 0, got {value!r}")
            return value
        if key == "pattern":
            if not isinstance(value, str):
                raise self.fail(path, f"expected a string, got {value!r}")
            self.regex(value, path)
            return value
        if key == "required":
            if not isinstance(value, list):
                raise self.fail(path, "expected a list of property names")
            return value
        if not isinstance(value, str):
            raise self.fail(path, f"expected a string, got {value!r}")
        return value

    def instant(self, value: Any, logical: str | None, path: str) -> date | datetime | str:
        if isinstance(value, datetime | date):
            return value
        text = str(value)
        try:
            if logical == "date":
                return date.fromisoformat(text)
            if logical == "time":
                return text
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise self.fail(path, f"{text!r} is not an ISO 8601 {logical}") from None

    def regex(self, pattern: str, path: str) -> None:
        import polars as pl

        try:
            pl.select(pl.lit("").str.contains(pattern))
        except pl.exceptions.PolarsError as error:
            detail = str(error).splitlines()
            reason = next((ln.strip() for ln in detail if ln.strip().startswith("error:")), "")
            reason = reason.removeprefix("error:").strip() or "it does not compile"
            raise self.fail(path, f"invalid regular expression {pattern!r}: {reason}") from None

    def sql(self, expression: str, path: str) -> None:
        import polars as pl

        try:
            pl.sql_expr(expression)
        except (pl.exceptions.PolarsError, ValueError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "syntax error"
            raise self.fail(
                path, f"the SQL expression {expression!r} does not parse: {reason}"
            ) from None

    def rule(
        self,
        raw: Mapping[str, Any],
        path: str,
        column: str | None,
        object_name: str,
        columns: Mapping[str, str],
    ) -> QualityRule:
        kind = raw.get("type") or "library"
        if kind not in ("library", "sql", "custom", "text"):
            raise self.fail(f"{path}.type", f"must be library, sql, custom or text, not {kind!r}")
        dimension = raw.get("dimension")
        if dimension is not None and dimension.lower() not in {*DIMENSIONS, *DIMENSIONS.values()}:
            raise self.fail(f"{path}.dimension", f"{dimension!r} is not an ODCS dimension")
        operators = {k: raw[k] for k in OPERATORS if raw.get(k) is not None}
        for key, value in operators.items():
            if key in ("mustBeBetween", "mustNotBeBetween"):
                if len(value) != 2 or value[0] > value[1]:
                    raise self.fail(f"{path}.{key}", "expected two numbers, smallest first")
            elif key in ("mustBe", "mustNotBe") and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise self.fail(f"{path}.{key}", f"expected a number, got {value!r}")
        severity = str(raw.get("severity", "warning")).lower()
        common: dict[str, Any] = {
            "path": path,
            "line": self._line(path) or 1,
            "column": column,
            "id": raw.get("id"),
            "name": raw.get("name"),
            "description": raw.get("description"),
            "severity": severity,
        }
        arguments = dict(raw.get("arguments", {}))
        if "validValues" in raw:  # ODCS v3.0: the list sits on the rule itself
            arguments.setdefault("validValues", raw["validValues"])
        if kind == "text":
            return QualityRule(
                type="text",
                metric=None,
                arguments={},
                operators={},
                unit="rows",
                runnable=False,
                **common,
            )
        if kind == "library" or (
            kind not in ("sql", "custom") and ("metric" in raw or "rule" in raw)
        ):
            return self.library_rule(raw, path, arguments, operators, columns, common)
        unit = raw.get("unit", "rows")
        if unit not in ("rows", "percent"):
            raise self.fail(f"{path}.unit", f"must be rows or percent, not {unit!r}")
        if kind == "sql":
            if not raw.get("query"):
                raise self.fail(path, "an sql rule needs a 'query'")
            return self.expression_rule(
                raw["query"], f"{path}.query", column, object_name, operators, unit, common, "sql"
            )
        engine = raw.get("engine")
        if not engine or "implementation" not in raw:
            raise self.fail(path, "a custom rule needs an 'engine' and an 'implementation'")
        if engine.lower() not in ("tandem", "polars"):
            return QualityRule(
                type="custom",
                metric=None,
                arguments={},
                operators=operators,
                unit=unit,
                engine=engine,
                runnable=False,
                **common,
            )
        if not isinstance(raw["implementation"], str):
            raise self.fail(f"{path}.implementation", "for engine tandem, a boolean SQL expression")
        return self.expression_rule(
            raw["implementation"],
            f"{path}.implementation",
            column,
            object_name,
            operators,
            unit,
            common,
            "custom",
        )

    def library_rule(
        self,
        raw: Mapping[str, Any],
        path: str,
        arguments: dict[str, Any],
        operators: dict[str, Any],
        columns: Mapping[str, str],
        common: dict[str, Any],
    ) -> QualityRule:
        name = raw.get("metric") or raw.get("rule")
        key = "metric" if "metric" in raw else "rule"
        if not name:
            raise self.fail(path, "a library rule needs a 'metric'")
        metric = METRIC_ALIASES.get(name, name)
        if metric not in METRICS:
            hint = difflib.get_close_matches(name, [*METRICS, *METRIC_ALIASES], n=1, cutoff=0.6)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise self.fail(f"{path}.{key}", f"unknown metric {name!r}{suggestion}")
        column = common["column"]
        default_unit = "hours" if metric == "freshness" else "rows"
        unit = raw.get("unit", default_unit)
        if metric == "freshness":
            if unit not in TIME_UNITS:
                raise self.fail(f"{path}.unit", f"{unit!r} is not a time unit (s, min, h, d, w, y)")
            if column is None:
                if arguments.get("property") not in columns:
                    raise self.fail(
                        f"{path}.arguments", "freshness at object level needs arguments.property"
                    )
                column = columns[arguments["property"]]
            if not operators:
                raise self.fail(path, "freshness needs an operator such as mustBeLessThan")
        elif unit not in ("rows", "percent"):
            raise self.fail(f"{path}.unit", f"must be rows or percent, not {unit!r}")
        if metric in ("nullValues", "missingValues", "invalidValues") and column is None:
            raise self.fail(f"{path}.{key}", f"{metric} belongs on a property, not a schema object")
        if metric == "invalidValues":
            valid, pattern = arguments.get("validValues"), arguments.get("pattern")
            if valid is None and pattern is None:
                raise self.fail(path, "invalidValues needs arguments.validValues or .pattern")
            if valid is not None and not isinstance(valid, list):
                raise self.fail(f"{path}.arguments.validValues", "expected a list of values")
            if pattern is not None:
                if not isinstance(pattern, str):
                    raise self.fail(f"{path}.arguments.pattern", "expected a string")
                self.regex(pattern, f"{path}.arguments.pattern")
        if metric == "missingValues" and not isinstance(arguments.get("missingValues", []), list):
            raise self.fail(f"{path}.arguments.missingValues", "expected a list of values")
        if metric == "duplicateValues" and column is None:
            props = arguments.get("properties")
            if not isinstance(props, list) or not props or not set(props) <= set(columns):
                raise self.fail(
                    f"{path}.arguments",
                    "duplicateValues on a schema object needs arguments.properties, a list of "
                    "its properties",
                )
        if not operators:
            operators = {"mustBeGreaterThan": 0} if metric == "rowCount" else {"mustBe": 0}
        common["column"] = column
        return QualityRule(
            type="library",
            metric=metric,
            arguments=arguments,
            operators=operators,
            unit=unit,
            **common,
        )

    def expression_rule(
        self,
        text: str,
        path: str,
        column: str | None,
        object_name: str,
        operators: dict[str, Any],
        unit: str,
        common: dict[str, Any],
        kind: str,
    ) -> QualityRule:
        quoted = '"' + column.replace('"', '""') + '"' if column else None
        for placeholder in ("{property}", "${property}", "{column}", "${column}"):
            if placeholder in text:
                if quoted is None:
                    raise self.fail(path, f"{placeholder} needs the rule to sit on a property")
                text = text.replace(placeholder, quoted)
        for placeholder in ("{object}", "${object}", "{table}", "${table}"):
            text = text.replace(placeholder, object_name)
        counts_true = False
        match = _SELECT_COUNT.match(text)
        if match:
            counts_true, text = True, match.group("cond") or "TRUE"
        elif re.match(r"^\s*(select|with)\b", text, re.IGNORECASE):
            raise self.fail(
                path,
                "tandem runs 'SELECT COUNT(*) FROM {object} WHERE <condition>' or a boolean "
                "expression over one row",
            )
        self.sql(text, path)
        return QualityRule(
            type=kind,
            metric=None,
            arguments={},
            operators=operators or {"mustBe": 0},
            unit=unit,
            condition=text,
            counts_true=counts_true,
            engine="tandem",
            **common,
        )

    def _add_sla_freshness(
        self, slas: Sequence[Mapping[str, Any]], objects: list[SchemaObject]
    ) -> list[SchemaObject]:
        for i, sla in enumerate(slas):
            if str(sla["property"]).lower() not in ("latency", "ly", "freshness"):
                continue
            path = f"slaProperties[{i}]"
            value = sla["value"]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.fail(f"{path}.value", f"latency must be a number, got {value!r}")
            unit = sla.get("unit", "d")
            if unit not in TIME_UNITS:
                raise self.fail(f"{path}.unit", f"{unit!r} is not a time unit (s, min, h, d, w, y)")
            element = sla.get("element")
            if not element:
                raise self.fail(path, "latency needs 'element', the timestamp column it is about")
            target, column = self._element(element, objects)
            if target is None:
                if not objects:
                    continue
                target = objects[0]
            rule = QualityRule(
                path=path,
                line=self._line(path) or 1,
                type="library",
                metric="freshness",
                column=column,
                id=sla.get("id"),
                name=None,
                description=sla.get("description"),
                arguments={},
                operators={"mustBeLessOrEqualTo": value},
                unit=unit,
                severity="warning",
                runnable=column is not None,
                note=None if column else f"{element!r} names no property of a schema object",
            )
            index = objects.index(target)
            objects[index] = _replace_quality(target, (*target.quality, rule))
        return objects

    def _element(
        self, element: str, objects: Sequence[SchemaObject]
    ) -> tuple[SchemaObject | None, str | None]:
        """The object and data column an SLA element (``object.property``, or ``property``
        alone) names; ODCS' own full example names a table that is not in its schema, so an
        unknown element is reported when validating, not refused here."""
        head, _, tail = element.strip().rpartition(".")
        for obj in objects:
            prop = obj.property(tail)
            if head in ("", obj.name, obj.physical_name) and prop is not None:
                return obj, prop.column
        return None, None


def _replace_quality(obj: SchemaObject, quality: tuple[QualityRule, ...]) -> SchemaObject:
    return replace(obj, quality=quality)


# -- drafting from a profile ----------------------------------------------------------------------

_PROFILE_TYPES = {  # `tandem.data.profile` column types -> ODCS logical types
    "integer": "integer",
    "float": "number",
    "string": "string",
    "categorical": "string",
    "boolean": "boolean",
    "datetime": "timestamp",
    "date": "date",
    "time": "time",
}
MAX_ALLOWED_VALUES = 20  # a column with at most this many distinct values gets an allowed list


def draft_contract(
    profile_summary: Mapping[str, Any],
    name: str,
    pii: Sequence[Any] | None = None,
) -> str:
    """Draft an ODCS v3.1 contract, as YAML, from a dataset version's profile, for a person to
    review and edit: logical types, `required` where there are no nulls, `unique` where every
    value is distinct, ranges from min/max, allowed values for columns with at most
    `MAX_ALLOWED_VALUES` distinct values (when the profile lists them all in `top`), a row count
    rule, and a classification guess (`pii`) for columns the PII scan flagged.

    Args:
        profile_summary: a profile's summary or `to_json()` (`tandem.data.profile`):
            ``{"rows": int, "columns": {name: {"type", "count", "nulls", "distinct",
            "distinct_exact", "min", "max", "top": [[value, count], ...], "top_exact"}}}``.
        name: the dataset's name; the schema object and the contract id are derived from it.
        pii: PII findings (`PiiFinding`s or their `to_json()` dicts), if any.

    Returns:
        YAML text that `parse_contract` accepts.
    """
    rows = int(profile_summary.get("rows") or 0)
    flagged: dict[str, list[str]] = {}
    for finding in pii or ():
        item = finding if isinstance(finding, Mapping) else finding.to_json()
        flagged.setdefault(str(item["column"]), []).append(str(item["kind"]))
    properties: list[dict[str, Any]] = []
    for column, stats in profile_summary.get("columns", {}).items():
        properties.append(_draft_property(str(column), stats, rows, flagged.get(str(column))))
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-").lower() or "dataset"
    document: dict[str, Any] = {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": slug,
        "name": name,
        "version": "0.1.0",
        "status": "draft",
        "description": {"purpose": f"Draft contract for {name}, generated from its profile."},
        "schema": [
            {
                "name": slug.replace("-", "_"),
                "logicalType": "object",
                "properties": properties,
                "quality": [
                    {
                        "metric": "rowCount",
                        "mustBeGreaterThan": 0,
                        "description": f"The profiled version had {rows} rows.",
                    }
                ],
            }
        ],
        "team": {"name": "TODO", "members": [{"username": "TODO", "role": "owner"}]},
    }
    header = "# Draft generated by tandem from a profile: review every rule before relying on it.\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def _draft_property(
    column: str, stats: Mapping[str, Any], rows: int, pii: list[str] | None
) -> dict[str, Any]:
    prop: dict[str, Any] = {"name": column}
    logical = _PROFILE_TYPES.get(str(stats.get("type")))
    if logical:  # durations, lists, structs: no ODCS logical type to draft
        prop["logicalType"] = logical
    nulls = int(stats.get("nulls") or 0)
    count = int(stats["count"]) if stats.get("count") is not None else rows - nulls
    distinct = stats.get("distinct")
    exact = stats.get("distinct_exact", True)
    if rows and nulls == 0:
        prop["required"] = True
    # A HyperLogLog estimate (1.6 % standard error) cannot prove uniqueness: suggest within 5 %.
    if (
        distinct is not None
        and count > 1
        and logical not in (None, "boolean", "number")
        and (int(distinct) == count or (not exact and int(distinct) >= 0.95 * count))
    ):
        prop["unique"] = True
    low, high = stats.get("min"), stats.get("max")
    if logical in ("integer", "number") and _finite(low) and _finite(high):
        prop["logicalTypeOptions"] = {"minimum": low, "maximum": high}
    elif logical in ("date", "timestamp") and low is not None and high is not None:
        prop["logicalTypeOptions"] = {"minimum": str(low), "maximum": str(high)}
    if pii:
        prop["classification"] = "pii"
        prop["description"] = f"Looks like personal data ({', '.join(sorted(set(pii)))})."
    top = stats.get("top") or []
    if (
        logical in ("string", "integer")
        and not pii
        and not stats.get("masked")  # its values were hidden (`pii.mask_summary`)
        and distinct is not None
        and 0 < int(distinct) <= MAX_ALLOWED_VALUES
        and stats.get("top_exact", True)
        and len(top) == int(distinct)
        and sum(int(c) for _, c in top) == count
    ):
        prop["quality"] = [
            {
                "metric": "invalidValues",
                "arguments": {"validValues": sorted((v for v, _ in top), key=str)},
                "mustBe": 0,
                "severity": "error",
                "description": "Only the values seen when the contract was drafted.",
            }
        ]
    return prop


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def iter_rules(obj: SchemaObject) -> Iterator[QualityRule]:
    """Every quality rule of a schema object: its own, then each property's."""
    yield from obj.quality
    for prop in obj.properties:
        yield from prop.quality
