"""Export handler.

Consumes: step.requested.v1 for EXPORT.
Publishes: step.completed.v1 (via the step worker).
"""

from dataclasses import dataclass

from contracts.failures import ExportRefused
from contracts.messages import StepRequest
from contracts.steps import StepName
from services.export.adapters.webhook import WebhookExporter, WebhookRefused
from services.export.logic import encode, export_payload
from shared.pipeline import StepOutcome


@dataclass
class ExportHandlers:
    webhook: WebhookExporter

    async def export_step(self, request: StepRequest, step: StepName) -> StepOutcome:
        url = request.config.export_webhook_url
        if url is None:
            return StepOutcome.success("Nothing to export")
        key = f"{request.submission.id}:{request.submission.attempt}"
        try:
            await self.webhook.send(url, encode(export_payload(request)), key)
        except WebhookRefused as error:
            return StepOutcome.failure(str(error), ExportRefused(status_code=error.status))
        return StepOutcome.success("Result exported")
