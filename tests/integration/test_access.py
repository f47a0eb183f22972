"""Who may do what, over HTTP against the real PostgreSQL: every route but the probes
needs a token; each role reaches only its scopes; revoked and expired tokens stop at
once; tokens never travel in URLs and never reach a log line."""

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.cli import main
from services.intake.adapters.postgres import IntakeRepository
from shared.auth import SCOPES, Role, Scope
from shared.logging import configure_logging
from tests.conftest import demo_files
from tests.support import Isolation, bearer, intake_client, issue_token, wait_terminal

pytestmark = pytest.mark.integration


@pytest.fixture
async def intake(isolation: Isolation) -> AsyncIterator[httpx.AsyncClient]:
    """Intake's app on the real database, called without any token by default."""
    async with intake_client(isolation.settings()) as client:
        yield client


def routes(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    document = client.app.openapi()  # type: ignore[attr-defined]
    return [
        (method.upper(), path.replace("{", "").replace("}", "").replace("_id", "1"))
        for path, operations in document["paths"].items()
        for method in operations
    ]


async def config_for(client: httpx.AsyncClient, token: str, demo: dict[str, Any], aid: str) -> int:
    response = await client.post(
        "/api/v1/configs", json={**demo, "external_assignment_id": aid}, headers=bearer(token)
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def submit(client: httpx.AsyncClient, token: str, config_id: int) -> httpx.Response:
    body = {
        "grading_config_id": config_id,
        "external_user_id": "s1",
        "username": "ada",
        "language": "python",
        "submission_files": demo_files("python-right"),
    }
    return await client.post("/api/v1/submissions", json=body, headers=bearer(token))


async def test_every_route_but_the_probes_needs_a_token(intake: httpx.AsyncClient) -> None:
    checked = 0
    for method, path in routes(intake):
        response = await intake.request(method, path)
        if path in ("/health", "/ready"):
            assert response.status_code == 200, path
            continue
        if path.startswith("/api/v1/webhooks/"):  # signed, not tokened: its own tests
            continue
        checked += 1
        assert response.status_code == 401, f"{method} {path}: {response.status_code}"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"
    assert checked >= 9


@pytest.mark.parametrize(
    "header", ["", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer agt_12345678_notarealtoken"]
)
async def test_a_missing_malformed_or_unknown_token_is_a_401(
    intake: httpx.AsyncClient, header: str
) -> None:
    response = await intake.get("/api/v1/templates", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["status"] == 401


async def test_a_token_in_the_url_is_refused_even_when_it_is_valid(
    intake: httpx.AsyncClient,
) -> None:
    token = await issue_token("admin")
    for name in ("access_token", "token", "api_key"):
        response = await intake.get(f"/api/v1/templates?{name}={token}")
        assert response.status_code == 401
        assert "Authorization header" in response.json()["detail"]
    refused_anyway = await intake.get(
        f"/api/v1/templates?access_token={token}", headers=bearer(token)
    )
    assert refused_anyway.status_code == 401


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        ("integration", "POST", "/api/v1/configs", {"external_assignment_id": "x"}),
        ("integration", "GET", "/api/v1/tokens", None),
        ("instructor", "POST", "/api/v1/tokens", {"role": "admin", "name": "x"}),
        ("instructor", "GET", "/api/v1/sandbox/metrics", None),
        ("runner", "GET", "/api/v1/templates", None),
        ("runner", "GET", "/api/v1/configs/id/1", None),
    ],
)
async def test_a_valid_token_without_the_scope_is_a_403(
    intake: httpx.AsyncClient, role: str, method: str, path: str, body: Any
) -> None:
    token = await issue_token(role)
    response = await intake.request(method, path, json=body, headers=bearer(token))
    assert response.status_code == 403
    assert role in response.json()["detail"]


async def test_an_admin_creates_lists_and_revokes_tokens_and_a_revoked_one_stops_at_once(
    intake: httpx.AsyncClient,
) -> None:
    admin = bearer(await issue_token("admin"))
    created = await intake.post(
        "/api/v1/tokens", json={"role": "integration", "name": "moodle"}, headers=admin
    )
    assert created.status_code == 201
    new = created.json()
    assert new["token"].startswith(f"agt_{new['prefix']}_")
    assert (await intake.get("/api/v1/templates", headers=bearer(new["token"]))).status_code == 200

    listed = (await intake.get("/api/v1/tokens", headers=admin)).json()
    moodle = next(t for t in listed if t["name"] == "moodle")
    assert "token" not in moodle
    assert new["token"] not in str(listed)
    assert moodle["last_used_at"] is not None  # it was just used

    revoked = await intake.delete(f"/api/v1/tokens/{new['id']}", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    after = await intake.get("/api/v1/templates", headers=bearer(new["token"]))
    assert after.status_code == 401
    again = await intake.delete(f"/api/v1/tokens/{new['id']}", headers=admin)
    assert again.status_code == 404


async def test_assignments_are_granted_to_instructor_tokens_only(
    intake: httpx.AsyncClient,
) -> None:
    admin = bearer(await issue_token("admin"))
    response = await intake.post(
        "/api/v1/tokens",
        json={"role": "integration", "name": "lms", "assignments": ["hw1"]},
        headers=admin,
    )
    assert response.status_code == 422
    assert "instructor" in response.json()["detail"]


async def test_a_token_creation_names_what_is_wrong(intake: httpx.AsyncClient) -> None:
    admin = bearer(await issue_token("admin"))
    response = await intake.post(
        "/api/v1/tokens", json={"role": "wizard", "name": ""}, headers=admin
    )
    assert response.status_code == 422
    fields = {tuple(error["loc"]) for error in response.json()["errors"]}
    assert fields == {("body", "role"), ("body", "name")}


async def test_an_expired_token_is_a_401(intake: httpx.AsyncClient) -> None:
    expired = await issue_token("admin", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    lasting = await issue_token("admin", expires_at=datetime.now(UTC) + timedelta(days=1))
    assert (await intake.get("/api/v1/templates", headers=bearer(expired))).status_code == 401
    assert (await intake.get("/api/v1/templates", headers=bearer(lasting))).status_code == 200


async def test_an_instructor_reaches_only_the_assignments_it_is_granted(
    intake: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    admin = await issue_token("admin")
    ta = await issue_token("instructor", assignments=["hw1"])
    hw1 = await config_for(intake, ta, demo_config, "hw1")
    hw2 = await config_for(intake, admin, demo_config, "hw2")

    refused = await intake.post(
        "/api/v1/configs", json={**demo_config, "external_assignment_id": "hw2"}, headers=bearer(ta)
    )
    assert refused.status_code == 403
    assert "hw2" in refused.json()["detail"]
    assert (await intake.get(f"/api/v1/configs/id/{hw2}", headers=bearer(ta))).status_code == 403
    assert (await submit(intake, ta, hw2)).status_code == 403
    theirs = (await submit(intake, admin, hw2)).json()["id"]
    # Another assignment's submission is not found: a 403 would confirm it exists.
    assert (
        await intake.get(f"/api/v1/submissions/{theirs}", headers=bearer(ta))
    ).status_code == 404

    mine = await submit(intake, ta, hw1)
    assert mine.status_code == 202
    read = await intake.get(f"/api/v1/submissions/{mine.json()['id']}", headers=bearer(ta))
    assert read.status_code == 200


async def test_an_integration_reads_only_the_submissions_it_created(
    intake: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    admin = await issue_token("admin")
    lms, other_lms = await issue_token("integration"), await issue_token("integration")
    config_id = await config_for(intake, admin, demo_config, "hw1")
    assert (
        await intake.get(f"/api/v1/configs/id/{config_id}", headers=bearer(lms))
    ).status_code == 200

    own = (await submit(intake, lms, config_id)).json()["id"]
    assert (await intake.get(f"/api/v1/submissions/{own}", headers=bearer(lms))).status_code == 200
    foreign = await intake.get(f"/api/v1/submissions/{own}", headers=bearer(other_lms))
    assert foreign.status_code == 404
    assert foreign.json()["detail"] == f"no submission with id {own}"
    by_admin = await intake.get(f"/api/v1/submissions/{own}", headers=bearer(admin))
    assert by_admin.status_code == 200


async def test_no_token_value_reaches_a_log_line(
    stack: httpx.AsyncClient, demo_config: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    """The whole stack in this process, logging at DEBUG: tokens used well and badly."""
    configure_logging("tests", "json", "DEBUG")  # everything the services say, captured
    admin = stack.headers["Authorization"].removeprefix("Bearer ")
    made = await stack.post("/api/v1/tokens", json={"role": "integration", "name": "x"})
    integration = made.json()["token"]
    config_id = await config_for(stack, admin, demo_config, "hw-logs")
    submitted_id = (await submit(stack, integration, config_id)).json()["id"]
    # Graded through every service before the logs are read: each one has logged by then.
    finished = await wait_terminal(stack, submitted_id)
    assert finished["status"] == "completed", finished
    await stack.get(f"/api/v1/templates?access_token={integration}", headers={})
    await stack.get("/api/v1/templates", headers={"Authorization": f"Bearer {integration}x"})
    await stack.delete(f"/api/v1/tokens/{made.json()['id']}")
    await stack.get("/api/v1/templates", headers=bearer(integration))

    logged = capfd.readouterr()
    everything = logged.out + logged.err
    assert "message handled" in everything  # the services' logs were captured
    for token in (admin, integration):
        assert token not in everything
        assert token.split("_")[2] not in everything  # nor its secret part alone


def test_the_cli_creates_the_first_admin_token(
    isolation: Isolation, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "create", "--role", "admin", "--name", "first", "--expires", "30d"]) == 0
    printed = capsys.readouterr()
    token = printed.out.strip()
    assert token.startswith("agt_")
    assert "shown once" in printed.err
    assert token not in printed.err

    async def templates_with(value: str) -> int:
        async with intake_client(isolation.settings()) as client:
            return (await client.get("/api/v1/templates", headers=bearer(value))).status_code

    assert asyncio.run(templates_with(token)) == 200


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--role", "admin", "--expires", "0d"], "e.g. 30d"),
        (["--role", "admin", "--assignment", "hw1"], "instructor"),
        (["--role", "wizard"], "invalid choice"),
    ],
)
def test_the_cli_refuses_a_bad_token_request_with_exit_2(
    isolation: Isolation, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["token", "create", *args])
    assert exited.value.code == 2
    assert says in capsys.readouterr().err


@pytest.mark.parametrize(
    "url",
    ["http://lms.example.edu/grades", "https://127.0.0.1/grades", "https://169.254.169.254/x"],
)
async def test_a_webhook_into_the_platforms_network_is_refused_at_the_field(
    intake: httpx.AsyncClient, demo_config: dict[str, Any], url: str
) -> None:
    admin = bearer(await issue_token("admin"))
    config = {**demo_config, "export_webhook_url": url}
    response = await intake.post("/api/v1/configs", json=config, headers=admin)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "export_webhook_url"]


async def submit_keyed(
    client: httpx.AsyncClient, token: str, config_id: int, key: str, user: str = "s1"
) -> httpx.Response:
    body = {
        "grading_config_id": config_id,
        "external_user_id": user,
        "username": "ada",
        "language": "python",
        "submission_files": demo_files("python-right"),
    }
    headers = {**bearer(token), "Idempotency-Key": key}
    return await client.post("/api/v1/submissions", json=body, headers=headers)


async def submissions_stored(client: httpx.AsyncClient) -> int:
    repo: IntakeRepository = client.app.state.repository  # type: ignore[attr-defined]
    return int(await repo.pool.fetchval("SELECT count(*) FROM submissions"))


async def test_a_retried_submission_with_its_idempotency_key_creates_nothing(
    intake: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    """An LMS that retries after a timeout must not create two submissions."""
    lms = await issue_token("integration")
    config_id = await config_for(intake, await issue_token("admin"), demo_config, "hw1")
    first = await submit_keyed(intake, lms, config_id, "lms-attempt-1")
    again = await submit_keyed(intake, lms, config_id, "lms-attempt-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert await submissions_stored(intake) == 1

    other = await submit_keyed(intake, lms, config_id, "lms-attempt-1", user="s2")
    assert other.status_code == 422
    assert other.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await submissions_stored(intake) == 1

    another_client = await submit_keyed(
        intake, await issue_token("integration"), config_id, "lms-attempt-1"
    )
    assert another_client.status_code == 202  # keys belong to the token that sent them
    assert another_client.json()["id"] != first.json()["id"]


async def test_the_same_key_sent_at_once_many_times_creates_one_submission(
    intake: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    lms = await issue_token("integration")
    config_id = await config_for(intake, await issue_token("admin"), demo_config, "hw1")
    answers = await asyncio.gather(
        *(submit_keyed(intake, lms, config_id, "burst") for _ in range(6))
    )
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["id"] for a in answers}) == 1
    assert await submissions_stored(intake) == 1
    outbox = await intake.app.state.repository.pool.fetchval(  # type: ignore[attr-defined]
        "SELECT count(*) FROM outbox WHERE routing_key = 'tracker.accepted'"
    )
    assert outbox == 1  # one submission announced, not six


async def submitted(client: httpx.AsyncClient, token: str, config_id: int, user: str) -> int:
    body = {
        "grading_config_id": config_id,
        "external_user_id": user,
        "username": user,
        "language": "python",
        "submission_files": demo_files("python-right"),
    }
    response = await client.post("/api/v1/submissions", json=body, headers=bearer(token))
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


async def test_submissions_are_listed_newest_first_filtered_and_paged_by_cursor(
    intake: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    admin = await issue_token("admin")
    hw1 = await config_for(intake, admin, demo_config, "hw1")
    hw2 = await config_for(intake, admin, demo_config, "hw2")
    ids = [
        await submitted(intake, admin, config, user)
        for config, user in (
            (hw1, "ana"),
            (hw1, "bo"),
            (hw2, "ana"),
            (hw1, "ana"),
        )
    ]

    page = (await intake.get("/api/v1/submissions?limit=2", headers=bearer(admin))).json()
    assert [s["id"] for s in page["items"]] == [ids[3], ids[2]]
    rest = await intake.get(
        f"/api/v1/submissions?limit=2&cursor={page['next_cursor']}", headers=bearer(admin)
    )
    assert [s["id"] for s in rest.json()["items"]] == [ids[1], ids[0]]

    filtered = await intake.get(
        "/api/v1/submissions?external_assignment_id=hw1&external_user_id=ana&status=queued",
        headers=bearer(admin),
    )
    assert [s["id"] for s in filtered.json()["items"]] == [ids[3], ids[0]]
    assert filtered.json()["items"][0]["status"] == "queued"
    assert filtered.json()["next_cursor"] is None

    by_user = await intake.get("/api/v1/submissions/user/ana", headers=bearer(admin))
    assert [s["id"] for s in by_user.json()] == [ids[3], ids[2], ids[0]]
    second = await intake.get(
        "/api/v1/submissions/user/ana?limit=1&offset=1", headers=bearer(admin)
    )
    assert [s["id"] for s in second.json()] == [ids[2]]

    ta = await issue_token("instructor", assignments=["hw2"])
    granted = await intake.get("/api/v1/submissions", headers=bearer(ta))
    assert [s["id"] for s in granted.json()["items"]] == [ids[2]]


async def test_an_integration_lists_only_its_own_submissions(
    intake: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    admin, lms = await issue_token("admin"), await issue_token("integration")
    config_id = await config_for(intake, admin, demo_config, "hw1")
    await submitted(intake, admin, config_id, "ana")
    own = await submitted(intake, lms, config_id, "ana")
    listed = await intake.get("/api/v1/submissions/user/ana", headers=bearer(lms))
    assert [s["id"] for s in listed.json()] == [own]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cursor=bm9wZQ", ["query", "cursor"]),
        ("status=lost", ["query", "status"]),
        ("limit=0", ["query", "limit"]),
        ("since=yesterday", ["query", "since"]),
    ],
)
async def test_a_bad_listing_query_names_the_parameter(
    intake: httpx.AsyncClient, query: str, field: list[str]
) -> None:
    response = await intake.get(
        f"/api/v1/submissions?{query}", headers=bearer(await issue_token("admin"))
    )
    assert response.status_code == 422
    assert field in [error["loc"] for error in response.json()["errors"]]


def reference_external_result(config_id: int, **changed: Any) -> dict[str, Any]:
    """What the reference GitHub Action's CloudExporter sends, field for field."""
    return {
        "grading_config_id": config_id,
        "external_user_id": "octocat",
        "username": "octocat",
        "language": "python",
        "status": "completed",
        "final_score": 87.5,
        "feedback": "## Well done",
        "result_tree": None,
        "focus": None,
        "pipeline_execution": None,
        "execution_time_ms": 4200,
        "error_message": None,
        "submission_metadata": {
            "repository": "school/hw1-octocat",
            "commit_sha": "0123abc",
            "run_id": "99",
            "actor": "octocat",
            "ref": "refs/heads/main",
        },
        **changed,
    }


async def test_the_reference_actions_external_mode_calls_work_as_there(
    intake: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    """Config by integer id, then the result posted back, then read as stored."""
    config_id = await config_for(intake, await issue_token("admin"), demo_config, "hw1")
    action = bearer(await issue_token("integration", name="github-action"))

    config = await intake.get(f"/api/v1/configs/id/{config_id}", headers=action)
    assert config.json()["criteria_config"] == demo_config["criteria_config"]
    posted = await intake.post(
        "/api/v1/submissions/external-results",
        json=reference_external_result(config_id),
        headers=action,
    )
    assert posted.status_code == 201, posted.text
    stored = (await intake.get(f"/api/v1/submissions/{posted.json()['id']}", headers=action)).json()
    assert (stored["status"], stored["final_score"]) == ("completed", 87.5)
    assert stored["feedback"] == "## Well done"
    assert stored["submission_metadata"]["commit_sha"] == "0123abc"
    assert stored["pipeline_execution"]["status"] == "success"
    assert stored["pipeline_execution"]["execution_time_ms"] == 4200

    failure = reference_external_result(
        config_id, status="failed", final_score=0.0, feedback=None, error_message="no GRADE"
    )
    failed = await intake.post("/api/v1/submissions/external-results", json=failure, headers=action)
    assert failed.json()["status"] == "failed"
    assert failed.json()["feedback"] == "no GRADE"
    assert failed.json()["pipeline_execution"]["status"] == "failed"


async def test_an_external_result_posted_again_with_its_key_is_stored_once(
    intake: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    """The Action retries a POST whose answer it did not get: one submission, not two."""
    config_id = await config_for(intake, await issue_token("admin"), demo_config, "hw1")
    action = {**bearer(await issue_token("integration")), "Idempotency-Key": "run-99-1"}
    body = reference_external_result(config_id)
    url = "/api/v1/submissions/external-results"

    first = await intake.post(url, json=body, headers=action)
    again = await intake.post(url, json=body, headers=action)
    other = await intake.post(url, json={**body, "final_score": 10.0}, headers=action)

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 422  # the same key for another result
    assert await submissions_stored(intake) == 1


@pytest.mark.parametrize(
    ("changed", "field"),
    [
        ({"language": "cobol"}, ["body", "language"]),
        ({"grading_config_id": 424242}, ["body", "grading_config_id"]),
        ({"grading_config_id": "cfg-42"}, ["body", "grading_config_id"]),
        ({"final_score": 120}, ["body", "final_score"]),
        ({"status": "graded"}, ["body", "status"]),
    ],
)
async def test_an_external_result_that_does_not_fit_names_the_field(
    intake: httpx.AsyncClient,
    demo_config: dict[str, Any],
    changed: dict[str, Any],
    field: list[str],
) -> None:
    config_id = await config_for(intake, await issue_token("admin"), demo_config, "hw1")
    action = bearer(await issue_token("integration"))
    response = await intake.post(
        "/api/v1/submissions/external-results",
        json=reference_external_result(config_id, **changed),
        headers=action,
    )
    assert response.status_code == 422
    assert field in [error["loc"] for error in response.json()["errors"]]
    assert await submissions_stored(intake) == 0


async def test_past_its_rate_a_token_gets_429_with_retry_after(isolation: Isolation) -> None:
    busy, quiet = await issue_token("integration"), await issue_token("integration")
    async with intake_client(isolation.settings(), rate_limit_per_minute=3) as client:
        answers = [
            (await client.get("/api/v1/templates", headers=bearer(busy))).status_code
            for _ in range(4)
        ]
        refused = await client.get("/api/v1/templates", headers=bearer(busy))
        other = await client.get("/api/v1/templates", headers=bearer(quiet))
    assert answers == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "20"
    assert refused.headers["content-type"] == "application/problem+json"
    assert other.status_code == 200


# Every authenticated route and the scope it needs: a new route must be added here.
ROUTE_SCOPES = {
    ("POST", "/api/v1/configs"): Scope.CONFIGS_WRITE,
    ("GET", "/api/v1/configs"): Scope.CONFIGS_READ,
    ("GET", "/api/v1/configs/id/{config_id}"): Scope.CONFIGS_READ,
    ("GET", "/api/v1/configs/{external_assignment_id}"): Scope.CONFIGS_READ,
    ("GET", "/api/v1/configs/{external_assignment_id}/versions"): Scope.CONFIGS_READ,
    ("PUT", "/api/v1/configs/{config_id}"): Scope.CONFIGS_WRITE,
    ("POST", "/api/v1/configs/{config_id}/regrade"): Scope.REGRADE,
    ("GET", "/api/v1/regrades/{batch_id}"): Scope.REGRADE,
    ("PUT", "/api/v1/configs/external/{external_assignment_id}"): Scope.CONFIGS_WRITE,
    ("POST", "/api/v1/submissions"): Scope.SUBMISSIONS_CREATE,
    ("GET", "/api/v1/submissions"): Scope.SUBMISSIONS_READ,
    ("GET", "/api/v1/submissions/user/{external_user_id}"): Scope.SUBMISSIONS_READ,
    ("GET", "/api/v1/submissions/{submission_id}"): Scope.SUBMISSIONS_READ,
    ("POST", "/api/v1/submissions/external-results"): Scope.EXTERNAL_RESULTS,
    ("POST", "/api/v1/submissions/{submission_id}/regrade"): Scope.REGRADE,
    ("GET", "/api/v1/submissions/{submission_id}/attempts"): Scope.SUBMISSIONS_READ,
    ("GET", "/api/v1/submissions/{submission_id}/events"): Scope.SUBMISSIONS_READ,
    ("GET", "/api/v1/events"): Scope.SUBMISSIONS_READ,
    ("GET", "/api/v1/submissions/{submission_id}/attempts/{attempt}/diff"): Scope.SUBMISSIONS_READ,
    ("POST", "/api/v1/submissions/{submission_id}/export"): Scope.SUBMISSIONS_EXPORT,
    ("GET", "/api/v1/templates"): Scope.TEMPLATES_READ,
    ("GET", "/api/v1/templates/{name}"): Scope.TEMPLATES_READ,
    ("GET", "/api/v1/sandbox/metrics"): Scope.SANDBOX_METRICS,
    ("POST", "/api/v1/execute"): Scope.EXECUTE,
    ("POST", "/api/v1/tokens"): Scope.TOKENS,
    ("GET", "/api/v1/tokens"): Scope.TOKENS,
    ("DELETE", "/api/v1/tokens/{token_id}"): Scope.TOKENS,
    ("POST", "/api/v1/runners"): Scope.RUNNERS,
    ("GET", "/api/v1/runners"): Scope.RUNNERS,
    ("DELETE", "/api/v1/runners/{runner_id}"): Scope.RUNNERS,
    ("POST", "/api/v1/submissions/{submission_id}/cancel"): Scope.CANCEL,
    ("GET", "/api/v1/submissions/{submission_id}/logs"): Scope.SUBMISSIONS_READ,
    ("GET", "/api/v1/runner/jobs"): Scope.RUNNER_API,
    ("POST", "/api/v1/runner/jobs/request"): Scope.RUNNER_API,
    ("POST", "/api/v1/runner/jobs/{job_id}/claim"): Scope.RUNNER_API,
    ("GET", "/api/v1/runner/jobs/{job_id}/code"): Scope.RUNNER_API,
    ("GET", "/api/v1/runner/jobs/{job_id}/testdata"): Scope.RUNNER_API,
    ("POST", "/api/v1/runner/heartbeat"): Scope.RUNNER_API,
    ("PATCH", "/api/v1/runner/jobs/{job_id}/log"): Scope.RUNNER_API,
    ("POST", "/api/v1/runner/jobs/{job_id}/steps"): Scope.RUNNER_API,
    ("PUT", "/api/v1/runner/jobs/{job_id}/complete"): Scope.RUNNER_API,
    ("POST", "/api/v1/runner/jobs/{job_id}/release"): Scope.RUNNER_API,
}
# Bodies that keep a route from waiting (a long poll) in the matrix below.
MATRIX_BODIES = {("POST", "/api/v1/runner/jobs/request"): {"wait_s": 0}}


async def token_of_role(intake: httpx.AsyncClient, role: Role) -> str:
    """A token of the role; a runner's is a registered runner's (its identity)."""
    if role is not Role.RUNNER:
        return await issue_token(role.value)
    admin = bearer(await issue_token("admin"))
    made = await intake.post("/api/v1/runners", json={"name": "matrix"}, headers=admin)
    return str(made.json()["token"])


async def test_every_route_answers_each_role_by_its_scopes(intake: httpx.AsyncClient) -> None:
    """The whole matrix: a role without the route's scope gets 403; with it, the
    request goes through to the route (whatever the route then answers of an empty
    body or a missing id: never 401 or 403)."""
    document = intake.app.openapi()  # type: ignore[attr-defined]
    routes = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if path not in ("/health", "/ready") and not path.startswith("/api/v1/webhooks/")
    }
    assert routes == set(ROUTE_SCOPES)
    for role in Role:
        token = bearer(await token_of_role(intake, role))
        for (method, path), scope in sorted(ROUTE_SCOPES.items()):
            url = re.sub(r"\{[a-z_]+\}", "424242", path) + ("?against=1" if "diff" in path else "")
            body = MATRIX_BODIES.get((method, path), {})
            answer = await intake.request(method, url, json=body, headers=token)
            if scope in SCOPES[role]:
                assert answer.status_code not in (401, 403), (role, method, path, answer.text)
            else:
                assert answer.status_code == 403, (role, method, path, answer.status_code)
