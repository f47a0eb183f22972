"""Benchmark: the Docker sandbox's warm pool against cold container starts.

Times N acquires from a full warm pool (each lease released, and the pool refilled,
before the next is timed) and N cold container starts (create + start, the work the
pool does ahead of time), then counts commands run per second on warm leases: one
lease at a time, and several at once. Pools live in a namespace of their own and are
removed afterwards. It prints figures only; it asserts nothing about them.

    python -m deploy.bench.sandbox_bench [-n 30] [--language python]
                                         [--seconds 5] [--concurrency 4] [--json PATH]

Needs a Docker engine and the sandbox images (`make sandbox-images`).
"""

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from contracts.sandbox import RunRequest, Verdict
from deploy.bench.bench import percentile
from services.sandbox.backends.docker import DockerBackend
from services.sandbox.backends.docker_engine import DockerEngine, engine_problem
from services.sandbox.settings import SandboxSettings

POOL_FILL_TIMEOUT_S = 120
# The cheapest command: what is measured is the sandbox's own cost per run.
TRIVIAL = RunRequest(argv=["true"])

Figures = dict[str, Any]


def distribution_ms(seconds: list[float]) -> Figures:
    values = [s * 1000 for s in seconds]
    return {
        "p50": percentile(values, 0.50),
        "p99": percentile(values, 0.99),
        "mean": sum(values) / len(values),
        "max": max(values),
    }


async def warm_acquires(backend: DockerBackend, language: str, count: int) -> list[float]:
    """Acquire latency with the pool full: the path every submission takes."""
    latencies = []
    for index in range(count):
        await backend.wait_until_full(POOL_FILL_TIMEOUT_S)
        started = time.perf_counter()
        lease_id = await backend.acquire(f"bench:{index}", language)
        latencies.append(time.perf_counter() - started)
        await backend.release(lease_id)
    return latencies


async def cold_starts(settings: SandboxSettings, language: str, count: int) -> list[float]:
    """Create + start of one hardened container: what a lease costs without a pool."""
    engine = DockerEngine(settings, f"{settings.namespace}-cold")
    latencies = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            container_id = await engine.start_container(language)
            latencies.append(time.perf_counter() - started)
            await engine.remove_container(container_id)
    finally:
        await engine.remove_own()
        await engine.close()
    return latencies


async def commands_per_second(
    backend: DockerBackend, language: str, seconds: float, leases: int
) -> float:
    """Trivial commands run back to back on each of `leases` warm leases at once."""
    lease_ids = [await backend.acquire(f"bench:rate:{n}", language) for n in range(leases)]
    deadline = time.perf_counter() + seconds

    async def run_until_deadline(lease_id: str) -> int:
        runs = 0
        while time.perf_counter() < deadline:
            result = await backend.run(lease_id, TRIVIAL)
            assert result.verdict is Verdict.OK, result
            runs += 1
        return runs

    started = time.perf_counter()
    counts = await asyncio.gather(*(run_until_deadline(lease_id) for lease_id in lease_ids))
    elapsed = time.perf_counter() - started
    for lease_id in lease_ids:
        await backend.release(lease_id)
    return sum(counts) / elapsed


async def measure(args: argparse.Namespace) -> Figures:
    settings = SandboxSettings(
        namespace=f"bench-sandbox-{uuid.uuid4().hex[:8]}",
        pool_sizes={args.language: max(2, args.concurrency)},
        metrics_log_interval_s=0,
    )
    problem = await engine_problem(settings)
    if problem is not None:
        sys.exit(f"sandbox_bench: {problem}")
    backend = DockerBackend(settings)
    try:
        warm = await warm_acquires(backend, args.language, args.n)
        cold = await cold_starts(settings, args.language, args.n)
        sequential = await commands_per_second(backend, args.language, args.seconds, 1)
        concurrent = await commands_per_second(
            backend, args.language, args.seconds, args.concurrency
        )
    finally:
        await backend.close()
    return figures(args, warm, cold, sequential, concurrent)


def figures(
    args: argparse.Namespace,
    warm: list[float],
    cold: list[float],
    sequential: float,
    concurrent: float,
) -> Figures:
    warm_ms, cold_ms = distribution_ms(warm), distribution_ms(cold)
    return {
        "language": args.language,
        "n": args.n,
        "warm_acquire_ms": warm_ms,
        "cold_start_ms": cold_ms,
        "cold_p99_over_warm_p99": cold_ms["p99"] / warm_ms["p99"],
        "commands_per_second": {"one_lease": sequential, f"{args.concurrency}_leases": concurrent},
    }


def report(result: Figures) -> str:
    warm, cold = result["warm_acquire_ms"], result["cold_start_ms"]
    rates = result["commands_per_second"]
    lines = [
        f"sandbox benchmark ({result['language']}, n={result['n']})",
        f"  warm acquire   p50 {warm['p50']:9.3f} ms   p99 {warm['p99']:9.3f} ms",
        f"  cold start     p50 {cold['p50']:9.3f} ms   p99 {cold['p99']:9.3f} ms",
        f"  cold p99 / warm p99: {result['cold_p99_over_warm_p99']:.0f}x (target: >= 10x)",
    ]
    lines += [f"  commands/s, {name.replace('_', ' ')}: {rate:.1f}" for name, rate in rates.items()]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sandbox_bench", description=__doc__)
    parser.add_argument("-n", type=int, default=30, help="acquires and cold starts timed")
    parser.add_argument("--language", default="python")
    parser.add_argument("--seconds", type=float, default=5.0, help="per commands/s figure")
    parser.add_argument("--concurrency", type=int, default=4, help="leases at once")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = asyncio.run(measure(args))
    print(report(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
