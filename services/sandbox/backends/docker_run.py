"""One command run inside a sandbox container, through one `docker exec`.

The exec starts a small shell wrapper as the sandbox user. The wrapper enters the
working directory, runs supervisor.py (the local backend's, passed as `python3 -c`, so
no file of ours lives where a program could change it), then SIGKILLs every other
process of the user (whatever left the program's process group; `kill -1` spares PID 1)
and reports how many OOM kills the container's memory cgroup saw meanwhile.

The exec has two output streams, so the supervisor's reports share stderr with the
program. The order on stderr is fixed:

    {"pid": N}                    before the program may run: always the first line
    ... the program's stderr ...
    {"status": ...}               once the program and its process group are dead
    {"oom_kills": K}              the wrapper's trailer, after the sweep

(or a single {"error": "no_directory"} line). `StderrChannel` takes them apart.

A program runs as the same user as its supervisor, so it can kill it or print lines
that look like its reports. A run without a trustworthy report (no report, or a
trailer the wrapper did not write: the stream stayed open and the exec had not ended
well) counts as killed, a runtime error saying so. At worst a program spoils its own
result: its wall time is bounded from outside (our deadline, then a kill of every
process of the user), its memory and processes by the container's cgroup.
"""

import asyncio
import contextlib
import json
import re
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from contracts.sandbox import RunRequest, RunResult, Verdict
from services.sandbox.backends.base import SandboxError
from services.sandbox.backends.runrules import BoundedOutput, run_result
from services.sandbox.backends.supervised import SUPERVISOR_SCRIPT, Ending

SUPERVISOR_SOURCE = SUPERVISOR_SCRIPT.read_text()
REPORT_FD = 3
# How much of stderr past the output limit is kept, so the reports at its end are found.
STDERR_SLACK_BYTES = 4096
STDERR_TAIL_BYTES = 64 * 1024
# Beyond the wall-time limit (which the supervisor enforces itself) before we step in.
OUTSIDE_GRACE_S = 5.0
# For the end of the stream once the run is over: after the wrapper's trailer the
# output is all in; after a kill from outside Docker waits 2 s for the pipes to close.
AFTER_TRAILER_GRACE_S = 1.0
DRAIN_GRACE_S = 3.0
KILL_TIMEOUT_S = 5.0
KILL_ATTEMPTS = 3
SUPERVISOR_KILLED_NOTICE = b"[sandbox] the program interfered with its supervisor and was stopped\n"

WRAPPER_SCRIPT = r"""
oom_kills() {
  for file in /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events; do
    [ -r "$file" ] || continue
    while read -r key value; do
      if [ "$key" = oom_kill ]; then echo "$value"; return; fi
    done < "$file"
  done
  echo 0
}
exec 4>&2 2>/dev/null
cd -- "$3" || { printf '%s\n' '{"error": "no_directory"}' >&4; exit 0; }
before=$(oom_kills)
# In a subshell: a shell reports a killed command on its own stderr, here /dev/null.
(exec python3 -I -S -c "$1" "$2" 2>&4 3>&4 4>&-)
kill -9 -1
printf '\n{"oom_kills": %s}\n' "$(( $(oom_kills) - before ))" >&4
"""


def wrapper_argv(
    program: list[str], limits: list[tuple[int, int, int]], wall_ms: int, cwd: str
) -> list[str]:
    """The exec's argv: the wrapper, the supervisor's source and config, the directory."""
    config = {
        "argv": program,
        "limits": limits,
        "uid": None,  # the exec already runs as the sandbox user
        "wall_time_limit_ms": wall_ms,
        "report_fd": REPORT_FD,
    }
    return ["/bin/sh", "-c", WRAPPER_SCRIPT, "sh", SUPERVISOR_SOURCE, json.dumps(config), cwd]


def kill_group_argv(process_group: int) -> list[str]:
    return ["/bin/sh", "-c", f"kill -9 -{int(process_group)}"]


KILL_EVERYTHING_ARGV = ["/bin/sh", "-c", "kill -9 -1"]


@dataclass(frozen=True)
class StderrParts:
    program_stderr: bytes
    truncated: bool
    report: dict[str, Any] | None  # the supervisor's final report
    oom_kills: int | None  # None when the wrapper did not get to say


