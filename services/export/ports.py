"""What the export handlers need: the webhook, the delivery state, a delayed publish."""

from typing import Protocol

from contracts.messages import Envelope


class Webhook(Protocol):
    async def send(self, url: str, body: bytes, headers: dict[str, str]) -> None: ...


class ExportStore(Protocol):
    async def is_current(self, submission_id: int, attempt: int, round_: int) -> bool: ...
    async def delivered(self, submission_id: int, attempt: int, round_: int) -> None: ...
    async def retrying(self, submission_id: int, attempt: int, round_: int, error: str) -> None: ...
    async def failed(self, submission_id: int, attempt: int, round_: int, error: str) -> None: ...


class LaterPublisher(Protocol):
    async def publish_later(self, envelope: Envelope, routing_key: str, delay_ms: int) -> None: ...
