"""`tandem.yaml`: the stages of a pipeline, in the shape of `dvc.yaml`.

    project: churn           # where stage runs are recorded (else TANDEM_PROJECT / tandem.toml)
    seed: 42                 # handed to every stage as TANDEM_SEED (default 0)
    stages:
      prepare:
        cmd: python prepare.py
        deps: [prepare.py, data/raw.csv, datasets/customers@v3]
        params: [prepare.split]            # keys of params.yaml; or {other.yaml: [key, ...]}
        outs: [data/features.parquet]
        timeout: 600                       # seconds (default: none)
      train:
        cmd: python train.py
        deps: [train.py, data/features.parquet]   # another stage's output: runs after it
        params: [train]
        outs: [model/]
        metrics: [metrics.json]

Paths are relative to the folder holding `tandem.yaml` and must stay inside it. Every error
names the line and key it is about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from tandem.errors import InvalidInput

PIPELINE_FILE = "tandem.yaml"
DEFAULT_PARAMS = "params.yaml"
STAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
STAGE_KEYS = {"cmd", "deps", "params", "outs", "metrics", "timeout", "desc", "env"}
TOP_KEYS = {"project", "seed", "stages"}
DATASET_PREFIX = "datasets/"
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C one when PyYAML has it
# Already normal: no empty, `.` or `..` part, no trailing slash, nothing but these characters.
SIMPLE_PATH = re.compile(
    r"^(?!\.\.?(?:/|$))[\w\-+@=,~][\w.\-+@=,~]*(?:/(?!\.\.?(?:/|$))[\w.\-+@=,~]+)*$"
)


@dataclass(frozen=True, slots=True)
class Param:
    file: str  # relative to the pipeline's folder
    key: str  # dotted path inside it; `train` takes the whole section

    @property
    def name(self) -> str:
        return self.key if self.file == DEFAULT_PARAMS else f"{self.file}:{self.key}"


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    cmd: str
    deps: tuple[str, ...] = ()  # files and folders
    datasets: tuple[str, ...] = ()  # dataset versions: NAME@vN or PROJECT/NAME@vN
    params: tuple[Param, ...] = ()
    outs: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()  # also outputs: JSON or YAML numbers, logged as metrics
    timeout: float | None = None
    env: tuple[tuple[str, str], ...] = ()
    line: int = 0

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.outs + self.metrics


@dataclass(slots=True)
class Pipeline:
    root: Path  # the folder holding tandem.yaml
    file: Path
    stages: dict[str, Stage] = field(default_factory=dict)
    project: str | None = None
    seed: int = 0


def paths_overlap(a: str, b: str) -> bool:
    """Whether two work-tree paths are the same, or one lies inside the other."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/") or "." in (a, b)


class _Spec:
    """Reads a composed YAML tree, raising errors that point at a line."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def error(self, node: yaml.Node | None, message: str) -> InvalidInput:  # None: no line
        where = (
            f"{self.file.name}, line {node.start_mark.line + 1}"
            if node is not None
            else self.file.name
        )
        return InvalidInput(f"{where}: {message}")

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what} must be a mapping of keys to values")
        items = []
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = self.scalar(key_node, f"a key in {what}")
            if key in seen:
                raise self.error(key_node, f"{what} has the key {key!r} twice")
            seen.add(key)
            items.append((key, key_node, value_node))
        return items

    def scalar(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or (
            node.value == "" and node.tag.endswith(":null")
        ):
            raise self.error(node, f"{what} must be a single value")
        return str(node.value)

    def strings(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node | None]]:
        if isinstance(node, yaml.ScalarNode):
            return [(self.scalar(node, what), node)]
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, f"{what} must be a list")
        return [(self.scalar(item, f"each entry of {what}"), item) for item in node.value]

    def path(self, text: str, node: yaml.Node | None, what: str) -> str:
        """A relative POSIX path that stays inside the pipeline's folder."""
        if SIMPLE_PATH.match(text) and text.split("/", 1)[0] not in (".tandem", ".git"):
            return text  # the common case, without pathlib (10,000 deps cost 0.15 s with it)
        stripped = text.rstrip("/")
        pure = PurePosixPath(stripped)
        if (not stripped or pure.is_absolute() or "\\" in text or "\x00" in text
                or any(part in ("..", "") for part in stripped.split("/"))):  # fmt: skip
            raise self.error(
                node, f"{what} {text!r} must be a relative path inside the pipeline's folder"
            )
        if pure.parts[0] in (".tandem", ".git"):
            raise self.error(node, f"{what} {text!r} is inside tandem's or git's own folder")
        return str(pure) if pure.parts != (".",) else "."


