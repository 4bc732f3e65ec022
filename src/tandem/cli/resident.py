"""The resident process behind the `tandem` command (ADR 16):
`python -m tandem.cli.resident SOCKET STAMP`.

It imports the CLI, the SDK, the REST app and the services once, builds the embedded app's
routes, then waits on a Unix socket. For each command the launcher sends its standard streams
(as file descriptors), argv, working directory, environment and umask; the resident forks, and
the child becomes that command: it runs in the caller's terminal and directory, opens the
workspace itself (the resident never opens one, so no connection or file is shared across a
fork), and reports its pid first and its exit code last. The resident exits after
`TANDEM_RESIDENT_IDLE` seconds (default 600) without a command, when another resident took
its socket, when a command comes from another state of the code (STAMP, see
`launcher.code_stamp`: it answers OUTDATED and leaves, and that command starts its
replacement), or on SIGTERM (`tandem resident stop`). Leaving, it removes its socket, its
`.json` (who it is, for `tandem resident status`) and its `.help`.

Fork safety: the resident holds no threads, connections or open workspaces when it forks; it
checks the first before it serves and refuses to serve otherwise.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from typing import Any, NoReturn

from tandem.cli.launcher import (
    HEADER,
    HELP_WIDTH,
    OUTDATED,
    STATUS,
    help_path,
    info_path,
    read_exact,
)

DEFAULT_IDLE_SECONDS = 600.0
TICK_SECONDS = 30.0
REQUEST_TIMEOUT = 5.0
# Imported before the first fork: what any command would otherwise import on its own.
PRELOAD = (
    "tandem.cli.main",
    "tandem.sdk.client",
    "tandem.sdk.data",
    "tandem.server.embedded",
    "tandem.pipelines.runner",
    "tandem.data.service",
    "sqlalchemy.dialects.sqlite",
    "blake3",
)


def preload(path: str | None = None, stamp: str = "") -> None:
    """Import what commands use and build the embedded app's routes (no workspace is opened);
    with the socket's `path`, also leave the top-level help beside it."""
    import importlib

    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    from tandem.cli.main import build_all, command
    from tandem.server import embedded

    group = command()
    build_all(group)
    embedded.prepare_app()
    if path is not None:
        _write_help(group, help_path(path, stamp))


def _write_help(group: Any, target: str) -> None:
    """`tandem --help` as the CLI renders it for a terminal HELP_WIDTH columns wide: the
    launcher prints it without a fork, even after this resident left."""
    # click wraps at a terminal's width less 2, at most HELP_WIDTH
    context = group.make_context(
        "tandem", [], resilient_parsing=True, terminal_width=HELP_WIDTH - 2,
        max_content_width=HELP_WIDTH,
    )  # fmt: skip
    text = (group.get_help(context) + "\n").encode()
    temporary = f"{target}.{os.getpid()}.tmp"
    with open(temporary, "wb") as out:
        out.write(text)
    os.replace(temporary, target)


def thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # not Linux: Python's own count
        return threading.active_count()


def serve(path: str, idle_seconds: float, stamp: str = "") -> int:
    """Serve commands on `path` until idle, outdated or stopped; 0 when another resident
    already owns it."""
    lock = _lock(f"{path}.lock")
    if lock is None:
        return 0  # another resident is starting or serving on this path
    try:
        preload(path, stamp)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(help_path(path, stamp))
        raise
    if thread_count() != 1:
        return 1  # forking a process with threads is unsafe; the launcher runs commands itself
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old_umask)
    listener.listen(64)
    inode = os.stat(path).st_ino
    _write_info(path, stamp, idle_seconds)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from tandem.cli.main import exit_on_signal

    signal.signal(signal.SIGTERM, exit_on_signal)  # `kill`: leave, removing the socket
    listener.settimeout(min(idle_seconds, TICK_SECONDS))
    last_command = time.monotonic()
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                if time.monotonic() - last_command >= idle_seconds or not _owns(path, inode):
                    return 0
                continue
            last_command = time.monotonic()
            if _fork_command(conn, listener, lock, stamp) == OUTDATED:
                return 0  # a newer state of the code wants this socket: leave it now
    finally:
        with contextlib.suppress(OSError):
            os.unlink(help_path(path, stamp))  # this resident's own (the stamp names it)
        if _owns(path, inode):
            for leftover in (path, info_path(path), f"{path}.lock"):
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
        listener.close()


def _write_info(path: str, stamp: str, idle_seconds: float) -> None:
    """Who serves on `path`: what `tandem resident status` shows and `stop` stops."""
    from tandem.cli.launcher import PACKAGE_DIR

    info = {
        "pid": os.getpid(),
        "python": sys.executable,
        "tandem": PACKAGE_DIR,
        "stamp": stamp,
        "started": time.time(),
        "idle_seconds": idle_seconds,
    }
    target = info_path(path)
    temporary = f"{target}.{os.getpid()}.tmp"
    with open(temporary, "w") as out:
        json.dump(info, out)
    os.replace(temporary, target)


