"""The sandbox RPC's `metrics` op: the pools' figures, whatever the backend."""

from contracts.messages import MetricsCall, SandboxReply, envelope
from services.sandbox.backends.base import SandboxBackend
from services.sandbox.backends.docker import DockerBackend
from services.sandbox.backends.local import LocalBackend
from services.sandbox.handlers import SandboxHandlers
from services.sandbox.settings import SandboxSettings
from shared.db.blobs import MemoryBlobStore
from tests.component.sandbox.fakes import FakeLauncher


async def metrics_reply(backend: SandboxBackend) -> SandboxReply:
    handlers = SandboxHandlers(backend, MemoryBlobStore())
    call = envelope(MetricsCall(), submission_id=0, attempt=0)
    return (await handlers.on_call(call)).payload(SandboxReply)


async def test_the_docker_backend_reports_its_pools() -> None:
    settings = SandboxSettings(pool_sizes={"python": 1, "c": 1}, metrics_log_interval_s=0)
    backend = DockerBackend(settings, engine=FakeLauncher())  # type: ignore[arg-type]
    await backend.wait_until_full(1)
    await backend.acquire("7:1", "python")

    reply = await metrics_reply(backend)
    await backend.close()

    assert reply.error is None
    assert reply.metrics is not None
    assert reply.metrics.leases_in_use == 1
    assert set(reply.metrics.languages) == {"python", "c"}


async def test_the_local_backend_reports_its_leases_in_use() -> None:
    backend = LocalBackend()
    await backend.acquire("metrics:1", "python")

    reply = await metrics_reply(backend)
    await backend.close()

    assert reply.metrics is not None
    assert reply.metrics.backend == "local"
    assert reply.metrics.leases_in_use == 1


async def test_a_malformed_call_is_answered_at_once_as_a_bad_request() -> None:
    backend = LocalBackend()
    handlers = SandboxHandlers(backend, MemoryBlobStore())
    call = envelope(MetricsCall(), submission_id=0, attempt=0)
    broken = call.model_copy(update={"data": {"op": "run", "lease_id": "x"}})  # no `run`

    reply = (await handlers.on_call(broken)).payload(SandboxReply)
    await backend.close()

    assert reply.error_type == "bad_request"
    assert reply.error is not None
    assert "run" in reply.error
