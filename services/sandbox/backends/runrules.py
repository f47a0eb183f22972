"""How a run request becomes a command and its ending a result, the same on every
backend: the program's name, the JVM's and node's heap flags, the rlimits, output
capture, and the RunResult with its verdict.
"""

import math
import os
import re
import resource
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from contracts.sandbox import RunRequest, RunResult
from services.sandbox.backends.verdict import RunFacts, judge

if TYPE_CHECKING:  # supervised.py captures output with BoundedOutput, from here
    from services.sandbox.backends.supervised import Ending

MIB = 1024 * 1024
_JAVA_OPTIONS_NOTICE = re.compile(rb"^Picked up JAVA_TOOL_OPTIONS: .*(?:\n|$)", re.MULTILINE)
Rlimit = tuple[int, int, int]


def program_words(request: RunRequest) -> list[str]:
    """argv, or the words of the shell command."""
    return request.argv or (request.shell or "").split()


def program_name(request: RunRequest) -> str:
    """The program's file name: argv[0], or the first word of the shell command."""
    words = program_words(request)
    return PurePosixPath(words[0]).name if words else ""


# A command with none of these is a plain program and its arguments: it runs without a
# shell, so the program's own ending (a signal, its CPU time) reaches the verdict.
_SHELL_SYNTAX = frozenset("|&;<>()$`\\\"'*?[]#~=%{}!\n\t")


# Shell builtins with no program of the same name: only a shell can run them.
_SHELL_ONLY = frozenset(
    {
        ".", ":", "alias", "bg", "break", "cd", "command", "continue", "eval", "exec",
        "exit", "export", "fg", "getopts", "hash", "jobs", "local", "read", "readonly",
        "return", "set", "shift", "source", "times", "trap", "type", "ulimit", "umask",
        "unset", "wait",
    }
)  # fmt: skip


def runs_through_shell(request: RunRequest) -> bool:
    if request.argv:
        return False
    command = request.shell or ""
    words = command.split()
    return bool(_SHELL_SYNTAX & set(command)) or not words or words[0] in _SHELL_ONLY


def command_argv(request: RunRequest) -> list[str]:
    """argv as given; a simple shell command split into its words; else `sh -c`."""
    if request.argv:
        return request.argv
    if runs_through_shell(request):
        return ["/bin/sh", "-c", request.shell or ""]
    return program_words(request)


def is_java(program: str) -> bool:
    return "java" in program  # java, javac


def heap_limit_environment(program: str, memory_limit_mb: int) -> dict[str, str]:
    """For runtimes that RLIMIT_AS would break: their own heap limit, from the memory limit."""
    if is_java(program):
        # No perf data files in the shared /tmp either.
        options = f"-Xmx{memory_limit_mb}m -XX:+UseSerialGC -Xss8m -XX:-UsePerfData"
        return {"JAVA_TOOL_OPTIONS": options}
    if program in ("node", "nodejs"):
        return {"NODE_OPTIONS": f"--max-old-space-size={memory_limit_mb}"}
    return {}


def rlimits(
    request: RunRequest,
    *,
    file_size_bytes: int,
    open_files: int,
    bound_address_space: bool,
    max_processes: int | None = None,
) -> list[Rlimit]:
    """CPU seconds (hard limit one more: SIGXCPU first), file size, no core, open files;
    address space unless the runtime has a heap flag; processes where counted per uid."""
    cpu_seconds = math.ceil(request.cpu_time_limit_ms / 1000)
    limits = [
        (resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1),
        (resource.RLIMIT_FSIZE, file_size_bytes, file_size_bytes),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NOFILE, open_files, open_files),
    ]
    if bound_address_space:
        memory = request.memory_limit_mb * MIB
        limits.append((resource.RLIMIT_AS, memory, memory))
    if max_processes is not None:
        limits.append((resource.RLIMIT_NPROC, max_processes, max_processes))
    return limits


class BoundedOutput:
    """Keeps at most `limit` bytes of a stream and says when more arrived."""

    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self.total = 0
        self._limit = limit

    def feed(self, chunk: bytes) -> bool:
        """Keep what fits; True only for the chunk that first passes the limit."""
        was_over = self.overflowed
        self.data += chunk[: max(0, self._limit - len(self.data))]
        self.total += len(chunk)
        return self.overflowed and not was_over

    @property
    def overflowed(self) -> bool:
        return self.total > self._limit


def run_result(ending: "Ending", request: RunRequest) -> RunResult:
    exit_code, signal_number = exit_code_and_signal(ending.status)
    raw_stderr = ending.stderr
    if is_java(program_name(request)):  # the JVM announces JAVA_TOOL_OPTIONS: ours
        raw_stderr = _JAVA_OPTIONS_NOTICE.sub(b"", raw_stderr)
    stderr = raw_stderr.decode("utf-8", errors="replace")
    facts = RunFacts(
        exit_code=exit_code,
        signal=signal_number,
        cpu_ms=ending.cpu_ms,
        peak_memory_kb=ending.peak_memory_kb,
        stderr=stderr,
        killed_at_wall_limit=ending.killed_at_wall_limit,
        output_overflowed=ending.stdout_truncated or ending.stderr_truncated,
        through_shell=runs_through_shell(request),
        heap_limited=bool(heap_limit_environment(program_name(request), 1)),
    )
    return RunResult(
        exit_code=exit_code,
        signal=signal_number,
        cpu_ms=ending.cpu_ms,
        wall_ms=ending.wall_ms,
        peak_memory_kb=ending.peak_memory_kb,
        stdout=ending.stdout.decode("utf-8", errors="replace"),
        stderr=stderr,
        stdout_truncated=ending.stdout_truncated,
        stderr_truncated=ending.stderr_truncated,
        verdict=judge(facts, request),
    )


def exit_code_and_signal(status: int) -> tuple[int | None, int | None]:
    code = os.waitstatus_to_exitcode(status)
    return (code, None) if code >= 0 else (None, -code)
