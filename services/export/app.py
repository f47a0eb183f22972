"""Composition root of the export service."""

import asyncio

from contracts.messages import ExportRequested
from services.export.adapters.postgres import PostgresExportStore
from services.export.adapters.webhook import WebhookExporter
from services.export.handlers import ExportHandlers
from services.export.logic import signer
from services.export.settings import ExportSettings as Settings
from shared.db.inbox import Inbox
from shared.runtime import Runtime
from shared.worker import StepWorker

__all__ = ["Settings", "start"]


async def start(runtime: Runtime, settings: Settings) -> list[asyncio.Task[None]]:
    handlers = ExportHandlers(
        WebhookExporter(settings.timeout_s, development=settings.env == "development"),
        PostgresExportStore(runtime.pool),
        runtime.bus,
        # A development stack may run with no secret: sign with a fixed one, said so.
        signer(settings.webhook_secret.get_secret_value() or "development-only-secret"),
        settings.retry_delays_ms,
    )
    worker = StepWorker(
        "export",
        runtime.bus,
        Inbox(runtime.pool, "export"),
        steps={},
        extra={ExportRequested: handlers.on_export_requested},
        give_ups={ExportRequested: handlers.give_up},
    )
    await worker.start()
    return []
