"""Local process sandbox: runs commands as plain host processes under OS limits.

For the in-process mode and for development without Docker. Its isolation is WEAKER than
the Docker backend's; use Docker for anything exposed to real students.

What it gives, per lease:
- a fresh workspace directory (mode 0700) under `root`, deleted on release;
- a clean environment (fixed PATH, HOME=TMPDIR=workspace, LANG=C.UTF-8, nothing inherited);
- its own process group in a session of its own, SIGKILLed as a whole when a run ends;
  umask 077;
- rlimits: CPU seconds, address space, file size, no core dumps, 256 open files; the
  JVM and node reserve far more address space than they use, so they get a heap limit
  (-Xmx, --max-old-space-size) from the memory limit instead of RLIMIT_AS;
- no network when `unshare --net` works (an empty network namespace of its own);
- when the backend runs as root: an unprivileged host uid of its own (no passwd entry,
  no supplementary groups), a process-count limit, and a kill(-1) sweep as
  that uid after every run, which also reaches processes that left the process group.

What it does not give: the program sees the host's whole filesystem (readable where the
permissions allow; /tmp and /dev/shm writable and not cleaned on release), the host's
process list, and shares the host's kernel, CPUs and memory (RLIMIT_AS bounds each
process, not the tree). Without root there is no uid of its own: the program runs as the
backend's user, can touch the backend's files, and a process that leaves its process
group survives the run. Read-only files stop writes, not deletion or replacement.
Peak memory is exact above about 8 MB; below that it reads as the supervisor's own floor.
"""

import asyncio
import contextlib
import math
import os
import re
import resource
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from contracts.sandbox import RunRequest, RunResult
from services.sandbox.backends import workspace
from services.sandbox.backends.base import LeaseNotFound, SandboxError
from services.sandbox.backends.isolation import (
    SAFE_PATH,
    UidPool,
    delete_lease_network,
    kill_all_processes_of,
    lease_network,
    make_root,
    network_prefix,
)
from services.sandbox.backends.supervised import Ending, Launch, kill_group, run_supervised
from services.sandbox.backends.verdict import RunFacts, judge

MIB = 1024 * 1024
OPEN_FILES_LIMIT = 256
_JAVA_OPTIONS_NOTICE = re.compile(rb"^Picked up JAVA_TOOL_OPTIONS: .*(?:\n|$)", re.MULTILINE)


@dataclass(eq=False)
class _Lease:
    lease_id: str
    owner: str
    workspace: Path
    uid: int | None  # the host uid its programs run as; None when the backend is not root
    uid_lock_fd: int | None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    process_groups: set[int] = field(default_factory=set)
    released: bool = False
    # nsenter into the lease's own network namespace, when one could be made (as root).
    network: tuple[str, ...] | None = None


