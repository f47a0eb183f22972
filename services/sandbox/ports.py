"""What the sandbox handlers need besides the backend."""

from typing import Protocol

from contracts.sandbox import Manifest


class BlobReader(Protocol):
    async def read_manifest(self, manifest: Manifest) -> dict[str, bytes]: ...
