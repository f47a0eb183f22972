"""Content-addressed file storage: each distinct content is stored once, by sha256."""

import hashlib
from collections.abc import Iterable

import asyncpg

from contracts.sandbox import FileRef, Manifest
from shared.db import Connection


def file_ref(content: bytes) -> FileRef:
    return FileRef(sha256=hashlib.sha256(content).hexdigest(), size=len(content))


class PostgresBlobStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def put_many(
        self, files: dict[str, bytes], connection: Connection | None = None
    ) -> Manifest:
        """Store files (inside the caller's transaction when given) and return the manifest."""
        manifest = {path: file_ref(content) for path, content in files.items()}
        rows = {ref.sha256: (ref.sha256, ref.size, files[path]) for path, ref in manifest.items()}
        query = (
            "INSERT INTO blobs (sha256, size, content) VALUES ($1, $2, $3)"
            " ON CONFLICT (sha256) DO NOTHING"
        )
        if connection is not None:
            await connection.executemany(query, list(rows.values()))
        else:
            await self.pool.executemany(query, list(rows.values()))
        return manifest

    async def get_many(self, digests: Iterable[str]) -> dict[str, bytes]:
        wanted = sorted(set(digests))
        rows = await self.pool.fetch(
            "SELECT sha256, content FROM blobs WHERE sha256 = ANY($1::text[])", wanted
        )
        found = {row["sha256"]: bytes(row["content"]) for row in rows}
        missing = set(wanted) - found.keys()
        if missing:
            raise KeyError(f"blobs not found: {sorted(missing)}")
        return found

    async def read_manifest(self, manifest: Manifest) -> dict[str, bytes]:
        contents = await self.get_many(ref.sha256 for ref in manifest.values())
        return {path: contents[ref.sha256] for path, ref in manifest.items()}


class MemoryBlobStore:
    """The in-process mode's store: no database."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    async def put_many(self, files: dict[str, bytes], connection: object = None) -> Manifest:
        manifest = {path: file_ref(content) for path, content in files.items()}
        for path, ref in manifest.items():
            self._blobs[ref.sha256] = files[path]
        return manifest

    async def read_manifest(self, manifest: Manifest) -> dict[str, bytes]:
        return {path: self._blobs[ref.sha256] for path, ref in manifest.items()}