class LocalBackend:
    """SandboxBackend on local processes; see the module docstring for what it isolates."""

    def __init__(
        self,
        root: Path | None = None,
        isolate_network: bool | None = None,
        *,
        file_size_limit_bytes: int = 16 * MIB,
        max_processes: int = 256,
        read_limit_bytes: int | None = None,
    ) -> None:
        self._network_prefix = network_prefix(isolate_network)
        self._uids = UidPool() if os.geteuid() == 0 else None
        self._root = make_root(root, for_other_uids=self._uids is not None)
        self._file_size_limit = file_size_limit_bytes
        self._max_processes = max_processes
        self._read_limit = read_limit_bytes or file_size_limit_bytes
        self._leases: dict[str, _Lease] = {}
        self._lease_by_owner: dict[str, str] = {}
        self._closed = False

    @property
    def isolates_network(self) -> bool:
        return self._network_prefix is not None

    async def acquire(self, owner: str, language: str) -> str:
        if self._closed:
            raise SandboxError("the sandbox backend is closed")
        if (lease_id := self._lease_by_owner.get(owner)) is not None:
            return lease_id
        lease = self._new_lease(owner)
        self._leases[lease.lease_id] = lease
        self._lease_by_owner[owner] = lease.lease_id
        async with lease.lock:
            # A crashed earlier holder of this uid may have left processes behind.
            await self._kill_everything(lease)
        return lease.lease_id

    async def put_files(
        self, lease_id: str, files: dict[str, bytes], read_only: bool = False
    ) -> None:
        lease = self._lease(lease_id)
        for path in files:
            workspace.file_parts(path)  # refuse the whole batch before writing any of it
        async with self._locked(lease):
            await asyncio.to_thread(self._write_files, lease, files, read_only)

    async def run(self, lease_id: str, request: RunRequest) -> RunResult:
        lease = self._lease(lease_id)
        async with self._locked(lease):
            cwd = await asyncio.to_thread(workspace.resolve_directory, lease.workspace, request.cwd)
            launch = self._launch(lease, request, cwd)
            ending = await self._run_supervised(lease, launch)
        return run_result(ending, request, is_java=is_java(program_name(request)))

    async def read_file(self, lease_id: str, path: str) -> bytes | None:
        lease = self._lease(lease_id)
        workspace.file_parts(path)
        async with self._locked(lease):
            return await asyncio.to_thread(
                workspace.read_file, lease.workspace, path, self._read_limit
            )

    async def release(self, lease_id: str) -> None:
        lease = self._leases.pop(lease_id, None)
        if lease is None:
            return
        if self._lease_by_owner.get(lease.owner) == lease_id:
            del self._lease_by_owner[lease.owner]
        lease.released = True
        await self._kill_everything(lease)
        async with lease.lock:  # a run in flight finishes reaping before its directory goes
            await asyncio.to_thread(workspace.remove_tree, lease.workspace)
        if lease.network is not None:
            await asyncio.to_thread(delete_lease_network, _netns_name(lease.lease_id))
        if lease.uid_lock_fd is not None:
            os.close(lease.uid_lock_fd)  # frees the uid for the next lease

    async def release_owner(self, owner: str) -> None:
        lease_id = self._lease_by_owner.get(owner)
        if lease_id is not None:
            await self.release(lease_id)

    def metrics(self) -> dict[str, Any]:
        """No pools here: a workspace is made on demand, so only leases in use count."""
        return {
            "backend": "local",
            "languages": {},
            "leases_in_use": len(self._leases),
            "waits": 0,
            "reaped": 0,
        }

    async def close(self) -> None:
        self._closed = True
        await asyncio.gather(*(self.release(lease_id) for lease_id in list(self._leases)))
        await asyncio.to_thread(workspace.remove_tree, self._root)

    def _lease(self, lease_id: str) -> _Lease:
        lease = self._leases.get(lease_id)
        if lease is None:
            raise LeaseNotFound(f"no live lease {lease_id!r}")
        return lease

    @contextlib.asynccontextmanager
    async def _locked(self, lease: _Lease) -> AsyncIterator[None]:
        async with lease.lock:
            if lease.released:  # released while we waited for the lock
                raise LeaseNotFound(f"lease {lease.lease_id!r} was released")
            yield

    def _new_lease(self, owner: str) -> _Lease:
        uid, lock_fd = self._uids.reserve() if self._uids is not None else (None, None)
        directory = Path(tempfile.mkdtemp(prefix="lease-", dir=self._root))
        if uid is not None:
            os.chown(directory, uid, uid)
        lease_id = uuid.uuid4().hex
        network = None if self._network_prefix is None else lease_network(_netns_name(lease_id))
        return _Lease(lease_id, owner, directory, uid, lock_fd, network=network)

    def _write_files(self, lease: _Lease, files: dict[str, bytes], read_only: bool) -> None:
        uid = -1 if lease.uid is None else lease.uid
        # A read-only file stays ours, so the program cannot chmod it writable again.
        file_uid, mode = (-1, 0o444) if read_only else (uid, 0o644)
        for path, content in files.items():
            workspace.write_file(
                lease.workspace, path, content, directory_uid=uid, file_uid=file_uid, mode=mode
            )

    async def _kill_everything(self, lease: _Lease) -> None:
        for process_group in list(lease.process_groups):
            kill_group(process_group)
        if lease.uid is not None:
            await kill_all_processes_of(lease.uid)

    async def _run_supervised(self, lease: _Lease, launch: Launch) -> Ending:
        started: list[int] = []

        def on_started(process_group: int) -> None:
            started.append(process_group)
            lease.process_groups.add(process_group)
            if lease.released:  # released while the program was starting
                kill_group(process_group)

        async def after_exit() -> None:
            if lease.uid is not None:  # whatever left the process group
                await kill_all_processes_of(lease.uid)

        try:
            return await run_supervised(launch, on_started, after_exit)
        finally:
            lease.process_groups.difference_update(started)

    def _launch(self, lease: _Lease, request: RunRequest, cwd: Path) -> Launch:
        heap_limit = heap_limit_environment(program_name(request), request.memory_limit_mb)
        return Launch(
            argv=self._command(lease, request),
            cwd=cwd,
            env=_environment(lease.workspace) | heap_limit,
            limits=self._limits(lease, request, bound_address_space=not heap_limit),
            # With unshare, unshare drops to the uid itself: the namespace needs root first.
            uid=lease.uid if self._network_prefix is None else None,
            stdin=request.stdin.encode(),
            wall_time_limit_ms=request.wall_time_limit_ms,
            output_limit_bytes=request.output_limit_bytes,
        )

    def _command(self, lease: _Lease, request: RunRequest) -> list[str]:
        program = request.argv or ["/bin/sh", "-c", request.shell or ""]
        if self._network_prefix is None:
            return program
        uid = lease.uid
        as_uid = [] if uid is None else ["--setgid", str(uid), "--setuid", str(uid)]
        # nsenter and unshare take the same --setgid/--setuid to drop to the lease's uid.
        return [*(lease.network or self._network_prefix), *as_uid, "--", *program]

    def _limits(
        self, lease: _Lease, request: RunRequest, bound_address_space: bool
    ) -> list[tuple[int, int, int]]:
        cpu_seconds = math.ceil(request.cpu_time_limit_ms / 1000)
        limits = [
            (resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1),
            (resource.RLIMIT_FSIZE, self._file_size_limit, self._file_size_limit),
            (resource.RLIMIT_CORE, 0, 0),
            (resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT, OPEN_FILES_LIMIT),
        ]
        if bound_address_space:
            memory = request.memory_limit_mb * MIB
            limits.append((resource.RLIMIT_AS, memory, memory))
        if lease.uid is not None:  # counted per uid, so only meaningful with one of its own
            limits.append((resource.RLIMIT_NPROC, self._max_processes, self._max_processes))
        return limits


def _netns_name(lease_id: str) -> str:
    return f"autograder-{lease_id[:16]}"


def program_name(request: RunRequest) -> str:
    """The program's file name: argv[0], or the first word of the shell command."""
    words = request.argv or (request.shell or "").split()
    return PurePosixPath(words[0]).name if words else ""


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


def _environment(home: Path) -> dict[str, str]:
    return {"PATH": SAFE_PATH, "HOME": str(home), "LANG": "C.UTF-8", "TMPDIR": str(home)}


def run_result(ending: Ending, request: RunRequest, is_java: bool) -> RunResult:
    exit_code, signal_number = _exit_code_and_signal(ending.status)
    raw_stderr = ending.stderr
    if is_java:  # the JVM announces JAVA_TOOL_OPTIONS on stderr: ours, not the program's
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


def _exit_code_and_signal(status: int) -> tuple[int | None, int | None]:
    code = os.waitstatus_to_exitcode(status)
    return (code, None) if code >= 0 else (None, -code)
