"""What pre-flight needs: a sandbox to run setup commands in and copy assets into,
and the blob store where asset contents are put before the sandbox fetches them."""

from typing import Protocol

from contracts.sandbox import Manifest
from shared.sandbox_client import SandboxClient


class BlobWriter(Protocol):
    async def put_many(self, files: dict[str, bytes]) -> Manifest: ...


__all__ = ["BlobWriter", "SandboxClient"]
