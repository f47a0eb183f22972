"""A GitHub push becomes a graded submission, through the whole stack, with a fake
GitHub REST API on 127.0.0.1 serving the pushed commit's files."""

import base64
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.conftest import demo_files
from tests.support import Isolation, running_stack, wait_terminal

pytestmark = pytest.mark.e2e

SECRET = "a github webhook secret"
FILES = {"main.py": demo_files("python-right")["main.py"]}


class FakeGitHub:
    """Trees and blobs of one commit, and the Authorization headers it was sent."""

    def __init__(self) -> None:
        self.url = ""
        self.authorizations: list[str | None] = []

    def answer(self, path: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        self.authorizations.append(authorization)
        if path.startswith("/repos/school/hw1-ada/git/trees/abc123"):
            entries = [{"path": p, "type": "blob", "sha": f"blob-{p}"} for p in FILES]
            return 200, {"sha": "abc123", "tree": entries}
        for name, content in FILES.items():
            if path == f"/repos/school/hw1-ada/git/blobs/blob-{name}":
                encoded = base64.b64encode(content.encode()).decode()
                return 200, {"content": encoded, "encoding": "base64"}
        return 404, {"message": "Not Found"}


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = fake.answer(self.path, self.headers.get("Authorization"))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:  # quiet test output
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
async def stack_with_github(
    isolation: Isolation, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("SANDBOX_BACKEND", "docker")
    monkeypatch.setenv("INTAKE_GITHUB_SECRET", SECRET)
    monkeypatch.setenv("INTAKE_GITHUB_API_URL", github.url)
    monkeypatch.setenv("INTAKE_GITHUB_TOKEN", "ghs_installation_token")
    async with running_stack() as client:
        yield client


def push(repository: str = "school/hw1-ada", ref: str = "refs/heads/main") -> bytes:
    event = {
        "ref": ref,
        "after": "abc123",
        "repository": {"full_name": repository},
        "pusher": {"name": "ada"},
        "sender": {"login": "ada"},
    }
    return json.dumps(event).encode()


def delivered(body: bytes, delivery: str, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={digest}",
        "content-type": "application/json",
    }


async def mapped_config(client: httpx.AsyncClient, demo_config: dict[str, Any]) -> None:
    config = {**demo_config, "github": {"repository_prefix": "school/hw1-", "branch": "main"}}
    assert (await client.post("/api/v1/configs", json=config)).status_code == 201


async def test_a_signed_push_is_graded_and_its_redelivery_creates_nothing(
    stack_with_github: httpx.AsyncClient, github: FakeGitHub, demo_config: dict[str, Any]
) -> None:
    client = stack_with_github
    await mapped_config(client, demo_config)
    body, delivery = push(), str(uuid.uuid4())
    answer = await client.post(
        "/api/v1/webhooks/github", content=body, headers=delivered(body, delivery)
    )
    assert answer.status_code == 202
    assert answer.json()["status"] == "accepted"
    graded = await wait_terminal(client, answer.json()["id"])
    assert (graded["status"], graded["final_score"]) == ("completed", 100.0)
    assert (graded["external_user_id"], graded["username"]) == ("ada", "ada")
    assert graded["submission_metadata"] == {
        "repository": "school/hw1-ada",
        "commit_sha": "abc123",
        "ref": "refs/heads/main",
    }
    assert set(github.authorizations) == {"Bearer ghs_installation_token"}

    again = await client.post(
        "/api/v1/webhooks/github", content=body, headers=delivered(body, delivery)
    )
    assert again.json() == answer.json()
    listed = (await client.get("/api/v1/submissions/user/ada")).json()
    assert len(listed) == 1


async def test_a_push_signed_wrong_creates_nothing(
    stack_with_github: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    client = stack_with_github
    await mapped_config(client, demo_config)
    body = push()
    headers = delivered(body, str(uuid.uuid4()), secret="not the secret")
    answer = await client.post("/api/v1/webhooks/github", content=body, headers=headers)
    assert answer.status_code == 401
    assert (await client.get("/api/v1/submissions/user/ada")).json() == []


@pytest.mark.parametrize(
    ("repository", "ref"),
    [("school/other-ada", "refs/heads/main"), ("school/hw1-ada", "refs/heads/draft")],
)
async def test_a_push_no_assignment_takes_is_acknowledged_and_ignored(
    stack_with_github: httpx.AsyncClient, demo_config: dict[str, Any], repository: str, ref: str
) -> None:
    client = stack_with_github
    await mapped_config(client, demo_config)
    body = push(repository, ref)
    answer = await client.post(
        "/api/v1/webhooks/github", content=body, headers=delivered(body, str(uuid.uuid4()))
    )
    assert answer.status_code == 202
    assert answer.json()["status"] == "ignored"
    assert repository in answer.json()["reason"]
    assert (await client.get("/api/v1/submissions/user/ada")).json() == []
