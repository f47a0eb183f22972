"""Composition root of the export service."""

import asyncio

from contracts.steps import StepName
from services.export.adapters.webhook import WebhookExporter
from services.export.handlers import ExportHandlers
from services.export.settings import ExportSettings
from shared.db.inbox import Inbox
from shared.runtime import Runtime
from shared.worker import StepWorker


async def start(runtime: Runtime, settings: ExportSettings) -> list[asyncio.Task[None]]:
    handlers = ExportHandlers(WebhookExporter(settings.webhook_secret.get_secret_value()))
    worker = StepWorker(
        "export",
        runtime.bus,
        Inbox(runtime.pool, "export"),
        steps={StepName.EXPORT: handlers.export_step},
    )
    await worker.start()
    return []