def load_pipeline(file: Path) -> Pipeline:
    """Parse and check `file` (a tandem.yaml).

    Raises:
        NotFound-like InvalidInput: no such file.
        InvalidInput: malformed YAML or an unknown, missing or ill-typed key (naming its line),
            a path outside the folder, two stages writing one output, a cycle.
    """
    if file.suffix == ".py":
        if not file.is_file():
            raise InvalidInput(f"no {file.name} at {file.parent}")
        return _python_pipeline(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(
            f"no {file.name} at {file.parent}: write one (see docs/pipelines.md)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {file}: {exc}") from None
    spec = _Spec(file)
    try:
        # compose keeps each node's line; the C composer is faster than a plain load
        root = yaml.compose(text, Loader=YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"{file.name}{line}: not valid YAML: {problem}") from None
    if root is None:
        raise InvalidInput(f"{file.name} is empty: declare `stages:`")
    pipeline = Pipeline(root=file.parent.resolve(), file=file.resolve())
    stages_node = None
    for key, key_node, value in spec.mapping(root, file.name):
        if key == "stages":
            stages_node = value
        elif key == "project":
            pipeline.project = spec.scalar(value, "project")
        elif key == "seed":
            pipeline.seed = _integer(spec, value, "seed")
        else:
            raise spec.error(
                key_node, f"unknown key {key!r} (allowed: {', '.join(sorted(TOP_KEYS))})"
            )
    if stages_node is None:
        raise spec.error(root, "no `stages:` declared")
    for name, key_node, value in spec.mapping(stages_node, "stages"):
        if not STAGE_NAME.match(name):
            raise spec.error(key_node, f"stage name {name!r} may hold letters, digits, _ . - only")
        pipeline.stages[name] = _stage(spec, name, key_node, value)
    if not pipeline.stages:
        raise spec.error(stages_node, "`stages:` is empty")
    return pipeline


def _integer(spec: _Spec, node: yaml.Node, what: str) -> int:
    text = spec.scalar(node, what)
    try:
        return int(text)
    except ValueError:
        raise spec.error(node, f"{what} must be a whole number, not {text!r}") from None


def _stage(spec: _Spec, name: str, key_node: yaml.Node, node: yaml.Node) -> Stage:
    values: dict[str, Any] = {"name": name, "line": key_node.start_mark.line + 1}
    deps: list[str] = []
    datasets: list[str] = []
    for key, k_node, value in spec.mapping(node, f"stage {name!r}"):
        what = f"stages.{name}.{key}"
        if key == "cmd":
            if isinstance(value, yaml.SequenceNode):  # several commands: run one after another
                values["cmd"] = " && ".join(text for text, _ in spec.strings(value, what))
            else:
                values["cmd"] = spec.scalar(value, what)
        elif key == "deps":
            _split_deps(spec, spec.strings(value, what), what, deps, datasets)
        elif key in ("outs", "metrics"):
            values[key] = tuple(
                spec.path(text, item, what) for text, item in spec.strings(value, what)
            )
        elif key == "params":
            values["params"] = tuple(_params(spec, value, what))
        elif key == "timeout":
            text = spec.scalar(value, what)
            try:
                values["timeout"] = float(text)
            except ValueError:
                raise spec.error(
                    value, f"{what} must be a number of seconds, not {text!r}"
                ) from None
            if not values["timeout"] > 0:
                raise spec.error(value, f"{what} must be more than 0 seconds")
        elif key == "env":
            values["env"] = tuple(
                (var, spec.scalar(v_node, f"{what}.{var}"))
                for var, _, v_node in spec.mapping(value, what)
            )
        elif key == "desc":
            spec.scalar(value, what)
        else:
            raise spec.error(
                k_node,
                f"stage {name!r}: unknown key {key!r} (allowed: {', '.join(sorted(STAGE_KEYS))})",
            )
    if "cmd" not in values or not values["cmd"].strip():
        raise spec.error(key_node, f"stage {name!r} has no `cmd`")
    values["deps"] = tuple(dict.fromkeys(deps))
    values["datasets"] = tuple(dict.fromkeys(datasets))
    stage = Stage(**values)
    overlap = set(stage.deps) & set(stage.outputs)
    if overlap:
        raise spec.error(key_node, f"stage {name!r} both reads and writes {sorted(overlap)[0]!r}")
    return stage


def _split_deps(spec: _Spec, items: list[tuple[str, yaml.Node | None]], what: str,
                deps: list[str], datasets: list[str]) -> None:  # fmt: skip
    for text, item in items:
        if text.startswith(DATASET_PREFIX):
            ref = text[len(DATASET_PREFIX) :]
            if "@" not in ref:
                raise spec.error(item, f"{what}: pin the dataset version: {text}@vN")
            datasets.append(ref)
        else:
            deps.append(spec.path(text, item, what))


def _python_pipeline(file: Path) -> Pipeline:
    """A pipeline declared with `@tandem.pipelines.stage` in a Python file."""
    from tandem.pipelines.python import command, read_python_pipeline

    namespace, declared = read_python_pipeline(file)
    spec = _Spec(file)
    pipeline = Pipeline(root=file.parent.resolve(), file=file.resolve())
    project, seed = namespace.get("PROJECT"), namespace.get("SEED", 0)
    if project is not None and not isinstance(project, str):
        raise spec.error(None, "PROJECT must be a project name")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise spec.error(None, "SEED must be a whole number")
    pipeline.project, pipeline.seed = project, seed
    if not declared:
        raise spec.error(
            None, "declares no stages: decorate functions with @tandem.pipelines.stage"
        )
    for item in declared:
        name = item["name"]
        what = f"stage {name!r}"
        if not STAGE_NAME.match(name):
            raise spec.error(None, f"stage name {name!r} may hold letters, digits, _ . - only")
        if name in pipeline.stages:
            raise spec.error(None, f"two stages are named {name!r}")
        deps: list[str] = [spec.path(file.name, None, what)]  # the stages' code lives here
        datasets: list[str] = []
        _split_deps(spec, [(str(d), None) for d in item["deps"]], f"{what} deps", deps, datasets)
        params: list[Param] = []
        for entry in item["params"]:
            if isinstance(entry, dict):
                for params_file, keys in entry.items():
                    path = spec.path(str(params_file), None, f"{what} params")
                    params += [Param(path, str(key)) for key in keys]
            else:
                params.append(Param(DEFAULT_PARAMS, str(entry)))
        timeout = item["timeout"]
        if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
            raise spec.error(None, f"{what}: timeout must be a number of seconds above 0")
        stage = Stage(
            name=name, cmd=command(file, item["function"]), deps=tuple(dict.fromkeys(deps)),
            datasets=tuple(dict.fromkeys(datasets)), params=tuple(params),
            outs=tuple(spec.path(str(o), None, f"{what} outs") for o in item["outs"]),
            metrics=tuple(spec.path(str(m), None, f"{what} metrics") for m in item["metrics"]),
            timeout=float(timeout) if timeout is not None else None,
            env=tuple((str(k), str(v)) for k, v in item["env"].items()),
        )  # fmt: skip
        overlap = set(stage.deps) & set(stage.outputs)
        if overlap:
            raise spec.error(None, f"{what} both reads and writes {sorted(overlap)[0]!r}")
        pipeline.stages[name] = stage
    return pipeline


def _params(spec: _Spec, node: yaml.Node, what: str) -> list[Param]:
    if not isinstance(node, yaml.SequenceNode):
        raise spec.error(node, f"{what} must be a list of keys, or of {{file: [keys]}}")
    params: list[Param] = []
    for item in node.value:
        if isinstance(item, yaml.MappingNode):
            for file, f_node, keys in spec.mapping(item, what):
                path = spec.path(file, f_node, what)
                params += [Param(path, key) for key, _ in spec.strings(keys, f"{what}.{file}")]
        else:
            params.append(Param(DEFAULT_PARAMS, spec.scalar(item, f"each entry of {what}")))
    return params
