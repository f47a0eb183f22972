"""The fan-out of status events to SSE clients, without a broker."""

import asyncio
import time

import pytest

from services.intake import live
from services.intake.live import CLIENT_BUFFER, LiveEvent, StatusFeed, stream


def event(number: int, submission_id: int = 1, status: str = "running") -> LiveEvent:
    data: dict[str, object] = {"submission_id": submission_id, "status": status}
    return LiveEvent(f"e{number}", submission_id, "hw1", status, data, time.monotonic())


async def test_a_slow_client_is_dropped_and_the_others_keep_getting_events() -> None:
    feed = StatusFeed()
    async with feed.subscribed(lambda e: True) as slow, feed.subscribed(lambda e: True) as quick:
        for number in range(CLIENT_BUFFER + 1):
            feed.publish(event(number))
            if not quick.events.empty():
                quick.events.get_nowait()  # this one keeps up
        assert slow.dropped
        assert not quick.dropped
        assert slow not in feed.clients


async def test_an_idle_stream_sends_heartbeat_comments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "HEARTBEAT_S", 0.01)
    frames = stream(StatusFeed(), lambda e: True, None, until_terminal=True)
    assert await asyncio.wait_for(anext(frames), 5) == ": keep-alive\n\n"
    await frames.aclose()


async def test_missed_events_start_after_the_last_event_id_or_from_the_first_kept() -> None:
    feed = StatusFeed()
    for number in range(3):
        feed.publish(event(number))
    assert [e.id for e in feed.missed(lambda e: True, "e0")] == ["e1", "e2"]
    assert [e.id for e in feed.missed(lambda e: True, "gone")] == ["e0", "e1", "e2"]


async def test_a_submission_stream_ends_after_its_terminal_event() -> None:
    feed = StatusFeed()
    feed.publish(event(0, status="queued"))
    feed.publish(event(1, status="completed"))
    frames = [f async for f in stream(feed, lambda e: True, None, until_terminal=True)]
    assert [f.split("\n")[0] for f in frames] == ["id: e0", "id: e1"]
