"""Clients of the sandbox for preflight and grading: over RabbitMQ request/reply, or
directly on a backend object in the in-process mode. Both give the same results."""

from typing import Protocol

from contracts.messages import (
    AcquireCall,
    AnySandboxCall,
    MetricsCall,
    PutFilesCall,
    ReadFileCall,
    ReleaseCall,
    RunCall,
    SandboxReply,
    WriteFilesCall,
    envelope,
)
from contracts.sandbox import Manifest, RunRequest, RunResult, SandboxMetrics
from shared.errors import AutograderError, PlatformFailure, RetryCannotHelp
from shared.messaging.rpc import RpcClient


class SandboxCallFailed(AutograderError):
    """The sandbox refused or could not do what was asked (the reply says why)."""

    def __init__(self, message: str, error_type: str | None) -> None:
        super().__init__(message)
        self.error_type = error_type or "sandbox_error"


class SandboxLost(SandboxCallFailed, PlatformFailure, RetryCannotHelp):
    """The lease is gone (its sandbox service restarted, say): the step cannot go on, and
    running it again in the same attempt cannot bring the sandbox back."""


class SandboxClient(Protocol):
    async def run(self, lease_id: str, request: RunRequest) -> RunResult: ...
    async def put_files(
        self, lease_id: str, manifest: Manifest, read_only: bool = False
    ) -> None: ...
    async def read_file(self, lease_id: str, path: str) -> bytes | None: ...


class RpcSandboxClient:
    def __init__(self, rpc: RpcClient, *, submission_id: int = 0, attempt: int = 0) -> None:
        self.rpc = rpc
        self.submission_id = submission_id
        self.attempt = attempt

    async def _call(self, call: AnySandboxCall, timeout_s: float) -> SandboxReply:
        request = envelope(call, submission_id=self.submission_id, attempt=self.attempt)
        reply = (await self.rpc.call(request, timeout_s)).payload(SandboxReply)
        if reply.error_type == "LeaseNotFound":
            raise SandboxLost(reply.error or "lease not found", reply.error_type)
        if reply.error is not None:
            raise SandboxCallFailed(reply.error, reply.error_type)
        return reply

    async def run(self, lease_id: str, request: RunRequest) -> RunResult:
        # The reply can only come after the command's own wall limit, plus start-up slack.
        timeout_s = request.wall_time_limit_ms / 1000 + 30
        reply = await self._call(RunCall(lease_id=lease_id, run=request), timeout_s)
        if reply.run is None:
            raise SandboxCallFailed("sandbox replied without a run result", None)
        return reply.run

    async def put_files(self, lease_id: str, manifest: Manifest, read_only: bool = False) -> None:
        call = PutFilesCall(lease_id=lease_id, manifest=manifest, read_only=read_only)
        await self._call(call, 60)

    async def read_file(self, lease_id: str, path: str) -> bytes | None:
        reply = await self._call(ReadFileCall(lease_id=lease_id, path=path), 30)
        return None if reply.content is None else reply.content.encode()

    async def acquire(self, owner: str, language: str, timeout_s: float = 90) -> str:
        """A lease of its own for `owner` (it may wait for a free sandbox)."""
        reply = await self._call(AcquireCall(owner=owner, language=language), timeout_s)
        if reply.lease_id is None:
            raise SandboxCallFailed("sandbox replied without a lease", None)
        return reply.lease_id

    async def write_files(self, lease_id: str, files: dict[str, str]) -> None:
        await self._call(WriteFilesCall(lease_id=lease_id, files=files), 60)

    async def release_owner(self, owner: str) -> None:
        await self._call(ReleaseCall(owner=owner), 60)

    async def metrics(self, timeout_s: float = 5) -> SandboxMetrics:
        """The sandbox service's pool metrics (size per language, leases, waits, reaped)."""
        reply = await self._call(MetricsCall(), timeout_s)
        if reply.metrics is None:
            raise SandboxCallFailed("sandbox replied without metrics", None)
        return reply.metrics
