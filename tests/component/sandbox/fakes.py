"""A fake container launcher: the pool's rules without a Docker engine."""

import asyncio
import itertools


class FakeLauncher:
    """Starts pretend containers; can be slowed down or made to fail."""

    def __init__(self, start_delay_s: float = 0.0) -> None:
        self.running: set[str] = set()
        self.removed: list[str] = []
        self.leftovers: set[str] = set()  # pretend a crashed run left these
        self.start_delay_s = start_delay_s
        self.failure: Exception | None = None
        self.starts = 0
        self._ids = (f"c{n}" for n in itertools.count(1))

    async def start_container(self, language: str) -> str:
        self.starts += 1
        await asyncio.sleep(self.start_delay_s)
        if self.failure is not None:
            raise self.failure
        container_id = f"{language}-{next(self._ids)}"
        self.running.add(container_id)
        return container_id

    async def remove_container(self, container_id: str) -> None:
        self.running.discard(container_id)
        self.removed.append(container_id)

    async def remove_leftovers(self) -> int:
        count = len(self.leftovers)
        self.removed += sorted(self.leftovers)
        self.leftovers.clear()
        return count

    async def remove_own(self) -> None:
        self.removed += sorted(self.running)
        self.running.clear()

    async def close(self) -> None:
        pass
