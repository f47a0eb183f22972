"""The chaos suite's world: a RabbitMQ node and a PostgreSQL cluster of its own, each
service as its own process, a client that submits like an LMS (retrying 503s and
refused connections), observers of every step result and status event, and the checks
a scenario must pass. It ends only what it started.

A scenario is a fault injected half-way through the submissions; `run_scenario` returns
one row of the table `make chaos` prints.
"""

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import asyncpg
import httpx

from contracts.messages import Envelope, StatusEvent, StepResult
from shared.messaging.topology import SERVICE_NAMES, SERVICE_QUEUES, Topology
from tests.owned_services import OwnPostgres, OwnRabbitMQ, own_postgres, own_rabbitmq
from tests.support import bearer, free_port, issue_token

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "deploy" / "demo"
# Per run: two runs at once (make chaos beside make test) never share containers.
NAMESPACE = f"chaos_{uuid.uuid4().hex[:8]}"
TERMINAL = ("completed", "failed")


def _file(example: str) -> str:
    return (DEMO / "submissions" / example / "main.py").read_text()


@dataclass(frozen=True)
class Kind:
    """A kind of submission and the outcome it must end with, whatever the fault."""

    name: str
    files: dict[str, str]
    status: str
    score: float | None = None
    failed_at_step: str | None = None


KINDS = (
    Kind("right", {"main.py": _file("python-right")}, "completed", score=100.0),
    Kind("wrong", {"main.py": _file("python-wrong")}, "completed", score=20.0),
    Kind("missing-file", {"solution.py": "print(1)\n"}, "failed", failed_at_step="PRE_FLIGHT"),
)


@dataclass
class Row:
    scenario: str
    submitted: int = 0
    terminal: int = 0
    lost: int = 0
    wrong: int = 0
    duplicates: int = 0
    leaked: int = 0
    dead: int = 0
    recovery_s: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        counts = (self.lost, self.wrong, self.duplicates, self.leaked, self.dead)
        return self.submitted == self.terminal and not any(counts)


def table(rows: list[Row]) -> str:
    head = ("scenario", "submitted", "terminal", "lost", "wrong", "duplicates", "leaked")
    lines = [" | ".join((*head, "dead", "recovery s")), " | ".join("---" for _ in range(9))]
    for row in rows:
        recovery = "-" if row.recovery_s is None else f"{row.recovery_s:.1f}"
        values = (row.scenario, row.submitted, row.terminal, row.lost, row.wrong)
        lines.append(
            " | ".join(str(v) for v in (*values, row.duplicates, row.leaked, row.dead, recovery))
        )
    return "\n".join(lines)


class Services:
    """Each service as `python -m services.<name>`, with its log in the world's directory."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        with (self.logs / f"{name}.log").open("ab") as log:  # the child keeps its copy
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self, name: str) -> None:
        """kill -9: no cleanup, unacked messages go back to their queues."""
        process = self.processes.pop(name)
        process.kill()
        process.wait(timeout=30)

    def stop_all(self) -> None:
        """SIGTERM, in reverse start order: each service closes what it holds."""
        for name in reversed(list(self.processes)):
            self.processes[name].terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()

    def exited(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is not None]


@dataclass
class Observed:
    """What the observers saw: outcomes per step attempt, terminal events per submission."""

    outcomes: dict[tuple[int, int, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    terminal_events: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    first_terminal_after: list[float] = field(default_factory=list)

    def on_result(self, message: Envelope) -> None:
        result = message.payload(StepResult)
        key = (message.submission_id, message.attempt, result.step.value)
        self.outcomes[key].add(result.status.value)

    def on_status(self, message: Envelope) -> None:
        event = message.payload(StatusEvent)
        if event.status.value in TERMINAL:
            self.terminal_events[message.submission_id].add(str(message.message_id))
            self.first_terminal_after.append(time.monotonic())


@dataclass
class World:
    rabbit: OwnRabbitMQ
    postgres: OwnPostgres
    services: Services
    port: int
    directory: Path
    observed: Observed = field(default_factory=Observed)

    @property
    def topology(self) -> Topology:
        return Topology(NAMESPACE)

    @property
    def dsn(self) -> str:
        return self.postgres.dsn


def service_env(rabbit: OwnRabbitMQ, postgres: OwnPostgres, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "AMQP_URL": rabbit.url,
        "DATABASE_URL": postgres.dsn,
        "AUTOGRADER_NAMESPACE": NAMESPACE,
        "AUTOGRADER_DB_SCHEMA": NAMESPACE,
        "AUTOGRADER_LOG_FORMAT": "json",
        "AUTOGRADER_LOG_LEVEL": "INFO",
        "EXPORT_WEBHOOK_SECRET": "chaos-secret",
        "INTAKE_PORT": str(port),
        "SANDBOX_BACKEND": "docker",
        "SANDBOX_POOL_SIZES": json.dumps({"python": 2}),
        # Short enough that a stall shows within a run; workers beat every 10 s.
        "TRACKER_STUCK_AFTER_S": "60",
        "TRACKER_SWEEP_INTERVAL_S": "10",
    }


@contextlib.contextmanager
def world(directory: Path) -> Iterator[World]:
    with own_rabbitmq() as rabbit, own_postgres() as postgres:
        port = free_port()
        services = Services(service_env(rabbit, postgres, port), directory)
        try:
            yield World(rabbit, postgres, services, port, directory)
        finally:
            services.stop_all()


async def start_stack(w: World, client: httpx.AsyncClient) -> None:
    for name in SERVICE_NAMES:  # tracker first, intake last
        w.services.start(name)
    await _until(lambda: _healthy(client), 90, "intake to answer /health")
    client.headers.update(bearer(await issue_token(dsn=w.dsn, schema=NAMESPACE)))


async def _healthy(client: httpx.AsyncClient) -> bool:
    with contextlib.suppress(httpx.TransportError):
        return (await client.get("/ready")).status_code == 200
    return False


async def _within(condition: Callable[[], Awaitable[bool]], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


async def _until(condition: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    if not await _within(condition, timeout_s):
        raise TimeoutError(f"waited {timeout_s} s for {what}")


@contextlib.asynccontextmanager
async def observing(w: World) -> AsyncIterator[None]:
    """Durable queues of our own on the pipeline and status exchanges: they keep what
    they were sent across a broker restart, like any consumer's."""
    connection = await aio_pika.connect_robust(w.rabbit.url)
    channel = await connection.channel()
    t = w.topology
    taps = (
        (t.pipeline_exchange, "result.*", "results", w.observed.on_result),
        (t.status_exchange, "submission.*", "status", w.observed.on_status),
    )
    for exchange_name, key, tap_name, handler in taps:
        exchange = await channel.declare_exchange(
            exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            f"{NAMESPACE}.observer.{tap_name}", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, routing_key=key)
        await queue.consume(_tap(handler))
    try:
        yield
    finally:
        await connection.close()


