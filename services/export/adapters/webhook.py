"""The signed webhook exporter: POSTs the result; a 5xx or network error is retried by
the consumer, a 4xx is a failed EXPORT step (the receiver refused it)."""

import httpx

from services.export.logic import SIGNATURE_HEADER, signature
from shared.errors import TransientError


class WebhookRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"the webhook answered HTTP {status}")
        self.status = status


class WebhookExporter:
    def __init__(self, secret: str, timeout_s: float = 10) -> None:
        self._secret = secret
        self.timeout_s = timeout_s

    async def send(self, url: str, body: bytes, idempotency_key: str) -> None:
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self._secret, body),
            "Idempotency-Key": idempotency_key,
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise TransientError(f"webhook unreachable: {type(error).__name__}") from error
        if response.status_code >= 500:
            raise TransientError(f"webhook answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise WebhookRefused(response.status_code)
