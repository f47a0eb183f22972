"""The agent's HTTP client against a scripted runner API on 127.0.0.1: it waits out a
server that restarts (refused connections, 503s) and stops at a 409 about its job."""

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from contracts.runner import ClaimedJob
from services.runner.client import Backoff, ClaimLost, RunnerClient, ServerUnavailable
from tests.support import free_port


class ScriptedApi:
    """Answers each request with the next scripted (status, body), then 200 {}."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.script: list[tuple[int, dict[str, Any], dict[str, str]]] = []
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                self.rfile.read(length)
                api.seen.append(("POST", self.path, dict(self.headers)))
                status, body, headers = (
                    api.script.pop(0) if api.script else (200, {"cancel": False}, {})
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def api() -> Iterator[ScriptedApi]:
    scripted = ScriptedApi(free_port())
    yield scripted
    scripted.stop()


def a_job() -> ClaimedJob:
    request = {
        "plan": ["SANDBOX"],
        "config": {"external_assignment_id": "a", "criteria_config": {}, "id": 1},
        "submission": {"id": 1, "attempt": 1, "language": "python", "manifest": {}},
    }
    return ClaimedJob.model_validate(
        {
            "id": 7,
            "submission_id": 1,
            "attempt": 1,
            "claim": 1,
            "job_token": "job-secret",
            "lease_expires_at": datetime.now(UTC) + timedelta(seconds=30),
            "lease_s": 30,
            "steps": ["SANDBOX"],
            "request": request,
        }
    )


async def test_a_heartbeat_waits_out_a_restarting_server(api: ScriptedApi) -> None:
    client = RunnerClient(f"http://127.0.0.1:{api.port}", "agt_runner_token", "1.0", retry_for_s=30)
    api.script = [(503, {"detail": "restarting"}, {}), (502, {"detail": "proxy"}, {})]
    later = asyncio.get_running_loop().call_later(1.0, api.start)  # refused until then
    try:
        answer = await client.heartbeat(a_job())
    finally:
        later.cancel()
        await client.close()

    assert answer.cancel is False
    assert len(api.seen) == 3  # two 5xx, then the answer
    method, path, headers = api.seen[-1]
    assert (method, path) == ("POST", "/api/v1/runner/heartbeat")
    assert headers["X-Job-Token"] == "job-secret"
    assert headers["Authorization"] == "Bearer agt_runner_token"


async def test_a_fencing_409_means_the_claim_is_lost_and_another_409_does_not(
    api: ScriptedApi,
) -> None:
    api.start()
    api.script = [
        (409, {"detail": "another runner holds it"}, {"Claim-Lost": "true"}),
        (409, {"detail": "steps not reported yet"}, {}),
    ]
    client = RunnerClient(f"http://127.0.0.1:{api.port}", "t", "1.0")
    try:
        with pytest.raises(ClaimLost, match="another runner"):
            await client.heartbeat(a_job())
        with pytest.raises(ServerUnavailable, match="steps not reported yet"):
            await client.heartbeat(a_job())
    finally:
        await client.close()


async def test_a_server_gone_for_longer_than_the_budget_is_unavailable() -> None:
    client = RunnerClient(f"http://127.0.0.1:{free_port()}", "t", "1.0", retry_for_s=1)
    try:
        with pytest.raises(ServerUnavailable, match="Connect"):
            await client.heartbeat(a_job())
    finally:
        await client.close()


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    backoff = Backoff(base_s=0.5, cap_s=4)
    delays = [backoff.next_delay() for _ in range(8)]

    assert 0.25 <= delays[0] <= 0.5
    assert all(2 <= delay <= 4 for delay in delays[4:])
    assert len(set(delays)) > 1  # jittered
    backoff.reset()
    assert backoff.next_delay() <= 0.5
