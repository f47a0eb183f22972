"""Benchmark: pull runners against the services, side by side in one run.

Starts every service in this process (Docker sandbox, two python containers), grades N
demo submissions in service mode, then the same N in runner mode through two
`autograder runner` processes (one python container each), on the same machine.
Prints submissions/s of each and their ratio, and the runner protocol's overhead per
job: the time from a claim to the first step's start, and requests per job (read from
the agents' own count as they exit). Figures only; it asserts nothing.

    python -m deploy.bench.runner_bench [-n 40] [--timeout 900]
"""

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from deploy.bench.bench import (
    BenchTimeout,
    create_config,
    demo_config,
    distribution_ms,
    isolated_environment,
    submit_all,
    terminal_statuses,
    wait_all_finished,
)
from shared.logging import configure_logging
from tests.support import DATABASE_URL, running_stack

ROOT = Path(__file__).resolve().parents[2]
AGENTS = 2
Figures = dict[str, Any]

CLAIM_TO_FIRST_STEP_SQL = """
SELECT extract(epoch FROM e.started_at - j.claimed_at) AS seconds
FROM runner_jobs j JOIN step_events e
  ON e.submission_id = j.submission_id AND e.attempt = j.attempt AND e.step = j.steps[1]
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.bench.runner_bench")
    parser.add_argument("-n", "--submissions", type=int, default=40, help="per mode (40)")
    parser.add_argument("--timeout", type=float, default=900.0, help="per mode, seconds")
    return parser.parse_args(argv)


async def graded(
    client: httpx.AsyncClient, namespace: str, config: dict[str, Any], count: int, timeout_s: float
) -> Figures:
    """Submit `count` at once and wait for every terminal status: submissions/s."""
    async with terminal_statuses(namespace) as finished:
        config_id = await create_config(client, config)
        started = time.perf_counter()
        accepted = await submit_all(client, config_id, count, concurrency=10)
        await wait_all_finished(finished, list(accepted), started + timeout_s, timeout_s)
        ended = max(finished[i].at for i in accepted)
        latencies = [finished[i].at - accepted[i].accepted_at for i in accepted]
        return {
            "submissions": count,
            "wall_s": ended - started,
            "throughput_per_s": count / (ended - started),
            "latency_ms": distribution_ms(latencies),
            "completed": sum(finished[i].status == "completed" for i in accepted),
        }


def start_agents(url: str, tokens: list[str]) -> list[subprocess.Popen[bytes]]:
    base = {**os.environ, "SANDBOX_POOL_SIZES": json.dumps({"python": 1})}
    base |= {"AUTOGRADER_LOG_FORMAT": "json", "AUTOGRADER_LOG_LEVEL": "INFO"}
    command = [sys.executable, "-m", "services.cli", "runner", "--url", url]
    return [
        subprocess.Popen(
            command,
            env={**base, "AUTOGRADER_RUNNER_TOKEN": token},
            cwd=ROOT,
            stderr=subprocess.PIPE,
        )
        for token in tokens
    ]


def stop_agents(agents: list[subprocess.Popen[bytes]]) -> Figures:
    """SIGTERM each; their last log line says how many jobs and requests they made."""
    jobs = requests = 0
    for agent in agents:
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=120)
        for line in stderr.decode(errors="replace").splitlines():
            if '"runner stopped"' in line:
                said = json.loads(line)
                jobs, requests = jobs + said["jobs"], requests + said["requests"]
    return {"jobs": jobs, "requests": requests, "requests_per_job": requests / max(jobs, 1)}


async def claim_to_first_step(schema: str) -> Figures:
    connection = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        rows = await connection.fetch(CLAIM_TO_FIRST_STEP_SQL)
    finally:
        await connection.close()
    return distribution_ms([float(row["seconds"]) for row in rows])


async def run(args: argparse.Namespace) -> Figures:
    configure_logging("bench", "json", "WARNING")
    os.environ |= {"SANDBOX_BACKEND": "docker", "SANDBOX_POOL_SIZES": json.dumps({"python": 2})}
    config = demo_config()
    runner_config = {**config, "external_assignment_id": "bench-runner"}
    runner_config["execution"] = {"mode": "runner"}
    async with isolated_environment(keep=False) as isolation, running_stack(60) as client:
        service = await graded(client, isolation.namespace, config, args.submissions, args.timeout)
        tokens = []
        for n in range(AGENTS):
            made = await client.post("/api/v1/runners", json={"name": f"bench-{n}"})
            tokens.append(made.json()["token"])
        agents = start_agents(str(client.base_url), tokens)
        try:
            runner = await graded(
                client, isolation.namespace, runner_config, args.submissions, args.timeout
            )
        finally:
            protocol = await asyncio.to_thread(stop_agents, agents)
        protocol["claim_to_first_step_ms"] = await claim_to_first_step(isolation.schema)
    return {"service": service, "runner": runner, "protocol": protocol}


def report(figures: Figures) -> str:
    service, runner, protocol = figures["service"], figures["runner"], figures["protocol"]
    ratio = runner["throughput_per_s"] / service["throughput_per_s"]
    first = protocol["claim_to_first_step_ms"]
    return "\n".join(
        [
            f"Pull runners against the services ({service['submissions']} submissions each,"
            " same machine, same run)",
            f"  {'services (sandbox pool of 2)':<31}"
            f"{service['throughput_per_s']:.2f} submissions/s"
            f"  ({service['completed']} completed, p50 {service['latency_ms']['p50']:.0f} ms)",
            f"  {f'{AGENTS} runner agents (1 each)':<31}"
            f"{runner['throughput_per_s']:.2f} submissions/s"
            f"  ({runner['completed']} completed, p50 {runner['latency_ms']['p50']:.0f} ms)",
            f"  runners / services throughput  {ratio:.2f}",
            f"  claim -> first step start      mean {first['mean']:.0f} ms,"
            f" p95 {first['p95']:.0f} ms",
            f"  requests per job               {protocol['requests_per_job']:.1f}"
            f"  ({protocol['requests']} requests for {protocol['jobs']} jobs, long polls included)",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    try:
        figures = asyncio.run(run(parse_args(argv)))
    except BenchTimeout as error:
        print(f"runner bench: {error}", file=sys.stderr)
        return 1
    print(report(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
