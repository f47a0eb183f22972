"""Composition root of the sandbox service: a backend, the step worker and the RPC server."""

import asyncio

import structlog

from contracts.messages import SandboxRelease
from contracts.steps import StepName
from services.sandbox.backends.base import SandboxBackend
from services.sandbox.backends.choose import open_backend
from services.sandbox.handlers import SandboxHandlers
from services.sandbox.ports import BlobReader
from services.sandbox.settings import SandboxSettings as Settings
from shared.db.blobs import PostgresBlobStore
from shared.db.inbox import Inbox
from shared.messaging.rpc import serve_rpc
from shared.pipeline import StepTable
from shared.runtime import Runtime
from shared.worker import StepWorker

log = structlog.get_logger()
__all__ = ["Settings", "start", "step_table"]


def step_table(backend: SandboxBackend, blobs: BlobReader) -> StepTable:
    """The steps this service runs, for the bus and the in-process mode alike."""
    return {StepName.SANDBOX: SandboxHandlers(backend, blobs).sandbox_step}


async def start(runtime: Runtime, settings: Settings) -> list[asyncio.Task[None]]:
    backend = await open_backend(settings)
    log.info("sandbox backend ready", backend=type(backend).__name__)
    blobs = PostgresBlobStore(runtime.pool)
    handlers = SandboxHandlers(backend, blobs)
    steps = StepWorker(
        "sandbox", runtime.bus, Inbox(runtime.pool, "sandbox"), step_table(backend, blobs)
    )
    # Its own queue: a release must not wait behind steps waiting for a free container.
    releases = StepWorker(
        "sandbox-control",
        runtime.bus,
        Inbox(runtime.pool, "sandbox-control"),
        steps={},
        extra={SandboxRelease: handlers.on_release},
    )
    await steps.start()
    await releases.start()
    await serve_rpc(runtime.bus, runtime.bus.topology.sandbox_rpc_queue, handlers.on_call)
    return [asyncio.create_task(close_when_cancelled(backend))]


async def close_when_cancelled(backend: SandboxBackend) -> None:
    """Destroys every sandbox when the service stops."""
    try:
        await asyncio.Event().wait()
    finally:
        await backend.close()
