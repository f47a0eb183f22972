"""What the tracker's handlers need from the outside world."""

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from contracts.messages import Envelope, StepResult
from services.tracker.logic import AttemptState, FinalRecord


class AttemptTx(Protocol):
    """One attempt, locked for the duration of a transaction."""

    async def record(self, result: StepResult, message_id: str) -> bool: ...
    async def state(self) -> AttemptState: ...
    async def finish(self, record: FinalRecord) -> None: ...
    async def set_feedback_if_missing(self, feedback: str) -> None: ...
    async def enqueue(self, exchange: str, routing_key: str, message: Envelope) -> None: ...


class AttemptStore(Protocol):
    def attempt(
        self, submission_id: int, attempt: int
    ) -> AbstractAsyncContextManager[AttemptTx]: ...
    async def stuck(self, older_than_s: float) -> list[tuple[int, int]]: ...
