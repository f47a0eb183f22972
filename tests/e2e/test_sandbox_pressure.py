"""More submissions than containers: leases are released while others wait for one.

With releases queued behind SANDBOX steps that wait for a free container, one
container and a full prefetch window would deadlock; they have their own queue.
"""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import demo_files
from tests.support import Isolation, running_stack, wait_terminal

pytestmark = pytest.mark.e2e


@pytest.fixture
async def one_container_stack(
    isolation: Isolation, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("SANDBOX_BACKEND", "docker")
    monkeypatch.setenv("SANDBOX_POOL_SIZES", '{"python": 1}')
    monkeypatch.setenv("AUTOGRADER_PREFETCH", "4")
    async with running_stack() as client:
        yield client


async def test_every_submission_completes_through_a_single_container(
    one_container_stack: httpx.AsyncClient, demo_config: dict
) -> None:
    client = one_container_stack
    demo_config["languages"] = ["python"]
    demo_config["setup_config"] = {"python": demo_config["setup_config"]["python"]}
    created = await client.post("/api/v1/configs", json=demo_config)
    assert created.status_code == 201, created.text
    config_id = created.json()["id"]
    body = {
        "grading_config_id": config_id,
        "external_user_id": "u-1",
        "username": "ada",
        "language": "python",
        "submission_files": demo_files("python-right"),
    }
    responses = await asyncio.gather(
        *(client.post("/api/v1/submissions", json=body) for _ in range(8))
    )
    ids = [response.json()["id"] for response in responses]
    results = await asyncio.gather(*(wait_terminal(client, sid, timeout_s=150) for sid in ids))
    assert [r["status"] for r in results] == ["completed"] * 8
    assert all(r["final_score"] == 100.0 for r in results)
