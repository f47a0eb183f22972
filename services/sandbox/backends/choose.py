"""Which backend a sandbox gets: the settings' `backend`, with `auto` decided here.

auto -> Docker when the engine answers and holds the image of every pool language,
otherwise the (weaker) local process backend, saying why in the log.
"""

from collections.abc import Callable

import structlog

from services.sandbox.backends.base import SandboxBackend, SandboxError
from services.sandbox.backends.docker import DockerBackend
from services.sandbox.backends.docker_engine import engine_problem
from services.sandbox.backends.local import LocalBackend
from services.sandbox.settings import SandboxSettings

log = structlog.get_logger()


async def open_backend(
    settings: SandboxSettings, on_fallback: Callable[[str], None] | None = None
) -> SandboxBackend:
    """A started backend; `docker` without a usable engine is a clear error.

    on_fallback hears why `auto` chose local processes (default: a warning in the log).
    """
    if settings.backend == "local":
        return LocalBackend(settings.work_root)
    problem = await engine_problem(settings)
    if problem is None:
        backend = DockerBackend(settings)
        await backend.start()
        return backend
    if settings.backend == "docker":
        raise SandboxError(f"the Docker sandbox backend cannot run: {problem}")
    if on_fallback is None:
        log.warning("sandbox falls back to local processes (weaker isolation)", reason=problem)
    else:
        on_fallback(problem)
    return LocalBackend(settings.work_root)
