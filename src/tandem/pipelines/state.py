"""What a stage's result depends on, and what the last run of it recorded.

`WorkTree` hashes files and folders under the pipeline's folder with BLAKE3, trusting a
remembered hash while the file's size, times and inode hold (the same cache `tandem data add`
uses), so an unchanged work tree costs one `stat` per file. A stage's key is the hash of its
command, the hashes of everything it reads and the values of the params it reads: the same key
means the same result. `tandem.lock` records, per stage, the key, the inputs and outputs with
their hashes and the run that produced them; it is written after every stage that finishes,
so an interrupted `tandem run` resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

import orjson
from blake3 import blake3

from tandem.data.ingest import HashCache, SourceFile, hash_source
from tandem.errors import InvalidInput
from tandem.pipelines.spec import YAML_LOADER, Param, Pipeline, Stage, paths_overlap

LOCK_FILE = "tandem.lock"
LOCK_SCHEMA = 1
SKIP_DIRS = {".git", ".tandem", "__pycache__", ".dvc"}


class WorkTree:
    """Hashes of the files under a pipeline's folder, by relative POSIX path."""

    def __init__(self, root: Path, cache: HashCache) -> None:
        self.root = root
        self._root = str(root)
        self.cache = cache
        self._known = cache.entries_under(root)
        self._fresh: list[tuple[SourceFile, str]] = []
        self._memo: dict[str, str | None] = {}
        self._folders: set[str] = set()  # memoised folder digests: forget() must reach them

    def hash(self, rel: str) -> str | None:
        """The file's BLAKE3, a folder's digest over its files, or None if nothing is there."""
        if rel not in self._memo:
            self._memo[rel] = self._hash(rel)
        return self._memo[rel]

    def forget(self, rel: str) -> None:
        """Hash `rel` afresh next time (it was just written), and any folder holding it."""
        self._memo.pop(rel, None)
        for folder in [f for f in self._folders if paths_overlap(f, rel)]:
            self._memo.pop(folder, None)
            self._folders.discard(folder)

    def _hash(self, rel: str) -> str | None:
        local = os.path.join(self._root, rel)  # strings, not Paths: this runs once a file
        try:
            st = os.lstat(local)
        except FileNotFoundError:
            return None
        if stat.S_ISREG(st.st_mode):
            return self._file(rel, local, st)
        if stat.S_ISDIR(st.st_mode):
            self._folders.add(rel)
            return folder_digest(self.files(rel))
        if stat.S_ISLNK(st.st_mode):
            raise InvalidInput(f"{rel} is a symbolic link: pipelines read and write real files")
        raise InvalidInput(f"{rel} is not a regular file or folder")

    def _file(self, rel: str, local: str, st: os.stat_result) -> str:
        known = self._known.get(local)
        if known is not None and known[:4] == (
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            st.st_ino,
        ):
            return known[4]
        source = SourceFile(rel, Path(local), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        oid = hash_source(source).oid
        self._known[local] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, oid)
        self._fresh.append((source, oid))
        return oid

    def files(self, rel: str) -> dict[str, str]:
        """Every file under the folder `rel`: path relative to the folder -> hash."""
        base = os.path.join(self._root, rel)
        skip_root, skip_base = len(self._root) + 1, len(base) + 1
        out: dict[str, str] = {}
        for folder, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in filenames:
                local = os.path.join(folder, name)
                st = os.lstat(local)
                if not stat.S_ISREG(st.st_mode):
                    raise InvalidInput(f"{local[skip_root:]} is not a regular file")
                out[local[skip_base:]] = self._file(local[skip_root:], local, st)
        return out

    def save(self) -> None:
        """Remember the hashes taken this time."""
        if self._fresh:
            self.cache.put(self._fresh)
            self._fresh = []


def clear_outputs(root: Path, outputs: tuple[str, ...]) -> None:
    """Remove a stage's outputs (files or folders) so it starts from nothing, as `dvc repro`
    does, and make sure the folders they go into exist."""
    for out in outputs:
        path = root / out
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)


def folder_digest(files: dict[str, str]) -> str:
    hasher = blake3()
    for path in sorted(files):
        hasher.update(f"{path}\0{files[path]}\n".encode())
    return "d" + hasher.hexdigest()[1:]  # a folder's digest never equals a file's


