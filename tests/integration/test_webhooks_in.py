"""Submissions arriving by a signed webhook (Standard Webhooks), over HTTP against the
real PostgreSQL: the signature is the credential, a replay creates nothing, and what
is refused leaves nothing behind."""

import base64
import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from services.intake.adapters.postgres import IntakeRepository
from tests.conftest import demo_files
from tests.support import Isolation, bearer, intake_client, issue_token

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"a secret shared with the LMS, 32 bytes").decode()
URL = "/api/v1/webhooks/submissions"


@pytest.fixture
async def intake(isolation: Isolation) -> AsyncIterator[httpx.AsyncClient]:
    async with intake_client(isolation.settings(), webhook_secret=SECRET) as client:
        yield client


def signed(
    body: bytes, delivery: str, at: datetime | None = None, secret: str = SECRET
) -> dict[str, str]:
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(delivery, at, body.decode())
    return {
        "webhook-id": delivery,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


async def config_id(intake: httpx.AsyncClient, demo_config: dict[str, Any]) -> int:
    made = await intake.post(
        "/api/v1/configs", json=demo_config, headers=bearer(await issue_token("admin"))
    )
    return int(made.json()["id"])


def payload(config: int, **changed: Any) -> bytes:
    body = {
        "grading_config_id": config,
        "external_user_id": "moodle-7",
        "username": "ada",
        "language": "python",
        "submission_files": demo_files("python-right"),
        **changed,
    }
    return json.dumps(body).encode()


async def stored(intake: httpx.AsyncClient) -> int:
    repo: IntakeRepository = intake.app.state.repository  # type: ignore[attr-defined]
    return int(await repo.pool.fetchval("SELECT count(*) FROM submissions"))


async def test_a_signed_submission_is_accepted_and_its_replay_creates_nothing(
    intake: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    body = payload(await config_id(intake, demo_config))
    first = await intake.post(URL, content=body, headers=signed(body, "msg_1"))
    replay = await intake.post(URL, content=body, headers=signed(body, "msg_1"))
    assert first.status_code == replay.status_code == 202
    assert replay.json() == first.json()
    assert await stored(intake) == 1


async def test_files_may_come_as_a_base64_zip(
    intake: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("main.py", demo_files("python-right")["main.py"])
    encoded = base64.b64encode(archive.getvalue()).decode()
    body = payload(
        await config_id(intake, demo_config), submission_files={}, archive_base64=encoded
    )
    answer = await intake.post(URL, content=body, headers=signed(body, "msg_zip"))
    assert answer.status_code == 202


@pytest.mark.parametrize(
    "spoil",
    ["another secret", "an old timestamp", "a changed body", "no signature"],
)
async def test_a_webhook_that_does_not_verify_is_a_401_and_stores_nothing(
    intake: httpx.AsyncClient, demo_config: dict[str, Any], spoil: str
) -> None:
    body = payload(await config_id(intake, demo_config))
    headers = signed(body, "msg_2")
    if spoil == "another secret":
        headers = signed(body, "msg_2", secret="whsec_" + base64.b64encode(b"x" * 32).decode())
    elif spoil == "an old timestamp":
        headers = signed(body, "msg_2", at=datetime.now(UTC) - timedelta(minutes=6))
    elif spoil == "a changed body":
        body = payload(json.loads(body)["grading_config_id"], username="mallory")
    else:
        del headers["webhook-signature"]
    answer = await intake.post(URL, content=body, headers=headers)
    assert answer.status_code == 401
    assert await stored(intake) == 0


@pytest.mark.parametrize(
    ("changed", "field"),
    [
        ({"username": None}, ["body", "username"]),
        ({"grading_config_id": "cfg-7"}, ["body", "grading_config_id"]),
        ({"archive_base64": "not base64!"}, ["body", "archive_base64"]),
    ],
)
async def test_a_signed_webhook_that_does_not_fit_is_a_400_naming_the_field(
    intake: httpx.AsyncClient,
    demo_config: dict[str, Any],
    changed: dict[str, Any],
    field: list[str],
) -> None:
    body = payload(await config_id(intake, demo_config), **changed)
    answer = await intake.post(URL, content=body, headers=signed(body, "msg_3"))
    assert answer.status_code == 400
    assert field in [error["loc"] for error in answer.json()["errors"]]
    assert await stored(intake) == 0


async def test_without_a_secret_webhooks_are_refused(isolation: Isolation) -> None:
    async with intake_client(isolation.settings()) as client:
        answer = await client.post(URL, content=b"{}", headers=signed(b"{}", "msg_4"))
    assert answer.status_code == 503
    assert "INTAKE_WEBHOOK_SECRET" in answer.json()["detail"]
