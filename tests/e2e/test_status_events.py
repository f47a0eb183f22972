"""Dashboards bind their own queue to the status exchange and see a submission's life."""

import asyncio
import json

import aio_pika
import httpx
import pytest

from tests.conftest import demo_files
from tests.support import AMQP_URL, Isolation, wait_terminal

pytestmark = pytest.mark.e2e


async def test_a_plain_amqp_client_sees_queued_running_and_completed(
    stack: httpx.AsyncClient, isolation: Isolation, demo_config: dict
) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(f"{isolation.namespace}.status", routing_key="submission.*")
        config_id = (await stack.post("/api/v1/configs", json=demo_config)).json()["id"]
        body = {
            "grading_config_id": config_id,
            "external_user_id": "u-1",
            "username": "ada",
            "language": "python",
            "submission_files": demo_files("python-right"),
        }
        submission_id = (await stack.post("/api/v1/submissions", json=body)).json()["id"]
        await wait_terminal(stack, submission_id)
        await asyncio.sleep(0.5)
        events = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            events.append((message.routing_key, json.loads(message.body)))
    keys = [key for key, _ in events]
    assert keys[0] == "submission.queued"
    assert "submission.running" in keys
    assert keys[-1] == "submission.completed"
    running_steps = [e["step"] for k, e in events if k == "submission.running"]
    assert "GRADE" in running_steps
    final = events[-1][1]
    assert final["submission_id"] == submission_id
    assert final["data"]["final_score"] == 100.0
