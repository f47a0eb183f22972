"""POSTs a body to a webhook: a 5xx or a network error is worth retrying, a 4xx is the
receiver refusing it (final until someone retries by hand)."""

import httpx

from shared.errors import AutograderError, TransientError
from shared.webhook_urls import Unresolved, resolved_problem


class WebhookRefused(AutograderError):
    """Final until a person retries: the receiver said no, or the URL cannot be used."""


class WebhookExporter:
    def __init__(self, timeout_s: float = 10, *, development: bool = False) -> None:
        self.timeout_s = timeout_s
        self.development = development

    async def send(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        # Checked again here: the host may point somewhere else since the config was made.
        try:
            problem = await resolved_problem(url, development=self.development)
        except Unresolved as error:  # DNS may be back on the next try
            raise TransientError(str(error)) from error
        if problem is not None:
            raise WebhookRefused(f"the webhook URL {problem}")
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.InvalidURL as error:
            raise WebhookRefused(f"the webhook URL cannot be used: {error}") from error
        except httpx.HTTPError as error:
            raise TransientError(f"webhook unreachable: {type(error).__name__}") from error
        if response.status_code >= 500:
            raise TransientError(f"the webhook answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise WebhookRefused(f"the webhook answered HTTP {response.status_code}")
