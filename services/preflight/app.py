"""Composition root of pre-flight: the sandbox over RPC, and the step worker."""

import asyncio

from contracts.steps import StepName
from services.preflight.handlers import PreflightHandlers
from shared.db.blobs import PostgresBlobStore
from shared.db.inbox import Inbox
from shared.messaging.rpc import RpcClient
from shared.runtime import Runtime
from shared.sandbox_client import RpcSandboxClient
from shared.settings import CommonSettings
from shared.worker import StepWorker


async def start(runtime: Runtime, settings: CommonSettings) -> list[asyncio.Task[None]]:
    rpc = RpcClient(runtime.bus, runtime.bus.topology.sandbox_rpc_queue)
    await rpc.start()
    handlers = PreflightHandlers(RpcSandboxClient(rpc), PostgresBlobStore(runtime.pool))
    worker = StepWorker(
        "preflight",
        runtime.bus,
        Inbox(runtime.pool, "preflight"),
        steps={StepName.PRE_FLIGHT: handlers.preflight_step},
    )
    await worker.start()
    return []
