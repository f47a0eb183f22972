"""Sandbox handlers: the only code that drives a sandbox backend.

Consumes: step.requested.v1 for SANDBOX (lease a fresh sandbox for the attempt and put
          the submission's files in it), sandbox.release.v1 (destroy the attempt's
          sandbox; sent by the tracker at every terminal state),
          sandbox.call.v1 on the RPC queue (run / put_files / read_file on a lease,
          metrics of the backend's pools).
Publishes: step.completed.v1 (via the step worker), sandbox.reply.v1 (RPC replies).
"""

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError

from contracts.handover import SandboxLease
from contracts.messages import (
    SANDBOX_CALL,
    AcquireCall,
    AnySandboxCall,
    Envelope,
    MetricsCall,
    PutFilesCall,
    ReadFileCall,
    ReleaseCall,
    RunCall,
    SandboxReply,
    StepRequest,
    WriteFilesCall,
)
from contracts.sandbox import Manifest, SandboxMetrics
from contracts.steps import StepName
from services.sandbox.backends.base import SandboxBackend, SandboxError
from services.sandbox.ports import BlobReader
from shared.pipeline import StepOutcome


@runtime_checkable
class ReportsMetrics(Protocol):
    """A backend with pools to report on (the Docker one)."""

    def metrics(self) -> dict[str, Any]: ...


def backend_metrics(backend: SandboxBackend) -> dict[str, Any]:
    if isinstance(backend, ReportsMetrics):
        return backend.metrics()
    return {"backend": type(backend).__name__}  # no pools: nothing more to say


def owner_of(submission_id: int, attempt: int) -> str:
    """One lease per attempt: a redelivered SANDBOX step gets the same sandbox back."""
    return f"{submission_id}:{attempt}"


@dataclass
class SandboxHandlers:
    backend: SandboxBackend
    blobs: BlobReader

    async def sandbox_step(self, request: StepRequest, step: StepName) -> StepOutcome:
        submission = request.submission
        owner = owner_of(submission.id, submission.attempt)
        lease_id = await self.backend.acquire(owner, submission.language)
        await self._put(lease_id, submission.manifest, read_only=False)
        return StepOutcome.success(
            "Sandbox ready",
            output={"language": submission.language},
            context=SandboxLease(lease_id=lease_id),
        )

    async def _put(self, lease_id: str, manifest: Manifest, read_only: bool) -> None:
        files = await self.blobs.read_manifest(manifest)
        await self.backend.put_files(lease_id, files, read_only=read_only)

    async def on_release(self, message: Envelope) -> None:
        await self.backend.release_owner(owner_of(message.submission_id, message.attempt))

    async def on_call(self, message: Envelope) -> Envelope:
        try:
            reply = await self._dispatch(SANDBOX_CALL.validate_python(message.data))
        except ValidationError as error:  # answered at once: the caller must not wait
            reply = SandboxReply(error=f"malformed sandbox call: {error}", error_type="bad_request")
        except SandboxError as error:
            reply = SandboxReply(error=str(error), error_type=type(error).__name__)
        return message.caused(reply)

    async def _dispatch(self, call: AnySandboxCall) -> SandboxReply:
        match call:
            case RunCall():
                return SandboxReply(run=await self.backend.run(call.lease_id, call.run))
            case PutFilesCall():
                await self._put(call.lease_id, call.manifest, call.read_only)
                return SandboxReply()
            case ReadFileCall():
                content = await self.backend.read_file(call.lease_id, call.path)
                text = None if content is None else content.decode("utf-8", errors="replace")
                return SandboxReply(content=text)
            case MetricsCall():
                return SandboxReply(metrics=SandboxMetrics(**backend_metrics(self.backend)))
            case AcquireCall():
                return SandboxReply(lease_id=await self.backend.acquire(call.owner, call.language))
            case WriteFilesCall():
                files = {path: text.encode() for path, text in call.files.items()}
                await self.backend.put_files(call.lease_id, files, read_only=False)
                return SandboxReply()
            case ReleaseCall():
                await self.backend.release_owner(call.owner)
                return SandboxReply()
