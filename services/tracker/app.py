"""Composition root of the tracker: wires the store and the bus into the handlers."""

import asyncio

import structlog

from contracts.messages import FailureFeedbackRendered, StepResult, SubmissionAccepted
from services.tracker.adapters.postgres import PostgresAttemptStore
from services.tracker.handlers import Tracker
from services.tracker.settings import TrackerSettings as Settings
from shared.db.inbox import Inbox
from shared.db.outbox import OutboxRelay
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
        },
    )
    await worker.start()
    relay = OutboxRelay(runtime.pool, runtime.bus)  # publishes what _finish queued
    return [
        asyncio.create_task(sweep_forever(tracker, settings)),
        asyncio.create_task(relay.run()),
    ]


async def sweep_forever(tracker: Tracker, settings: Settings) -> None:
    store = tracker.store
    while True:
        await asyncio.sleep(settings.sweep_interval_s)
        try:
            for submission_id, attempt in await store.stuck(settings.stuck_after_s):
                log.warning("pipeline interrupted", submission_id=submission_id, attempt=attempt)
                await tracker.interrupt(submission_id, attempt)
        except Exception:  # the sweep is retried next tick; the consumer keeps working
            log.exception("sweep failed")
