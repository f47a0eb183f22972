"""Helpers for tests that use the real RabbitMQ and PostgreSQL.

Each test gets its own exchange/queue namespace and its own database schema, so tests
never see each other; both are removed afterwards. A missing broker or database fails
the test with a message saying how to start it: it never silently passes.
"""

import asyncio
import contextlib
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aio_pika
import httpx

from shared.db import drop_schema
from shared.messaging.topology import EXPORT_REQUESTED_KEY, SERVICE_QUEUES, Topology
from shared.settings import CommonSettings

if TYPE_CHECKING:
    from datetime import datetime

    from services.intake.logic import FileLimits
    from shared.runtime import Runtime

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
HOW_TO_START = {
    "RabbitMQ": "rabbitmq-server -detached",
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
}

TEST_RETRY_DELAYS_MS = [200, 1000]
# The export delays the export tests set (and the default ones, for a test that does not).
TEST_EXPORT_DELAYS_MS = [300, 1500, 5_000, 30_000, 120_000, 600_000, 1_800_000]


def unreachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return False
    except OSError:
        return True


def missing_services() -> list[str]:
    missing = []
    if unreachable("127.0.0.1", 5672) and "AMQP_URL" not in os.environ:
        missing.append("RabbitMQ")
    if unreachable("127.0.0.1", 5432) and "DATABASE_URL" not in os.environ:
        missing.append("PostgreSQL")
    return missing


@dataclass(frozen=True)
class Isolation:
    namespace: str
    schema: str

    @classmethod
    def fresh(cls) -> "Isolation":
        token = uuid.uuid4().hex[:10]
        return cls(namespace=f"t{token}", schema=f"t_{token}")

    def env(self) -> dict[str, str]:
        return {
            "AMQP_URL": AMQP_URL,
            "DATABASE_URL": DATABASE_URL,
            "AUTOGRADER_NAMESPACE": self.namespace,
            "AUTOGRADER_DB_SCHEMA": self.schema,
            "EXPORT_WEBHOOK_SECRET": f"test-secret-{self.namespace}",
            # Retries wait, but not for long in tests: see delete_topology.
            "AUTOGRADER_RETRY_DELAYS_MS": json.dumps(TEST_RETRY_DELAYS_MS),
        }

    def settings(self) -> CommonSettings:
        """The same settings a service reads from env() (parsed as the environment is)."""
        values = {k.lower(): v for k, v in self.env().items()}
        values["autograder_retry_delays_ms"] = TEST_RETRY_DELAYS_MS
        return CommonSettings(**values)

    async def cleanup(self) -> None:
        await delete_topology(Topology(self.namespace))
        await drop_schema(DATABASE_URL, self.schema)


async def delete_topology(topology: Topology) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        for service in SERVICE_QUEUES:
            await channel.queue_delete(topology.queue(service))
            await channel.queue_delete(topology.dead_queue(service))
        await channel.queue_delete(topology.sandbox_rpc_queue)
        for queue, delay_ms in _delay_queues_tests_use(topology):
            await channel.queue_delete(topology.delay_queue(queue, delay_ms))
        for exchange in (
            topology.pipeline_exchange,
            topology.status_exchange,
            topology.dead_exchange,
        ):
            await channel.exchange_delete(exchange)


def _delay_queues_tests_use(topology: Topology) -> list[tuple[str, int]]:
    """Every delay queue a test may have declared (deleting a missing one is fine)."""
    retries = [(topology.queue(s), ms) for s in SERVICE_QUEUES for ms in TEST_RETRY_DELAYS_MS]
    exports = [(EXPORT_REQUESTED_KEY, ms) for ms in TEST_EXPORT_DELAYS_MS]
    return retries + exports


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_healthy(client: httpx.AsyncClient, timeout_s: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("intake did not become healthy")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running_stack(timeout_s: float = 30) -> AsyncIterator[httpx.AsyncClient]:
    """Every service in this process (as `autograder serve all`) with intake on a free
    port, and a client of it. The namespace and schema come from the environment."""
    from services.cli import run_services
    from shared.messaging.topology import SERVICE_NAMES

    port = free_port()
    os.environ["INTAKE_PORT"] = str(port)
    stop = asyncio.Event()
    running = asyncio.create_task(run_services(list(SERVICE_NAMES), port, stop))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        try:
            await wait_healthy(client)
            client.headers.update(bearer(await issue_token("admin")))
            yield client
        finally:
            stop.set()
            await asyncio.wait_for(running, timeout_s)


@contextlib.asynccontextmanager
async def intake_client(
    settings: CommonSettings,
    *,
    limits: "FileLimits | None" = None,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """Intake's app in this process on a real database and broker (no port), and a
    client of it; `options` go to create_app, the app itself is `client.app`."""
    from services.intake.adapters.postgres import IntakeRepository
    from services.intake.app import limits_from
    from services.intake.handlers import create_app
    from services.intake.settings import IntakeSettings
    from shared.runtime import Runtime

    runtime = await Runtime.open(settings)
    try:
        limits = limits or limits_from(IntakeSettings())
        app = create_app(IntakeRepository(runtime.pool), limits, runtime.bus.topology, **options)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://intake", headers=headers
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
    finally:
        await runtime.close()


async def wait_terminal(
    client: httpx.AsyncClient, submission_id: int, timeout_s: float = 90
) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        body = (await client.get(f"/api/v1/submissions/{submission_id}")).json()
        if body["status"] in ("completed", "failed"):
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"submission {submission_id} still {body['status']}: {body}")
        await asyncio.sleep(0.1)


async def eventually(
    condition: Callable[[], Awaitable[bool]], timeout_s: float = 30, every_s: float = 0.05
) -> None:
    """Wait until `condition()` holds; the timeout only bounds a hang, it decides nothing."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{condition.__name__} still false after {timeout_s} s")
        await asyncio.sleep(every_s)


@contextlib.asynccontextmanager
async def relaying(runtime: "Runtime") -> AsyncIterator[None]:
    """Run the runtime's outbox relay, as every service process does: step workers send
    their outcomes through the outbox."""
    from shared.db.outbox import OutboxRelay

    relay = asyncio.create_task(OutboxRelay(runtime.pool, runtime.bus).run())
    try:
        yield
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)


async def issue_token(
    role: str = "admin",
    *,
    dsn: str | None = None,
    schema: str | None = None,
    name: str = "tests",
    assignments: list[str] | None = None,
    expires_at: "datetime | None" = None,
) -> str:
    """A token made straight in the database (as `autograder token create` does); the
    database and schema default to the test's environment."""
    from shared.auth import Role
    from shared.db import create_pool, migrate
    from shared.db.tokens import TokenStore

    dsn = dsn or os.environ.get("DATABASE_URL", DATABASE_URL)
    schema = schema or os.environ["AUTOGRADER_DB_SCHEMA"]
    await migrate(dsn, schema)
    pool = await create_pool(dsn, schema, max_size=1)
    try:
        _, token = await TokenStore(pool).create(
            Role(role), name, expires_at=expires_at, assignments=assignments
        )
    finally:
        await pool.close()
    return token.value


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