class StderrChannel:
    """Takes the exec's stderr apart: header line, program stderr, report, trailer."""

    def __init__(self, limit: int) -> None:
        self.header: dict[str, Any] | None = None
        self._pending_header = bytearray()
        self._header_done = False
        self._limit = limit
        self._kept = bytearray()  # the start of everything after the header line
        self._tail = bytearray()  # the end of it, where the reports are
        self._total = 0

    def feed(self, chunk: bytes) -> None:
        if not self._header_done:
            chunk = self._take_header(chunk)
        room = self._limit + STDERR_SLACK_BYTES - len(self._kept)
        self._kept += chunk[: max(0, room)]
        self._tail = (self._tail + chunk)[-STDERR_TAIL_BYTES:]
        self._total += len(chunk)

    def has_trailer(self) -> bool:
        """Whether the wrapper's last line has come: everything of the run is in."""
        return _TRAILER.search(self._tail[-64:]) is not None

    @property
    def overflowed(self) -> bool:
        """Surely more program stderr than the limit, whatever the reports take."""
        return self._total > self._limit + STDERR_SLACK_BYTES

    def finish(self) -> StderrParts:
        tail_start = self._total - len(self._tail)
        program_end, report, oom_kills = _reports_in(bytes(self._tail))
        program_length = tail_start + program_end
        return StderrParts(
            program_stderr=bytes(self._kept[: min(program_length, self._limit)]),
            truncated=program_length > self._limit,
            report=report,
            oom_kills=oom_kills,
        )

    def _take_header(self, chunk: bytes) -> bytes:
        self._pending_header += chunk
        line, newline, rest = bytes(self._pending_header).partition(b"\n")
        if not newline:
            return b""
        self._header_done = True
        self.header = _json_object(line)
        if self.header is None:  # not ours: the supervisor did not even start
            return bytes(self._pending_header)
        return rest


_REPORT = re.compile(rb'\{"status": -?\d+, [^\n]*\}\n')
_TRAILER = re.compile(rb'\n\{"oom_kills": (-?\d+)\}\n$')


def _reports_in(tail: bytes) -> tuple[int, dict[str, Any] | None, int | None]:
    """Where the program's stderr ends in the tail, the final report, the OOM kills."""
    trailer = _TRAILER.search(tail)
    oom_kills = int(trailer.group(1)) if trailer else None
    end = trailer.start() if trailer else len(tail)
    for match in reversed(list(_REPORT.finditer(tail, 0, end))):
        report = _json_object(match.group())
        if report is not None and {"status", "cpu_ms", "wall_ms"} <= report.keys():
            return match.start(), report, oom_kills
    return end, None, oom_kills


