"""Composition root of the feedback service."""

import asyncio

from contracts.messages import FailureFeedbackRequest
from contracts.steps import StepName
from services.feedback.ai import make_feedback_step
from services.feedback.handlers import FailureFeedback
from services.feedback.ports import BlobReader
from services.feedback.settings import FeedbackSettings as Settings
from shared.ai.client import ChatClient, chat_client_from
from shared.db.blobs import PostgresBlobStore
from shared.db.inbox import Inbox
from shared.pipeline import StepTable
from shared.runtime import Runtime
from shared.worker import StepWorker

__all__ = ["Settings", "start", "step_table"]


def step_table(ai: ChatClient | None, blobs: BlobReader) -> StepTable:
    """The steps this service runs, for the bus and the in-process mode alike."""
    return {StepName.FEEDBACK: make_feedback_step(ai, blobs)}


async def start(runtime: Runtime, settings: Settings) -> list[asyncio.Task[None]]:
    failures = FailureFeedback(runtime.bus)
    steps = step_table(chat_client_from(settings.ai), PostgresBlobStore(runtime.pool))
    worker = StepWorker(
        "feedback",
        runtime.bus,
        Inbox(runtime.pool, "feedback"),
        steps,
        extra={FailureFeedbackRequest: failures.on_failure_requested},
        give_ups={FailureFeedbackRequest: failures.on_failure_given_up},
    )
    await worker.start()
    return []
