"""Composition root of pre-flight: the sandbox over RPC, and the step worker."""

import asyncio

from contracts.steps import StepName
from services.preflight.handlers import PreflightHandlers
from services.preflight.ports import BlobWriter, SandboxClient
from shared.db.blobs import PostgresBlobStore
from shared.db.inbox import Inbox
from shared.messaging.rpc import RpcClient
from shared.pipeline import StepTable
from shared.runtime import Runtime
from shared.sandbox_client import RpcSandboxClient
from shared.settings import CommonSettings as Settings
from shared.worker import StepWorker

__all__ = ["Settings", "start", "step_table"]


def step_table(sandbox: SandboxClient, blobs: BlobWriter) -> StepTable:
    """The steps this service runs, for the bus and the in-process mode alike."""
    return {StepName.PRE_FLIGHT: PreflightHandlers(sandbox, blobs).preflight_step}


async def start(runtime: Runtime, settings: Settings) -> list[asyncio.Task[None]]:
    rpc = RpcClient(runtime.bus, runtime.bus.topology.sandbox_rpc_queue)
    await rpc.start()
    steps = step_table(RpcSandboxClient(rpc), PostgresBlobStore(runtime.pool))
    worker = StepWorker("preflight", runtime.bus, Inbox(runtime.pool, "preflight"), steps)
    await worker.start()
    return []