def _json_object(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class ExecSession(Protocol):
    """One exec's attached streams (docker_engine.ExecSession, or a fake)."""

    async def read(self) -> tuple[int, bytes] | None: ...
    async def send(self, data: bytes) -> None: ...
    def end_input(self) -> None: ...
    async def exit_code(self) -> int | None: ...
    async def close(self) -> None: ...


class ExecHost(Protocol):
    """What a run needs of the engine (DockerEngine, or a fake)."""

    async def open_exec(
        self, container_id: str, argv: list[str], env: Mapping[str, str]
    ) -> ExecSession: ...

    async def run_quietly(self, container_id: str, argv: list[str], timeout_s: float) -> None: ...

    async def kill_container(self, container_id: str) -> None: ...
    async def set_memory(self, container_id: str, limit_bytes: int) -> None: ...


@dataclass(frozen=True)
class ContainerEnding:
    ending: Ending
    oom_killed: bool  # the container's cgroup OOM-killed a process during the run
    container_killed: bool  # nothing else could stop the run: the container is dead

    def result(self, request: RunRequest) -> RunResult:
        result = run_result(self.ending, request)
        if self.oom_killed and self._killed_by_the_cgroup(result):
            # The cgroup, not an rlimit, stopped it: a memory limit.
            return result.model_copy(update={"verdict": Verdict.MEMORY_LIMIT})
        return result

    def with_cgroup_peak(self, cgroup_peak_kb: int | None) -> "ContainerEnding":
        """The larger of rusage's biggest process and the cgroup's peak for the run less
        the supervisor's own share: all the program's processes and workspace files."""
        if cgroup_peak_kb is None:
            return self
        programs_kb = cgroup_peak_kb - self.ending.supervisor_kb
        peak_kb = max(self.ending.peak_memory_kb, programs_kb)
        return replace(self, ending=replace(self.ending, peak_memory_kb=peak_kb))

    def _killed_by_the_cgroup(self, result: RunResult) -> bool:
        return result.verdict is Verdict.RUNTIME_ERROR


class CommandRun:
    """Runs one wrapped command in a container and collects how it ended."""

    def __init__(self, host: ExecHost, container_id: str, request: RunRequest) -> None:
        self._host = host
        self._container_id = container_id
        self._request = request
        self._stdout = BoundedOutput(request.output_limit_bytes)
        self._stderr = StderrChannel(request.output_limit_bytes)
        self._kills: list[asyncio.Task[None]] = []
        self._cut_off = False
        self._timed_out_outside = False
        self._container_killed = False
        self._trailer_forged = False

    async def execute(self, argv: list[str], env: Mapping[str, str]) -> ContainerEnding:
        started = time.monotonic()
        session = await self._host.open_exec(self._container_id, argv, env)
        feeder = asyncio.create_task(_feed(session, self._request.stdin.encode()))
        try:
            await self._collect(session)
        except BaseException:  # cancelled, or the engine failed: leave nothing running
            await asyncio.shield(self._kill_everything())
            raise
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, *self._kills, return_exceptions=True)
            await session.close()
        return self._ending(round((time.monotonic() - started) * 1000))

    async def _collect(self, session: ExecSession) -> None:
        deadline_s = self._request.wall_time_limit_ms / 1000 + OUTSIDE_GRACE_S
        try:
            async with asyncio.timeout(deadline_s):
                await self._read_until_done(session, until_trailer=True)
        except TimeoutError:
            self._timed_out_outside = True
            await self._kill_everything()
            await self._drain(session, DRAIN_GRACE_S)
            return
        # Docker ends the stream only once stdin is in too, which a program that stopped
        # reading never takes: after the wrapper's last word, wait a moment only.
        if await self._drain(session, AFTER_TRAILER_GRACE_S) or await session.exit_code() == 0:
            return
        # The wrapper has not ended well: the "trailer" was the program's own.
        self._trailer_forged = True
        await self._kill_everything()
        await self._drain(session, DRAIN_GRACE_S)

    async def _drain(self, session: ExecSession, grace_s: float) -> bool:
        """Read what is left; whether the stream ended within the grace."""
        try:
            async with asyncio.timeout(grace_s):
                await self._read_until_done(session, until_trailer=False)
        except TimeoutError:
            return False
        return True

    async def _read_until_done(self, session: ExecSession, until_trailer: bool) -> None:
        """Read until the end of the stream (or the wrapper's trailer, when asked)."""
        while (chunk := await session.read()) is not None:
            stream, data = chunk
            (self._stdout if stream == 1 else self._stderr).feed(data)
            if not self._cut_off and (self._stdout.overflowed or self._stderr.overflowed):
                self._cut_off = True
                self._kills.append(asyncio.create_task(self._kill_program()))
            if until_trailer and stream == 2 and self._stderr.has_trailer():
                return

    async def _kill_program(self) -> None:
        """Over the output limit: kill the program's process group (the run then ends)."""
        header = self._stderr.header or {}
        group = header.get("pid")
        if not isinstance(group, int):
            await self._kill_everything()
            return
        try:
            await self._host.run_quietly(self._container_id, kill_group_argv(group), KILL_TIMEOUT_S)
        except (SandboxError, TimeoutError):
            await self._kill_everything()

    async def _kill_everything(self) -> None:
        """Every process of the sandbox user; the container itself when even that fails."""
        for _attempt in range(KILL_ATTEMPTS):
            try:
                await self._host.run_quietly(
                    self._container_id, KILL_EVERYTHING_ARGV, KILL_TIMEOUT_S
                )
                return
            except (SandboxError, TimeoutError):  # e.g. no pid left for the kill itself
                await asyncio.sleep(0.2)
        self._container_killed = True
        with contextlib.suppress(SandboxError, OSError):
            await self._host.kill_container(self._container_id)

    def _ending(self, wall_ms: int) -> ContainerEnding:
        parts = self._stderr.finish()
        if self._trailer_forged:  # then so may be the report: the run counts as killed
            parts = replace(parts, report=None)
        stopped_outside = self._timed_out_outside or self._container_killed
        self._raise_if_not_run(parts, stopped_outside)
        report = parts.report or _report_of_killed(wall_ms, stopped_outside)
        stderr = parts.program_stderr
        if parts.report is None and not stopped_outside:
            stderr = _with_notice(stderr, SUPERVISOR_KILLED_NOTICE)
        ending = Ending(
            status=report["status"],
            cpu_ms=report["cpu_ms"],
            peak_memory_kb=report["peak_memory_kb"],
            wall_ms=report["wall_ms"],
            killed_at_wall_limit=bool(report["timed_out"]) or self._timed_out_outside,
            stdout=bytes(self._stdout.data),
            stderr=stderr,
            stdout_truncated=self._stdout.overflowed,
            stderr_truncated=parts.truncated,
            supervisor_kb=report.get("supervisor_kb", 0),
        )
        return ContainerEnding(ending, bool(parts.oom_kills), self._container_killed)

    def _raise_if_not_run(self, parts: StderrParts, stopped_outside: bool) -> None:
        """The sandbox's own failures are errors; only the program's are results."""
        header = self._stderr.header
        if header is not None and header.get("error") == "no_directory":
            raise SandboxError(f"directory {self._request.cwd!r} does not exist in the workspace")
        if parts.report is None and header is None and not stopped_outside:
            problem = parts.program_stderr.decode(errors="replace").strip() or "no report"
            raise SandboxError(f"the sandbox supervisor failed: {problem}")


def _with_notice(stderr: bytes, notice: bytes) -> bytes:
    return stderr + (b"\n" if stderr and not stderr.endswith(b"\n") else b"") + notice


def _report_of_killed(wall_ms: int, timed_out: bool) -> dict[str, Any]:
    """No report came: the program (with its supervisor) was SIGKILLed."""
    return {
        "status": signal.SIGKILL,  # a wait status: killed by SIGKILL
        "cpu_ms": 0,
        "peak_memory_kb": 0,
        "wall_ms": wall_ms,
        "timed_out": timed_out,
    }


async def _feed(session: ExecSession, data: bytes) -> None:
    """Send stdin, then EOF; a program that stops reading loses the rest."""
    try:
        if data:
            await session.send(data)
        session.end_input()
    except (OSError, RuntimeError):
        return
