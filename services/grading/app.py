"""Composition root of grading: sandbox over RPC, blob store, and the step worker."""

import asyncio

from contracts.steps import StepName
from services.grading.ai_batch import make_ai_batch_step
from services.grading.handlers import GradingHandlers
from services.grading.ports import BlobReader, SandboxClient
from services.grading.settings import GradingSettings as Settings
from shared.ai.client import ChatClient, chat_client_from
from shared.db.blobs import PostgresBlobStore
from shared.db.inbox import Inbox
from shared.messaging.rpc import RpcClient
from shared.pipeline import StepTable
from shared.runtime import Runtime
from shared.sandbox_client import RpcSandboxClient
from shared.worker import StepWorker

__all__ = ["Settings", "start", "step_table"]


def step_table(
    sandbox: SandboxClient, blobs: BlobReader, ai: ChatClient | None, settings: Settings
) -> StepTable:
    """The steps this service runs, for the bus and the in-process mode alike."""
    handlers = GradingHandlers(
        sandbox,
        blobs,
        default_time_limit_ms=settings.default_time_limit_ms,
        default_memory_limit_mb=settings.default_memory_limit_mb,
    )
    return {
        StepName.STRUCTURAL_ANALYSIS: handlers.structural_step,
        StepName.AI_BATCH: make_ai_batch_step(ai, blobs),
        StepName.GRADE: handlers.grade_step,
        StepName.FOCUS: handlers.focus_step,
    }


async def start(runtime: Runtime, settings: Settings) -> list[asyncio.Task[None]]:
    rpc = RpcClient(runtime.bus, runtime.bus.topology.sandbox_rpc_queue)
    await rpc.start()
    blobs = PostgresBlobStore(runtime.pool)
    ai = chat_client_from(settings.ai)
    steps = step_table(RpcSandboxClient(rpc), blobs, ai, settings)
    worker = StepWorker("grading", runtime.bus, Inbox(runtime.pool, "grading"), steps)
    await worker.start()
    return []
