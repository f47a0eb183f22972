"""The lifecycle every service process shares: open the runtime, start the services'
consumers and tasks, wait for SIGINT/SIGTERM (or a test's stop event), stop cleanly.

Each service's `__main__` passes its own start function, so no service imports another;
`autograder serve all` passes them all.
"""

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shared.db.outbox import OutboxRelay
from shared.logging import configure_logging
from shared.runtime import Runtime
from shared.settings import CommonSettings, settings_problems

StartFunction = Callable[[Runtime, Any], Awaitable[list[asyncio.Task[None]]]]


@dataclass(frozen=True)
class ServiceEntry:
    name: str
    start: StartFunction
    settings: CommonSettings


async def run_until(entries: Sequence[ServiceEntry], stop: asyncio.Event) -> None:
    """Run the services on one runtime until `stop` is set."""
    # Every service's settings carry the same common fields: the first one's serve all.
    runtime = await Runtime.open(entries[0].settings)
    # One relay per process sends what its services recorded in the outbox.
    tasks = [asyncio.create_task(OutboxRelay(runtime.pool, runtime.bus).run())]
    try:
        for entry in entries:
            tasks += await entry.start(runtime, entry.settings)
        await stop.wait()
    finally:
        # Stop consuming first, so no message is taken while its handler's resources
        # (the sandbox backend, the HTTP server) are being torn down.
        await runtime.bus.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runtime.pool.close()


async def serve(entries: Sequence[ServiceEntry]) -> None:
    """Run until the process receives SIGINT or SIGTERM."""
    common = entries[0].settings
    configure_logging("+".join(e.name for e in entries), common.log_format, common.log_level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_until(entries, stop)


def serve_main(name: str, start: StartFunction, settings_type: type[CommonSettings]) -> None:
    """Entry point of `python -m services.<name>`: settings built once, here."""
    try:
        settings = settings_type()
    except ValidationError as error:
        print(f"{name}: invalid settings:\n{settings_problems(error)}", file=sys.stderr)
        raise SystemExit(2) from None
    asyncio.run(serve([ServiceEntry(name, start, settings)]))
