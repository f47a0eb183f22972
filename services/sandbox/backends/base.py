"""What every sandbox backend offers (Docker, local processes) and the errors it raises.

A lease is one fresh workspace for one owner (e.g. "42:1", submission 42 attempt 1). Paths
are relative POSIX paths inside that workspace; anything that could leave it is refused.
A program's failure is never an exception: it is a RunResult with a verdict.
"""

from typing import Protocol

from contracts.sandbox import RunRequest, RunResult
from shared.errors import AutograderError


class SandboxError(AutograderError):
    """Root of the sandbox's exceptions: the sandbox itself could not do what was asked."""


class LeaseNotFound(SandboxError, KeyError):
    """The lease id is unknown, or the lease was already released."""

    def __str__(self) -> str:
        # KeyError would quote the message as if it were a key.
        return Exception.__str__(self)


class UnsafePath(SandboxError, ValueError):
    """A path is absolute, escapes the workspace, holds a NUL byte or goes through a symlink."""


class SandboxBackend(Protocol):
    async def acquire(self, owner: str, language: str) -> str:
        """Return the owner's live lease id, creating a fresh workspace the first time."""
        ...

    async def put_files(
        self, lease_id: str, files: dict[str, bytes], read_only: bool = False
    ) -> None:
        """Write files (relative POSIX paths) into the workspace, creating directories."""
        ...

    async def run(self, lease_id: str, request: RunRequest) -> RunResult:
        """Run one command in the workspace under the request's limits."""
        ...

    async def read_file(self, lease_id: str, path: str) -> bytes | None:
        """Return a workspace file's bytes, or None when it does not exist."""
        ...

    async def release(self, lease_id: str) -> None:
        """Kill what still runs in the lease and destroy its workspace; idempotent."""
        ...

    async def release_owner(self, owner: str) -> None:
        """Release the owner's lease if it has one; idempotent."""
        ...

    async def close(self) -> None:
        """Release every lease."""
        ...
