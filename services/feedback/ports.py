"""What feedback needs: the stored files, so an AI reviewer can read the submission."""

from typing import Protocol

from contracts.sandbox import Manifest


class BlobReader(Protocol):
    async def read_manifest(self, manifest: Manifest) -> dict[str, bytes]: ...
