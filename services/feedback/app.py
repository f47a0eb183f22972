"""Composition root of the feedback service."""

import asyncio

from contracts.steps import StepName
from services.feedback.ai import make_feedback_step
from services.feedback.handlers import FailureFeedback
from shared.ai.client import AiSettings, chat_client_from
from shared.db.blobs import PostgresBlobStore
from shared.db.inbox import Inbox
from shared.runtime import Runtime
from shared.settings import CommonSettings
from shared.worker import StepWorker


async def start(runtime: Runtime, settings: CommonSettings) -> list[asyncio.Task[None]]:
    failures = FailureFeedback(runtime.bus)
    ai = chat_client_from(AiSettings())
    worker = StepWorker(
        "feedback",
        runtime.bus,
        Inbox(runtime.pool, "feedback"),
        steps={StepName.FEEDBACK: make_feedback_step(ai, PostgresBlobStore(runtime.pool))},
        extra={"feedback.failure_requested.v1": failures.on_failure_requested},
    )
    await worker.start()
    return []
