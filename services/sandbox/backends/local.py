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
  (-Xmx, --max-old-space-size) from the memory limit instead of RLIMIT_AS. Unlike the
  Docker backend (a memory cgroup per run), a C program past its limit sees malloc
  return NULL here and usually crashes: runtime_error where Docker says memory_limit;
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
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
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
from services.sandbox.backends.leases import LeaseTable
from services.sandbox.backends.runrules import (
    MIB,
    Rlimit,
    command_argv,
    heap_limit_environment,
    program_name,
    rlimits,
    run_result,
)
from services.sandbox.backends.supervised import Ending, Launch, kill_group, run_supervised

OPEN_FILES_LIMIT = 256


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
        self._leases = LeaseTable[_Lease]()

    @property
    def isolates_network(self) -> bool:
        return self._network_prefix is not None

    async def acquire(self, owner: str, language: str) -> str:
        self._leases.check_open()
        if (lease_id := self._leases.id_of(owner)) is not None:
            return lease_id
        lease = self._new_lease(owner)
        self._leases.add(lease)
        async with lease.lock:
            # A crashed earlier holder of this uid may have left processes behind.
            await self._kill_everything(lease)
        return lease.lease_id

    async def put_files(
        self, lease_id: str, files: dict[str, bytes], read_only: bool = False
    ) -> None:
        lease = self._leases.get(lease_id)
        for path in files:
            workspace.file_parts(path)  # refuse the whole batch before writing any of it
        async with self._leases.locked(lease):
            await asyncio.to_thread(self._write_files, lease, files, read_only)

    async def run(self, lease_id: str, request: RunRequest) -> RunResult:
        lease = self._leases.get(lease_id)
        async with self._leases.locked(lease):
            cwd = await asyncio.to_thread(workspace.resolve_directory, lease.workspace, request.cwd)
            launch = self._launch(lease, request, cwd)
            try:
                ending = await self._run_supervised(lease, launch)
            except SandboxError as error:
                if lease.released:  # released under the run: that, not the supervisor
                    raise LeaseNotFound(
                        f"lease {lease_id!r} was released during the run"
                    ) from error
                raise
        return run_result(ending, request)

    async def read_file(self, lease_id: str, path: str) -> bytes | None:
        lease = self._leases.get(lease_id)
        workspace.file_parts(path)
        async with self._leases.locked(lease):
            return await asyncio.to_thread(
                workspace.read_file, lease.workspace, path, self._read_limit
            )

    async def release(self, lease_id: str) -> None:
        lease = self._leases.pop(lease_id)
        if lease is None:
            return
        await self._kill_everything(lease)
        async with lease.lock:  # a run in flight finishes reaping before its directory goes
            await asyncio.to_thread(workspace.remove_tree, lease.workspace)
        if lease.network is not None:
            await asyncio.to_thread(delete_lease_network, _netns_name(lease.lease_id))
        if lease.uid_lock_fd is not None:
            os.close(lease.uid_lock_fd)  # frees the uid for the next lease

    async def release_owner(self, owner: str) -> None:
        lease_id = self._leases.id_of(owner)
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
        self._leases.closed = True
        await asyncio.gather(*(self.release(lease_id) for lease_id in self._leases.ids()))
        await asyncio.to_thread(workspace.remove_tree, self._root)

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
        program = command_argv(request)
        if self._network_prefix is None:
            return program
        uid = lease.uid
        as_uid = [] if uid is None else ["--setgid", str(uid), "--setuid", str(uid)]
        # nsenter and unshare take the same --setgid/--setuid to drop to the lease's uid.
        return [*(lease.network or self._network_prefix), *as_uid, "--", *program]

    def _limits(
        self, lease: _Lease, request: RunRequest, bound_address_space: bool
    ) -> list[Rlimit]:
        return rlimits(
            request,
            file_size_bytes=self._file_size_limit,
            open_files=OPEN_FILES_LIMIT,
            bound_address_space=bound_address_space,
            # Counted per uid, so only meaningful with a uid of its own.
            max_processes=None if lease.uid is None else self._max_processes,
        )


def _netns_name(lease_id: str) -> str:
    return f"autograder-{lease_id[:16]}"


def _environment(home: Path) -> dict[str, str]:
    return {"PATH": SAFE_PATH, "HOME": str(home), "LANG": "C.UTF-8", "TMPDIR": str(home)}
