"""The stuck sweep knows queues from stalls (real PostgreSQL and RabbitMQ): only an attempt
whose running step stopped beating, seen stale on two sweeps, is interrupted."""

import contextlib
from collections.abc import AsyncIterator

import pytest

from contracts.messages import Envelope, envelope
from contracts.steps import StepName
from services.tracker.app import sweep_once
from shared.db.inbox import Inbox
from shared.runtime import Runtime
from tests.integration.test_redelivery import seeded_submission, tracker_of
from tests.support import Isolation, eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def runtime(isolation: Isolation) -> AsyncIterator[Runtime]:
    opened = await Runtime.open(isolation.settings())
    yield opened
    await opened.close()


async def claim(runtime: Runtime, submission_id: int, beat_seconds_ago: int) -> None:
    await runtime.pool.execute(
        "INSERT INTO step_claims (submission_id, attempt, step, consumer, heartbeat_at)"
        " VALUES ($1, 1, 'GRADE', 'grading', now() - make_interval(secs => $2))",
        submission_id,
        beat_seconds_ago,
    )


async def status(runtime: Runtime, submission_id: int) -> str:
    """The attempt's pipeline_execution status; "open" while it has no final record."""
    ended = await runtime.pool.fetchval(
        "SELECT pipeline_execution->>'status' FROM results WHERE submission_id = $1",
        submission_id,
    )
    return str(ended or "open")


async def test_only_a_step_whose_heartbeats_stopped_is_interrupted(
    runtime: Runtime, demo_config: dict[str, object]
) -> None:
    queued, _ = await seeded_submission(runtime, demo_config)  # waiting in a queue: no claim
    alive, _ = await seeded_submission(runtime, demo_config)
    stalled, _ = await seeded_submission(runtime, demo_config)
    await claim(runtime, alive, beat_seconds_ago=5)
    await claim(runtime, stalled, beat_seconds_ago=300)
    tracker = tracker_of(runtime)

    suspects = await sweep_once(tracker, 120, set())
    assert suspects == {(stalled, 1)}
    assert await status(runtime, stalled) == "open"  # one sighting is not enough

    await sweep_once(tracker, 120, suspects)
    assert await status(runtime, stalled) == "interrupted"
    assert await status(runtime, alive) == "open"
    assert await status(runtime, queued) == "open"
    claims = await runtime.pool.fetch("SELECT submission_id FROM step_claims")
    assert [row["submission_id"] for row in claims] == [alive]  # the ended one's claim is gone


async def test_a_claim_that_beats_again_before_the_second_sweep_is_spared(
    runtime: Runtime, demo_config: dict[str, object]
) -> None:
    """Right after a database outage every claim looks stale until workers beat again."""
    submission_id, _ = await seeded_submission(runtime, demo_config)
    await claim(runtime, submission_id, beat_seconds_ago=300)
    tracker = tracker_of(runtime)
    suspects = await sweep_once(tracker, 120, set())
    await runtime.pool.execute("UPDATE step_claims SET heartbeat_at = now()")

    assert await sweep_once(tracker, 120, suspects) == set()
    assert await status(runtime, submission_id) == "open"


async def test_a_running_step_keeps_its_claim_beating_and_ends_it_when_recorded(
    runtime: Runtime, demo_config: dict[str, object]
) -> None:
    submission_id, request = await seeded_submission(runtime, demo_config)
    inbox = Inbox(runtime.pool, "grading", heartbeat_s=0.05)
    work = envelope(request, submission_id=submission_id, attempt=1, step=StepName.FOCUS)
    beats = "SELECT heartbeat_at FROM step_claims WHERE step = 'FOCUS'"

    async with inbox.working_on(work):
        first = await runtime.pool.fetchval(beats)

        async def beat_again() -> bool:
            return bool(await runtime.pool.fetchval(beats) > first)

        await eventually(beat_again)
    assert await inbox.record_once(work, [])
    assert await runtime.pool.fetchval(beats) is None
    assert not await inbox.record_once(work, [])  # a second outcome is refused


async def test_an_attempt_with_no_step_running_and_no_event_for_hours_is_ended(
    runtime: Runtime, demo_config: dict[str, object]
) -> None:
    """The last resort, for a message parked for a redrive nobody made."""
    forgotten, _ = await seeded_submission(runtime, demo_config)
    waiting, _ = await seeded_submission(runtime, demo_config)
    await runtime.pool.execute(
        "UPDATE attempts SET last_event_at = now() - interval '7 hours' WHERE submission_id = $1",
        forgotten,
    )
    tracker = tracker_of(runtime)
    suspects = await sweep_once(tracker, 120, set(), abandoned_after_s=6 * 3600)
    await sweep_once(tracker, 120, suspects, abandoned_after_s=6 * 3600)
    assert await status(runtime, forgotten) == "interrupted"
    assert await status(runtime, waiting) == "open"


async def test_a_duplicate_run_never_brings_back_a_claim_its_winner_ended(
    runtime: Runtime, demo_config: dict[str, object]
) -> None:
    """Two runs of one step (a redelivery to another replica): the first records and
    ends the claim; the loser's heartbeats and its refused recording leave none."""
    submission_id, request = await seeded_submission(runtime, demo_config)
    work = envelope(request, submission_id=submission_id, attempt=1, step=StepName.FOCUS)
    winner = Inbox(runtime.pool, "grading", heartbeat_s=0.05)
    loser = Inbox(runtime.pool, "grading", heartbeat_s=0.05)
    claims = "SELECT count(*) FROM step_claims"

    beats = 0
    beat = loser._beat

    async def counted_beat(envelope: Envelope, owner: str) -> None:
        nonlocal beats
        await beat(envelope, owner)
        beats += 1

    loser._beat = counted_beat  # type: ignore[method-assign]
    async with loser.working_on(work):
        async with winner.working_on(work):
            assert await winner.record_once(work, [])
        assert await runtime.pool.fetchval(claims) == 0
        after_the_end = beats

        async def beat_twice_more() -> bool:  # the loser keeps beating meanwhile
            return beats >= after_the_end + 2

        await eventually(beat_twice_more)
        assert await runtime.pool.fetchval(claims) == 0
    assert not await loser.record_once(work, [])
    assert await runtime.pool.fetchval(claims) == 0


async def test_a_run_that_fails_gives_its_claim_up(
    runtime: Runtime, demo_config: dict[str, object]
) -> None:
    """Its retry waits in a queue, which is not a stall."""
    submission_id, request = await seeded_submission(runtime, demo_config)
    work = envelope(request, submission_id=submission_id, attempt=1, step=StepName.FOCUS)
    with contextlib.suppress(RuntimeError):
        async with Inbox(runtime.pool, "grading").working_on(work):
            raise RuntimeError("the database went away")
    assert await runtime.pool.fetchval("SELECT count(*) FROM step_claims") == 0
