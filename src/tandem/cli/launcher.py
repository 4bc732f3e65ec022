"""The `tandem` command's entry point: hands the command to the resident process (ADR 16).

A command's own work is often tens of milliseconds; importing FastAPI, SQLAlchemy, pydantic and
the services to do it takes about a second. The resident process (`tandem.cli.resident`) has
imported all of that once; for each command it forks a child that runs it with this process's
terminal (stdin, stdout and stderr are passed over the socket), working directory, environment
and umask, and reports its exit code. So this module imports only the standard library pieces
it needs, and a command costs Python's start-up plus a fork.

It runs the command here when the resident cannot be used: `TANDEM_RESIDENT=0`, not a POSIX
system, or no resident running yet (it then starts one for the next command, so the first
command is no slower than without a resident).

There is one resident per interpreter (virtual environment), tandem package and import path
(its socket is named by `resident_key`), whatever the workspace: each command opens its own.
It serves one state of tandem's code and installed packages (`code_stamp`, sent with every
command): after an upgrade or an edit, the next command finds it outdated, it leaves at once,
and that command starts its replacement. `tandem resident status|stop` show and stop them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import struct
import sys

# No `typing` (8 ms) here or in `tandem/__init__`: this module is every command's start-up.
FORWARDED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
HELP_ARGS = (["--help"], ["-h"])
HELP_WIDTH = 80  # the widest click renders help for
HEADER = struct.Struct("!I")
STATUS = struct.Struct("!i")


class Unavailable(Exception):
    """The resident cannot take this command; run it in this process."""


def main() -> None:
    """Run `tandem ARGS`: through the resident when it can, else in this process."""
    if _enabled():
        with contextlib.suppress(Unavailable):
            sys.exit(run_via_resident(sys.argv))
    from tandem.cli.main import main as run_here

    run_here()


def _enabled() -> bool:
    setting = os.environ.get("TANDEM_RESIDENT", "1").strip().lower()
    return os.name == "posix" and setting not in ("0", "off", "no", "false")


def socket_dir() -> str:
    """The per-user directory of resident sockets; refused unless only this user can enter it."""
    base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    path = os.path.join(base, f"tandem-resident-{os.getuid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise Unavailable(str(exc)) from exc
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise Unavailable(f"{path} is not a private directory of this user")
    return path


PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def code_stamp(package: str = PACKAGE_DIR, import_path: list[str] | None = None) -> str:
    """What a resident's imported code depends on: the interpreter, tandem's files (newest
    modification) and the import path's directories (their modification times change when a
    package is installed or removed)."""
    import hashlib

    newest = 0
    pending = [package]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        pending.append(entry.path)
                else:
                    newest = max(newest, entry.stat(follow_symlinks=False).st_mtime_ns)
    parts = [sys.executable, sys.version, package, str(newest)]
    for folder in sys.path if import_path is None else import_path:
        try:
            parts.append(f"{folder}:{os.stat(folder or '.').st_mtime_ns}")
        except OSError:
            parts.append(folder)
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=10).hexdigest()


def resident_key(import_path: list[str] | None = None) -> str:
    """Which resident serves this process: its interpreter (the virtual environment), where
    tandem is imported from and the import path (names only: an install in the same place
    keeps the key, and the resident is replaced, not joined by another)."""
    import hashlib

    # sys.path[0] is the script's folder (or the current one under `python -m`): not a choice
    # of code worth another resident
    folders = sys.path[1:] if import_path is None else import_path
    parts = [sys.executable, PACKAGE_DIR, *folders]
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=10).hexdigest()


def socket_path() -> str:
    return os.path.join(socket_dir(), f"{resident_key()}.sock")


OUTDATED = -1  # the resident's answer to a command from another state of the code: it leaves


def run_via_resident(argv: list[str]) -> int:
    """Run the command in a child of the resident; its exit code. With no resident running,
    start one for the next command and raise Unavailable: this one runs here, no slower than
    without a resident."""
    path, stamp = socket_path(), code_stamp()
    if argv[1:] in HELP_ARGS and _print_help(help_path(path, stamp)):
        if not os.path.exists(path):
            _start_resident(path, stamp)  # commands are likely to follow
        return 0
    for attempt in range(2):
        sock = _connect(path)
        if sock is None:
            _start_resident(path, stamp)
            raise Unavailable("the resident process is starting")
        try:
            pid = _submit(sock, argv, stamp)
        except (ConnectionError, OSError):
            sock.close()  # the resident was exiting (idle); the command never started
            if attempt:
                raise Unavailable("the resident process refused the command") from None
            continue
        if pid == OUTDATED:  # it runs older code and is leaving: start its replacement
            sock.close()
            _start_resident(path, stamp)
            raise Unavailable("the resident process is being replaced")
        return _wait_for_exit(sock, pid)
    raise Unavailable("unreachable")  # pragma: no cover


def help_path(path: str, stamp: str) -> str:
    """Where the resident on `path` running code `stamp` leaves the top-level help it rendered
    (removed when it leaves)."""
    return f"{path.removesuffix('.sock')}.{stamp}.help"


def info_path(path: str) -> str:
    """Where the resident on `path` says who it is (`tandem resident status`)."""
    return f"{path.removesuffix('.sock')}.json"


def _print_help(path: str) -> bool:
    """Print the top-level help a resident of this code rendered (at `path`), unless the
    terminal is narrower than it was rendered for."""
    try:
        if os.isatty(1) and os.get_terminal_size(1).columns < HELP_WIDTH:
            return False
        with open(path, "rb") as cached:
            text = cached.read()
    except OSError:
        return False
    sys.stdout.buffer.write(text)
    sys.stdout.flush()
    return True


def _connect(path: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def _start_resident(path: str, stamp: str) -> None:
    import subprocess

    try:
        subprocess.Popen(
            [sys.executable, "-m", "tandem.cli.resident", path, stamp],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # no terminal: the terminal's signals are ours to forward
            close_fds=True,
            cwd="/",
        )
    except OSError as exc:
        raise Unavailable(str(exc)) from exc


def _submit(sock: socket.socket, argv: list[str], stamp: str) -> int:
    """Send the command with this process's standard streams; the child's pid (or OUTDATED)."""
    import json

    umask = os.umask(0)
    os.umask(umask)
    request = json.dumps(
        {
            "argv": argv,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "umask": umask,
            "path0": sys.path[0] if sys.path else "",
            "stamp": stamp,
        }
    ).encode()
    fds = [_open_or_null(fd) for fd in (0, 1, 2)]
    socket.send_fds(sock, [b"T"], fds)
    sock.sendall(HEADER.pack(len(request)) + request)
    pid = read_exact(sock, STATUS.size)
    if pid is None:
        raise ConnectionError("no answer")
    return int(STATUS.unpack(pid)[0])


def _open_or_null(fd: int) -> int:
    try:
        os.fstat(fd)
    except OSError:
        return os.open(os.devnull, os.O_RDWR)
    return fd


def _wait_for_exit(sock: socket.socket, pid: int) -> int:
    import signal

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    for name in FORWARDED_SIGNALS:
        signum = getattr(signal, name)
        if signal.getsignal(signum) is not signal.SIG_IGN:  # `nohup` keeps the command
            signal.signal(signum, forward)
    status = read_exact(sock, STATUS.size)
    if status is None:  # the child died without reporting (killed)
        os.write(2, b"error: the command was killed\n")
        return 1
    return int(STATUS.unpack(status)[0])


def read_exact(sock: socket.socket, size: int) -> bytes | None:
    """`size` bytes from `sock`, or None if the other side closed it first."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


if __name__ == "__main__":
    main()
