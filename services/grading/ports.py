"""What grading needs: the sandbox (to run the student's program) and the stored files."""

from typing import Protocol

from contracts.sandbox import Manifest
from shared.sandbox_client import SandboxClient


class BlobReader(Protocol):
    async def read_manifest(self, manifest: Manifest) -> dict[str, bytes]: ...


__all__ = ["BlobReader", "SandboxClient"]
