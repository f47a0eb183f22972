"""What every service process opens at start and closes at stop: logging, the migrated
database pool and the bus. `autograder serve all` shares one runtime across services."""

from dataclasses import dataclass

import asyncpg

from shared.db import create_pool, migrate
from shared.messaging.bus import Bus
from shared.messaging.topology import Topology
from shared.settings import CommonSettings


@dataclass
class Runtime:
    settings: CommonSettings
    bus: Bus
    pool: asyncpg.Pool

    @classmethod
    async def open(cls, settings: CommonSettings) -> "Runtime":
        database_url = str(settings.database_url)
        await migrate(database_url, settings.db_schema)
        pool = await create_pool(database_url, settings.db_schema)
        bus = Bus(
            str(settings.amqp_url),
            Topology(settings.namespace),
            prefetch=settings.prefetch,
            delivery_limit=settings.delivery_limit,
            retry_delays_ms=settings.retry_delays_ms,
        )
        await bus.connect()
        return cls(settings, bus, pool)

    async def close(self) -> None:
        await self.bus.close()
        await self.pool.close()
