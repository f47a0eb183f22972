"""Runs one sandboxed command and reports how it ended; started by the local backend.

    python -I -S supervisor.py CONFIG_JSON

A small process of its own between the backend and the program, for two reasons:
- ru_maxrss counts the address space a process had before exec, so a program forked
  straight from the (large) backend would report the backend's memory as its own peak;
  forked from here, its floor is this script's few megabytes;
- the limits and the privilege drop run between fork and exec, which is only safe in a
  single-threaded process.

The program gets its own process group, the rlimits, umask 077 and (optionally) the
sandbox uid, and is killed with its whole group at the wall-time limit and when it ends.
On the report fd this writes one JSON line {"pid"} once the group exists, then one JSON
line with the wait status, CPU and wall milliseconds, peak memory and whether time ran out.
Only the standard library, no site packages: -I keeps the workspace off sys.path.
"""

import contextlib
import json
import os
import resource
import signal
import sys
import time
from typing import Any, NoReturn

# The program's stdin, stdout and stderr are the supervisor's; it writes to none of them.
_PROGRAM_FDS = (0, 1, 2)
_GO = b"go"


def main() -> None:
    config: dict[str, Any] = json.loads(sys.argv[1])
    report_fd: int = config["report_fd"]
    go_read, go_write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(go_write)
        _become_program(config, go_read)
    os.close(go_read)
    # Both sides set the group, so it exists whichever runs first.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.setpgid(child, child)
    _let_go_of_program_fds()
    _report(report_fd, {"pid": child})
    started = time.monotonic()
    os.write(go_write, _GO)
    os.close(go_write)
    ending = _wait(child, config["wall_time_limit_ms"])
    ending["wall_ms"] = round((time.monotonic() - started) * 1000)
    _report(report_fd, ending)


def _become_program(config: dict[str, Any], go_read: int) -> NoReturn:
    try:
        os.setpgid(0, 0)
        os.close(config["report_fd"])
        if os.read(go_read, len(_GO)) != _GO:  # the supervisor died before letting us go
            os._exit(125)
        os.close(go_read)
        _restrict(config)
    except BaseException as error:  # never fall back into the supervisor's code
        _say(f"sandbox set-up failed: {error!r}\n")
        os._exit(126)
    _execute(config["argv"])


def _execute(argv: list[str]) -> NoReturn:
    try:
        os.execvp(argv[0], argv)
    except OSError as error:
        _say(f"cannot execute {argv[0]!r}: {error.strerror or error}\n")
        os._exit(127 if isinstance(error, FileNotFoundError) else 126)
    finally:
        os._exit(126)


def _restrict(config: dict[str, Any]) -> None:
    for limit, soft, hard in config["limits"]:
        resource.setrlimit(limit, (soft, hard))
    os.umask(0o077)
    # Python ignores these; an ignored disposition would survive exec.
    for signal_number in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(signal_number, signal.SIG_DFL)
    uid: int | None = config["uid"]
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def _wait(child: int, wall_time_limit_ms: int) -> dict[str, Any]:
    timed_out = False

    def on_wall_limit(_signal: int, _frame: object) -> None:
        nonlocal timed_out
        timed_out = True
        _kill_group(child)

    signal.signal(signal.SIGALRM, on_wall_limit)
    signal.setitimer(signal.ITIMER_REAL, wall_time_limit_ms / 1000)
    # Exited but not reaped, so its group id cannot be reused while we kill the group.
    os.waitid(os.P_PID, child, os.WEXITED | os.WNOWAIT)
    signal.setitimer(signal.ITIMER_REAL, 0)
    _kill_group(child)
    _pid, status, usage = os.wait4(child, 0)
    return {
        "status": status,
        "cpu_ms": round((usage.ru_utime + usage.ru_stime) * 1000),
        "peak_memory_kb": usage.ru_maxrss,  # kilobytes on Linux
        "supervisor_kb": _own_anonymous_kb(),
        "timed_out": timed_out,
    }


def _own_anonymous_kb() -> int:
    """This process's private memory: its share of a memory cgroup's peak, not the
    program's (its shared library pages were charged before it ran)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def _let_go_of_program_fds() -> None:
    # Holding the pipes open would hide the program's EOF and broken pipes.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in _PROGRAM_FDS:
        os.dup2(devnull, fd)
    os.close(devnull)


def _report(fd: int, message: dict[str, Any]) -> None:
    os.write(fd, json.dumps(message).encode() + b"\n")


def _say(text: str) -> None:
    os.write(2, text.encode(errors="replace"))


if __name__ == "__main__":
    main()
