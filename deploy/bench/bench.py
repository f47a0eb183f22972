"""Benchmark: the whole stack on RabbitMQ and PostgreSQL against in-process grading.

Starts every service in this process, as the end-to-end tests do, in a namespace and a
database schema of its own; posts the demo config and N small Python submissions over
HTTP; times each one from its 202 to its terminal status event (read from the status
exchange, not by polling the API); reads the per-step durations from `step_events`.
Then grades some of the same submissions with `services.inprocess.grade_files` and
compares. It prints figures only; it asserts nothing about them.

    python -m deploy.bench.bench [-n 200] [--concurrency 20] [--timeout 600]
                                 [--keep] [--json PATH]
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
from aio_pika.abc import AbstractIncomingMessage

from contracts.config import GradingConfigIn
from contracts.steps import StepName
from services.inprocess import grade_files
from services.sandbox.backends.local import LocalBackend
from shared.logging import configure_logging
from shared.messaging.topology import Topology
from tests.support import AMQP_URL, DATABASE_URL, Isolation, running_stack

DEMO = Path(__file__).resolve().parent.parent / "demo"
TERMINAL_STATUSES = {"completed", "failed"}
LANGUAGE = "python"
IN_PROCESS_MAX = 50
PIPELINE_ORDER = [step.value for step in StepName]
STACK_STOP_TIMEOUT_S = 30

Figures = dict[str, Any]


@dataclass(frozen=True)
class Accepted:
    sent_at: float
    accepted_at: float


@dataclass(frozen=True)
class Finished:
    at: float
    status: str


@dataclass
class StackRun:
    started_at: float
    accepted: dict[int, Accepted]
    finished: dict[int, Finished]
    steps: list[Figures]


class BenchTimeout(Exception):
    """Not every submission reached a terminal status within --timeout."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.bench.bench", description=__doc__)
    parser.add_argument("-n", "--submissions", type=int, default=200, help="default 200")
    parser.add_argument(
        "--concurrency", type=int, default=20, help="POSTs in flight at once (default 20)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds for all to finish (default 600)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the namespace and schema for inspection"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.submissions < 1 or args.concurrency < 1:
        parser.error("-n and --concurrency must be at least 1")
    return args


def example_for(index: int) -> str:
    # One in ten is wrong, so the feedback of failed tests is part of the load too.
    return "python-wrong" if index % 10 == 9 else "python-right"


def demo_files(example: str) -> dict[str, bytes]:
    root = DEMO / "submissions" / example
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def demo_config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads((DEMO / "config.json").read_text())
    return config


# --- figures ---------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks; works for any non-empty list."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def distribution_ms(seconds: list[float]) -> Figures:
    if not seconds:
        return {}
    values = [s * 1000 for s in seconds]
    return {
        "mean": sum(values) / len(values),
        "p50": percentile(values, 0.50),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "max": max(values),
    }


def stack_figures(run: StackRun) -> Figures:
    ids = list(run.accepted)
    first_accept = min(run.accepted[i].accepted_at for i in ids)
    last_finish = max(run.finished[i].at for i in ids)
    statuses = [run.finished[i].status for i in ids]
    return {
        "wall_s": last_finish - run.started_at,
        "throughput_per_s": len(ids) / (last_finish - first_accept),
        "latency_ms": distribution_ms(
            [run.finished[i].at - run.accepted[i].accepted_at for i in ids]
        ),
        "post_ms": distribution_ms([a.accepted_at - a.sent_at for a in run.accepted.values()]),
        "completed": statuses.count("completed"),
        "failed": statuses.count("failed"),
        "steps": run.steps,
    }


# --- the stack -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def isolated_environment(keep: bool) -> AsyncIterator[Isolation]:
    """Environment variables of a fresh namespace and schema; removed afterwards."""
    isolation = Isolation.fresh()
    os.environ.update(isolation.env())
    os.environ["AUTOGRADER_LOG_FORMAT"] = "json"
    os.environ["AUTOGRADER_LOG_LEVEL"] = "WARNING"
    try:
        yield isolation
    finally:
        if keep:
            print(
                f"kept namespace {isolation.namespace}, schema {isolation.schema}", file=sys.stderr
            )
        else:
            await isolation.cleanup()


@contextlib.asynccontextmanager
async def terminal_statuses(namespace: str) -> AsyncIterator[dict[int, Finished]]:
    """Arrival time of each submission's first terminal status event, filled as they come.

    The stack must be running: its bus declared the status exchange this binds to.
    """

    finished: dict[int, Finished] = {}

    async def on_message(message: AbstractIncomingMessage) -> None:
        arrived = time.perf_counter()
        body = json.loads(message.body)
        status = body["data"].get("status")
        if status in TERMINAL_STATUSES:
            finished.setdefault(int(body["submission_id"]), Finished(arrived, status))

    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(Topology(namespace).status_exchange, routing_key="submission.*")
        await queue.consume(on_message, no_ack=True)
        yield finished


async def create_config(client: httpx.AsyncClient, config: dict[str, Any]) -> int:
    response = await client.post("/api/v1/configs", json=config)
    if response.status_code != 201:
        raise RuntimeError(f"POST /api/v1/configs: {response.status_code} {response.text}")
    return int(response.json()["id"])


async def submit(client: httpx.AsyncClient, config_id: int, index: int) -> tuple[int, Accepted]:
    files = {path: data.decode() for path, data in demo_files(example_for(index)).items()}
    sent_at = time.perf_counter()
    response = await client.post(
        "/api/v1/submissions",
        json={
            "grading_config_id": config_id,
            "external_user_id": f"bench-{index}",
            "username": f"bench{index}",
            "language": LANGUAGE,
            "submission_files": files,
        },
    )
    accepted_at = time.perf_counter()
    if response.status_code != 202:
        raise RuntimeError(f"POST /api/v1/submissions: {response.status_code} {response.text}")
    return int(response.json()["id"]), Accepted(sent_at, accepted_at)


async def submit_all(
    client: httpx.AsyncClient, config_id: int, count: int, concurrency: int
) -> dict[int, Accepted]:
    slots = asyncio.Semaphore(concurrency)

    async def bounded(index: int) -> tuple[int, Accepted]:
        async with slots:
            return await submit(client, config_id, index)

    return dict(await asyncio.gather(*(bounded(i) for i in range(count))))


async def wait_all_finished(
    finished: dict[int, Finished], ids: list[int], deadline: float, timeout_s: float
) -> None:
    # Polls a local dict the listener fills: the API is not queried while waiting.
    while missing := [i for i in ids if i not in finished]:
        if time.perf_counter() > deadline:
            raise BenchTimeout(
                f"{len(ids) - len(missing)} of {len(ids)} submissions reached a terminal"
                f" status within --timeout {timeout_s:g}s; still running, e.g. ids"
                f" {missing[:10]}"
            )
        await asyncio.sleep(0.05)


STEP_DURATIONS_SQL = """
WITH ordered AS (
    SELECT step, started_at, finished_at,
           lag(started_at) OVER attempt AS previous_started_at,
           lag(finished_at) OVER attempt AS previous_finished_at
    FROM step_events
    WINDOW attempt AS (PARTITION BY submission_id, attempt ORDER BY started_at, finished_at)
), timed AS (
    SELECT step,
           extract(epoch FROM finished_at - started_at) AS run_s,
           -- Steps computed together (intake's first two) share started_at: no queue.
           CASE WHEN started_at > previous_started_at
                THEN extract(epoch FROM started_at - previous_finished_at) END AS wait_s
    FROM ordered
)
SELECT step, count(*) AS count,
       avg(run_s) AS mean_s,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY run_s) AS p95_s,
       avg(wait_s) AS wait_mean_s,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY wait_s) AS wait_p95_s
FROM timed GROUP BY step
"""


async def step_durations(schema: str) -> list[Figures]:
    """Per step: run time, and the wait since the previous step of the same attempt."""
    connection = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        rows = await connection.fetch(STEP_DURATIONS_SQL)
    finally:
        await connection.close()
    return [
        {
            "step": row["step"],
            "count": row["count"],
            "mean_ms": _ms(row["mean_s"]),
            "p95_ms": _ms(row["p95_s"]),
            "wait_mean_ms": _ms(row["wait_mean_s"]),
            "wait_p95_ms": _ms(row["wait_p95_s"]),
        }
        for row in sorted(rows, key=lambda row: PIPELINE_ORDER.index(row["step"]))
    ]


def _ms(seconds: Any) -> float | None:
    return None if seconds is None else float(seconds) * 1000


async def bench_stack(args: argparse.Namespace, config: dict[str, Any]) -> StackRun:
    # The stack leaves logging to its caller; unconfigured structlog prints everything.
    configure_logging("bench", "json", "WARNING")
    async with (
        isolated_environment(args.keep) as isolation,
        running_stack(STACK_STOP_TIMEOUT_S) as client,
        terminal_statuses(isolation.namespace) as finished,
    ):
        config_id = await create_config(client, config)
        started_at = time.perf_counter()
        deadline = started_at + args.timeout
        accepted = await submit_all(client, config_id, args.submissions, args.concurrency)
        await wait_all_finished(finished, list(accepted), deadline, args.timeout)
        steps = await step_durations(isolation.schema)
        return StackRun(started_at, accepted, dict(finished), steps)


# --- in-process ------------------------------------------------------------------------


async def bench_in_process(config: dict[str, Any], count: int) -> Figures:
    """The same grading, one submission after the other, with no broker and no database."""

    config_in = GradingConfigIn.model_validate(config)
    backend = LocalBackend()
    # One untimed run first, so imports and first-use costs are not counted.
    await grade_files(demo_files(example_for(0)), config_in, LANGUAGE, backend)
    durations, statuses = [], []
    for index in range(count):
        files = demo_files(example_for(index))
        begun = time.perf_counter()
        response = await grade_files(files, config_in, LANGUAGE, backend)
        durations.append(time.perf_counter() - begun)
        statuses.append(response["status"])
    return {
        "submissions": count,
        "throughput_per_s": count / sum(durations),
        "latency_ms": distribution_ms(durations),
        "completed": statuses.count("completed"),
        "failed": statuses.count("failed"),
    }


# --- report ----------------------------------------------------------------------------


def ratios(stack: Figures, in_process: Figures) -> Figures:
    return {
        "throughput_stack_over_in_process": stack["throughput_per_s"]
        / in_process["throughput_per_s"],
        "p50_latency_stack_over_in_process_mean": stack["latency_ms"]["p50"]
        / in_process["latency_ms"]["mean"],
    }


def _distribution_line(label: str, ms: Figures) -> str:
    parts = "  ".join(f"{k} {v:8.1f}" for k, v in ms.items())
    return f"  {label:<22}{parts}  (ms)"


def _step_lines(steps: list[Figures]) -> list[str]:
    def cell(value: float | None) -> str:
        return f"{value:10.1f}" if value is not None else f"{'-':>10}"

    header = f"  {'step':<16}{'count':>6}{'mean':>10}{'p95':>10}{'wait mean':>10}{'wait p95':>10}"
    rows = [
        f"  {s['step']:<16}{s['count']:>6}{cell(s['mean_ms'])}{cell(s['p95_ms'])}"
        f"{cell(s['wait_mean_ms'])}{cell(s['wait_p95_ms'])}"
        for s in steps
    ]
    return [header, *rows]


def _stack_lines(figures: Figures) -> list[str]:
    stack = figures["stack"]
    return [
        f"Whole stack: {figures['submissions']} submissions,"
        f" {figures['concurrency']} POSTs in flight at most",
        f"  wall time             {stack['wall_s']:.2f} s (first POST to last terminal status)",
        f"  throughput            {stack['throughput_per_s']:.2f} submissions/s"
        " (first 202 to last terminal status)",
        f"  completed / failed    {stack['completed']} / {stack['failed']}",
        _distribution_line("accepted -> terminal", stack["latency_ms"]),
        _distribution_line("POST -> 202", stack["post_ms"]),
        "",
        "  per step, from step_events (ms; wait = since the previous step finished):",
        *_step_lines(stack["steps"]),
    ]


def _in_process_lines(figures: Figures) -> list[str]:
    local = figures["in_process"]
    ratio = figures["ratios"]
    return [
        f"In-process (grade_files + LocalBackend): {local['submissions']} submissions,"
        " one after the other (after one untimed warm-up)",
        f"  throughput            {local['throughput_per_s']:.2f} submissions/s",
        f"  completed / failed    {local['completed']} / {local['failed']}",
        _distribution_line("per submission", local["latency_ms"]),
        "",
        "Ratios",
        "  stack throughput / in-process throughput     "
        f"{ratio['throughput_stack_over_in_process']:.2f}",
        "  stack p50 latency / in-process mean latency  "
        f"{ratio['p50_latency_stack_over_in_process_mean']:.2f}",
    ]


def report(figures: Figures) -> str:
    return "\n".join([*_stack_lines(figures), "", *_in_process_lines(figures)])


# --- entry point -----------------------------------------------------------------------


async def run(args: argparse.Namespace) -> Figures:
    config = demo_config()
    stack = stack_figures(await bench_stack(args, config))
    in_process = await bench_in_process(config, min(args.submissions, IN_PROCESS_MAX))
    return {
        "submissions": args.submissions,
        "concurrency": args.concurrency,
        "stack": stack,
        "in_process": in_process,
        "ratios": ratios(stack, in_process),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        figures = asyncio.run(run(args))
    except BenchTimeout as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    print(report(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
