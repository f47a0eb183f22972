"""Live status over HTTP (server-sent events) through the whole stack: every event of a
submission in order, nothing missed across a reconnect with Last-Event-ID, a
dashboard's stream of a whole assignment, and a stream of what already ended."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import demo_files

pytestmark = pytest.mark.e2e

Event = tuple[str, dict[str, Any]]  # (id, data)


async def events_of(response: httpx.Response) -> AsyncIterator[Event]:
    """The events of an SSE body; comments (heartbeats) are skipped."""
    event_id, data = "", ""
    async for line in response.aiter_lines():
        if line.startswith("id: "):
            event_id = line.removeprefix("id: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and data:
            yield event_id, json.loads(data)
            event_id, data = "", ""


async def follow(
    client: httpx.AsyncClient, url: str, *, last_event_id: str | None = None, take: int = 10_000
) -> list[Event]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    got: list[Event] = []
    async with client.stream("GET", url, headers=headers, timeout=90) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for event in events_of(response):
            got.append(event)
            if len(got) >= take:
                break
    return got


async def submit(client: httpx.AsyncClient, config_id: int, user: str) -> int:
    body = {
        "grading_config_id": config_id,
        "external_user_id": user,
        "username": user,
        "language": "python",
        "submission_files": demo_files("python-right"),
    }
    return int((await client.post("/api/v1/submissions", json=body)).json()["id"])


async def config(client: httpx.AsyncClient, demo_config: dict[str, Any], aid: str) -> int:
    created = await client.post(
        "/api/v1/configs", json={**demo_config, "external_assignment_id": aid}
    )
    return int(created.json()["id"])


async def test_a_submission_stream_has_every_event_in_order_and_ends_after_the_last(
    stack: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    submission_id = await submit(stack, await config(stack, demo_config, "live-1"), "ana")
    events = await follow(stack, f"/api/v1/submissions/{submission_id}/events")
    statuses = [data["status"] for _, data in events]
    assert statuses[0] == "queued"
    assert statuses[-1] == "completed"
    assert set(statuses[1:-1]) == {"running"}
    running_steps = [data["step"] for _, data in events if data["status"] == "running"]
    assert running_steps[-1] == "FEEDBACK"
    assert events[-1][1]["final_score"] == 100.0
    assert len({event_id for event_id, _ in events}) == len(events)


async def test_a_client_that_reconnects_with_last_event_id_misses_nothing(
    stack: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    submission_id = await submit(stack, await config(stack, demo_config, "live-2"), "bo")
    url = f"/api/v1/submissions/{submission_id}/events"
    first = await follow(stack, url, take=2)  # then the connection drops
    rest = await follow(stack, url, last_event_id=first[-1][0])
    everything = await follow(stack, url)  # kept events, replayed from the start

    assert [event_id for event_id, _ in first + rest] == [event_id for event_id, _ in everything]
    assert rest[-1][1]["status"] == "completed"


async def test_a_dashboard_follows_every_submission_of_an_assignment(
    stack: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    config_id = await config(stack, demo_config, "live-3")
    other = await config(stack, demo_config, "live-elsewhere")
    ended: set[int] = set()
    seen: set[int] = set()

    async def watch() -> None:
        url = "/api/v1/events?external_assignment_id=live-3"
        async with stack.stream("GET", url, timeout=90) as response:
            async for _, data in events_of(response):
                seen.add(data["submission_id"])
                if data["status"] == "completed":
                    ended.add(data["submission_id"])
                if len(ended) == 2:
                    return

    watching = asyncio.create_task(watch())
    ids = {await submit(stack, config_id, "cy"), await submit(stack, config_id, "di")}
    await submit(stack, other, "ed")
    await asyncio.wait_for(watching, 120)
    assert ended == ids
    assert seen == ids  # nothing of the other assignment


async def test_a_stream_of_a_submission_that_already_ended_gives_its_end_at_once(
    stack: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    submission_id = await submit(stack, await config(stack, demo_config, "live-4"), "fe")
    await follow(stack, f"/api/v1/submissions/{submission_id}/events")  # until it ends
    again = await follow(stack, f"/api/v1/submissions/{submission_id}/events")
    assert again[-1][1]["status"] == "completed"


async def test_a_browser_may_send_its_token_as_a_cookie_never_in_the_url(
    stack: httpx.AsyncClient,
) -> None:
    token = stack.headers["Authorization"].removeprefix("Bearer ")
    base = str(stack.base_url)
    async with httpx.AsyncClient(base_url=base, cookies={"autograder_token": token}) as browser:
        assert (await browser.get("/api/v1/templates")).status_code == 200
    async with httpx.AsyncClient(base_url=base) as careless:
        in_url = await careless.get(f"/api/v1/events?external_assignment_id=x&access_token={token}")
        assert in_url.status_code == 401