def read_params(pipeline: Pipeline, params: tuple[Param, ...]) -> dict[str, Any]:
    """The values of the params a stage reads, by name.

    Raises:
        InvalidInput: a params file that is missing or malformed, or a key not in it.
    """
    import yaml

    files: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for param in params:
        if param.file not in files:
            path = pipeline.root / param.file
            try:
                text = path.read_text(encoding="utf-8")
                files[param.file] = yaml.load(text, Loader=YAML_LOADER) or {}
            except FileNotFoundError:
                raise InvalidInput(f"params file {param.file} does not exist") from None
            except yaml.YAMLError as exc:
                raise InvalidInput(f"{param.file} is not valid YAML: {exc}") from None
        node: Any = files[param.file]
        for part in param.key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise InvalidInput(f"{param.file} has no key {param.key!r}")
            node = node[part]
        values[param.name] = node
    return values


def stage_key(stage: Stage, deps: dict[str, str | None], datasets: dict[str, str],
              params: dict[str, Any]) -> str:  # fmt: skip
    """The hash naming a stage's result: same command, inputs and params, same result."""
    body = {
        "cmd": stage.cmd,
        "deps": deps,
        "datasets": datasets,
        "params": params,
        "outs": list(stage.outs),
        "metrics": list(stage.metrics),
        "env": dict(stage.env),
    }
    return blake3(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def read_lock(pipeline: Pipeline) -> dict[str, Any]:
    """The stages recorded in `tandem.lock` (empty when there is none)."""
    path = pipeline.root / LOCK_FILE
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{LOCK_FILE} is not valid JSON ({exc}): delete it to rebuild") from None
    if not isinstance(data, dict) or data.get("schema") != LOCK_SCHEMA:
        raise InvalidInput(
            f"{LOCK_FILE} was written by another version of tandem: delete it to rebuild"
        )
    stages = data.get("stages")
    return stages if isinstance(stages, dict) else {}


def write_lock(pipeline: Pipeline, stages: dict[str, Any]) -> None:
    """Replace `tandem.lock` atomically: a reader sees the old file or the new one."""
    kept = {name: stages[name] for name in sorted(stages) if name in pipeline.stages}
    data = orjson.dumps({"schema": LOCK_SCHEMA, "stages": kept}, option=orjson.OPT_INDENT_2)
    fd, tmp = tempfile.mkstemp(dir=pipeline.root, prefix=".tandem.lock.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data + b"\n")
        os.replace(tmp, pipeline.root / LOCK_FILE)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


GITIGNORE = ".gitignore"


def gitignore_lines(pipeline: Pipeline, home: Path, outputs: list[str]) -> list[str]:
    """What git should not track next to the pipeline: the workspace folder (when it is inside
    the pipeline's folder) and `outputs`, as paths rooted at that folder (`/x`)."""
    lines = []
    with contextlib.suppress(ValueError):  # a workspace elsewhere is not ours to list
        inside = home.resolve().relative_to(pipeline.root.resolve()).as_posix()
        if inside != ".":
            lines.append(f"/{inside}/")
    lines.extend(f"/{out}" for out in outputs if out != ".")
    return list(dict.fromkeys(lines))


def _ignored_by_git(root: Path, lines: list[str]) -> set[str] | None:
    """Which of `lines` (paths rooted at `root`) git ignores already, whatever the pattern (a
    parent folder, `*.csv`, a global excludes file); None outside a git work tree."""
    import subprocess

    try:
        done = subprocess.run(
            ["git", "check-ignore", "--no-index", "--stdin"], cwd=root, capture_output=True,
            input="\n".join(line.strip("/") for line in lines).encode(), timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode not in (0, 1):  # 128: not a git work tree (or no git)
        return None
    return {f"/{path}" for path in done.stdout.decode().splitlines()} | {
        f"/{path}/" for path in done.stdout.decode().splitlines()
    }


def update_gitignore(pipeline: Pipeline, home: Path, outputs: list[str]) -> list[str]:
    """Add to the `.gitignore` next to the pipeline file what git should not track there and
    does not ignore yet (`gitignore_lines`), as `dvc` does for the outputs it writes; lines
    are added, never removed or reordered. Returns the lines added."""
    path = pipeline.root / GITIGNORE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    have = {line.strip() for line in text.splitlines()}
    missing = [line for line in gitignore_lines(pipeline, home, outputs) if line not in have]
    if missing:
        ignored = _ignored_by_git(pipeline.root, missing) or set()
        missing = [line for line in missing if line not in ignored]
    if missing:
        head = "" if not text or text.endswith("\n") else "\n"
        with path.open("a", encoding="utf-8") as handle:
            handle.write(head + "\n".join(missing) + "\n")
    return missing
