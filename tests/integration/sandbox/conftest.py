"""The real Docker backend: a Docker engine and the sandbox images are required.

When either is missing the tests FAIL, saying how to get them; they never skip.
Each test module gets its own backend (pool sizes from the module's POOL_SIZES).
"""

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from services.sandbox.backends.docker import DockerBackend
from tests.integration.sandbox.support import (
    POOL_FILL_TIMEOUT_S,
    require_docker_and_images,
    sandbox_settings,
)


@pytest.fixture(scope="session")
def docker_and_images() -> None:
    asyncio.run(require_docker_and_images())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def backend(
    docker_and_images: None, request: pytest.FixtureRequest
) -> AsyncIterator[DockerBackend]:
    pool_sizes = getattr(request.module, "POOL_SIZES", {"python": 2})
    sandbox = DockerBackend(sandbox_settings(pool_sizes))
    await sandbox.wait_until_full(POOL_FILL_TIMEOUT_S)
    yield sandbox
    await sandbox.close()