def _tap(
    handler: Callable[[Envelope], None],
) -> Callable[[aio_pika.abc.AbstractIncomingMessage], Awaitable[None]]:
    async def consume(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        handler(Envelope.model_validate_json(message.body))
        await message.ack()

    return consume


async def create_config(client: httpx.AsyncClient) -> int:
    config = json.loads((DEMO / "config.json").read_text())
    config["languages"] = ["python"]
    config["setup_config"] = {"python": config["setup_config"]["python"]}
    response = await _send(client, "/api/v1/configs", config)
    return int(response.json()["id"])


async def _send(client: httpx.AsyncClient, path: str, body: dict[str, object]) -> httpx.Response:
    """POST as a patient client does: a refused connection or a 503 is tried again."""
    deadline = time.monotonic() + 180
    while True:
        with contextlib.suppress(httpx.TransportError):
            response = await client.post(path, json=body)
            if response.status_code != 503:
                response.raise_for_status()
                return response
        if time.monotonic() > deadline:
            raise TimeoutError(f"POST {path} kept failing for 180 s")
        await asyncio.sleep(0.5)


async def submit(client: httpx.AsyncClient, config_id: int, index: int) -> None:
    kind = KINDS[index % len(KINDS)]
    body = {
        "grading_config_id": config_id,
        "external_user_id": f"{kind.name}:{index}",
        "username": f"student{index}",
        "language": "python",
        "submission_files": kind.files,
    }
    await _send(client, "/api/v1/submissions", body)


async def terminal_rows(w: World) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(w.dsn, server_settings={"search_path": NAMESPACE})
    try:
        return await connection.fetch(
            "SELECT s.id, s.external_user_id, r.status, r.final_score,"
            " r.pipeline_execution->>'failed_at_step' AS failed_at_step"
            " FROM submissions s LEFT JOIN results r ON r.submission_id = s.id"
        )
    finally:
        await connection.close()


def expected_kind(external_user_id: str) -> Kind:
    name = external_user_id.split(":", 1)[0]
    return next(kind for kind in KINDS if kind.name == name)


def is_right(row: asyncpg.Record) -> bool:
    kind = expected_kind(row["external_user_id"])
    if row["status"] != kind.status:
        return False
    if kind.score is not None:
        return bool(abs((row["final_score"] or 0) - kind.score) < 1e-6)
    return bool(row["failed_at_step"] == kind.failed_at_step)


async def dead_messages(w: World) -> int:
    connection = await aio_pika.connect(w.rabbit.url)
    async with connection:
        channel = await connection.channel()
        total = 0
        for service in SERVICE_QUEUES:
            queue = await channel.declare_queue(w.topology.dead_queue(service), passive=True)
            total += queue.declaration_result.message_count or 0
        return total


async def leased(client: httpx.AsyncClient) -> int:
    body = (await client.get("/api/v1/sandbox/metrics")).json()
    return int(body.get("leases_in_use", 0)) + sum(
        int(pool.get("leased", 0)) for pool in body.get("languages", {}).values()
    )


def leftover_containers() -> int:
    """Containers of this namespace still there once the stack has stopped."""
    listed = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=org.autograder.sandbox.pool={NAMESPACE}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return len(listed.split())


Fault = Callable[[World], Awaitable[None]]


def kill_service(name: str, down_s: float = 2.0) -> Fault:
    async def fault(w: World) -> None:
        w.services.kill(name)
        await asyncio.sleep(down_s)  # the outage itself: nothing to wait for but time
        w.services.start(name)

    return fault


async def kill_lease_holder(w: World) -> None:
    """kill -9 the sandbox service while it holds a lease (a submission mid-grading)."""
    headers = bearer(await issue_token(dsn=w.dsn, schema=NAMESPACE))
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{w.port}", timeout=10, headers=headers
    ) as client:

        async def holding() -> bool:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                return await leased(client) > 0
            return False

        await _within(holding, 30)
    await kill_service("sandbox")(w)


