"""The bulk-regrade lane: regrades wait in PostgreSQL and enter the pipeline only while
few attempts are in flight, so students submitting meanwhile go ahead of them (quorum
queues here have no message priorities, and a consumer's prefetch would let queued
bulk work hold the sandbox's slots; a lane that holds work back does the job and
survives restarts). Several intakes share the lane."""

import asyncio

import structlog

from services.intake.adapters.postgres import IntakeRepository
from services.intake.submissions import regrade_next_waiting
from shared.messaging.topology import Topology

log = structlog.get_logger()
# Bulk regrades start only while fewer attempts than this are queued or running.
IN_FLIGHT = 2
EVERY_S = 0.5


async def feed_forever(repo: IntakeRepository, topology: Topology) -> None:
    while True:
        await asyncio.sleep(EVERY_S)  # a pace, not a wait for something: the lane polls
        try:
            await feed_once(repo, topology)
        except Exception as error:  # the broker or database is down: next tick
            log.warning("regrade lane paused", error=repr(error))


async def feed_once(repo: IntakeRepository, topology: Topology) -> int:
    """Start waiting regrades while the pipeline has room; how many were started."""
    room = IN_FLIGHT - await repo.attempts_in_flight()
    started = 0
    while started < room and await regrade_next_waiting(repo, topology):
        started += 1
    return started
