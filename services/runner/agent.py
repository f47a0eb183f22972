"""The agent loop: poll, claim, download, run the job's steps, report, complete.

Each of `concurrency` workers long-polls for a job and runs it. While a job runs, a
heartbeat extends its lease (and hears a cancel), and a flusher sends the log about once
a second. A 409 on any call means the claim is lost: the work stops and nothing more is
reported. On SIGTERM the agent stops claiming, lets running jobs finish for a grace
period, gives back the ones that did not, and exits.
"""

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from contracts.messages import StepRequest, StepResult, utcnow
from contracts.runner import ClaimedJob, JobOutcome
from contracts.steps import StepName, StepStatus
from services.inprocess import InProcessOptions, step_table
from services.runner.client import (
    Backoff,
    ClaimLost,
    RunnerClient,
    RunnerRejected,
    ServerUnavailable,
)
from services.runner.logbook import LogBook
from services.sandbox.backends.base import SandboxBackend
from services.sandbox.handlers import owner_of
from shared.db.blobs import MemoryBlobStore
from shared.pipeline import Executed, StepTable, chain, execute_step, internal_error

log = structlog.get_logger()
# Well under the server's limit for one log request (1 MiB).
LOG_CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class AgentOptions:
    labels: list[str] | None = None
    concurrency: int = 1
    poll_wait_s: float = 20.0
    heartbeat_s: float = 10.0
    log_every_s: float = 1.0
    shutdown_grace_s: float = 60.0


class Agent:
    def __init__(
        self,
        client: RunnerClient,
        backend: SandboxBackend,
        options: AgentOptions,
        steps: InProcessOptions | None = None,
    ) -> None:
        self.client = client
        self.backend = backend
        self.options = options
        self.steps = steps or InProcessOptions()
        self.jobs_run = 0
        self.rejected = False  # the server refused this runner's token: nothing to do

    async def run(self, stop: asyncio.Event) -> None:
        """Serve jobs until `stop` is set; returns once every worker has let go."""
        count = self.options.concurrency
        workers = [asyncio.create_task(self._work(stop)) for _ in range(count)]
        await asyncio.gather(*workers)
        log.info("runner stopped", jobs=self.jobs_run, requests=self.client.requests)

    async def _work(self, stop: asyncio.Event) -> None:
        backoff = Backoff(cap_s=30.0)
        while not stop.is_set():
            try:
                job = await _unless_stopped(
                    self.client.request_job(self.options.poll_wait_s, self.options.labels), stop
                )
            except ServerUnavailable as error:
                log.warning("runner API unavailable", error=str(error))
                await _sleep_unless_stopped(backoff.next_delay(), stop)
                continue
            except RunnerRejected as error:
                log.error("the server refused this runner", error=str(error))
                self.rejected = True
                stop.set()
                return
            backoff.reset()
            if job is not None:
                self.jobs_run += 1
                await self._run_job(job, stop)

    async def _run_job(self, job: ClaimedJob, stop: asyncio.Event) -> None:
        """One job; a bug in its handling is logged and its lease left to run out, and
        this worker goes on serving."""
        try:
            await JobRun(self, job).run(stop)
        except Exception:
            log.exception("job handling failed; its lease will run out", job_id=job.id)


@dataclass(frozen=True)
class Ending:
    """How a job's steps ended: the last step's result goes with the completion."""

    outcome: JobOutcome
    last_result: StepResult
    following: StepRequest | None  # the next step's request (FEEDBACK) when the plan goes on


