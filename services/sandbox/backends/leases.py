"""The lease table both backends keep: leases by id and by owner, the closed flag, and
the lock a lease's operations take turns on. What a lease holds (a workspace and a uid,
a container) is the backend's own.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Generic, Protocol, TypeVar

from services.sandbox.backends.base import LeaseNotFound, SandboxError


class Lease(Protocol):
    lease_id: str
    owner: str
    lock: asyncio.Lock
    released: bool


LeaseT = TypeVar("LeaseT", bound=Lease)


class LeaseTable(Generic[LeaseT]):
    """Live leases; one per owner. Released leases leave the table at once."""

    def __init__(self) -> None:
        self._by_id: dict[str, LeaseT] = {}
        self._id_by_owner: dict[str, str] = {}
        self.closed = False

    def check_open(self) -> None:
        if self.closed:
            raise SandboxError("the sandbox backend is closed")

    def id_of(self, owner: str) -> str | None:
        return self._id_by_owner.get(owner)

    def add(self, lease: LeaseT) -> None:
        self._by_id[lease.lease_id] = lease
        self._id_by_owner[lease.owner] = lease.lease_id

    def get(self, lease_id: str) -> LeaseT:
        lease = self._by_id.get(lease_id)
        if lease is None:
            raise LeaseNotFound(f"no live lease {lease_id!r}")
        return lease

    def pop(self, lease_id: str) -> LeaseT | None:
        """Take the lease out and mark it released; None when it already was."""
        lease = self._by_id.pop(lease_id, None)
        if lease is None:
            return None
        if self._id_by_owner.get(lease.owner) == lease_id:
            del self._id_by_owner[lease.owner]
        lease.released = True
        return lease

    def ids(self) -> list[str]:
        return list(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    @contextlib.asynccontextmanager
    async def locked(self, lease: LeaseT) -> AsyncIterator[None]:
        """The lease's lock, refused when the lease was released while we waited."""
        async with lease.lock:
            if lease.released:
                raise LeaseNotFound(f"lease {lease.lease_id!r} was released")
            yield
