"""Composition root of the tracker: wires the store and the bus into the handlers."""

import asyncio

import structlog

from contracts.messages import (
    CancelRequest,
    FailureFeedbackRendered,
    StepResult,
    SubmissionAccepted,
)
from services.tracker.adapters.postgres import PostgresAttemptStore
from services.tracker.handlers import Tracker
from services.tracker.settings import TrackerSettings as Settings
from shared.db.inbox import Inbox
from shared.runtime import Runtime
from shared.worker import StepWorker

log = structlog.get_logger()

__all__ = ["Settings", "start"]


async def start(runtime: Runtime, settings: Settings) -> list[asyncio.Task[None]]:
    tracker = Tracker(PostgresAttemptStore(runtime.pool), runtime.bus, runtime.bus.topology)
    worker = StepWorker(
        "tracker",
        runtime.bus,
        Inbox(runtime.pool, "tracker"),
        steps={},
        extra={
            SubmissionAccepted: tracker.on_accepted,
            StepResult: tracker.on_step_completed,
            FailureFeedbackRendered: tracker.on_failure_feedback,
            CancelRequest: tracker.on_cancel,
        },
    )
    await worker.start()
    return [asyncio.create_task(sweep_forever(tracker, settings))]


async def sweep_forever(tracker: Tracker, settings: Settings) -> None:
    suspects: set[tuple[int, int]] = set()
    while True:
        await asyncio.sleep(settings.sweep_interval_s)
        try:
            suspects = await sweep_once(
                tracker, settings.stuck_after_s, suspects, settings.abandoned_after_s
            )
        except Exception:  # the sweep is retried next tick; the consumer keeps working
            log.exception("sweep failed")


async def sweep_once(
    tracker: Tracker,
    stuck_after_s: float,
    suspects: set[tuple[int, int]],
    abandoned_after_s: float = 6 * 3600,
) -> set[tuple[int, int]]:
    """Interrupt what was stale on the last sweep and still is; return what is stale now.
    Two sightings, because right after a database outage every claim looks stale until
    the live workers' next heartbeat lands."""
    stale = set(await tracker.store.stuck(stuck_after_s, abandoned_after_s))
    for submission_id, attempt in sorted(stale & suspects):
        log.warning("pipeline interrupted", submission_id=submission_id, attempt=attempt)
        await tracker.interrupt(submission_id, attempt)
    return stale - suspects
