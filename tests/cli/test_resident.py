"""The resident process (ADR 16): the installed `tandem` command, run as a real process, hands
its command to a forked child of a resident that imported tandem once. The child must behave as
the command run in the caller: same output streams, exit code, working directory, environment,
umask, standard input and signals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tandem.cli import launcher

TANDEM = str(Path(sys.executable).with_name("tandem"))


class Caller:
    """Runs `tandem` as a process with a private resident directory and workspace."""

    def __init__(self, runtime: Path, home: Path) -> None:
        self.runtime = runtime
        self.env = {
            **os.environ,
            "XDG_RUNTIME_DIR": str(runtime),
            "TANDEM_HOME": str(home),
            "TANDEM_RESIDENT": "1",
            "TANDEM_RESIDENT_IDLE": "60",
            "TANDEM_URL": "",
            "TANDEM_PROJECT": "",
        }

    @property
    def sockets(self) -> list[Path]:
        found = self.runtime / f"tandem-resident-{os.getuid()}"
        return sorted(found.glob("*.sock")) if found.exists() else []

    def __call__(
        self, *args: str, cwd: Path | None = None, stdin: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TANDEM, *args],
            cwd=cwd,
            input=stdin,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    def popen(self, *args: str, cwd: Path, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [TANDEM, *args],
            cwd=cwd,
            env={**self.env, **env},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def warm(self) -> None:
        """Start a resident and wait until it serves: the first command runs in its own
        process and starts one for the next."""
        assert self("version").returncode == 0
        assert wait_until(lambda: len(self.sockets) == 1)

    def residents(self) -> list[int]:
        """Pids of the residents serving this caller's directory.

        A command's forked child shares its resident's command line and may still be between
        reporting its exit code and exiting when the caller returns, so a process whose parent
        is one of these is a command, not a resident."""
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
                # the parent pid is the second field after the parenthesised command name
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        return sorted(pid for pid, parent in parents.items() if parent not in parents)


@pytest.fixture
def caller(tmp_path: Path) -> Iterator[Caller]:
    # A short directory: a Unix socket's path has a 108-byte limit.
    runtime = Path(tempfile.mkdtemp(prefix="tr-", dir="/tmp"))
    runtime.chmod(0o700)
    calls = Caller(runtime, tmp_path / "ws")
    yield calls
    for pid in calls.residents():
        os.kill(pid, signal.SIGTERM)
    shutil.rmtree(runtime, ignore_errors=True)


def wait_until(condition: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_commands_run_in_a_resident_and_match_the_in_process_command(
    caller: Caller, tmp_path: Path
) -> None:
    created = caller("projects", "create", "churn")  # runs here, starts the resident
    assert created.returncode == 0, created.stderr
    assert wait_until(lambda: len(caller.sockets) == 1)
    assert len(caller.residents()) == 1

    through = caller("projects", "list", "--json")
    here = caller("projects", "list", "--json", TANDEM_RESIDENT="0")
    assert through.returncode == here.returncode == 0
    assert json.loads(through.stdout) == json.loads(here.stdout)
    assert [p["name"] for p in json.loads(through.stdout)["items"]] == ["churn"]
    assert len(caller.residents()) == 1  # the second command reused the first resident

    # errors: one line on stderr, nothing on stdout, the same exit code as in process
    missing = caller("runs", "show", "churn/runs/0123456789abcdef0123456789abcdef")
    missing_here = caller(
        "runs", "show", "churn/runs/0123456789abcdef0123456789abcdef", TANDEM_RESIDENT="0"
    )
    assert (missing.returncode, missing.stdout, missing.stderr) == (
        missing_here.returncode,
        missing_here.stdout,
        missing_here.stderr,
    )
    assert missing.returncode == 3 and missing.stderr.startswith("error: ")
    usage = caller("nosuch")
    assert usage.returncode == 2
    assert usage.stderr.strip() == "error: No such command 'nosuch'. (see: tandem --help)"
    # the top-level help is the one the resident left beside its socket: no fork needed
    helped = caller("--help")
    assert helped.returncode == 0 and helped.stdout.startswith("Usage: tandem ")
    assert helped.stdout == caller("--help", TANDEM_RESIDENT="0").stdout
    [help_file] = caller.sockets[0].parent.glob("*.help")  # named by the socket and the code
    assert help_file.name.startswith(caller.sockets[0].stem + ".")


def test_the_child_takes_the_callers_directory_environment_umask_and_stdin(
    caller: Caller, tmp_path: Path
) -> None:
    assert caller("projects", "create", "churn").returncode == 0
    caller.warm()
    work = tmp_path / "repo"
    work.mkdir()
    # the stage's parent is the command: a fork of the resident, under the resident's name
    (work / "tandem.yaml").write_text(
        "stages:\n"
        "  facts:\n"
        "    cmd: 'pwd > facts.txt; umask >> facts.txt; echo $FROM_CALLER >> facts.txt;"
        ' tr "\\000" " " < /proc/$PPID/cmdline >> facts.txt\'\n'
        "    outs: [facts.txt]\n"
    )
    (work / "tandem.toml").write_text('project = "churn"\n')
    ran = subprocess.run(
        ["sh", "-c", f"umask 027 && exec {TANDEM} run"],
        cwd=work,
        capture_output=True,
        text=True,
        env={**caller.env, "FROM_CALLER": "hello"},
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    facts = (work / "facts.txt").read_text().splitlines()
    assert facts[:3] == [str(work), "0027", "hello"]
    assert "tandem.cli.resident" in facts[3]

    # standard input reaches the command: a password read from stdin signs the user in later
    made = caller(
        "users",
        "create",
        "alice",
        "--role",
        "admin",
        "--password-stdin",
        stdin="correct horse battery staple\n",
    )
    assert made.returncode == 0, made.stderr
    empty = caller("users", "create", "bob", "--password-stdin", stdin="")
    assert empty.returncode == 2
    assert "no password on standard input" in empty.stderr


def test_signals_reach_the_command(caller: Caller, tmp_path: Path) -> None:
    assert caller("projects", "create", "churn").returncode == 0
    caller.warm()
    work = tmp_path / "repo"
    work.mkdir()
    (work / "tandem.toml").write_text('project = "churn"\n')
    (work / "tandem.yaml").write_text(
        "stages:\n  wait:\n    cmd: \"sh -c 'echo $$ > pid.txt; exec sleep 60'\"\n    outs: [x]\n"
    )
    # through the resident: Ctrl-C, and a caller killed outright; in its own process: SIGTERM
    for sent, resident in ((signal.SIGINT, "1"), (signal.SIGKILL, "1"), (signal.SIGTERM, "0")):
        (work / "pid.txt").unlink(missing_ok=True)
        process = caller.popen("run", cwd=work, TANDEM_RESIDENT=resident)
        assert wait_until(lambda: (work / "pid.txt").exists() and (work / "pid.txt").read_text())
        stage = int((work / "pid.txt").read_text())
        process.send_signal(sent)
        process.communicate(timeout=60)
        # Ctrl-C is forwarded; a caller killed outright hangs the command up; a command
        # terminated unwinds: in every case the stage's process does not outlive it
        assert (
            process.returncode
            == {signal.SIGINT: 130, signal.SIGKILL: -9, signal.SIGTERM: 143}[sent]
        )
        assert wait_until(lambda pid=stage: not _alive(pid)), f"stage survived {sent!r}"  # type: ignore[misc]
    runs = json.loads(caller("runs", "list", "--json", "--project", "churn").stdout)["items"]
    assert [run["status"] for run in runs] == ["killed"] * 3


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_concurrent_commands_each_get_their_own_child(caller: Caller) -> None:
    assert caller("projects", "create", "churn").returncode == 0
    caller.warm()
    processes = [
        subprocess.Popen(
            [TANDEM, "projects", "create", f"p{i}"],
            env=caller.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    names = {p["name"] for p in json.loads(caller("projects", "list", "--json").stdout)["items"]}
    assert names == {"churn", "p0", "p1", "p2", "p3"}
    # `warm` may have started a second resident before the first one's socket was up; that one
    # finds the lock taken and leaves within a second, and no other may stay
    assert wait_until(lambda: len(caller.residents()) == 1)


def test_an_idle_resident_exits_and_the_next_command_starts_another(caller: Caller) -> None:
    # 10 s idle, not 1: the test must see the resident between coming up and leaving, and a
    # parallel suite can starve this process for seconds (with 3 s it once missed the window)
    assert caller("projects", "list", TANDEM_RESIDENT_IDLE="10").returncode == 0
    # it came up ... (a resident imports all of tandem: on a busy 2-core host that took over 20 s)
    assert wait_until(lambda: len(caller.sockets) == 1, timeout=90)
    # ... and left
    assert wait_until(lambda: caller.residents() == [] and caller.sockets == [], timeout=60)
    assert caller("projects", "list").returncode == 0
    assert wait_until(lambda: len(caller.sockets) == 1)
    assert len(caller.residents()) == 1


def test_a_directory_others_can_enter_is_not_used(caller: Caller) -> None:
    shared = caller.runtime / f"tandem-resident-{os.getuid()}"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    listed = caller("projects", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)["items"] == []
    assert caller.residents() == [] and caller.sockets == []


def test_turned_off_the_command_runs_in_its_own_process(caller: Caller) -> None:
    assert caller("projects", "create", "churn", TANDEM_RESIDENT="0").returncode == 0
    assert caller.residents() == [] and caller.sockets == []


def test_a_new_state_of_the_code_or_packages_gets_a_new_resident(tmp_path: Path) -> None:
    package = tmp_path / "tandem"
    (package / "cli").mkdir(parents=True)
    module = package / "cli" / "main.py"
    module.write_text("x = 1\n")
    site = tmp_path / "site-packages"
    site.mkdir()
    stamp = launcher.code_stamp(str(package), [str(site)])
    assert launcher.code_stamp(str(package), [str(site)]) == stamp
    os.utime(module, ns=(time.time_ns(), time.time_ns() + 10**9))
    edited = launcher.code_stamp(str(package), [str(site)])
    assert edited != stamp
    (site / "newpackage").mkdir()  # an install changes its directory
    os.utime(site, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    assert launcher.code_stamp(str(package), [str(site)]) != edited


def _files(caller: Caller) -> list[str]:
    folder = caller.runtime / f"tandem-resident-{os.getuid()}"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_resident_status_and_stop_leave_nothing_behind(caller: Caller) -> None:
    off = caller("resident", "status", "--json")
    assert off.returncode == 0 and json.loads(off.stdout)["residents"] == []
    caller.warm()
    # the first command's own process may still be leaving as the resident comes up
    assert wait_until(lambda: len(caller.residents()) == 1)
    [pid] = caller.residents()
    shown = json.loads(caller("resident", "status", "--json").stdout)
    assert shown["enabled"] is True
    [entry] = shown["residents"]
    assert entry["pid"] == pid and entry["this_environment"] and entry["current"]
    table = caller("resident", "status")
    assert str(pid) in table.stdout and "this" in table.stdout
    assert {Path(name).suffix for name in _files(caller)} >= {".sock", ".json", ".help"}

    stopped = caller("resident", "stop", "--json")  # run by a child of the resident it stops
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout) == {"stopped": [pid]}
    assert wait_until(lambda: caller.residents() == [])
    assert wait_until(lambda: _files(caller) == [])  # socket, .json, .help and lock: gone
    assert caller("resident", "stop").stdout.strip() == "no resident running"


def test_an_idle_resident_takes_its_help_file_with_it(caller: Caller) -> None:
    assert caller("version", TANDEM_RESIDENT_IDLE="10").returncode == 0
    assert wait_until(lambda: any(n.endswith(".help") for n in _files(caller)), timeout=90)
    assert wait_until(lambda: caller.residents() == [] and _files(caller) == [], timeout=60)


def test_an_install_replaces_the_resident_instead_of_adding_one(
    caller: Caller, tmp_path: Path
) -> None:
    """One resident per environment: after a package is installed (its folder on the import
    path changes), the next command finds the resident outdated; it leaves at once and that
    command starts the one that replaces it, never a second beside it."""
    site = tmp_path / "site"
    site.mkdir()
    path = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH", ""), str(site)]))
    caller.env["PYTHONPATH"] = path
    caller.warm()
    [old] = caller.residents()
    [old_help] = [n for n in _files(caller) if n.endswith(".help")]
    (site / "newpackage").mkdir()  # `pip install` into a folder on the import path
    os.utime(site, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))

    listed = caller("projects", "list", "--json")  # runs here, and replaces the resident
    assert listed.returncode == 0, listed.stderr
    assert wait_until(lambda: old not in caller.residents(), timeout=10)
    assert wait_until(lambda: len(caller.residents()) == 1, timeout=90)
    assert len(caller.sockets) == 1
    assert old_help not in _files(caller)
    assert wait_until(lambda: any(n.endswith(".help") for n in _files(caller)), timeout=30)
    # the new one serves: the command runs in a child of it
    status = json.loads(caller("resident", "status", "--json").stdout)
    assert [r["current"] for r in status["residents"]] == [True]
