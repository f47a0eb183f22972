"""Composition root of grading: sandbox over RPC, blob store, and the step worker."""

import asyncio

from contracts.steps import StepName
from services.grading.ai_batch import make_ai_batch_step
from services.grading.handlers import GradingHandlers
from services.grading.settings import GradingSettings
from shared.ai.client import AiSettings, chat_client_from
from shared.db.blobs import PostgresBlobStore
from shared.db.inbox import Inbox
from shared.messaging.rpc import RpcClient
from shared.runtime import Runtime
from shared.sandbox_client import RpcSandboxClient
from shared.worker import StepWorker


async def start(runtime: Runtime, settings: GradingSettings) -> list[asyncio.Task[None]]:
    rpc = RpcClient(runtime.bus, runtime.bus.topology.sandbox_rpc_queue)
    await rpc.start()
    blobs = PostgresBlobStore(runtime.pool)
    handlers = GradingHandlers(
        RpcSandboxClient(rpc),
        blobs,
        default_time_limit_ms=settings.default_time_limit_ms,
        default_memory_limit_mb=settings.default_memory_limit_mb,
    )
    worker = StepWorker(
        "grading",
        runtime.bus,
        Inbox(runtime.pool, "grading"),
        steps={
            StepName.STRUCTURAL_ANALYSIS: handlers.structural_step,
            StepName.AI_BATCH: make_ai_batch_step(chat_client_from(AiSettings()), blobs),
            StepName.GRADE: handlers.grade_step,
            StepName.FOCUS: handlers.focus_step,
        },
    )
    await worker.start()
    return []
