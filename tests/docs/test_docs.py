"""Docs that run: the code blocks of README.md and docs/*.md, and the scripts in examples/ (as
scripts/demo runs them, before the README's blocks), run as a user would copy them, so what the
docs show works.

Per markdown file, in document order, in one fresh workspace (a temp folder holding a copy of
examples/, the current directory of every block, `TANDEM_HOME` inside it):
- ```python blocks run in one Python process per file, in one namespace: a later block may use
  what an earlier one defined (as it would in a notebook or a script put together from them);
- ```bash / ```sh / ```shell blocks run with `bash -e -o pipefail`, `tandem` being the real
  command (the console script of this environment, through a private resident process);
- output and configuration blocks (console transcripts, text, yaml, toml, json, markdown...)
  are not run.
README.md runs as a newcomer follows it (`test_the_readme_from_a_fresh_clone`): scripts/demo's
steps first, its server left running on port 8765 in a network namespace of its own (as root),
then every block in order in the same folder, a git repository standing for the clone.

A block that cannot run here (it needs a PostgreSQL server, S3, a Ray cluster, an OIDC
provider, a browser, or runs for long) says so right before itself, visibly in the markdown
source: `<!-- docs-test: skip (needs a PostgreSQL server) -->`. Every skip is counted and listed
(`-rA` or `-s` shows them), and the count is capped, so skips stay few and deliberate.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import tandem

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SRC = Path(tandem.__file__).resolve().parents[1]  # the tandem under test
TANDEM = Path(sys.executable).with_name("tandem")
RUN = {"python", "py", "bash", "sh", "shell"}
MAX_SKIPS = 19  # lower it as docs become runnable; never raise it to hide a broken block
BLOCK_TIMEOUT = 600.0  # seconds: generous, the suite may share a busy machine

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<what>skip)\s*(?:\((?P<why>.+)\))?\s*-->\s*$")
REPLY = "\x00docs-test "
KEEP_GOING = bool(os.environ.get("TANDEM_DOCS_KEEP_GOING"))  # run on after a failed block


@dataclass
class Block:
    file: str
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None = None  # the reason, when the markdown says to skip it

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a markdown file, each with the skip marker right before it."""
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    name = str(path.relative_to(ROOT))
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        lang = opening["info"].strip().split(" ")[0].lower()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        prev = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        marker = MARKER.match(prev)
        skip = None
        if marker is not None:
            skip = (marker["why"] or "").strip()
            assert skip, f"{name}:{i + 1}: a docs-test skip needs a reason in parentheses"
        found.append(Block(name, i + 1, lang, "\n".join(body) + "\n", skip))
        i = j + 1
    return found


def _runnable(block: Block) -> bool:
    return block.lang in RUN


ALL = {path.name: blocks(path) for path in DOCS}
SKIPPED = [b for bs in ALL.values() for b in bs if b.skip is not None]


# -- the workspace ---------------------------------------------------------------------------


