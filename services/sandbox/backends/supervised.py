"""One command run under supervisor.py, driven from the event loop.

Feeds stdin, keeps at most the output limit of stdout and of stderr (killing the
program's process group on overflow), waits for the supervisor and reads its report.
Several runs may be in flight at once: nothing here blocks the loop.
"""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from services.sandbox.backends.base import SandboxError
from services.sandbox.backends.runrules import BoundedOutput

SUPERVISOR_SCRIPT = Path(__file__).with_name("supervisor.py")
# How long to wait for the pipes to close once everything of the run was killed.
PIPE_DRAIN_GRACE_S = 1.0
# Beyond the wall-time limit, before the supervisor itself counts as stuck.
SUPERVISOR_GRACE_S = 10.0


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    limits: list[tuple[int, int, int]]  # (RLIMIT_*, soft, hard)
    uid: int | None  # the supervisor's child switches to it before exec
    stdin: bytes
    wall_time_limit_ms: int
    output_limit_bytes: int


@dataclass(frozen=True)
class Ending:
    status: int  # as from wait(2)
    cpu_ms: int
    peak_memory_kb: int
    wall_ms: int
    killed_at_wall_limit: bool
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    supervisor_kb: int = 0  # the supervisor's own memory, inside a cgroup's peak


async def run_supervised(
    launch: Launch, on_started: Callable[[int], None], after_exit: Callable[[], Awaitable[None]]
) -> Ending:
    """Run the launch; on_started gets the program's process group as soon as it exists,
    after_exit runs once the program and its group are dead, before the pipes drain."""
    report_read, report_write = os.pipe()
    try:
        supervisor = _spawn(launch, report_write)
    except BaseException:
        os.close(report_read)
        raise
    finally:
        os.close(report_write)
    run = _SupervisedRun(supervisor, launch)
    try:
        return await run.finish(os.fdopen(report_read, "rb", buffering=0), on_started, after_exit)
    finally:
        run.abandon_if_unfinished()


def kill_group(process_group: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process_group, signal.SIGKILL)


def _spawn(launch: Launch, report_fd: int) -> "subprocess.Popen[bytes]":
    config = {
        "argv": launch.argv,
        "limits": launch.limits,
        "uid": launch.uid,
        "wall_time_limit_ms": launch.wall_time_limit_ms,
        "report_fd": report_fd,
    }
    command = [sys.executable, "-I", "-S", str(SUPERVISOR_SCRIPT), json.dumps(config)]
    try:
        return subprocess.Popen(
            command,
            cwd=launch.cwd,
            env=launch.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(report_fd,),
            start_new_session=True,
        )
    except OSError as error:
        raise SandboxError(f"cannot start the sandbox supervisor: {error}") from error


