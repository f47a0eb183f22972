"""The delivered body and its Standard Webhooks headers, and when to try again.

Standard Webhooks (standardwebhooks.com): `webhook-id` names the delivery (the same on
every retry, so a receiver drops duplicates), `webhook-timestamp` lets it refuse
replays, `webhook-signature` is `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
"""

import json
from datetime import datetime

from standardwebhooks import Webhook

from contracts.messages import ExportPayload
from shared.signing import webhook_signer


def encode(payload: ExportPayload) -> bytes:
    return json.dumps(
        payload.model_dump(mode="json"), sort_keys=True, separators=(",", ":")
    ).encode()


def webhook_id(payload: ExportPayload) -> str:
    return f"autograder-{payload.submission_id}-{payload.attempt}"


def signer(secret: str) -> Webhook:
    return webhook_signer(secret)


def signed_headers(sign: Webhook, message_id: str, body: bytes, now: datetime) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": sign.sign(message_id, now, body.decode()),
    }


def retry_delay_ms(delays_ms: list[int], attempts_so_far: int) -> int | None:
    """How long to wait before the next try; None when every try is spent."""
    return delays_ms[attempts_so_far - 1] if attempts_so_far <= len(delays_ms) else None
