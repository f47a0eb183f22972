"""Dashboards bind their own queue to the status exchange and see a submission's life."""

import asyncio
import json
from typing import Any

import aio_pika
import httpx
import pytest

from tests.conftest import demo_files
from tests.support import AMQP_URL, Isolation

pytestmark = pytest.mark.e2e

PLAN = ["LOAD_TEMPLATE", "BUILD_TREE", "SANDBOX", "PRE_FLIGHT", "GRADE", "FOCUS", "FEEDBACK"]


async def events_until_final(queue: aio_pika.abc.AbstractQueue) -> list[tuple[str, Any]]:
    """Every status event, in order, up to the final one (the wait bounds only a hang)."""
    events: list[tuple[str, Any]] = []
    async with asyncio.timeout(90), queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            events.append((message.routing_key or "", json.loads(message.body)))
            if message.routing_key in ("submission.completed", "submission.failed"):
                return events
    return events


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
        events = await events_until_final(queue)

    keys = [key for key, _ in events]
    assert keys[0] == "submission.queued"
    assert keys[-1] == "submission.completed"
    final = events[-1][1]
    assert final["submission_id"] == submission_id
    assert final["data"]["final_score"] == 100.0
    # `running` names the step now running, in plan order, FEEDBACK included (issue 9).
    running = [event["data"]["step"] for key, event in events if key == "submission.running"]
    assert running == sorted(running, key=PLAN.index)
    assert {"SANDBOX", "GRADE", "FOCUS", "FEEDBACK"} <= set(running)
    assert running[-1] == "FEEDBACK"
    for _, event in events:  # a dashboard filters without calling back
        assert event["data"]["external_assignment_id"] == demo_config["external_assignment_id"]
        assert event["data"]["grading_config_id"] == config_id
        assert event["data"]["external_user_id"] == "u-1"
        assert event["data"]["attempt"] == 1
