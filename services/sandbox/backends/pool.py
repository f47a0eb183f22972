"""Warm pools of pre-started sandbox containers, one pool per language.

A pool's size counts its containers whatever their state (idle, leased or starting), so
it also bounds what one language may hold on the host. `take` hands out an idle
container, waiting (up to the acquire timeout) while none is idle; `give_back` starts
a replacement in the background and destroys the container: a container serves one
lease only. Leases older than the TTL are handed to `on_expired` and then destroyed.
`start` first removes the containers a crashed earlier run left behind.

The pool knows containers only by id; starting and removing them is the launcher's job,
so these rules are tested against a fake launcher.
"""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from services.sandbox.backends.base import SandboxError
from services.sandbox.backends.metrics import LanguageGauge, PoolCounters

log = structlog.get_logger()

MAX_RETRY_DELAY_S = 30.0
MAX_REAP_INTERVAL_S = 30.0


class NoSandboxAvailable(SandboxError, TimeoutError):
    """Every container of the language stayed busy (or failed to start) for too long."""


class ContainerLauncher(Protocol):
    async def start_container(self, language: str) -> str:
        """Create and start one hardened container; return its id."""
        ...

    async def remove_container(self, container_id: str) -> None:
        """Kill and remove a container and its workspace; quiet when it is gone already."""
        ...

    async def remove_leftovers(self) -> int:
        """Remove the containers an earlier, crashed run left; return how many."""
        ...

    async def remove_own(self) -> None:
        """Remove every container this launcher started (what close() may have missed)."""
        ...


@dataclass
class _LanguagePool:
    size: int
    idle: "asyncio.Queue[str]" = field(default_factory=asyncio.Queue)
    leased: dict[str, float] = field(default_factory=dict)  # container id -> since
    starting: int = 0  # being started, or waiting to retry a failed start
    failures_in_a_row: int = 0
    last_error: str | None = None

    def gauge(self) -> LanguageGauge:
        return LanguageGauge(self.size, self.idle.qsize(), len(self.leased), self.starting)

    def missing(self) -> int:
        return self.size - self.idle.qsize() - len(self.leased) - self.starting


