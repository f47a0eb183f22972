"""The export's body, its Standard Webhooks signature and its backoff (no network)."""

from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.exceptions import WebhookVerificationError

from contracts.messages import ExportPayload
from contracts.steps import SubmissionStatus
from services.export.logic import encode, retry_delay_ms, signed_headers, signer, webhook_id

PAYLOAD = ExportPayload(
    submission_id=7,
    attempt=2,
    external_assignment_id="lab-1",
    grading_config_id=3,
    external_user_id="lms-9",
    username="ada",
    status=SubmissionStatus.FAILED,
    final_score=0.0,
    feedback="## Preflight Check Failed",
    result_tree=None,
    pipeline_execution={"status": "failed"},
)


@pytest.mark.parametrize(
    "secret", ["a plain random string", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
)
def test_a_receiver_verifies_the_signature_with_the_shared_secret(secret: str) -> None:
    body = encode(PAYLOAD)
    headers = signed_headers(signer(secret), webhook_id(PAYLOAD), body, datetime.now(UTC))
    receiver = Webhook(secret if secret.startswith("whsec_") else secret.encode())

    assert receiver.verify(body, headers) == PAYLOAD.model_dump(mode="json")
    with pytest.raises(WebhookVerificationError):
        receiver.verify(body.replace(b'"ada"', b'"eve"'), headers)


def test_a_replayed_old_delivery_is_refused_by_the_receiver() -> None:
    body = encode(PAYLOAD)
    old = datetime(2026, 1, 1, tzinfo=UTC)
    headers = signed_headers(signer("s3cret"), webhook_id(PAYLOAD), body, old)

    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(b"s3cret").verify(body, headers)


def test_the_delivery_id_is_the_same_for_every_try_of_one_attempt() -> None:
    assert webhook_id(PAYLOAD) == "autograder-7-2"


def test_retries_wait_longer_each_time_then_stop() -> None:
    delays = [5_000, 30_000, 120_000]

    assert [retry_delay_ms(delays, tries) for tries in (1, 2, 3, 4)] == [
        5_000,
        30_000,
        120_000,
        None,
    ]