async def restart_broker(w: World) -> None:
    await asyncio.to_thread(w.rabbit.stop)
    await asyncio.sleep(2.0)  # the outage
    await asyncio.to_thread(w.rabbit.start)


def restart_postgres(mode: str) -> Fault:
    async def fault(w: World) -> None:
        await asyncio.to_thread(w.postgres.stop, mode)
        await asyncio.sleep(3.0)  # the outage
        await asyncio.to_thread(w.postgres.start)

    return fault


SCENARIOS: dict[str, Fault] = {
    **{f"kill -9 {name}": kill_service(name) for name in SERVICE_NAMES},
    "kill -9 the lease-holding sandbox": kill_lease_holder,
    "restart broker": restart_broker,
    "restart postgres (fast)": restart_postgres("fast"),
    "restart postgres (crash)": restart_postgres("immediate"),
}
# The CI subset: the lease holder killed, each dependency restarted (make chaos: all).
CI_SCENARIOS = (
    "kill -9 the lease-holding sandbox",
    "restart broker",
    "restart postgres (crash)",
)


async def run_scenario(
    name: str, submissions: int, directory: Path, rate_per_s: float = 2.0
) -> Row:
    row = Row(name)
    with world(directory) as w:
        url = f"http://127.0.0.1:{w.port}"
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await start_stack(w, client)
            async with observing(w):
                fault_window = await _submit_with_fault(
                    w, client, SCENARIOS[name], submissions, rate_per_s
                )
                # Bounded waits that decide nothing: what is still open is counted below.
                await _within(lambda: _all_terminal(w), 600)
                if not await _within(lambda: _no_leases(client), 60):
                    row.leaked += await leased(client)
            await _fill(row, w, fault_window)
        await asyncio.to_thread(w.services.stop_all)
        row.leaked += leftover_containers()
    return row


async def _submit_with_fault(
    w: World, client: httpx.AsyncClient, fault: Fault, submissions: int, rate_per_s: float
) -> tuple[float, float]:
    config_id = await create_config(client)
    sending: list[asyncio.Task[None]] = []
    window = (0.0, 0.0)
    for index in range(submissions):
        if index == submissions // 2:
            started = time.monotonic()
            await fault(w)
            window = (started, time.monotonic())
        sending.append(asyncio.create_task(submit(client, config_id, index)))
        await asyncio.sleep(1 / rate_per_s)  # the arrival rate is the load under test
    await asyncio.gather(*sending)
    return window


async def _all_terminal(w: World) -> bool:
    with contextlib.suppress(OSError, asyncpg.PostgresError):
        return all(row["status"] in TERMINAL for row in await terminal_rows(w))
    return False


async def _no_leases(client: httpx.AsyncClient) -> bool:
    with contextlib.suppress(httpx.HTTPError, ValueError):
        return await leased(client) == 0
    return False


async def _fill(row: Row, w: World, fault_window: tuple[float, float]) -> None:
    rows = await terminal_rows(w)
    row.submitted = len(rows)
    ended = [r for r in rows if r["status"] in TERMINAL]
    row.terminal = len(ended)
    observed = w.observed
    unannounced = [r["id"] for r in ended if not observed.terminal_events.get(r["id"])]
    row.lost = row.submitted - row.terminal + len(unannounced)
    row.problems += [f"no terminal status event: submission {sid}" for sid in unannounced[:5]]
    wrong = [r for r in ended if not is_right(r)]
    row.wrong = len(wrong)
    row.problems += [f"wrong: {dict(r)}" for r in wrong[:5]]
    conflicting = [key for key, outcomes in observed.outcomes.items() if len(outcomes) > 1]
    announced_twice = [sid for sid, events in observed.terminal_events.items() if len(events) > 1]
    row.duplicates = len(conflicting) + len(announced_twice)
    row.problems += [f"step reported twice: {key}" for key in conflicting[:5]]
    row.problems += [f"announced twice: submission {sid}" for sid in announced_twice[:5]]
    row.dead = await dead_messages(w)
    started, fault_ended = fault_window
    after = [t for t in observed.first_terminal_after if t >= fault_ended]
    row.recovery_s = (min(after) - started) if after else None
