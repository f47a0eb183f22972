"""Composition root of intake: the HTTP app on the shared runtime, and the outbox relay."""

import asyncio
import contextlib
from collections.abc import Generator

import uvicorn

from services.intake.adapters.postgres import IntakeRepository
from services.intake.adapters.runner_jobs import JobPolicy
from services.intake.github import GitHubFiles, GitHubHook
from services.intake.handlers import create_app
from services.intake.lane import feed_forever
from services.intake.live import StatusFeed
from services.intake.logic import FileLimits
from services.intake.runners import expire_forever
from services.intake.settings import IntakeSettings as Settings
from shared.messaging.rpc import RpcClient
from shared.runtime import Runtime
from shared.sandbox_client import RpcSandboxClient

__all__ = ["Settings", "start"]


def limits_from(settings: Settings) -> FileLimits:
    return FileLimits(
        max_files=settings.max_files,
        max_file_bytes=settings.max_file_bytes,
        max_total_bytes=settings.max_total_bytes,
        max_compression_ratio=settings.max_compression_ratio,
        max_request_bytes=settings.max_request_bytes or 3 * settings.max_total_bytes,
        max_config_bytes=settings.max_config_bytes,
    )


async def _readiness(repository: IntakeRepository, runtime: Runtime) -> dict[str, bool]:
    return {"database": await repository.answers(), "broker": runtime.bus.connected}


def _github(settings: Settings) -> GitHubHook | None:
    secret = settings.github_secret.get_secret_value()
    if not secret:
        return None
    token = settings.github_token.get_secret_value() or None
    return GitHubHook(secret, GitHubFiles(settings.github_api_url, token))


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the process's serve loop owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def start(runtime: Runtime, settings: Settings) -> list[asyncio.Task[None]]:
    rpc = RpcClient(runtime.bus, runtime.bus.topology.sandbox_rpc_queue)
    await rpc.start()
    repository = IntakeRepository(runtime.pool)
    live = StatusFeed()
    await live.start(runtime.bus)
    app = create_app(
        repository,
        limits_from(settings),
        runtime.bus.topology,
        sandbox_metrics=RpcSandboxClient(rpc).metrics,
        executor=RpcSandboxClient(rpc),
        max_executions=settings.max_executions,
        live=live,
        webhook_secret=settings.webhook_secret.get_secret_value() or None,
        github=_github(settings),
        readiness=lambda: _readiness(repository, runtime),
        development=settings.env == "development",
        rate_limit_per_minute=settings.rate_limit_per_minute,
        job_policy=JobPolicy(settings.runner_lease_s, settings.runner_max_claims),
    )
    server = _Server(
        uvicorn.Config(
            app, host=settings.host, port=settings.port, log_config=None, access_log=False
        )
    )
    return [
        asyncio.create_task(serve_until_cancelled(server)),
        asyncio.create_task(feed_forever(repository, runtime.bus.topology)),
        asyncio.create_task(
            expire_forever(
                app.state.runners, runtime.bus.topology, settings.runner_sweep_interval_s
            )
        ),
    ]


async def serve_until_cancelled(server: uvicorn.Server) -> None:
    """Cancelling this task shuts uvicorn down gracefully, closing its connections."""
    serving = asyncio.create_task(server.serve())
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        await serving
        raise
