"""The step worker every step service runs: consume step work, run the step (claimed,
with heartbeats), record its outcome once, and only then ack.

A step's outcome is decided once: its result for the tracker and the next step's work
are queued in the outbox in the transaction that marks the message handled, and the
process's outbox relay publishes them. A redelivery, or a give-up after a success that
was recorded, finds the mark and sends nothing: a step never reports twice.
Other messages (the extra handlers) are idempotent through the inbox mark, which is
written after their outputs were confirmed.
"""

from collections.abc import Awaitable, Callable, Mapping

import structlog
from aio_pika.abc import AbstractIncomingMessage

from contracts.base import Contract
from contracts.messages import MESSAGE_TYPES, Envelope, StepRequest, StepResult, utcnow
from contracts.steps import StepName
from shared.db.inbox import Inbox
from shared.db.outbox import Outgoing
from shared.errors import PoisonMessage
from shared.messaging.bus import Bus
from shared.messaging.consumer import GiveUp, make_consumer
from shared.messaging.topology import result_key, step_key
from shared.pipeline import StepTable, execute_step, internal_error, to_result
from shared.sandbox_client import SandboxLost

log = structlog.get_logger()
MessageHandler = Callable[[Envelope], Awaitable[None]]


# How many times one attempt may go back to SANDBOX for a sandbox that was lost.
MAX_LEASES_AGAIN = 2
LEASE_AGAIN = "sandbox-again-"


def _leases_again(work_key: str | None) -> int:
    if work_key is None or not work_key.startswith(LEASE_AGAIN):
        return 0
    return int(work_key.removeprefix(LEASE_AGAIN))


class _Plan(Contract):
    """Just the plan of a step request: enough to report a failure of one that no longer
    parses (the reason it was given up, perhaps)."""

    plan: list[StepName]


class StepWorker:
    def __init__(
        self,
        service: str,
        bus: Bus,
        inbox: Inbox,
        steps: StepTable,
        extra: Mapping[type[Contract], MessageHandler] | None = None,
        give_ups: Mapping[type[Contract], GiveUp] | None = None,
    ) -> None:
        self.service = service
        self.bus = bus
        self.inbox = inbox
        self.steps = steps
        # Step work goes to the step table; every other message type to its handler here.
        self.handlers: dict[type[Contract], MessageHandler] = dict(extra or {})
        # What to record when a message of a type keeps failing (step work: a failed step).
        self.give_ups: dict[type[Contract], GiveUp] = {StepRequest: self._give_up_step}
        self.give_ups |= give_ups or {}

    async def start(self) -> None:
        queue = self.bus.topology.queue(self.service)

        async def retry_later(message: AbstractIncomingMessage, retries: int) -> None:
            await self.bus.retry_later(message, queue, retries, self.bus.retry_delays_ms)

        consumer = make_consumer(
            self.handle,
            delivery_limit=self.bus.delivery_limit,
            on_give_up=self.give_up,
            retry_later=retry_later,
        )
        await self.bus.consume(queue, consumer)

    async def handle(self, message: Envelope) -> None:
        async with self.inbox.exclusive(message):
            if await self.inbox.seen(message):
                log.info("duplicate message skipped")
                return
            if MESSAGE_TYPES[message.type] is StepRequest:
                await self._run_step(message)  # marks as it records the outcome
                return
            await self._dispatch(message)
            await self.inbox.mark(message)

    async def _dispatch(self, message: Envelope) -> None:
        handler = self.handlers.get(MESSAGE_TYPES[message.type])
        if handler is None:
            raise PoisonMessage(f"{self.service} does not handle {message.type}")
        await handler(message)

    async def _run_step(self, message: Envelope) -> None:
        step = self._step_of(message)
        if await self.inbox.attempt_finished(message):
            log.info("attempt already finished; step skipped")
            await self.inbox.mark(message)
            return
        try:
            async with self.inbox.working_on(message):
                executed = await execute_step(self.steps, message.payload(StepRequest), step)
        except SandboxLost:
            await self._lease_again(message)
            return
        outputs = [self._result_for(message, executed.result)]
        if executed.next_step is not None and executed.next_request is not None:
            # A chain started again (its sandbox was lost) keeps its work key throughout,
            # so its steps are not mistaken for the first chain's, already handled.
            work = message.caused(
                executed.next_request, step=executed.next_step, work_key=message.work_key
            )
            outputs.append(self._pipeline(work, step_key(executed.next_step)))
        await self._record(message, outputs)

    async def _lease_again(self, message: Envelope) -> None:
        """The step's sandbox is gone (its service restarted): send the attempt back to
        SANDBOX for a fresh one, and the steps after it run again there. The tracker
        keeps the first outcome of the steps that already reported. After
        MAX_LEASES_AGAIN such returns the step fails instead (not the student's fault)."""
        again = _leases_again(message.work_key) + 1
        if again > MAX_LEASES_AGAIN:
            raise SandboxLost(f"the sandbox was lost {again} times", "LeaseNotFound")
        log.warning("sandbox lost; the attempt goes back to SANDBOX", times=again)
        request = message.payload(StepRequest)
        work = message.caused(request, step=StepName.SANDBOX, work_key=f"{LEASE_AGAIN}{again}")
        await self._record(message, [self._pipeline(work, step_key(StepName.SANDBOX))])

    async def _record(self, message: Envelope, outputs: list[Outgoing]) -> None:
        if not await self.inbox.record_once(message, outputs):
            log.warning("step outcome was already recorded; this one is dropped")

    def _result_for(self, cause: Envelope, result: StepResult) -> Outgoing:
        return self._pipeline(cause.caused(result, step=result.step), result_key(result.step))

    def _pipeline(self, message: Envelope, routing_key: str) -> Outgoing:
        return Outgoing(self.bus.topology.pipeline_exchange, routing_key, message)

    def _step_of(self, message: Envelope) -> StepName:
        if message.step is None or message.step not in self.steps:
            raise PoisonMessage(f"{self.service} does not run step {message.step}")
        return message.step

    async def give_up(self, message: Envelope, error: BaseException) -> None:
        give_up = self.give_ups.get(MESSAGE_TYPES[message.type])
        if give_up is not None:
            await give_up(message, error)

    async def _give_up_step(self, message: Envelope, error: BaseException) -> None:
        """A step that kept crashing ends the pipeline as a failed step, not a silent stall;
        unless its outcome was recorded after all, which then stands."""
        if message.step is None:
            return
        plan = message.payload(_Plan).plan
        outcome = internal_error(message.step, error)
        result = to_result(message.step, outcome, plan, utcnow())
        await self._record(message, [self._result_for(message, result)])
