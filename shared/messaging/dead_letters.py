"""What waits in the dead queues, and sending it back: `autograder dead-letters`.

A message lands in `<ns>.<service>.dead` when it was poison or given up. A person looks
(`list`: nothing is taken off the queue) and, once the cause is fixed, sends them back
(`redrive`): each goes to its service's queue again with its retry count reset; the
inbox makes a redriven message that had in fact been handled change nothing.
"""

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from contracts.messages import Envelope
from shared.messaging.topology import RETRIES_HEADER, SERVICE_QUEUES, Topology


@dataclass(frozen=True)
class DeadLetter:
    service: str
    message_type: str
    submission_id: int | None
    attempt: int | None
    step: str | None
    reason: str  # why the broker dead-lettered it (rejected, delivery limit)


async def dead_letters(url: str, topology: Topology, services: list[str]) -> list[DeadLetter]:
    """Every dead message of these services, left where it is."""
    found: list[DeadLetter] = []
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        for service in services:
            found += [_describe(service, m) for m in await _peek(channel, topology, service)]
    return found


async def redrive(url: str, topology: Topology, services: list[str]) -> int:
    """Send every dead message of these services back to its queue; how many went."""
    sent = 0
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        for service in services:
            sent += await _redrive_queue(channel, topology, service)
    return sent


def known_services(chosen: str | None) -> list[str]:
    if chosen is None:
        return list(SERVICE_QUEUES)
    if chosen not in SERVICE_QUEUES:
        raise ValueError(f"no service {chosen!r}; one of {list(SERVICE_QUEUES)}")
    return [chosen]


async def _peek(
    channel: AbstractChannel, topology: Topology, service: str
) -> list[AbstractIncomingMessage]:
    """Take every message without acking it; they return to the queue with the channel."""
    queue = await channel.get_queue(topology.dead_queue(service))
    messages = []
    while (message := await queue.get(no_ack=False, fail=False)) is not None:
        messages.append(message)
    return messages


async def _redrive_queue(channel: AbstractChannel, topology: Topology, service: str) -> int:
    queue = await channel.get_queue(topology.dead_queue(service))
    sent = 0
    while (message := await queue.get(no_ack=False, fail=False)) is not None:
        headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")}
        again = aio_pika.Message(
            message.body,
            headers={**headers, RETRIES_HEADER: 0},
            content_type=message.content_type,
            type=message.type,
            message_id=message.message_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        # Confirmed before the dead copy is acked: a crash in between leaves two, not none.
        await channel.default_exchange.publish(again, routing_key=topology.queue(service))
        await message.ack()
        sent += 1
    return sent


def _describe(service: str, message: AbstractIncomingMessage) -> DeadLetter:
    try:
        envelope = Envelope.model_validate_json(message.body)
    except ValueError:  # a malformed message: say so, it has no ids
        return DeadLetter(service, "(malformed)", None, None, None, _reason(message))
    step = envelope.step.value if envelope.step else None
    return DeadLetter(
        service, envelope.type, envelope.submission_id, envelope.attempt, step, _reason(message)
    )


def _reason(message: AbstractIncomingMessage) -> str:
    deaths = (message.headers or {}).get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        return str(deaths[0].get("reason", "unknown"))
    return str((message.headers or {}).get("x-first-death-reason", "unknown"))
