"""Export handler: delivers a finished attempt's result to its webhook.

Consumes: export.requested.v1 (queued by the tracker when an attempt ends, completed or
          failed, and by intake when someone retries a delivery).
Publishes: export.requested.v1 again, into a delay queue, when a try failed for a
           reason worth retrying (5xx, network), with the next backoff delay.
The grade is never touched here: a delivery has its own state (`exports`).
"""

from dataclasses import dataclass

from standardwebhooks import Webhook as Signer

from contracts.messages import Envelope, ExportRequested, utcnow
from services.export.adapters.webhook import WebhookRefused
from services.export.logic import encode, retry_delay_ms, signed_headers, webhook_id
from services.export.ports import ExportStore, LaterPublisher, Webhook
from shared.errors import TransientError
from shared.messaging.topology import EXPORT_REQUESTED_KEY


@dataclass
class ExportHandlers:
    webhook: Webhook
    store: ExportStore
    bus: LaterPublisher
    signer: Signer
    retry_delays_ms: list[int]

    async def on_export_requested(self, message: Envelope) -> None:
        request = message.payload(ExportRequested)
        tries = request.delivery_attempt + 1
        ids = (message.submission_id, message.attempt, request.round)
        if not await self.store.is_current(*ids):
            return  # a person started a newer round: this retry is moot
        body = encode(request.payload)
        headers = signed_headers(self.signer, webhook_id(request.payload), body, utcnow())
        try:
            await self.webhook.send(request.url, body, headers)
        except WebhookRefused as refused:
            await self.store.failed(*ids, str(refused))
        except TransientError as error:
            await self._try_again_later(message, request, tries, str(error))
        else:
            await self.store.delivered(*ids)

    async def _try_again_later(
        self, message: Envelope, request: ExportRequested, tries: int, error: str
    ) -> None:
        ids = (message.submission_id, message.attempt, request.round)
        delay_ms = retry_delay_ms(self.retry_delays_ms, tries)
        if delay_ms is None:
            await self.store.failed(*ids, f"{error} (gave up after {tries} tries)")
            return
        await self.store.retrying(*ids, error)
        again = request.model_copy(update={"delivery_attempt": tries})
        later = message.caused(again, work_key=again.work_key)
        await self.bus.publish_later(later, EXPORT_REQUESTED_KEY, delay_ms)

    async def give_up(self, message: Envelope, error: BaseException) -> None:
        """Delivering kept crashing (not the webhook's answer): failed, and said why."""
        request = message.payload(ExportRequested)
        reason = f"internal error: {type(error).__name__}; retry it once fixed"
        await self.store.failed(message.submission_id, message.attempt, request.round, reason)
