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
from contracts.steps import StepName, StepStatus
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


def _leases_again(work_key: str | None) -> tuple[int, StepName | None]:
    """How many times this chain went back to SANDBOX, and the step that lost its
    sandbox first (the first step the tracker has no outcome of): `sandbox-again-N:STEP`."""
    if work_key is None or not work_key.startswith(LEASE_AGAIN):
        return 0, None
    times, _, lost = work_key.removeprefix(LEASE_AGAIN).partition(":")
    return int(times), StepName(lost) if lost else None


def _reported_as(step: StepName, work_key: str | None, plan: list[StepName]) -> StepName:
    """The step a failure is reported as. In a chain run again, the tracker already has
    the outcome of every step before the lost one and would drop a second: a failure of
    one of them is reported as the lost step's, so the attempt still ends."""
    _, lost = _leases_again(work_key)
    if lost is None or lost not in plan or step not in plan:
        return step
    return lost if plan.index(step) < plan.index(lost) else step


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
        outputs = [self._result_for(message, self._reportable(message, executed.result))]
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
        times, lost = _leases_again(message.work_key)
        again, lost = times + 1, lost or message.step
        if again > MAX_LEASES_AGAIN or lost is None:
            raise SandboxLost(f"the sandbox was lost {again} times", "LeaseNotFound")
        log.warning("sandbox lost; the attempt goes back to SANDBOX", times=again)
        request = message.payload(StepRequest)
        key = f"{LEASE_AGAIN}{again}:{lost.value}"
        work = message.caused(request, step=StepName.SANDBOX, work_key=key)
        await self._record(message, [self._pipeline(work, step_key(StepName.SANDBOX))])

    def _reportable(self, message: Envelope, result: StepResult) -> StepResult:
        """A result as the tracker can take it (see `_reported_as`)."""
        step = _reported_as(result.step, message.work_key, result.plan)
        if result.status is not StepStatus.FAIL or step is result.step:
            return result
        cause = RuntimeError(f"run again after its sandbox was lost, {result.step} failed")
        return to_result(step, internal_error(step, cause), result.plan, utcnow())

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
        step = _reported_as(message.step, message.work_key, plan)
        result = to_result(step, internal_error(step, error), plan, utcnow())
        await self._record(message, [self._result_for(message, result)])
