"""Results delivered to an LMS's webhook, never destroyed by the delivery (issue 9).

The receiver is a local HTTP server on 127.0.0.1 playing the LMS: it answers what a
test scripts and checks every request's Standard Webhooks signature.
"""

import json
import os
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.conftest import demo_files
from tests.support import Isolation, eventually, running_stack, wait_terminal

pytestmark = pytest.mark.e2e


@dataclass
class Receiver:
    """An LMS endpoint: answers the scripted statuses in turn, then 200."""

    secret: str
    script: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    verified: list[bool] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    def answer(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            Webhook(self.secret.encode()).verify(body, headers)
            self.verified.append(True)
        except Exception:
            self.verified.append(False)
        self.received.append(json.loads(body))
        self.headers.append(headers)
        return self.script.pop(0) if self.script else 200


@pytest.fixture
def receiver(isolation: Isolation) -> Iterator[Receiver]:
    lms = Receiver(secret=os.environ["EXPORT_WEBHOOK_SECRET"])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = lms.answer(body, {k.lower(): v for k, v in self.headers.items()})
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:  # quiet test output
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lms.url = f"http://127.0.0.1:{server.server_address[1]}/grades"
    yield lms
    server.shutdown()
    server.server_close()


@pytest.fixture
async def exporting_stack(
    isolation: Isolation, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("SANDBOX_BACKEND", "docker")
    monkeypatch.setenv("EXPORT_RETRY_DELAYS_MS", "[300, 300]")
    # The receiver listens on 127.0.0.1 over http: allowed only in development.
    monkeypatch.setenv("AUTOGRADER_ENV", "development")
    async with running_stack() as client:
        yield client


async def submit(
    client: httpx.AsyncClient, config: dict[str, Any], example: str, language: str
) -> int:
    created = await client.post("/api/v1/configs", json=config)
    assert created.status_code == 201, created.text
    body = {
        "grading_config_id": created.json()["id"],
        "external_user_id": "lms-user-7",
        "username": "ada",
        "language": language,
        "submission_files": demo_files(example),
    }
    accepted = await client.post("/api/v1/submissions", json=body)
    assert accepted.status_code == 202, accepted.text
    return int(accepted.json()["id"])


async def export_of(client: httpx.AsyncClient, submission_id: int) -> dict[str, Any]:
    export: dict[str, Any] = (await client.get(f"/api/v1/submissions/{submission_id}")).json()[
        "export"
    ]
    return export


async def wait_export(client: httpx.AsyncClient, submission_id: int, status: str) -> dict:
    async def reached() -> bool:
        return (await export_of(client, submission_id))["status"] == status

    await eventually(reached, timeout_s=60)
    return await export_of(client, submission_id)


async def test_a_refused_delivery_keeps_the_grade_and_can_be_retried(
    exporting_stack: httpx.AsyncClient, receiver: Receiver, demo_config: dict
) -> None:
    """A 4xx from the webhook zeroed a finished grade (failed, 0, no result tree)."""
    client = exporting_stack
    receiver.script = [400]
    demo_config["export_webhook_url"] = receiver.url
    submission_id = await submit(client, demo_config, "python-right", "python")

    body = await wait_terminal(client, submission_id)
    refused = await wait_export(client, submission_id, "failed")

    assert (body["status"], body["final_score"]) == ("completed", 100.0)
    assert body["result_tree"] is not None
    assert "EXPORT" not in [step["name"] for step in body["pipeline_execution"]["steps"]]
    assert refused["attempts"] == 1
    assert "400" in refused["last_error"]

    retried = await client.post(f"/api/v1/submissions/{submission_id}/export")
    assert retried.status_code == 202
    delivered = await wait_export(client, submission_id, "delivered")

    assert delivered["attempts"] == 2
    assert delivered["delivered_at"] is not None
    assert receiver.verified == [True, True]
    assert receiver.headers[0]["webhook-id"] == receiver.headers[1]["webhook-id"]
    payload = receiver.received[-1]
    assert payload["status"] == "completed"
    assert payload["final_score"] == 100.0
    assert payload["submission_id"] == submission_id
    assert payload["attempt"] == 1
    assert payload["external_user_id"] == "lms-user-7"
    assert payload["external_assignment_id"] == demo_config["external_assignment_id"]
    assert payload["pipeline_execution"]["status"] == "success"
    assert (await client.get(f"/api/v1/submissions/{submission_id}")).json()["status"] == (
        "completed"
    )


async def test_a_failed_pipeline_is_exported_with_its_status_and_feedback(
    exporting_stack: httpx.AsyncClient, receiver: Receiver, demo_config: dict
) -> None:
    """A compile error or a missing file never reached the LMS."""
    demo_config["export_webhook_url"] = receiver.url
    submission_id = await submit(exporting_stack, demo_config, "c-missing-file", "c")

    await wait_terminal(exporting_stack, submission_id)
    await wait_export(exporting_stack, submission_id, "delivered")

    [payload] = receiver.received
    assert payload["status"] == "failed"
    assert payload["final_score"] == 0.0
    assert "Preflight Check Failed" in payload["feedback"]
    assert payload["pipeline_execution"]["failed_at_step"] == "PRE_FLIGHT"
    assert receiver.verified == [True]


async def test_retries_wait_and_survive_a_restart_of_the_stack(
    isolation: Isolation,
    receiver: Receiver,
    demo_config: dict,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SANDBOX_BACKEND", "docker")
    monkeypatch.setenv("EXPORT_RETRY_DELAYS_MS", "[1500, 300]")
    monkeypatch.setenv("AUTOGRADER_ENV", "development")  # the receiver: http on 127.0.0.1
    receiver.script = [503, 503]
    demo_config["export_webhook_url"] = receiver.url
    async with running_stack() as client:
        submission_id = await submit(client, demo_config, "python-right", "python")
        await wait_terminal(client, submission_id)

        async def first_try_failed() -> bool:
            return (await export_of(client, submission_id))["attempts"] == 1

        await eventually(first_try_failed)
    # The stack is down while the retry waits in its delay queue.
    async with running_stack() as client:
        delivered = await wait_export(client, submission_id, "delivered")

    assert delivered["attempts"] == 3
    assert len(receiver.received) == 3
    assert all(receiver.verified)


async def test_a_retry_is_refused_while_a_delivery_is_pending_and_without_a_webhook(
    exporting_stack: httpx.AsyncClient, receiver: Receiver, demo_config: dict
) -> None:
    client = exporting_stack
    receiver.script = [503, 503, 503]  # every try of the first round fails, retried
    demo_config["export_webhook_url"] = receiver.url
    exporting = await submit(client, demo_config, "python-right", "python")
    await wait_terminal(client, exporting)

    async def tried_once() -> bool:
        return bool((await export_of(client, exporting))["attempts"] >= 1)

    await eventually(tried_once)
    pending = await client.post(f"/api/v1/submissions/{exporting}/export")
    failed = await wait_export(client, exporting, "failed")  # gave up after 3 tries

    del demo_config["export_webhook_url"]
    quiet = await submit(client, demo_config, "python-right", "python")
    nowhere = await client.post(f"/api/v1/submissions/{quiet}/export")

    assert pending.status_code == 409
    assert "pending" in pending.json()["detail"]
    assert failed["attempts"] == 3
    assert "gave up after 3 tries" in failed["last_error"]
    assert nowhere.status_code == 409
    assert "exports nowhere" in nowhere.json()["detail"]