class Workspace:
    """A fresh folder with a copy of examples/, its own tandem workspace and a private resident
    process for the `tandem` command."""

    def __init__(self, folder: Path, prefix: list[str] | None = None) -> None:
        self.folder = folder
        self.prefix = prefix or []  # e.g. nsenter into a private network namespace
        shutil.copytree(ROOT / "examples", folder / "examples")
        # A short private directory: a Unix socket's path has a 108-byte limit.
        self.runtime = Path(tempfile.mkdtemp(prefix="td-", dir="/tmp"))
        self.runtime.chmod(0o700)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
        self.env = {
            **env,
            "TANDEM_HOME": str(folder / ".tandem"),
            "TANDEM_RESIDENT": "1",
            "TANDEM_RESIDENT_IDLE": "120",
            "XDG_RUNTIME_DIR": str(self.runtime),
            "PATH": f"{TANDEM.parent}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")])),
            "COLUMNS": "200",
            "PYTHONUNBUFFERED": "1",
            # the docs commit to git: a machine without a git identity (a CI runner) needs one
            "GIT_AUTHOR_NAME": env.get("GIT_AUTHOR_NAME", "tandem docs"),
            "GIT_AUTHOR_EMAIL": env.get("GIT_AUTHOR_EMAIL", "docs@tandem.invalid"),
            "GIT_COMMITTER_NAME": env.get("GIT_COMMITTER_NAME", "tandem docs"),
            "GIT_COMMITTER_EMAIL": env.get("GIT_COMMITTER_EMAIL", "docs@tandem.invalid"),
        }
        self._python: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._output: list[str] = []

    # shell blocks through the real command
    def shell(self, block: Block) -> tuple[bool, str]:
        done = subprocess.run(
            [*self.prefix, "bash", "-e", "-o", "pipefail", "-c", block.code],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT,
        )
        return done.returncode == 0, f"exit {done.returncode}\n{done.stdout}{done.stderr}"

    # python blocks in one process per file, one namespace
    def python(self, block: Block) -> tuple[bool, str]:
        if self._python is None:
            self._python = subprocess.Popen(
                [*self.prefix, sys.executable, "-u", "-c", WORKER],
                cwd=self.folder,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            threading.Thread(target=self._read, args=(self._python,), daemon=True).start()
        assert self._python.stdin is not None
        self._output.clear()
        self._python.stdin.write(json.dumps({"code": block.code, "where": block.where}) + "\n")
        self._python.stdin.flush()
        try:
            reply = self._replies.get(timeout=BLOCK_TIMEOUT)
        except queue.Empty:
            return False, f"timed out after {BLOCK_TIMEOUT:g} s\n" + "".join(self._output)
        if reply is None:
            return False, "the Python process died\n" + "".join(self._output)
        result = json.loads(reply)
        return result["ok"], "".join(self._output) + result["output"]

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(REPLY):
                self._replies.put(line[len(REPLY) :])
            else:
                self._output.append(line)
        self._replies.put(None)

    def close(self) -> None:
        if self._python is not None:
            assert self._python.stdin is not None
            self._python.stdin.close()
            try:
                self._python.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._python.kill()
                self._python.wait()
            assert self._python.stdout is not None
            self._python.stdout.close()
        for pid in self._residents():
            os.kill(pid, signal.SIGTERM)
        shutil.rmtree(self.runtime, ignore_errors=True)

    def _residents(self) -> list[int]:
        """Pids of the resident processes serving this workspace's private directory."""
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if b"tandem.cli.resident" in cmdline and any(
                str(self.runtime).encode() in part for part in cmdline
            ):
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        return sorted(pid for pid, parent in parents.items() if parent not in parents)


WORKER = textwrap.dedent(
    f"""
    import contextlib, io, json, sys, traceback
    namespace = {{"__name__": "__main__"}}
    reply = sys.stdout
    for request in sys.stdin:
        request = json.loads(request)
        captured = io.StringIO()
        ok = True
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            try:
                exec(compile(request["code"], request["where"], "exec"), namespace)
            except BaseException:
                ok = False
                traceback.print_exc()
        reply.write({REPLY!r} + json.dumps({{"ok": ok, "output": captured.getvalue()}}) + "\\n")
        reply.flush()
    """
)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    space = Workspace(tmp_path)
    yield space
    space.close()


def run_blocks(space: Workspace, found: list[Block]) -> tuple[list[str], list[str]]:
    """Run the runnable blocks in order: (what ran, what failed with its output)."""
    ran, failed = [], []
    for block in found:
        if not _runnable(block) or block.skip is not None:
            continue
        started = time.perf_counter()
        ok, output = (space.python if block.lang in ("python", "py") else space.shell)(block)
        took = time.perf_counter() - started
        ran.append(f"{block.where} ({block.lang}, {took:.1f} s)")
        if not ok:
            code = textwrap.indent(block.code.rstrip(), "    ")
            failed.append(f"{block.where} ({block.lang}) failed:\n{code}\n--- output ---\n{output}")
            if not KEEP_GOING:
                break  # later blocks may depend on this one
    return ran, failed


# -- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [path.name for path in DOCS if path.name != "README.md"])
def test_the_code_blocks_of_a_doc_run(name: str, workspace: Workspace) -> None:
    found = ALL[name]
    ran, failed = run_blocks(workspace, found)
    print(f"{name}: ran", *ran, sep="\n  ")
    skipped = [b for b in found if b.skip is not None and _runnable(b)]
    for block in skipped:
        print(f"  skipped {block.where}: {block.skip}")
    assert not failed, "\n\n".join(failed)


def test_skips_are_few_and_say_why() -> None:
    print(f"{len(SKIPPED)} blocks skipped:")
    for block in SKIPPED:
        print(f"  {block.where} ({block.lang}): {block.skip}")
    assert len(SKIPPED) <= MAX_SKIPS, "runnable docs beat skipped ones: make the block run"
    stray = [b.where for b in SKIPPED if not _runnable(b)]
    assert not stray, f"skip markers before blocks that are never run: {stray}"


# -- the README, as a newcomer follows it ----------------------------------------------------

DEMO_PORT = 8765  # where scripts/demo serves, and the README's blocks find the server
LOOPBACK_UP = textwrap.dedent(
    """
    import fcntl, socket, struct, sys
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flags = struct.unpack("16sh", fcntl.ioctl(probe, 0x8913, struct.pack("16sh", b"lo", 0)))[1]
    fcntl.ioctl(probe, 0x8914, struct.pack("16sh", b"lo", flags | 1))  # SIOCSIFFLAGS: IFF_UP
    print("up", flush=True)
    sys.stdin.read()  # hold the namespace until the test closes this pipe
    """
)


@contextlib.contextmanager
def private_loopback() -> Iterator[list[str]]:
    """A network namespace of its own (as root), so the README's server gets port 8765 however
    many runs share the machine: yields the command prefix that enters it. Without root, the
    machine's own loopback (the port must be free)."""
    if os.geteuid() != 0:
        with socket.socket() as probe:
            busy = probe.connect_ex(("127.0.0.1", DEMO_PORT)) == 0
        assert not busy, f"port {DEMO_PORT} is in use: the README's server runs there"
        yield []
        return
    holder = subprocess.Popen(
        ["unshare", "--net", sys.executable, "-c", LOOPBACK_UP],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "up\n"
        yield ["nsenter", f"--net=/proc/{holder.pid}/ns/net", "--"]
    finally:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()


def demo_steps() -> tuple[str, list[str]]:
    """scripts/demo's commands after its set-up, on this environment's tandem and python (the
    venv's `.venv/bin/`), and the command it ends with (serving), apart."""
    commands = []
    for line in (ROOT / "scripts" / "demo").read_text().splitlines():
        if not line.startswith((".venv/bin/", 'PATH="$PWD/.venv/bin:$PATH" ', "exec ")):
            continue
        if "pip install" in line:
            continue
        commands.append(line.replace('PATH="$PWD/.venv/bin:$PATH" ', "").replace(".venv/bin/", ""))
    *steps, serve = commands
    assert serve == 'exec tandem server "$@"', serve
    return "\n".join(steps) + "\n", serve.removeprefix("exec ").replace(' "$@"', "")


def http_get(space: Workspace, path: str, token: str | None = None) -> tuple[int, str]:
    """GET a page of the server the workspace's blocks see (from inside its namespace)."""
    script = textwrap.dedent(
        f"""
        import json, sys, time, urllib.error, urllib.request
        request = urllib.request.Request("http://127.0.0.1:{DEMO_PORT}{path}")
        if {token!r}:
            request.add_header("Authorization", "Bearer " + {token!r})
        for _ in range(600):  # the server may still be starting
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    status, body = answer.status, answer.read().decode()
                break
            except urllib.error.HTTPError as exc:
                status, body = exc.code, exc.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        else:
            sys.exit("nothing answers on port {DEMO_PORT}")
        print(json.dumps([status, body]))
        """
    )
    done = subprocess.run(
        [*space.prefix, sys.executable, "-c", script],
        env=space.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    status, body = json.loads(done.stdout)
    return int(status), str(body)


def test_the_readme_from_a_fresh_clone(tmp_path: Path) -> None:
    """The newcomer's path, in order, without editing a command: scripts/demo's steps in a fresh
    copy of the clone (a git repository holding examples/), its server left running on loopback,
    its web UI open without sign-in; then every block of README.md in order, in the same
    folder: a run from their own script, a dataset under a contract, models evaluated, a
    pipeline from a fresh folder, a brief with criteria and a RACI of real users, the server
    shared by token and a gate signed by maria through it. After that the server asks for
    sign-in."""
    git = "git init -q && git add -A && git commit -qm clone\n"
    serve_log = tmp_path / "server.log"
    with private_loopback() as prefix:
        (tmp_path / "clone").mkdir()
        space = Workspace(tmp_path / "clone", prefix)
        server = None
        try:
            steps, serve = demo_steps()
            ran, failed = run_blocks(space, [Block("git", 1, "bash", git)])
            ran_demo, failed_demo = run_blocks(space, [Block("scripts/demo", 1, "bash", steps)])
            assert not failed + failed_demo, "\n\n".join(failed + failed_demo)
            with serve_log.open("w") as log:  # the demo ends serving: left running
                server = subprocess.Popen(
                    [*prefix, "bash", "-c", f"exec {serve}"],
                    cwd=space.folder,
                    env={**space.env, "TANDEM_RESIDENT": "0"},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            status, page = http_get(space, "/projects/churn")  # 1. the web UI, no sign-in
            assert status == 200 and "Sign in" not in page, serve_log.read_text()
            assert "churn-lr" in page or "churn" in page

            readme_ran, readme_failed = run_blocks(space, ALL["README.md"])
            print("README.md: ran", *ran, *ran_demo, *readme_ran, sep="\n  ")
            assert not readme_failed, (
                "\n\n".join(readme_failed) + "\n--- server ---\n" + (serve_log.read_text()[-4000:])
            )
            # users exist now: the loopback server asks for sign-in, and says why
            status, _ = http_get(space, "/api/v1/projects")
            assert status == 401
            status, page = http_get(space, "/login")
            assert status == 200 and "Why sign in?" in page
            token = (space.folder / "ana.token").read_text().strip()
            status, body = http_get(
                space, "/api/v1/projects/retention/models/churn-gbm/versions", token
            )
            assert status == 200, body
            stages = {v["version"]: v["stage"] for v in json.loads(body)["items"]}
            assert stages[3] == "ready-for-review", stages  # 8. the gate maria signed
        finally:
            if server is not None:
                server.terminate()
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
            space.close()


def test_installs_come_from_the_clone() -> None:
    """`tandem` on the package index is another project: every install line in the docs and
    examples installs the clone (README.md's Install section says how, in one place)."""
    texts = {path.name: path.read_text() for path in DOCS}
    texts |= {path.name: path.read_text() for path in (ROOT / "examples").glob("*.py")}
    lines = [
        (name, match)
        for name, text in texts.items()
        for match in re.findall(r"pip install [^\n`)]*", text)
    ]
    assert len(lines) >= 10
    wrong = [(name, line) for name, line in lines if re.search(r"\btandem\b", line)]
    assert not wrong, f"installs from the package index: {wrong}"
    install = texts["README.md"].split("## Install", 1)[1].split("\n## ", 1)[0]
    for said in (".venv/bin/tandem", "source .venv/bin/activate", "pip install -e '.[models]'"):
        assert said in install
