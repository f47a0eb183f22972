"""Request/reply over RabbitMQ: how preflight and grading call the sandbox service.

The client publishes to the server's queue with `reply_to` (its own exclusive queue)
and a correlation id, and waits for the reply with a timeout. Requests carry an
expiration equal to that timeout, so a request nobody answered in time is dropped
instead of running later for a caller that has gone.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import aio_pika
import aio_pika.exceptions
import aiormq.exceptions
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from contracts.messages import Envelope
from shared.errors import PlatformFailure, TransientError
from shared.messaging.bus import Bus, to_message

log = structlog.get_logger()
ReplyHandler = Callable[[Envelope], Awaitable[Envelope]]


class RpcTimeout(TransientError, PlatformFailure, TimeoutError):
    """The server did not answer in time."""


class RpcUnavailable(TransientError, PlatformFailure, ConnectionError):
    """The broker connection is down (a restart): the call was not sent. A platform
    failure, never the student's: the step is tried again once the broker is back."""


# What publishing raises while the connection or its channel is gone.
BROKER_DOWN: tuple[type[Exception], ...] = (
    aio_pika.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
)


class RpcClient:
    def __init__(self, bus: Bus, queue_name: str) -> None:
        self.bus = bus
        self.queue_name = queue_name
        self._pending: dict[str, asyncio.Future[Envelope]] = {}
        self._channel: AbstractChannel | None = None
        self._reply_queue: AbstractQueue | None = None

    async def start(self) -> None:
        self._channel = await self.bus.connection.channel(publisher_confirms=True)
        self._reply_queue = await self._channel.declare_queue(exclusive=True, auto_delete=True)
        await self._reply_queue.consume(self._on_reply, no_ack=True)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._pending.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(Envelope.model_validate_json(message.body))

    async def call(self, request: Envelope, timeout_s: float) -> Envelope:
        if self._channel is None or self._reply_queue is None:
            raise RuntimeError("RpcClient.start() was not called")
        correlation_id = str(uuid.uuid4())
        future: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        message = to_message(
            request,
            correlation_id=correlation_id,
            reply_to=self._reply_queue.name,
            expiration=timedelta(seconds=timeout_s),
        )
        try:
            await self._channel.default_exchange.publish(message, routing_key=self.queue_name)
            return await asyncio.wait_for(future, timeout_s)
        except BROKER_DOWN as error:
            raise RpcUnavailable(f"the broker is unreachable: {error!r}") from error
        except TimeoutError as error:
            raise RpcTimeout(f"no reply from {self.queue_name} within {timeout_s:.0f}s") from error
        finally:
            self._pending.pop(correlation_id, None)


async def serve_rpc(bus: Bus, queue_name: str, handler: ReplyHandler) -> None:
    """Answer requests on `queue_name`; the reply is sent before the request is acked."""
    channel = await bus.connection.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=bus.prefetch)
    queue = await channel.get_queue(queue_name, ensure=True)

    async def on_request(message: AbstractIncomingMessage) -> None:
        try:
            reply = await handler(Envelope.model_validate_json(message.body))
        except Exception:
            log.exception("rpc handler crashed; request dropped")
            await message.reject(requeue=False)
            return
        if message.reply_to:
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body=reply.model_dump_json().encode(),
                    content_type="application/json",
                    correlation_id=message.correlation_id,
                ),
                routing_key=message.reply_to,
            )
        await message.ack()

    await queue.consume(on_request)
