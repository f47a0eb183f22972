"""A RabbitMQ connection that declares the topology and publishes with confirms.

Publishing awaits the broker's confirm, so a caller that acks its input after
`publish` returns never acks work whose output was lost.
"""

import random
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from contracts.messages import Envelope
from shared.messaging.topology import RETRIES_HEADER, SERVICE_QUEUES, Topology, bindings

RawHandler = Callable[[AbstractIncomingMessage], Awaitable[None]]


def to_message(envelope: Envelope, **properties: Any) -> aio_pika.Message:
    return aio_pika.Message(
        body=envelope.model_dump_json().encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(envelope.message_id),
        type=envelope.type,
        timestamp=envelope.time,
        **properties,
    )


class Bus:
    def __init__(
        self,
        url: str,
        topology: Topology,
        *,
        prefetch: int = 8,
        delivery_limit: int = 5,
        retry_delays_ms: list[int] | None = None,
    ) -> None:
        self.url = url
        self.topology = topology
        self.prefetch = prefetch
        self.delivery_limit = delivery_limit
        self.retry_delays_ms = retry_delays_ms or [1_000]
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._delay_queues: set[str] = set()

    async def connect(self) -> None:
        self._connection = await aio_pika.connect_robust(self.url)
        # on_return_raises: without it a mandatory message the broker could not route
        # comes back silently and the publish still "succeeds".
        self._publish_channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        await self._declare(self._publish_channel)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _declare(self, channel: AbstractChannel) -> None:
        t = self.topology
        for name, kind in (
            (t.pipeline_exchange, aio_pika.ExchangeType.TOPIC),
            (t.status_exchange, aio_pika.ExchangeType.TOPIC),
            (t.dead_exchange, aio_pika.ExchangeType.DIRECT),
        ):
            self._exchanges[name] = await channel.declare_exchange(name, kind, durable=True)
        for service in SERVICE_QUEUES:
            await self._declare_service_queues(channel, service)
        await channel.declare_queue(
            t.sandbox_rpc_queue, durable=True, arguments={"x-queue-type": "quorum"}
        )

    async def _declare_service_queues(self, channel: AbstractChannel, service: str) -> None:
        t = self.topology
        quorum: dict[str, Any] = {"x-queue-type": "quorum"}
        dead = await channel.declare_queue(t.dead_queue(service), durable=True, arguments=quorum)
        await dead.bind(self._exchanges[t.dead_exchange], routing_key=service)
        queue = await _declare_or_explain(
            channel,
            t.queue(service),
            {
                **quorum,
                "x-delivery-limit": self.delivery_limit,
                "x-dead-letter-exchange": t.dead_exchange,
                "x-dead-letter-routing-key": service,
                # Dead-lettering waits for the dead queue's confirm, so a given-up message
                # cannot vanish between the two queues; this needs reject-publish.
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        )
        for key in bindings(service):
            await queue.bind(self._exchanges[t.pipeline_exchange], routing_key=key)

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up now (it reconnects by itself)."""
        # A robust connection is not "closed" while it reconnects: ask whether it is up.
        return self._connection is not None and self._connection.connected.is_set()

    @property
    def connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise RuntimeError("Bus.connect() was not called")
        return self._connection

    async def publish(self, envelope: Envelope, routing_key: str) -> None:
        """Publish pipeline work; mandatory, so an unroutable message is an error."""
        await self._exchanges[self.topology.pipeline_exchange].publish(
            to_message(envelope), routing_key=routing_key, mandatory=True
        )

    async def publish_later(self, envelope: Envelope, routing_key: str, delay_ms: int) -> None:
        """Publish pipeline work after `delay_ms`: it waits in a durable delay queue whose
        expired messages dead-letter back to the pipeline exchange, so a retry survives
        a restart of the publisher (and of the broker: the message is persistent)."""
        queue = self.topology.delay_queue(routing_key, delay_ms)
        if queue not in self._delay_queues:
            await self._channel().declare_queue(
                queue,
                durable=True,
                arguments={
                    "x-message-ttl": delay_ms,
                    "x-dead-letter-exchange": self.topology.pipeline_exchange,
                    "x-dead-letter-routing-key": routing_key,
                },
            )
            self._delay_queues.add(queue)
        await self._default_exchange().publish(to_message(envelope), routing_key=queue)

    async def retry_later(
        self, message: AbstractIncomingMessage, queue: str, retries: int, delays_ms: list[int]
    ) -> None:
        """`message` back into `queue` after a wait that grows with `retries` (the last
        delay repeats), jittered so retries of one outage do not all land together."""
        delay_ms = delays_ms[min(retries, len(delays_ms)) - 1]
        parking = self.topology.delay_queue(queue, delay_ms)
        if parking not in self._delay_queues:
            arguments: dict[str, Any] = {
                "x-message-ttl": delay_ms,
                "x-dead-letter-exchange": "",  # the default exchange: straight to `queue`
                "x-dead-letter-routing-key": queue,
            }
            await self._channel().declare_queue(parking, durable=True, arguments=arguments)
            self._delay_queues.add(parking)
        again = aio_pika.Message(
            message.body,
            headers={**(message.headers or {}), RETRIES_HEADER: retries},
            content_type=message.content_type,
            type=message.type,
            message_id=message.message_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            expiration=delay_ms * random.uniform(0.5, 1.0) / 1000,
        )
        await self._default_exchange().publish(again, routing_key=parking)

    async def publish_status(self, envelope: Envelope, routing_key: str) -> None:
        """Publish a status event; nobody may be listening, which is fine."""
        await self._exchanges[self.topology.status_exchange].publish(
            to_message(envelope), routing_key=routing_key, mandatory=False
        )

    async def publish_raw(self, exchange: str, routing_key: str, body: bytes) -> None:
        """Publish an already-serialized envelope (the outbox relay's path)."""
        target = self._exchanges[exchange] if exchange else self._default_exchange()
        message = to_message(Envelope.model_validate_json(body))
        mandatory = exchange == self.topology.pipeline_exchange
        await target.publish(message, routing_key=routing_key, mandatory=mandatory)

    def _default_exchange(self) -> AbstractExchange:
        return self._channel().default_exchange

    def _channel(self) -> AbstractChannel:
        if self._publish_channel is None:
            raise RuntimeError("Bus.connect() was not called")
        return self._publish_channel

    async def consume(self, queue_name: str, handler: RawHandler) -> AbstractQueue:
        """Consume with manual acks on a channel of its own with an explicit prefetch."""
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        queue = await channel.get_queue(queue_name, ensure=True)
        await queue.consume(handler)
        return queue


async def _declare_or_explain(
    channel: AbstractChannel, name: str, arguments: dict[str, Any]
) -> AbstractQueue:
    """Declare a durable queue; one left by an older version with other arguments is
    refused by RabbitMQ (406), which this turns into what to do about it."""
    try:
        return await channel.declare_queue(name, durable=True, arguments=arguments)
    except aio_pika.exceptions.ChannelPreconditionFailed as error:
        raise RuntimeError(
            f"queue {name!r} exists with other arguments than this version declares "
            f"({error}); let it drain, then delete it (rabbitmqctl delete_queue {name}) "
            "and start again, or run under a new AUTOGRADER_NAMESPACE"
        ) from error
