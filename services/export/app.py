"""Composition root of the export service."""

import asyncio

from contracts.steps import StepName
from services.export.adapters.webhook import WebhookExporter
from services.export.handlers import ExportHandlers
from services.export.settings import ExportSettings as Settings
from shared.db.inbox import Inbox
from shared.pipeline import StepTable
from shared.runtime import Runtime
from shared.worker import StepWorker

__all__ = ["Settings", "start", "step_table"]


def step_table(webhook: WebhookExporter) -> StepTable:
    """The steps this service runs, for the bus and the in-process mode alike."""
    return {StepName.EXPORT: ExportHandlers(webhook).export_step}


async def start(runtime: Runtime, settings: Settings) -> list[asyncio.Task[None]]:
    steps = step_table(WebhookExporter(settings.webhook_secret.get_secret_value()))
    worker = StepWorker("export", runtime.bus, Inbox(runtime.pool, "export"), steps)
    await worker.start()
    return []
