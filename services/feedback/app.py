"""Composition root of the feedback service."""

import asyncio

from contracts.steps import StepName
from services.feedback.handlers import FailureFeedback, feedback_step
from shared.db.inbox import Inbox
from shared.runtime import Runtime
from shared.settings import CommonSettings
from shared.worker import StepWorker


async def start(runtime: Runtime, settings: CommonSettings) -> list[asyncio.Task[None]]:
    failures = FailureFeedback(runtime.bus)
    worker = StepWorker(
        "feedback",
        runtime.bus,
        Inbox(runtime.pool, "feedback"),
        steps={StepName.FEEDBACK: feedback_step},
        extra={"feedback.failure_requested.v1": failures.on_failure_requested},
    )
    await worker.start()
    return []
