"""Docker sandbox: one fresh, hardened container per lease, from a warm pool.

The strong backend, for anything exposed to real students. A lease takes a pre-started
container of its language (pool.py), so acquiring costs no container start; releasing
destroys the container. Files go into the container's tmpfs workspace through the
engine's archive API; every command runs through one exec under the local backend's
supervisor, which applies the rlimits and reports the program's rusage (docker_run.py).
The container's hardening lives in docker_engine.py.

Limits: per command CPU seconds, file size and open files as in the local backend, and
wall time; memory by the container's memory cgroup, set for each run to the run's limit
plus a little headroom for the supervisor (the JVM and node keep their heap flags and get
the container's whole share), so a program past its limit is OOM-killed and judged
memory_limit, as is one whose peak passed its limit inside the headroom. The peak is
the container's cgroup peak during the run where the host's cgroups are reachable
(cgroup_memory.py), so memory spread over processes counts. Per container
the most one lease may use (memory = memory + swap, CPU share, pids, tmpfs sizes).
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import structlog

from contracts.sandbox import RunRequest, RunResult, Verdict
from services.sandbox.backends import cgroup_memory, workspace
from services.sandbox.backends.base import LeaseNotFound, SandboxError
from services.sandbox.backends.cgroup_memory import MemoryCgroup, RunMeter
from services.sandbox.backends.docker_engine import DockerEngine, workspace_archive
from services.sandbox.backends.docker_run import CommandRun, wrapper_argv
from services.sandbox.backends.elf import may_have_failed_to_load, static_memory_bytes
from services.sandbox.backends.leases import LeaseTable
from services.sandbox.backends.metrics import metrics_dict
from services.sandbox.backends.pool import ContainerPool
from services.sandbox.backends.runrules import (
    MIB,
    command_argv,
    heap_limit_environment,
    program_name,
    program_words,
    rlimits,
)
from services.sandbox.settings import SandboxSettings

log = structlog.get_logger()
# What the supervisor and the shell around a run use of the container's memory.
HEADROOM_MB = 48


@dataclass(eq=False)
class _Lease:
    lease_id: str
    owner: str
    container_id: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    released: bool = False
    broken: bool = False  # its container had to be killed: it runs nothing more
    memory_mb: int = 0  # the container's memory limit now (0: as created)
    cgroup: MemoryCgroup | None = None  # found on its first run (None: not reachable)


class DockerBackend:
    """SandboxBackend on Docker containers; see the module docstring."""

    def __init__(self, settings: SandboxSettings, engine: DockerEngine | None = None) -> None:
        """Pools in the settings' namespace; `engine` replaces Docker in tests."""
        self._settings = settings
        self._engine = engine or DockerEngine(settings, settings.namespace)
        self._pool = ContainerPool(
            self._engine,
            settings.pool_sizes,
            acquire_timeout_s=settings.acquire_timeout_s,
            lease_ttl_s=settings.lease_ttl_s,
            on_expired=self._release_container,
        )
        self._leases = LeaseTable[_Lease]()
        self._lease_by_container: dict[str, str] = {}
        self._acquiring: dict[str, asyncio.Task[str]] = {}
        self._start_lock = asyncio.Lock()
        self._started = False
        self._metrics_logger: asyncio.Task[None] | None = None
        self._cgroups_unreachable_said = False

    async def start(self) -> None:
        """Remove leftovers of a crashed run and fill the pools; idempotent."""
        async with self._start_lock:
            if self._started:
                return
            await self._pool.start()
            self._started = True
            if self._settings.metrics_log_interval_s > 0:
                self._metrics_logger = asyncio.create_task(self._log_metrics_forever())

    async def wait_until_full(self, timeout_s: float) -> None:
        """Wait until every pool has all its containers idle (tests, benchmarks)."""
        await self.start()
        await self._pool.wait_until_full(timeout_s)

    def metrics(self) -> dict[str, Any]:
        return metrics_dict(self._pool.gauges(), self._pool.counters)

    async def acquire(self, owner: str, language: str) -> str:
        self._leases.check_open()
        await self.start()
        if (lease_id := self._leases.id_of(owner)) is not None:
            return lease_id
        pending = self._acquiring.get(owner)
        if pending is None:  # one container per owner, even when asked twice at once
            pending = asyncio.create_task(self._new_lease(owner, language))
            self._acquiring[owner] = pending
            pending.add_done_callback(lambda task: self._settle_acquire(owner, task))
        return await asyncio.shield(pending)

    def _settle_acquire(self, owner: str, task: asyncio.Task[str]) -> None:
        """Retrieve the outcome even when nobody waits for it any more (its handler was
        cancelled at shutdown), so a failure is logged rather than lost."""
        self._acquiring.pop(owner, None)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("sandbox acquire failed", owner=owner, error=repr(error))

    async def put_files(
        self, lease_id: str, files: dict[str, bytes], read_only: bool = False
    ) -> None:
        lease = self._leases.get(lease_id)
        # Checked (and normalised) as a whole batch before any of it is written.
        checked = {"/".join(workspace.file_parts(path)): data for path, data in files.items()}
        archive = workspace_archive(checked, read_only, mtime=time.time())
        async with self._locked(lease):
            await self._engine.put_archive(lease.container_id, archive)

    async def run(self, lease_id: str, request: RunRequest) -> RunResult:
        lease = self._leases.get(lease_id)
        cwd = "/".join(workspace.path_parts(request.cwd)) or "."
        heap_limit = heap_limit_environment(program_name(request), request.memory_limit_mb)
        # The memory cgroup bounds the run, not RLIMIT_AS: a C program that touches too
        # much is OOM-killed (memory_limit) instead of crashing on a NULL from malloc.
        argv = self._argv(request, cwd, bound_address_space=False)
        async with self._locked(lease):
            await self._limit_memory(lease, request, heap_limited=bool(heap_limit))
            meter = self._memory_meter(lease)
            try:
                ending = await CommandRun(self._engine, lease.container_id, request).execute(
                    argv, heap_limit
                )
            finally:
                cgroup_peak_kb = meter.peak_kb() if meter is not None else None
            result = ending.with_cgroup_peak(cgroup_peak_kb).result(request)
            if not heap_limit and may_have_failed_to_load(result):
                result = await self._judge_load_failure(lease, request, cwd, result)
        if lease.released:  # the container went away under the run
            raise LeaseNotFound(f"lease {lease_id!r} was released during the run")
        if ending.container_killed:
            lease.broken = True
        return result

    async def read_file(self, lease_id: str, path: str) -> bytes | None:
        lease = self._leases.get(lease_id)
        checked = "/".join(workspace.file_parts(path))
        async with self._locked(lease):
            return await self._engine.read_file(
                lease.container_id, checked, self._settings.file_size_limit_mb * MIB
            )

    async def release(self, lease_id: str) -> None:
        lease = self._leases.pop(lease_id)
        if lease is None:
            return
        self._lease_by_container.pop(lease.container_id, None)
        # Removing the container kills whatever still runs in it, a run in flight too.
        await self._pool.give_back(lease.container_id)

    async def release_owner(self, owner: str) -> None:
        # An acquire still waiting for a container would otherwise lease one afterwards
        # that nobody releases until its TTL.
        if (pending := self._acquiring.get(owner)) is not None:
            pending.cancel()
        lease_id = self._leases.id_of(owner)
        if lease_id is not None:
            await self.release(lease_id)

    async def close(self) -> None:
        self._leases.closed = True
        if self._metrics_logger is not None:
            self._metrics_logger.cancel()
        await asyncio.gather(*(self.release(lease_id) for lease_id in self._leases.ids()))
        await self._pool.close()
        await self._engine.close()

    async def _new_lease(self, owner: str, language: str) -> str:
        container_id = await self._pool.take(language)
        lease = _Lease(uuid.uuid4().hex, owner, container_id)
        self._leases.add(lease)
        self._lease_by_container[container_id] = lease.lease_id
        return lease.lease_id

    async def _release_container(self, container_id: str) -> None:
        """The pool's reaper: this container's lease outlived its TTL."""
        lease_id = self._lease_by_container.get(container_id)
        if lease_id is not None:
            await self.release(lease_id)

    @contextlib.asynccontextmanager
    async def _locked(self, lease: _Lease) -> AsyncIterator[None]:
        async with self._leases.locked(lease):
            if lease.broken:
                raise SandboxError(
                    "this sandbox's container was killed to stop a runaway program; "
                    "it cannot run anything more"
                )
            yield

    async def _limit_memory(self, lease: _Lease, request: RunRequest, heap_limited: bool) -> None:
        """The run's memory limit on the container's cgroup, plus room for the supervisor;
        a runtime with its own heap limit (JVM, node) gets the container's whole share."""
        ceiling = self._settings.memory_mb
        wanted = ceiling if heap_limited else min(ceiling, request.memory_limit_mb + HEADROOM_MB)
        if wanted != (lease.memory_mb or ceiling):
            await self._engine.set_memory(lease.container_id, wanted * MIB)
            lease.memory_mb = wanted

    def _memory_meter(self, lease: _Lease) -> RunMeter | None:
        """A meter of the run's peak in the container's cgroup, when the host's is here."""
        if lease.cgroup is None:
            lease.cgroup = cgroup_memory.locate(self._settings.cgroup_root, lease.container_id)
            if lease.cgroup is None:
                self._say_cgroups_unreachable()
                return None
        try:
            return lease.cgroup.begin()
        except OSError:  # the container (and its cgroup) went away: the run will say so
            return None

    def _say_cgroups_unreachable(self) -> None:
        if not self._cgroups_unreachable_said:
            self._cgroups_unreachable_said = True
            log.warning(
                "container memory cgroups not reachable: peak memory from rusage only",
                cgroup_root=str(self._settings.cgroup_root),
            )

    async def _judge_load_failure(
        self, lease: _Lease, request: RunRequest, cwd: str, result: RunResult
    ) -> RunResult:
        """A workspace binary too big for its address-space limit: a memory limit."""
        path = _workspace_program(request, cwd)
        if path is None:
            return result
        try:
            binary = await self._engine.read_file(
                lease.container_id, path, self._settings.file_size_limit_mb * MIB
            )
        except SandboxError:  # not a readable regular file: nothing to learn from it
            return result
        claimed = static_memory_bytes(binary) if binary is not None else None
        if claimed is not None and claimed > request.memory_limit_mb * MIB:
            return result.model_copy(update={"verdict": Verdict.MEMORY_LIMIT})
        return result

    def _argv(self, request: RunRequest, cwd: str, bound_address_space: bool) -> list[str]:
        """The wrapped command under its rlimits (memory is the cgroup's, not theirs)."""
        limits = rlimits(
            request,
            file_size_bytes=self._settings.file_size_limit_mb * MIB,
            open_files=self._settings.open_files,
            bound_address_space=bound_address_space,
        )
        return wrapper_argv(command_argv(request), limits, request.wall_time_limit_ms, cwd)

    async def _log_metrics_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.metrics_log_interval_s)
            log.info("sandbox pool metrics", **self.metrics())


def _workspace_program(request: RunRequest, cwd: str) -> str | None:
    """The workspace path of the program run (e.g. ./a.out), None for one on PATH."""
    words = program_words(request)
    if not words or "/" not in words[0] or words[0].startswith("/"):
        return None
    try:
        return "/".join(workspace.file_parts(f"{cwd}/{words[0]}"))
    except SandboxError:
        return None