class JobRun:
    """One claimed job, from download to completion (or to its claim's loss)."""

    def __init__(self, agent: Agent, job: ClaimedJob) -> None:
        self.agent, self.job, self.client = agent, job, agent.client
        self.book = LogBook()
        self.sent = 0
        self.lost = False
        self.cancelled = False
        self.work: asyncio.Task[Ending] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        job = self.job
        structlog.contextvars.bind_contextvars(job_id=job.id, submission_id=job.submission_id)
        log.info("job claimed", claim=job.claim, steps=[s.value for s in job.steps])
        steps = ", ".join(step.value for step in job.steps)
        self.book.say(
            f"job {job.id}, claim {job.claim}: submission {job.submission_id}"
            f" attempt {job.attempt}, steps {steps}"
        )
        self.work = asyncio.create_task(self._steps())
        helpers = [asyncio.create_task(self._beat()), asyncio.create_task(self._flush_often())]
        try:
            await self._until_done_or_stopped(stop)
            await self._release_sandbox()
            await self._finish()  # still heartbeating: a slow report keeps its lease
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self._release_sandbox()

    async def _until_done_or_stopped(self, stop: asyncio.Event) -> None:
        assert self.work is not None
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({self.work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not self.work.done():  # shutting down: a grace period, then give it back
            await asyncio.wait({self.work}, timeout=self.agent.options.shutdown_grace_s)
        stopping.cancel()
        if not self.work.done():
            self.work.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.work

    async def _finish(self) -> None:
        """Report how the job ended, unless its claim was lost."""
        assert self.work is not None
        error = None if self.work.cancelled() else self.work.exception()
        if self.lost or isinstance(error, ClaimLost):
            log.warning("claim lost: the job is someone else's now; nothing reported")
            return
        try:
            await self._report_end(error)
            log.info("job ended")
        except ClaimLost:
            log.warning("claim lost before the job could be reported")
        except (ServerUnavailable, RunnerRejected) as failure:
            log.error("job could not be reported; its lease will run out", error=str(failure))

    async def _report_end(self, error: BaseException | None) -> None:
        assert self.work is not None
        if self.cancelled:
            await self._last_words("cancelled by course staff: the program was stopped")
            await self.client.complete(self.job, "cancelled", None)
        elif self.work.cancelled():
            await self._last_words("the runner is shutting down: the job goes back to the queue")
            await self.client.give_back(self.job)
        elif error is not None:
            await self._last_words(f"the runner failed: {type(error).__name__}: {error}")
            await self.client.complete(self.job, "failed", None, detail=type(error).__name__)
        else:
            ending = self.work.result()
            await self._last_words(f"job {ending.outcome}")
            await self.client.complete(
                self.job, ending.outcome, ending.following, last=ending.last_result
            )

    async def _last_words(self, line: str) -> None:
        """The log's last line; a log the server would not take never stops the report."""
        self.book.say(line)
        with contextlib.suppress(ServerUnavailable):
            await self._flush()

    async def _steps(self) -> "Ending":
        """Run the job's steps in order, reporting each but the last, which goes with
        the completion (one transaction on the server): how the job ended."""
        blobs = MemoryBlobStore()
        request = await self._download(blobs)
        table = step_table(self.agent.backend, blobs, self.agent.steps)
        step = self.job.steps[0]
        while True:
            executed = await _run_step(table, request, step)
            self.book.step(executed.result)
            failed = executed.result.status is StepStatus.FAIL
            after = executed.next_step
            if failed or after is None or after not in self.job.steps:
                following = None if failed or after is None else executed.next_request
                outcome: JobOutcome = "failed" if failed else "succeeded"
                return Ending(outcome, executed.result, following)
            await self.client.report_step(self.job, executed.result)
            step, request = after, executed.next_request or request

    async def _download(self, blobs: MemoryBlobStore) -> StepRequest:
        request = self.job.request
        files = await self.client.files(self.job, "code")
        manifest = await blobs.put_many(files)
        if manifest != request.submission.manifest:
            raise RuntimeError("the downloaded code does not match the job's manifest")
        self.book.say(f"downloaded {len(files)} file(s) of the submission")
        return request

    def _beat_every_s(self) -> float:
        """A third of the lease the server gives (30 s: every 10 s), at most the option;
        from the lease's length, not its end, so a skewed clock changes nothing."""
        return max(0.2, min(self.agent.options.heartbeat_s, self.job.lease_s / 3))

    async def _beat(self) -> None:
        every_s = self._beat_every_s()
        while True:
            await asyncio.sleep(every_s)
            try:
                answer = await self.client.heartbeat(self.job)
            except ClaimLost:
                self._stop_work(lost=True)
                return
            except Exception as error:  # a beat that fails is tried again; the loop lives on
                log.warning("heartbeat failed", error=f"{type(error).__name__}: {error}")
                continue
            if answer.cancel:
                self._stop_work(lost=False)
                return

    def _stop_work(self, lost: bool) -> None:
        self.lost, self.cancelled = lost, not lost
        if self.work is not None:
            self.work.cancel()

    async def _flush_often(self) -> None:
        while True:
            await asyncio.sleep(self.agent.options.log_every_s)
            with contextlib.suppress(ServerUnavailable):
                await self._flush()

    async def _flush(self) -> None:
        """Send the log the server does not have yet (from the length it says it has)."""
        while self.sent < len(self.book.data) and not self.lost:
            chunk = bytes(self.book.data[self.sent : self.sent + LOG_CHUNK_BYTES])
            try:
                stored = await self.client.append_log(self.job, self.sent, chunk)
            except ClaimLost:
                self._stop_work(lost=True)
                return
            self.sent = min(len(self.book.data), stored)

    async def _release_sandbox(self) -> None:
        with contextlib.suppress(Exception):  # the container is removed with its lease
            owner = owner_of(self.job.submission_id, self.job.attempt)
            await self.agent.backend.release_owner(owner)


async def _run_step(table: StepTable, request: StepRequest, step: StepName) -> Executed:
    started: datetime = utcnow()
    try:
        return await execute_step(table, request, step)
    except asyncio.CancelledError:
        raise
    except Exception as error:  # a crash is a failed step, reported like any other
        log.exception("step crashed", step=step.value)
        return chain(request, step, internal_error(step, error), started)


async def _unless_stopped(
    call: Coroutine[Any, Any, ClaimedJob | None], stop: asyncio.Event
) -> ClaimedJob | None:
    """The call's answer; None when the agent began to stop first (the call is dropped)."""
    task = asyncio.create_task(call)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not task.done():
        task.cancel()
        return None
    return task.result()


async def _sleep_unless_stopped(delay_s: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay_s)


__all__ = ["Agent", "AgentOptions"]
