"""Live status over HTTP: server-sent events fed by the status exchange.

One consumer per intake process (an exclusive queue bound to `submission.*`) fans the
events out to the connected clients; a client is never a queue of its own. The last
events (RECENT_EVENTS of them, for RECENT_FOR) are kept, so a client that reconnects
with `Last-Event-ID` (the event's message id) gets what it missed. A client that does
not keep up (its buffer of CLIENT_BUFFER events is full) is dropped, never waited for.
"""

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from contracts.messages import Envelope, StatusEvent
from shared.messaging.bus import Bus

RECENT_EVENTS = 10_000
RECENT_FOR_S = 15 * 60
CLIENT_BUFFER = 256
HEARTBEAT_S = 15.0
TERMINAL = ("completed", "failed", "superseded", "cancelled")


@dataclass(frozen=True)
class LiveEvent:
    id: str
    submission_id: int
    external_assignment_id: str
    status: str
    data: dict[str, object]
    at: float

    @classmethod
    def of(cls, message: Envelope) -> "LiveEvent":
        event = message.payload(StatusEvent)
        data = {"submission_id": message.submission_id, **event.model_dump(mode="json")}
        return cls(
            id=str(message.message_id),
            submission_id=message.submission_id,
            external_assignment_id=event.external_assignment_id,
            status=event.status.value,
            data=data,
            at=time.monotonic(),
        )

    def frame(self) -> str:
        return f"id: {self.id}\nevent: status\ndata: {json.dumps(self.data)}\n\n"

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


Wanted = Callable[[LiveEvent], bool]


@dataclass(eq=False)
class _Client:
    wanted: Wanted
    events: asyncio.Queue[LiveEvent] = field(
        default_factory=lambda: asyncio.Queue(maxsize=CLIENT_BUFFER)
    )
    dropped: bool = False


@dataclass
class StatusFeed:
    """The process's one consumer of status events and its connected clients."""

    recent: deque[LiveEvent] = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))
    clients: set[_Client] = field(default_factory=set)
    _channel: AbstractChannel | None = None

    async def start(self, bus: Bus) -> None:
        self._channel = await bus.connection.channel()
        queue = await self._channel.declare_queue(exclusive=True, auto_delete=True)
        exchange = await self._channel.get_exchange(bus.topology.status_exchange)
        await queue.bind(exchange, routing_key="submission.*")
        await queue.consume(self._on_message, no_ack=True)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        with contextlib.suppress(ValueError):  # not a status event: nothing to show
            self.publish(LiveEvent.of(Envelope.model_validate_json(message.body)))

    def publish(self, event: LiveEvent) -> None:
        self.recent.append(event)
        for client in list(self.clients):
            if client.wanted(event):
                try:
                    client.events.put_nowait(event)
                except asyncio.QueueFull:  # a slow client must not slow the others
                    client.dropped = True
                    self.clients.discard(client)

    def missed(self, wanted: Wanted, last_event_id: str | None) -> list[LiveEvent]:
        """Kept events the client wants, after `last_event_id` when it is still kept."""
        fresh = [e for e in self.recent if time.monotonic() - e.at <= RECENT_FOR_S]
        ids = [e.id for e in fresh]
        start = ids.index(last_event_id) + 1 if last_event_id in ids else 0
        return [e for e in fresh[start:] if wanted(e)]

    @contextlib.asynccontextmanager
    async def subscribed(self, wanted: Wanted) -> AsyncIterator[_Client]:
        client = _Client(wanted)
        self.clients.add(client)
        try:
            yield client
        finally:
            self.clients.discard(client)


async def stream(
    feed: StatusFeed, wanted: Wanted, last_event_id: str | None, until_terminal: bool
) -> AsyncIterator[str]:
    """The SSE body: what was missed, then live events, with heartbeat comments while
    idle; a submission's stream ends after its terminal event."""
    async with feed.subscribed(wanted) as client:
        seen: set[str] = set()
        for event in feed.missed(wanted, last_event_id):
            seen.add(event.id)
            yield event.frame()
            if until_terminal and event.terminal:
                return
        while not client.dropped:
            try:
                event = await asyncio.wait_for(client.events.get(), HEARTBEAT_S)
            except TimeoutError:
                yield ": keep-alive\n\n"  # proxies close idle connections
                continue
            if event.id in seen:  # kept and then delivered live too
                continue
            yield event.frame()
            if until_terminal and event.terminal:
                return