def _lock(path: str) -> Any:
    """The resident's lock on `path`, or None while another holds it. A resident that is
    exiting holds it a moment longer than its socket, so keep trying for a second."""
    deadline = time.monotonic() + 1.0
    while True:
        lock = open(path, "a")  # noqa: SIM115 - held for the process's life
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
            continue
        return lock


def _owns(path: str, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def _fork_command(conn: socket.socket, listener: socket.socket, lock: Any, stamp: str) -> int:
    """Run the command on `conn` in a forked child; OUTDATED if it came from another state of
    the code (told so, it runs the command itself), else 0."""
    fds: list[int] = []
    try:
        conn.settimeout(REQUEST_TIMEOUT)
        if not _same_user(conn):
            return 0
        _, fds, _, _ = socket.recv_fds(conn, 1, 3)
        size = _received(conn, HEADER.size)
        request = json.loads(_received(conn, HEADER.unpack(size)[0]))
        if len(fds) != 3:
            return 0
        if request.get("stamp", stamp) != stamp:
            conn.sendall(STATUS.pack(OUTDATED))
            return OUTDATED
        conn.settimeout(None)
        if os.fork() == 0:
            listener.close()
            lock.close()  # the lock is the resident's; a long command must not keep it
            _become_command(conn, fds, request)
    except (OSError, ValueError, KeyError):
        return 0  # a client that went away or spoke nonsense; the next one is served
    finally:
        conn.close()
        for fd in fds:
            os.close(fd)
    return 0


def _same_user(conn: socket.socket) -> bool:
    creds = getattr(socket, "SO_PEERCRED", None)
    if creds is None:  # pragma: no cover - not Linux: the private directory guards the socket
        return True
    _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, creds, 12))
    return bool(uid == os.getuid())


def _received(conn: socket.socket, size: int) -> bytes:
    data = read_exact(conn, size)
    if data is None:
        raise ConnectionError("the client went away")
    return data


def _become_command(conn: socket.socket, fds: list[int], request: dict[str, Any]) -> NoReturn:
    """In the forked child: take the caller's streams, directory and environment, run the
    command, report its exit code, exit."""
    code = 1
    try:
        # as a fresh process has them; the CLI's main then sets SIGTERM's and SIGHUP's
        for name in ("SIGCHLD", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.umask(int(request["umask"]))
        sys.argv = [str(arg) for arg in request["argv"]]
        sys.path.insert(0, str(request["path0"]))  # the script's folder, as Python gives it
        _reopen_standard_streams()
        from tandem.cli import output

        output.reset_consoles()
        conn.sendall(STATUS.pack(os.getpid()))
        threading.Thread(target=_hang_up_with_caller, args=(conn,), daemon=True).start()
        code = _run_command()
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):  # the caller leaves once it has the code
            signal.signal(getattr(signal, name), signal.SIG_IGN)
        with contextlib.suppress(OSError):
            conn.sendall(STATUS.pack(code))
        os._exit(code)


def _run_command() -> int:
    from tandem.cli.main import main

    try:
        main()
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except KeyboardInterrupt:
        code = 130
    except Exception:  # what Python would print for an unhandled error
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    atexit._run_exitfuncs()  # close the workspace, flush the SDK's spool, as a normal exit would
    return code


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    print(value, file=sys.stderr)
    return 1


def _reopen_standard_streams() -> None:
    """Python chose the resident's streams' buffering for /dev/null; choose again for the
    caller's (a terminal is line-buffered, a pipe or file block-buffered)."""
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    encoding = sys.__stdout__.encoding if sys.__stdout__ else "utf-8"
    sys.stdin = open(0, encoding=encoding, closefd=False)  # noqa: SIM115
    sys.stdout = open(  # noqa: SIM115
        1,
        "w",
        encoding=encoding,
        closefd=False,
        buffering=1 if unbuffered or os.isatty(1) else -1,
    )
    sys.stderr = open(  # noqa: SIM115
        2, "w", encoding=encoding, errors="backslashreplace", closefd=False, buffering=1
    )


def _hang_up_with_caller(conn: socket.socket) -> None:
    """The caller sends nothing after its request: end of stream means it is gone (killed), and
    the command stops as if its terminal closed."""
    with contextlib.suppress(OSError):
        if conn.recv(1):
            return
    os.kill(os.getpid(), signal.SIGHUP)


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m tandem.cli.resident SOCKET [STAMP]")
    if sys.path and sys.path[0] == os.getcwd():  # `-m` put "/" first; each command has its own
        del sys.path[0]
    idle = float(os.environ.get("TANDEM_RESIDENT_IDLE", DEFAULT_IDLE_SECONDS))
    sys.exit(serve(sys.argv[1], idle, sys.argv[2] if len(sys.argv) == 3 else ""))


if __name__ == "__main__":
    main()
