"""The warm container pools against a fake launcher: waits, refills, reaping, crash cleanup."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from services.sandbox.backends.base import LeaseNotFound, SandboxError
from services.sandbox.backends.docker import DockerBackend
from services.sandbox.backends.pool import ContainerPool, NoSandboxAvailable
from services.sandbox.settings import SandboxSettings
from tests.component.sandbox.fakes import FakeLauncher
from tests.support import eventually

PoolMaker = Callable[..., Awaitable[ContainerPool]]


async def nothing(_container_id: str) -> None:
    return None


@pytest.fixture
async def make_pool() -> AsyncIterator[PoolMaker]:
    pools: list[ContainerPool] = []

    async def make(
        launcher: FakeLauncher, sizes: dict[str, int], **options: object
    ) -> ContainerPool:
        settings: dict[str, object] = {
            "acquire_timeout_s": 1.0,
            "lease_ttl_s": 60.0,
            "on_expired": nothing,
            "retry_delay_s": 0.01,
        }
        pool = ContainerPool(launcher, sizes, **(settings | options))  # type: ignore[arg-type]
        await pool.start()
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.close()


async def test_start_fills_every_pool(make_pool: PoolMaker) -> None:
    launcher = FakeLauncher()
    pool = await make_pool(launcher, {"python": 3, "java": 1, "c": 0})

    await pool.wait_until_full(1)

    gauges = pool.gauges()
    assert set(gauges) == {"python", "java"}  # a size of 0 is no pool
    assert (gauges["python"].idle, gauges["python"].leased) == (3, 0)
    assert len(launcher.running) == 4


async def test_take_leases_an_idle_container(make_pool: PoolMaker) -> None:
    pool = await make_pool(FakeLauncher(), {"python": 2})
    await pool.wait_until_full(1)

    first = await pool.take("python")
    second = await pool.take("python")

    assert first != second
    assert (pool.gauges()["python"].idle, pool.gauges()["python"].leased) == (0, 2)
    assert pool.counters.waits["python"] == 0


async def test_give_back_destroys_the_container_and_refills(make_pool: PoolMaker) -> None:
    launcher = FakeLauncher()
    pool = await make_pool(launcher, {"python": 2})
    await pool.wait_until_full(1)
    taken = await pool.take("python")

    await pool.give_back(taken)
    await pool.give_back(taken)  # idempotent
    await pool.wait_until_full(1)

    assert launcher.removed == [taken]
    assert taken not in launcher.running
    assert len(launcher.running) == 2
    assert pool.counters.destroyed["python"] == 1
    assert pool.counters.created["python"] == 3


async def test_take_waits_for_a_release_when_every_container_is_leased(
    make_pool: PoolMaker,
) -> None:
    pool = await make_pool(FakeLauncher(start_delay_s=0.05), {"python": 1})
    await pool.wait_until_full(1)
    held = await pool.take("python")

    waiting = asyncio.create_task(pool.take("python"))

    async def counted_as_waiting() -> bool:
        return pool.counters.waits["python"] == 1

    await eventually(counted_as_waiting)
    assert not waiting.done()  # the pool is empty and at its size: it waits
    await pool.give_back(held)

    assert await asyncio.wait_for(waiting, 1) != held
    assert pool.counters.waits["python"] == 1


async def test_take_gives_up_with_a_clear_error(make_pool: PoolMaker) -> None:
    pool = await make_pool(FakeLauncher(), {"python": 1}, acquire_timeout_s=0.2)
    await pool.wait_until_full(1)
    await pool.take("python")

    with pytest.raises(NoSandboxAvailable) as raised:
        await pool.take("python")

    assert isinstance(raised.value, SandboxError)
    assert "no python sandbox became free within 0.2 s" in str(raised.value)
    assert "1 leased" in str(raised.value)
    assert pool.counters.wait_timeouts["python"] == 1


async def test_failing_starts_are_retried_and_named_in_the_error(make_pool: PoolMaker) -> None:
    launcher = FakeLauncher()
    launcher.failure = SandboxError("sandbox image x is missing; build it")
    pool = await make_pool(launcher, {"python": 1}, acquire_timeout_s=0.3)

    with pytest.raises(NoSandboxAvailable, match="starting containers fails: sandbox image x"):
        await pool.take("python")
    assert launcher.starts >= 3  # retried, with a growing delay
    assert pool.counters.create_failures["python"] == launcher.starts

    launcher.failure = None
    assert await pool.take("python") in launcher.running


async def test_unknown_language_is_refused_at_once(make_pool: PoolMaker) -> None:
    pool = await make_pool(FakeLauncher(), {"python": 1})

    with pytest.raises(SandboxError, match="no sandbox pool for language 'rust'"):
        await pool.take("rust")


async def test_a_lease_past_its_ttl_is_reaped_and_the_pool_refilled(
    make_pool: PoolMaker,
) -> None:
    expired: list[str] = []

    async def on_expired(container_id: str) -> None:
        expired.append(container_id)

    launcher = FakeLauncher()
    pool = await make_pool(launcher, {"python": 1}, lease_ttl_s=0.2, on_expired=on_expired)
    await pool.wait_until_full(1)
    taken = await pool.take("python")

    async def reaped() -> bool:  # the reaper looks every ttl/4
        return expired == [taken]

    await eventually(reaped)
    await pool.wait_until_full(1)

    assert expired == [taken]
    assert taken in launcher.removed
    assert pool.counters.reaped["python"] == 1
    assert pool.gauges()["python"].leased == 0


async def test_containers_left_by_a_crash_are_removed_at_start(make_pool: PoolMaker) -> None:
    launcher = FakeLauncher()
    launcher.leftovers = {"old-1", "old-2"}

    pool = await make_pool(launcher, {"python": 1})

    assert launcher.removed == ["old-1", "old-2"]
    assert pool.counters.leftovers_removed == 2


async def test_close_destroys_idle_and_leased_containers() -> None:
    launcher = FakeLauncher()
    pool = ContainerPool(
        launcher, {"python": 2}, acquire_timeout_s=1, lease_ttl_s=60, on_expired=nothing
    )
    await pool.start()
    await pool.wait_until_full(1)
    await pool.take("python")

    await pool.close()

    assert launcher.running == set()
    with pytest.raises(SandboxError, match="closed"):
        await pool.take("python")


# --- the backend on the pool --------------------------------------------------------------


@pytest.fixture
async def backend() -> AsyncIterator[tuple[DockerBackend, FakeLauncher]]:
    launcher = FakeLauncher()
    settings = SandboxSettings(
        pool_sizes={"python": 2}, acquire_timeout_s=1, lease_ttl_s=0.2, metrics_log_interval_s=0
    )
    sandbox = DockerBackend(settings, engine=launcher)  # type: ignore[arg-type]
    await sandbox.wait_until_full(1)
    yield sandbox, launcher
    await sandbox.close()


async def test_acquire_gives_one_container_per_owner(
    backend: tuple[DockerBackend, FakeLauncher],
) -> None:
    sandbox, _launcher = backend

    together = await asyncio.gather(*(sandbox.acquire("42:1", "python") for _ in range(3)))
    later = await sandbox.acquire("42:1", "python")

    assert len(set(together)) == 1
    assert later == together[0]
    assert sandbox.metrics()["leases_in_use"] == 1


async def test_release_destroys_the_lease_container(
    backend: tuple[DockerBackend, FakeLauncher],
) -> None:
    sandbox, launcher = backend
    lease_id = await sandbox.acquire("42:1", "python")

    await sandbox.release_owner("42:1")
    await sandbox.release(lease_id)  # idempotent

    assert len(launcher.removed) == 1
    with pytest.raises(LeaseNotFound):
        await sandbox.read_file(lease_id, "out.txt")
    assert await sandbox.acquire("42:1", "python") != lease_id


async def test_a_reaped_lease_is_gone(backend: tuple[DockerBackend, FakeLauncher]) -> None:
    sandbox, _launcher = backend
    lease_id = await sandbox.acquire("42:1", "python")

    async def reaped() -> bool:
        return bool(sandbox.metrics()["reaped"] == 1)

    await eventually(reaped)
    with pytest.raises(LeaseNotFound):
        await sandbox.read_file(lease_id, "out.txt")
    assert sandbox.metrics()["reaped"] == 1


async def test_metrics_per_language(backend: tuple[DockerBackend, FakeLauncher]) -> None:
    sandbox, _launcher = backend
    await sandbox.acquire("1:1", "python")

    metrics = sandbox.metrics()

    assert metrics["backend"] == "docker"
    python = metrics["languages"]["python"]
    assert python["size"] == 2
    assert python["leased"] == 1
    assert python["idle"] + python["starting"] == 1
    assert python["acquired"] == 1
    assert {"waits", "reaped", "created", "destroyed"} <= python.keys()
