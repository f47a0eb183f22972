"""Helpers of the Docker backend tests: settings of their own, runs, pool checks."""

import os
import uuid
from typing import Any

import aiodocker
import pytest

from contracts.sandbox import RunRequest, RunResult, Verdict
from services.sandbox.backends.docker import DockerBackend
from services.sandbox.backends.docker_engine import engine_problem
from services.sandbox.settings import LANGUAGES, SandboxSettings
from tests.support import eventually

# Lists the processes of the container other than PID 1 and this one's own ancestry.
SURVIVORS = """
import os
def parent(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])
def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
mine, pid = set(), os.getpid()
while pid > 1:
    mine.add(pid)
    pid = parent(pid)
others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in mine | {1}]
print(sorted(p for p in others if alive(int(p))))
"""
# Small limits keep the hostile cases quick; the pool sizes fit a test's leases.
TEST_LIMITS: dict[str, Any] = {
    "memory_mb": 512,
    "cpus": 1.0,
    "pids_limit": 64,
    "workspace_mb": 32,
    "tmp_mb": 16,
    "file_size_limit_mb": 16,
    "acquire_timeout_s": 60,
    "metrics_log_interval_s": 0,
}
POOL_FILL_TIMEOUT_S = 60


async def require_docker_and_images() -> None:
    """Fails the test, saying how to get them, when the engine or an image is missing."""
    settings = SandboxSettings(pool_sizes=dict.fromkeys(LANGUAGES, 1))
    problem = await engine_problem(settings)
    if problem is not None:
        pytest.fail(
            "the Docker sandbox tests need a running Docker engine and the sandbox images "
            f"(`make sandbox-images`): {problem}"
        )


def sandbox_settings(pool_sizes: dict[str, int], **overrides: Any) -> SandboxSettings:
    """A pool namespace of its own (a uuid): runs never take each other for leftovers."""
    namespace = f"t-sandbox-{uuid.uuid4().hex[:10]}"
    return SandboxSettings(namespace=namespace, pool_sizes=pool_sizes, **(TEST_LIMITS | overrides))


async def python(backend: DockerBackend, lease_id: str, code: str, **limits: Any) -> RunResult:
    return await backend.run(lease_id, RunRequest(argv=["python3", "-c", code], **limits))


async def shell(backend: DockerBackend, lease_id: str, command: str, **limits: Any) -> RunResult:
    return await backend.run(lease_id, RunRequest(shell=command, **limits))


async def pool_is_full(backend: DockerBackend) -> bool:
    """Whether every pool got back to its full size of idle containers."""
    await backend.wait_until_full(POOL_FILL_TIMEOUT_S)
    languages = backend.metrics()["languages"]
    return all(gauge["idle"] == gauge["size"] for gauge in languages.values())


def unique_owner() -> str:
    return f"{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def nothing_survives(backend: DockerBackend, lease_id: str) -> None:
    """No process of the hostile run is left, and the lease still runs programs."""
    result = await python(backend, lease_id, SURVIVORS)
    assert result.verdict is Verdict.OK, result
    assert result.stdout == "[]\n"


async def program_started(backend: DockerBackend, lease_id: str, program: str) -> None:
    """Wait until `program` runs in the lease's container (seen from outside, by the
    engine's process list: the backend itself is busy running it)."""
    container_id = backend._leases.get(lease_id).container_id  # a test probe

    async def running() -> bool:
        async with aiodocker.Docker() as docker:
            listing = await docker.containers.container(container_id).top()
        return any(program in " ".join(process) for process in listing["Processes"])

    await eventually(running, timeout_s=20)