class _Capture(asyncio.Protocol):
    """Keeps at most `limit` bytes of a pipe and calls on_overflow once when more arrive."""

    def __init__(self, limit: int, on_overflow: Callable[[], None]) -> None:
        self.output = BoundedOutput(limit)
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._on_overflow = on_overflow
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    @property
    def data(self) -> bytes:
        return bytes(self.output.data)

    @property
    def truncated(self) -> bool:
        return self.output.overflowed

    def data_received(self, data: bytes) -> None:
        if self.output.feed(data):
            self._on_overflow()

    def connection_lost(self, exc: Exception | None) -> None:
        _resolve(self.closed)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _SupervisedRun:
    def __init__(self, supervisor: "subprocess.Popen[bytes]", launch: Launch) -> None:
        self._supervisor = supervisor
        self._launch = launch
        self._program_group: int | None = None
        self._overflowed = False

    async def finish(
        self,
        report_pipe: IO[bytes],
        on_started: Callable[[int], None],
        after_exit: Callable[[], Awaitable[None]],
    ) -> Ending:
        report, report_transport = await _line_reader(report_pipe)
        limit = self._launch.output_limit_bytes
        stdout = await _capture(self._supervisor.stdout, limit, self._cut_off)
        stderr = await _capture(self._supervisor.stderr, limit, self._cut_off)
        feeder = asyncio.create_task(_feed(self._supervisor.stdin, self._launch.stdin))
        try:
            await self._wait_for_supervisor(report, on_started)
            await after_exit()
            final_report = _json_line(await report.readline())
            await asyncio.wait([stdout.closed, stderr.closed], timeout=PIPE_DRAIN_GRACE_S)
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
            _close(self._supervisor.stdin)  # in case the feeder was cancelled before it began
            report_transport.close()
            stdout.close()
            stderr.close()
        return _ending(final_report, stdout, stderr)

    def abandon_if_unfinished(self) -> None:
        """After an error or a cancellation: kill everything and reap in the background."""
        if self._supervisor.returncode is not None:
            return
        if self._program_group is not None:
            kill_group(self._program_group)
        kill_group(self._supervisor.pid)
        threading.Thread(target=self._supervisor.wait, daemon=True).start()

    async def _wait_for_supervisor(
        self, report: asyncio.StreamReader, on_started: Callable[[int], None]
    ) -> None:
        timeout_s = self._launch.wall_time_limit_ms / 1000 + SUPERVISOR_GRACE_S
        try:
            async with asyncio.timeout(timeout_s):
                started = _json_line(await report.readline())
                if started is not None:
                    self._adopt(started["pid"], on_started)
                await _exited(self._supervisor.pid)
        except TimeoutError:
            raise SandboxError("the sandbox supervisor did not finish in time") from None
        self._supervisor.wait()  # it has exited: this only reaps it

    def _adopt(self, program_group: int, on_started: Callable[[int], None]) -> None:
        self._program_group = program_group
        on_started(program_group)
        if self._overflowed:  # output ran over before we knew whom to kill
            kill_group(program_group)

    def _cut_off(self) -> None:
        self._overflowed = True
        if self._program_group is not None:
            kill_group(self._program_group)


def _ending(report: dict[str, Any] | None, stdout: _Capture, stderr: _Capture) -> Ending:
    if report is None:
        problem = bytes(stderr.data).decode(errors="replace").strip()
        raise SandboxError(f"the sandbox supervisor failed: {problem or 'no report'}")
    return Ending(
        status=report["status"],
        cpu_ms=report["cpu_ms"],
        peak_memory_kb=report["peak_memory_kb"],
        wall_ms=report["wall_ms"],
        killed_at_wall_limit=report["timed_out"],
        stdout=bytes(stdout.data),
        stderr=bytes(stderr.data),
        stdout_truncated=stdout.truncated,
        stderr_truncated=stderr.truncated,
    )


def _json_line(line: bytes) -> dict[str, Any] | None:
    return json.loads(line) if line.strip() else None


async def _line_reader(pipe: IO[bytes]) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    return reader, transport


async def _capture(pipe: IO[bytes] | None, limit: int, on_overflow: Callable[[], None]) -> _Capture:
    loop = asyncio.get_running_loop()
    _transport, capture = await loop.connect_read_pipe(lambda: _Capture(limit, on_overflow), pipe)
    return capture


async def _feed(pipe: IO[bytes] | None, data: bytes) -> None:
    """Write stdin without blocking the loop; a program that stops reading loses the rest."""
    if pipe is None:
        return
    if not data:
        pipe.close()
        return
    fd = pipe.fileno()
    os.set_blocking(fd, False)
    unsent = memoryview(data)
    try:
        while unsent:
            try:
                unsent = unsent[os.write(fd, unsent) :]
            except BlockingIOError:
                await _writable(fd)
    except (BrokenPipeError, ConnectionResetError):
        return
    finally:
        pipe.close()


async def _writable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_writer(fd, _resolve, ready)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


async def _exited(pid: int) -> None:
    """Wait until a child has exited, without reaping it."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:  # kernels before 5.3: a thread waits instead
        await asyncio.to_thread(os.waitid, os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        return
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()
    loop.add_reader(pidfd, _resolve, exited)
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


def _close(pipe: IO[bytes] | None) -> None:
    if pipe is not None:
        pipe.close()


def _resolve(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)