class ContainerPool:
    def __init__(
        self,
        launcher: ContainerLauncher,
        sizes: dict[str, int],
        *,
        acquire_timeout_s: float,
        lease_ttl_s: float,
        on_expired: Callable[[str], Awaitable[None]],
        retry_delay_s: float = 1.0,
    ) -> None:
        self.counters = PoolCounters()
        self._launcher = launcher
        self._pools = {lang: _LanguagePool(size) for lang, size in sizes.items() if size > 0}
        self._language_of: dict[str, str] = {}  # leased container id -> language
        self._acquire_timeout_s = acquire_timeout_s
        self._lease_ttl_s = lease_ttl_s
        self._on_expired = on_expired
        self._retry_delay_s = retry_delay_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle_changed = asyncio.Condition()
        self._closed = False

    async def start(self) -> None:
        """Remove what a crashed earlier run left, fill every pool, start the reaper."""
        self.counters.leftovers_removed += await self._launcher.remove_leftovers()
        for language in self._pools:
            self._refill(language)
        self._spawn(self._reap_forever())

    async def take(self, language: str) -> str:
        """An idle container of the language, now leased; waits while none is idle."""
        pool = self._pool(language)
        if pool.idle.empty():
            self.counters.waits[language] += 1
        try:
            async with asyncio.timeout(self._acquire_timeout_s):
                container_id = await pool.idle.get()
        except TimeoutError:
            self.counters.wait_timeouts[language] += 1
            raise NoSandboxAvailable(self._busy_message(language, pool)) from None
        pool.leased[container_id] = time.monotonic()
        self._language_of[container_id] = language
        self.counters.acquired[language] += 1
        return container_id

    async def give_back(self, container_id: str) -> None:
        """Destroy a leased container and start its replacement; idempotent."""
        language = self._language_of.pop(container_id, None)
        if language is None:
            return
        del self._pools[language].leased[container_id]
        self._refill(language)
        await self._destroy(language, container_id)

    async def reap_expired(self) -> int:
        """Hand every lease older than the TTL to on_expired, then destroy it."""
        now = time.monotonic()
        expired = [
            (container_id, language)
            for language, pool in self._pools.items()
            for container_id, since in pool.leased.items()
            if now - since >= self._lease_ttl_s
        ]
        for container_id, language in expired:
            self.counters.reaped[language] += 1
            log.warning("sandbox lease reaped", language=language, ttl_s=self._lease_ttl_s)
            try:
                await self._on_expired(container_id)
            except Exception as error:  # the reaper must outlive any one lease
                log.error("reaping a sandbox lease failed", error=repr(error))
            await self.give_back(container_id)
        return len(expired)

    def gauges(self) -> dict[str, LanguageGauge]:
        return {language: pool.gauge() for language, pool in self._pools.items()}

    async def wait_until_full(self, timeout_s: float) -> None:
        """Wait until every pool holds its full size of idle containers."""
        async with asyncio.timeout(timeout_s), self._idle_changed:
            await self._idle_changed.wait_for(self._is_full)

    def _is_full(self) -> bool:
        return all(pool.idle.qsize() >= pool.size for pool in self._pools.values())

    async def close(self) -> None:
        """Stop refilling and destroy every container, idle and leased."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        removals = [self.give_back(container_id) for container_id in list(self._language_of)]
        for language, pool in self._pools.items():
            while not pool.idle.empty():
                removals.append(self._destroy(language, pool.idle.get_nowait()))
        await asyncio.gather(*removals, return_exceptions=True)
        # A start cancelled half-way may have left a container only the label still finds.
        with contextlib.suppress(Exception):
            await self._launcher.remove_own()

    def _pool(self, language: str) -> _LanguagePool:
        if self._closed:
            raise SandboxError("the sandbox backend is closed")
        pool = self._pools.get(language)
        if pool is None:
            known = ", ".join(sorted(self._pools)) or "none"
            raise SandboxError(f"no sandbox pool for language {language!r} (pools: {known})")
        return pool

    def _busy_message(self, language: str, pool: _LanguagePool) -> str:
        message = (
            f"no {language} sandbox became free within {self._acquire_timeout_s:g} s "
            f"(pool size {pool.size}: {len(pool.leased)} leased, {pool.starting} starting)"
        )
        if pool.last_error is not None:
            message += f"; starting containers fails: {pool.last_error}"
        return message

    def _refill(self, language: str) -> None:
        pool = self._pools[language]
        if self._closed:
            return
        for _ in range(pool.missing()):
            pool.starting += 1
            self._spawn(self._start_one(language, pool))

    async def _start_one(self, language: str, pool: _LanguagePool) -> None:
        try:
            container_id = await self._launcher.start_container(language)
        except Exception as error:  # any engine failure: count it, back off, try again
            await self._after_failed_start(language, pool, error)
            return
        pool.starting -= 1
        pool.failures_in_a_row, pool.last_error = 0, None
        self.counters.created[language] += 1
        if self._closed:
            await self._destroy(language, container_id)
            return
        pool.idle.put_nowait(container_id)
        async with self._idle_changed:
            self._idle_changed.notify_all()

    async def _after_failed_start(
        self, language: str, pool: _LanguagePool, error: Exception
    ) -> None:
        pool.failures_in_a_row += 1
        pool.last_error = str(error) or type(error).__name__
        self.counters.create_failures[language] += 1
        log.warning("sandbox container did not start", language=language, error=pool.last_error)
        delay = self._retry_delay_s * 2 ** (pool.failures_in_a_row - 1)
        try:
            # The slot stays counted as starting, so nothing else retries before the delay.
            await asyncio.sleep(min(delay, MAX_RETRY_DELAY_S))
        finally:
            pool.starting -= 1
        self._refill(language)

    async def _destroy(self, language: str, container_id: str) -> None:
        try:
            await self._launcher.remove_container(container_id)
        except Exception as error:  # left for the next start's leftover sweep
            log.error("sandbox container not removed", container=container_id, error=repr(error))
            return
        self.counters.destroyed[language] += 1

    async def _reap_forever(self) -> None:
        interval_s = min(self._lease_ttl_s / 4, MAX_REAP_INTERVAL_S)
        while True:
            await asyncio.sleep(interval_s)
            await self.reap_expired()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
