"""Turns a handler of envelopes into a RabbitMQ consumer with one error policy.

This is the one place that maps outcomes to ack decisions:
- handler returned          -> ack (its outputs were confirmed before it returned)
- malformed / PoisonMessage -> reject without requeue: dead-lettered at once
- any other exception       -> requeue, until the delivery limit; then `on_give_up`
                               (publishes a failed step result) and dead-letter.
One canonical log line per handled message, with outcome and duration.
"""

import time
from collections.abc import Awaitable, Callable

import structlog
from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError

from contracts.messages import Envelope
from shared.errors import PoisonMessage

EnvelopeHandler = Callable[[Envelope], Awaitable[None]]
GiveUp = Callable[[Envelope, BaseException], Awaitable[None]]

log = structlog.get_logger()


async def _no_give_up(envelope: Envelope, error: BaseException) -> None:
    return None


def deliveries_so_far(message: AbstractIncomingMessage) -> int:
    """Quorum queues count failed deliveries in x-delivery-count; this one is +1."""
    headers = message.headers or {}
    count = headers.get("x-delivery-count", 0)
    return (int(count) if isinstance(count, int | str) else 0) + 1


def make_consumer(
    handler: EnvelopeHandler, *, delivery_limit: int, on_give_up: GiveUp = _no_give_up
) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
    async def consume(message: AbstractIncomingMessage) -> None:
        started = time.perf_counter()
        outcome = await _settle(message, handler, delivery_limit, on_give_up)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info("message handled", outcome=outcome, duration_ms=elapsed_ms)

    return consume


async def _settle(
    message: AbstractIncomingMessage,
    handler: EnvelopeHandler,
    delivery_limit: int,
    on_give_up: GiveUp,
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
    except (PoisonMessage, ValidationError) as error:  # retrying can never help
        log.error("poison message", error=str(error)[:500])
        await _give_up(message, envelope, error, on_give_up)
        return "dead_lettered"
    except Exception as error:
        return await _retry_or_give_up(message, envelope, error, delivery_limit, on_give_up)
    await message.ack()
    return "ok"


async def _retry_or_give_up(
    message: AbstractIncomingMessage,
    envelope: Envelope,
    error: Exception,
    delivery_limit: int,
    on_give_up: GiveUp,
) -> str:
    attempt = deliveries_so_far(message)
    if attempt < delivery_limit:
        log.warning("handler failed, will retry", error=repr(error), delivery=attempt)
        await message.nack(requeue=True)
        return "retry"
    log.error("handler failed for good", error=repr(error), delivery=attempt, exc_info=error)
    await _give_up(message, envelope, error, on_give_up)
    return "gave_up"


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
