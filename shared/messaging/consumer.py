"""Turns a handler of envelopes into a RabbitMQ consumer with one error policy.

This is the one place that maps outcomes to ack decisions:
- handler returned          -> ack (its outputs were confirmed before it returned)
- malformed / PoisonMessage -> reject without requeue: dead-lettered at once
- any other exception       -> retried after a wait (a delay queue per retry, with
                               jitter; `retry_later`), until the delivery limit; then
                               `on_give_up` (publishes a failed step result) and
                               dead-letter. Without `retry_later`: requeued at once.
One canonical log line per handled message, with outcome and duration.
"""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError

from contracts.messages import Envelope
from shared.errors import RetryCannotHelp
from shared.messaging.topology import RETRIES_HEADER

EnvelopeHandler = Callable[[Envelope], Awaitable[None]]
GiveUp = Callable[[Envelope, BaseException], Awaitable[None]]
# Publish this message again after `retries_so_far` failed tries (it waits first).
RetryLater = Callable[[AbstractIncomingMessage, int], Awaitable[None]]

log = structlog.get_logger()


async def _no_give_up(envelope: Envelope, error: BaseException) -> None:
    return None


def deliveries_so_far(message: AbstractIncomingMessage) -> int:
    """Tries so far, this one included: the retries it waited out (our header) and the
    redeliveries the quorum queue counted (x-delivery-count: a consumer that died)."""
    return _count(message, RETRIES_HEADER) + _count(message, "x-delivery-count") + 1


def _count(message: AbstractIncomingMessage, header: str) -> int:
    value = (message.headers or {}).get(header, 0)
    return int(value) if isinstance(value, int | str) else 0


def make_consumer(
    handler: EnvelopeHandler,
    *,
    delivery_limit: int,
    on_give_up: GiveUp = _no_give_up,
    retry_later: RetryLater | None = None,
) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
    policy = _Policy(delivery_limit, on_give_up, retry_later)

    async def consume(message: AbstractIncomingMessage) -> None:
        started = time.perf_counter()
        outcome = await _settle(message, handler, policy)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info("message handled", outcome=outcome, duration_ms=elapsed_ms)

    return consume


@dataclass(frozen=True)
class _Policy:
    delivery_limit: int
    on_give_up: GiveUp
    retry_later: RetryLater | None


async def _settle(
    message: AbstractIncomingMessage, handler: EnvelopeHandler, policy: _Policy
) -> str:
    try:
        envelope = Envelope.model_validate_json(message.body)
    except ValidationError as error:
        log.error("malformed message dead-lettered", error=str(error)[:500])
        await message.reject(requeue=False)
        return "dead_lettered"
    _bind(envelope)
    try:
        await handler(envelope)
    except (RetryCannotHelp, ValidationError) as error:  # retrying can never help
        log.error("retrying cannot help; given up", error=repr(error)[:500])
        await _give_up(message, envelope, error, policy.on_give_up)
        return "dead_lettered"
    except Exception as error:
        return await _retry_or_give_up(message, envelope, error, policy)
    await message.ack()
    return "ok"


async def _retry_or_give_up(
    message: AbstractIncomingMessage, envelope: Envelope, error: Exception, policy: _Policy
) -> str:
    attempt = deliveries_so_far(message)
    if attempt < policy.delivery_limit:
        log.warning("handler failed, will retry", error=repr(error), delivery=attempt)
        await _retry(message, policy.retry_later)
        return "retry"
    log.error("handler failed for good", error=repr(error), delivery=attempt, exc_info=error)
    await _give_up(message, envelope, error, policy.on_give_up)
    return "gave_up"


async def _retry(message: AbstractIncomingMessage, retry_later: RetryLater | None) -> None:
    """The copy that waits is published (confirmed) before this one is acked: a crash
    in between leaves two copies, which the inbox absorbs, never none."""
    if retry_later is None:
        await message.nack(requeue=True)
        return
    try:
        await retry_later(message, _count(message, RETRIES_HEADER) + 1)
    except Exception:  # could not park it: requeue now rather than lose it
        log.exception("could not schedule the retry; requeued at once")
        await message.nack(requeue=True)
        return
    await message.ack()


async def _give_up(
    message: AbstractIncomingMessage, envelope: Envelope, error: Exception, on_give_up: GiveUp
) -> None:
    """Let the service record the failure (a failed step result), then dead-letter."""
    try:
        await on_give_up(envelope, error)
    except Exception:  # the message is dead-lettered anyway: it must never stay unsettled
        log.exception("giving up failed too")
    finally:
        await message.reject(requeue=False)


def _bind(envelope: Envelope) -> None:
    structlog.contextvars.bind_contextvars(
        submission_id=envelope.submission_id,
        attempt=envelope.attempt,
        step=envelope.step.value if envelope.step else None,
        message_id=str(envelope.message_id),
        message_type=envelope.type,
    )
