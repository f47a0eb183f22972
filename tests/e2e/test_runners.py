"""Pull runners through the real stack: the services in this process, agents as real
`autograder runner` processes grading in Docker, and the runner API called by hand where
a test plays a runner itself (a claim it lets lapse, two claims at once)."""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiodocker
import asyncpg
import httpx
import pytest

from services.sandbox.backends.docker_engine import LABEL_POOL
from tests.conftest import demo_files
from tests.support import (
    DATABASE_URL,
    bearer,
    eventually,
    issue_token,
    running_stack,
    wait_terminal,
)

pytestmark = pytest.mark.e2e

LEASE_S = 3  # short, so a lost claim comes back within the test
ROOT = Path(__file__).resolve().parents[2]
SLOW_PROGRAM = "import time\ntime.sleep(30)\nprint(int(input()) + int(input()))\n"


@pytest.fixture
async def stack(
    isolation: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("SANDBOX_BACKEND", "docker")
    monkeypatch.setenv("SANDBOX_POOL_SIZES", json.dumps({"python": 1}))
    monkeypatch.setenv("INTAKE_RUNNER_LEASE_S", str(LEASE_S))
    monkeypatch.setenv("INTAKE_RUNNER_SWEEP_INTERVAL_S", "0.5")
    async with running_stack() as client:
        yield client
    await _remove_agent_containers(os.environ["AUTOGRADER_NAMESPACE"])


class Agents:
    """`autograder runner` processes; ended (SIGTERM, then SIGKILL) at the test's end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, token: str, *extra: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "AUTOGRADER_RUNNER_TOKEN": token, "AUTOGRADER_LOG_LEVEL": "INFO"}
        command = [sys.executable, "-m", "services.cli", "runner", "--url", self.url, *extra]
        process = subprocess.Popen(command, env=env, cwd=ROOT)  # its logs: captured output
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def agents(stack: httpx.AsyncClient) -> Any:
    started = Agents(str(stack.base_url))
    yield started
    started.stop_all()


async def _remove_agent_containers(namespace: str) -> None:
    """What a SIGKILLed agent left behind (an agent that exits removes its own)."""
    async with aiodocker.Docker() as docker:
        for container in await docker.containers.list(all=True, filters={"label": [LABEL_POOL]}):
            if container["Labels"].get(LABEL_POOL, "").startswith(f"{namespace}-runner-"):
                await container.delete(force=True)


async def runner_config(stack: httpx.AsyncClient, demo: dict[str, Any], labels: list[str]) -> int:
    config = {**demo, "execution": {"mode": "runner", "labels": labels}}
    response = await stack.post("/api/v1/configs", json=config)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def register(stack: httpx.AsyncClient, name: str, labels: list[str]) -> dict[str, Any]:
    response = await stack.post("/api/v1/runners", json={"name": name, "labels": labels})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def submit(stack: httpx.AsyncClient, config_id: int, user: str, files: dict[str, str]) -> int:
    body = {
        "grading_config_id": config_id,
        "external_user_id": user,
        "username": user,
        "language": "python",
        "submission_files": files,
    }
    response = await stack.post("/api/v1/submissions", json=body)
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


def root(stack: httpx.AsyncClient) -> str:
    return str(stack.base_url).rstrip("/")


def as_runner(stack: httpx.AsyncClient, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{root(stack)}/api/v1/runner", headers=bearer(token))


async def database_rows(query: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(os.environ.get("DATABASE_URL", DATABASE_URL))
    try:
        await connection.execute(f"SET search_path TO {os.environ['AUTOGRADER_DB_SCHEMA']}")
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


async def claim_first_job(runner: httpx.AsyncClient) -> dict[str, Any]:
    response = await runner.post("/jobs/request", json={"wait_s": 20})
    assert response.status_code == 200, response.text
    return dict(response.json())


def job_headers(job: dict[str, Any]) -> dict[str, str]:
    return {"X-Job-Token": job["job_token"]}


async def lease_lapsed(job_id: int) -> None:
    """Until the job's lease has run out (its holder sent no heartbeat)."""

    async def lapsed() -> bool:
        rows = await database_rows(
            "SELECT lease_expires_at < now() AS lapsed FROM runner_jobs WHERE id = $1", job_id
        )
        return bool(rows[0]["lapsed"])

    await eventually(lapsed, timeout_s=30)


@contextlib.asynccontextmanager
async def keeping_claim(client: httpx.AsyncClient, job: dict[str, Any]) -> AsyncIterator[None]:
    """Heartbeats for `job` every second while the block runs, as a live runner would."""

    async def beat() -> None:
        while True:
            await client.post("/heartbeat", json={"job_id": job["id"]}, headers=job_headers(job))
            await asyncio.sleep(1)

    beating = asyncio.create_task(beat())
    try:
        yield
    finally:
        beating.cancel()


@pytest.mark.parametrize("stack", [30], indirect=True)
async def test_twenty_submissions_through_two_agents_are_each_graded_once(
    stack: httpx.AsyncClient, agents: Agents, demo_config: dict[str, Any]
) -> None:
    config_id = await runner_config(stack, demo_config, ["python"])
    first, second = (
        await register(stack, "lab-1", ["python"]),
        await register(stack, "lab-2", ["python", "gpu"]),
    )
    agents.start(first["token"])
    agents.start(second["token"])
    right, wrong = demo_files("python-right"), demo_files("python-wrong")
    ids = [
        await submit(stack, config_id, f"s{n}", right if n % 2 == 0 else wrong) for n in range(20)
    ]

    graded = [await wait_terminal(stack, submission_id, timeout_s=300) for submission_id in ids]

    scores = [body["final_score"] for body in graded]
    assert scores == [100.0 if n % 2 == 0 else 20.0 for n in range(20)]
    assert all(body["status"] == "completed" for body in graded)
    steps = [s["name"] for s in graded[0]["pipeline_execution"]["steps"]]
    assert steps == [
        "LOAD_TEMPLATE",
        "BUILD_TREE",
        "SANDBOX",
        "PRE_FLIGHT",
        "GRADE",
        "FOCUS",
        "FEEDBACK",
    ]
    jobs = await database_rows("SELECT claims, state, runner_id FROM runner_jobs")
    assert len(jobs) == 20
    assert {(job["claims"], job["state"]) for job in jobs} == {(1, "succeeded")}
    events = await database_rows(
        "SELECT submission_id, count(*) AS n FROM step_events WHERE step = 'GRADE' GROUP BY 1"
    )
    assert sorted(row["n"] for row in events) == [1] * 20  # each graded exactly once
    listed = (await stack.get("/api/v1/runners")).json()
    assert {runner["name"]: runner["online"] for runner in listed} == {"lab-1": True, "lab-2": True}
    assert all(runner["version"] for runner in listed)
    logs = (await stack.get(f"/api/v1/submissions/{ids[1]}/logs")).json()
    text = logs["jobs"][0]["claims"][0]["log"]
    assert "GRADE: success" in text
    assert "wrong_answer" in text or "fail" in text  # each test's verdict, for people


async def test_a_killed_agents_job_is_claimed_again_and_graded_once(
    stack: httpx.AsyncClient, agents: Agents, demo_config: dict[str, Any]
) -> None:
    config_id = await runner_config(stack, demo_config, [])
    runner = await register(stack, "doomed", [])
    doomed = agents.start(runner["token"])
    slow = {"main.py": "import time\ntime.sleep(4)\n" + demo_files("python-right")["main.py"]}
    submission_id = await submit(stack, config_id, "k1", slow)

    async def claimed() -> bool:
        rows = await database_rows(
            "SELECT state FROM runner_jobs WHERE submission_id = $1", submission_id
        )
        return bool(rows) and rows[0]["state"] == "running"

    await eventually(claimed, timeout_s=60)
    doomed.kill()  # SIGKILL: no goodbye, its lease just runs out
    doomed.wait()
    rescuer = await register(stack, "rescuer", [])
    agents.start(rescuer["token"])

    graded = await wait_terminal(stack, submission_id, timeout_s=180)

    assert graded["status"] == "completed"
    assert graded["final_score"] == 100.0
    job = (
        await database_rows(
            "SELECT claims, runner_id FROM runner_jobs WHERE submission_id = $1", submission_id
        )
    )[0]
    assert job["claims"] == 2
    assert job["runner_id"] == rescuer["id"]
    grades = await database_rows(
        "SELECT count(*) AS n FROM step_events WHERE submission_id = $1 AND step = 'GRADE'",
        submission_id,
    )
    assert grades[0]["n"] == 1


async def test_a_lapsed_claims_late_calls_get_409(
    stack: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    config_id = await runner_config(stack, demo_config, [])
    first = await register(stack, "slowpoke", [])
    second = await register(stack, "quick", [])
    await submit(stack, config_id, "l1", demo_files("python-right"))
    async with (
        as_runner(stack, first["token"]) as slowpoke,
        as_runner(stack, second["token"]) as quick,
    ):
        stale = await claim_first_job(slowpoke)
        await lease_lapsed(stale["id"])  # no heartbeat: the lease runs out
        fresh = await claim_first_job(quick)
        job_id = stale["id"]

        late = [
            await slowpoke.post("/heartbeat", json={"job_id": job_id}, headers=job_headers(stale)),
            await slowpoke.get(f"/jobs/{job_id}/code", headers=job_headers(stale)),
            await slowpoke.patch(
                f"/jobs/{job_id}/log",
                content=b"x",
                headers={**job_headers(stale), "Content-Range": "bytes 0-0"},
            ),
            await slowpoke.put(
                f"/jobs/{job_id}/complete", json={"outcome": "failed"}, headers=job_headers(stale)
            ),
        ]
        current = await quick.post(
            "/heartbeat", json={"job_id": job_id}, headers=job_headers(fresh)
        )

    assert fresh["id"] == job_id
    assert fresh["claim"] == 2
    assert [response.status_code for response in late] == [409, 409, 409, 409]
    assert "another runner" in late[0].json()["detail"]
    assert current.status_code == 200
    assert current.json()["cancel"] is False


async def test_two_claims_of_one_job_at_once_make_one_winner(
    stack: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    config_id = await runner_config(stack, demo_config, [])
    tokens = [(await register(stack, f"racer-{n}", []))["token"] for n in range(2)]
    await submit(stack, config_id, "r1", demo_files("python-right"))
    async with as_runner(stack, tokens[0]) as one, as_runner(stack, tokens[1]) as two:
        listed = (await one.get("/jobs", params={"limit": 5})).json()
        job_id = listed[0]["id"]
        answers = await asyncio.gather(
            one.post(f"/jobs/{job_id}/claim"), two.post(f"/jobs/{job_id}/claim")
        )
        after = (await one.get("/jobs")).json()

    assert sorted(response.status_code for response in answers) == [200, 409]
    assert after == []  # claimed: no longer offered


async def test_runner_and_staff_tokens_stay_on_their_own_routes(
    stack: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    runner = await register(stack, "lab", [])
    instructor = await issue_token("instructor")
    async with as_runner(stack, runner["token"]) as client:
        on_staff_route = await client.get(f"{root(stack)}/api/v1/configs")
    on_runner_route = await stack.get("/api/v1/runner/jobs", headers=bearer(instructor))
    in_query = await stack.get(f"/api/v1/runner/jobs?token={runner['token']}", headers={})
    listed = await stack.get("/api/v1/runners")
    revoked = await stack.delete(f"/api/v1/runners/{runner['id']}")
    async with as_runner(stack, runner["token"]) as client:
        after_revoke = await client.get("/jobs")

    assert on_staff_route.status_code == 403
    assert on_runner_route.status_code == 403
    assert in_query.status_code == 401
    assert "token" not in json.dumps(listed.json()[0])  # never shown again
    assert revoked.status_code == 200
    assert after_revoke.status_code == 401


async def test_a_retried_log_chunk_is_stored_once_and_a_wrong_offset_is_416(
    stack: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    config_id = await runner_config(stack, demo_config, [])
    runner = await register(stack, "logger", [])
    submission_id = await submit(stack, config_id, "g1", demo_files("python-right"))
    async with as_runner(stack, runner["token"]) as client:
        job = await claim_first_job(client)
        url, headers = f"/jobs/{job['id']}/log", job_headers(job)

        def chunk(start: int, text: bytes) -> dict[str, str]:
            return {**headers, "Content-Range": f"bytes {start}-{start + len(text) - 1}"}

        first = await client.patch(
            url, content="compiling…\n".encode(), headers=chunk(0, "compiling…\n".encode())
        )
        again = await client.patch(
            url, content="compiling…\n".encode(), headers=chunk(0, "compiling…\n".encode())
        )
        gap = await client.patch(url, content=b"tests\n", headers=chunk(99, b"tests\n"))
        resumed = await client.patch(
            url, content=b"tests\n", headers=chunk(gap_start(gap), b"tests\n")
        )
    logs = (await stack.get(f"/api/v1/submissions/{submission_id}/logs")).json()

    assert first.status_code == again.status_code == 200
    assert again.json()["length"] == first.json()["length"] == len("compiling…\n".encode())
    assert gap.status_code == 416
    assert resumed.status_code == 200
    assert logs["jobs"][0]["claims"][0]["log"] == "compiling…\ntests\n"


def gap_start(response: httpx.Response) -> int:
    return int(response.headers["Range"].split("-")[1])


async def test_cancelling_mid_run_ends_cancelled_and_frees_the_agents_container(
    stack: httpx.AsyncClient, agents: Agents, demo_config: dict[str, Any]
) -> None:
    config_id = await runner_config(stack, demo_config, [])
    runner = await register(stack, "cancellable", [])
    agents.start(runner["token"])
    submission_id = await submit(stack, config_id, "c1", {"main.py": SLOW_PROGRAM})
    namespace = os.environ["AUTOGRADER_NAMESPACE"]

    async def grading() -> bool:
        rows = await database_rows(
            "SELECT count(*) AS n FROM step_events"
            " WHERE submission_id = $1 AND step = 'PRE_FLIGHT'",
            submission_id,
        )
        return rows[0]["n"] == 1

    await eventually(grading, timeout_s=120)
    running_in = await agent_containers(namespace)  # its pool's one container: the job's
    cancelled = await stack.post(f"/api/v1/submissions/{submission_id}/cancel")
    ended = await wait_terminal_any(stack, submission_id)

    async def container_freed() -> bool:
        return not running_in & await agent_containers(namespace)

    await eventually(container_freed, timeout_s=30)
    await eventually_job_state(submission_id, "cancelled")
    again = await stack.post(f"/api/v1/submissions/{submission_id}/cancel")
    log = (await stack.get(f"/api/v1/submissions/{submission_id}/logs")).json()

    assert len(running_in) == 1
    assert cancelled.status_code == 202
    assert ended["status"] == "cancelled"
    assert ended["pipeline_execution"]["status"] == "cancelled"
    assert again.status_code == 409
    assert "cancelled by course staff" in log["jobs"][0]["claims"][0]["log"]


async def agent_containers(namespace: str) -> set[str]:
    async with aiodocker.Docker() as docker:
        containers = await docker.containers.list(all=True, filters={"label": [LABEL_POOL]})
    return {
        c["Id"]
        for c in containers
        if c["Labels"].get(LABEL_POOL, "").startswith(f"{namespace}-runner-")
    }


async def wait_terminal_any(stack: httpx.AsyncClient, submission_id: int) -> dict[str, Any]:
    async def ended() -> bool:
        body = (await stack.get(f"/api/v1/submissions/{submission_id}")).json()
        return body["status"] not in ("queued", "running")

    await eventually(ended, timeout_s=60)
    return dict((await stack.get(f"/api/v1/submissions/{submission_id}")).json())


async def eventually_job_state(submission_id: int, state: str) -> None:
    async def reached() -> bool:
        rows = await database_rows(
            "SELECT state FROM runner_jobs WHERE submission_id = $1", submission_id
        )
        return bool(rows[0]["state"] == state)

    await eventually(reached, timeout_s=60)


async def test_a_job_whose_runners_keep_vanishing_fails_not_the_students_fault(
    stack: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    config_id = await runner_config(stack, demo_config, [])
    runner = await register(stack, "flaky", [])
    submission_id = await submit(stack, config_id, "f1", demo_files("python-right"))
    async with as_runner(stack, runner["token"]) as client:
        for _ in range(3):  # three claims, each left to lapse
            lapsing = await claim_first_job(client)
            await lease_lapsed(lapsing["id"])

    failed = await wait_terminal(stack, submission_id, timeout_s=60)
    async with as_runner(stack, runner["token"]) as client:  # its last claim, too late
        late = await client.post(
            "/heartbeat", json={"job_id": lapsing["id"]}, headers=job_headers(lapsing)
        )

    assert failed["status"] == "failed"
    assert late.status_code == 409  # the job ended: the old claim must stop
    assert late.headers["Claim-Lost"] == "true"
    execution = failed["pipeline_execution"]
    assert execution["failed_at_step"] == "SANDBOX"
    assert execution["steps"][-1]["error_details"]["error_type"] == "runner_lost"
    assert "not a problem with your code" in failed["feedback"]


async def test_a_stopping_agent_gives_its_job_back_and_another_grades_it(
    stack: httpx.AsyncClient, agents: Agents, demo_config: dict[str, Any]
) -> None:
    config_id = await runner_config(stack, demo_config, [])
    leaving = agents.start((await register(stack, "leaving", []))["token"], "--shutdown-grace", "1")
    slow = {"main.py": "import time\ntime.sleep(4)\n" + demo_files("python-right")["main.py"]}
    submission_id = await submit(stack, config_id, "t1", slow)

    async def grading() -> bool:
        rows = await database_rows(
            "SELECT count(*) AS n FROM step_events"
            " WHERE submission_id = $1 AND step = 'PRE_FLIGHT'",
            submission_id,
        )
        return bool(rows[0]["n"] == 1)

    await eventually(grading, timeout_s=120)
    leaving.send_signal(signal.SIGTERM)
    exit_code = await asyncio.to_thread(leaving.wait, 30)
    given_back = (await database_rows("SELECT state, claims FROM runner_jobs"))[0]
    agents.start((await register(stack, "staying", []))["token"])
    graded = await wait_terminal(stack, submission_id, timeout_s=180)

    assert exit_code == 0
    assert (given_back["state"], given_back["claims"]) == ("pending", 1)
    assert graded["status"] == "completed"
    assert graded["final_score"] == 100.0
    logs = (await stack.get(f"/api/v1/submissions/{submission_id}/logs")).json()
    claims = logs["jobs"][0]["claims"]
    assert "goes back to the queue" in claims[0]["log"]
    assert [claim["runner_name"] for claim in claims] == ["leaving", "staying"]


async def test_a_regrade_makes_a_new_job_and_keeps_the_old_ones_log(
    stack: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    config_id = await runner_config(stack, demo_config, [])
    runner = await register(stack, "regrader", [])
    submission_id = await submit(stack, config_id, "g2", demo_files("python-right"))
    async with as_runner(stack, runner["token"]) as client:
        first = await claim_first_job(client)
        headers = {**job_headers(first), "Content-Range": "bytes 0-5"}
        await client.patch(f"/jobs/{first['id']}/log", content=b"first\n", headers=headers)
        regraded = await stack.post(f"/api/v1/submissions/{submission_id}/regrade", json={})
        told = await client.post(
            "/heartbeat", json={"job_id": first["id"]}, headers=job_headers(first)
        )
        offered = (await client.get("/jobs")).json()
    logs = (await stack.get(f"/api/v1/submissions/{submission_id}/logs")).json()

    assert regraded.status_code == 202, regraded.text
    assert told.json()["cancel"] is True  # the superseded attempt's runner stops
    assert [(job["submission_id"], job["attempt"]) for job in offered] == [(submission_id, 2)]
    assert [job["attempt"] for job in logs["jobs"]] == [1, 2]
    assert logs["jobs"][0]["claims"][0]["log"] == "first\n"


async def test_an_agent_with_a_revoked_token_exits_with_an_error(
    stack: httpx.AsyncClient, agents: Agents
) -> None:
    runner = await register(stack, "retired", [])
    await stack.delete(f"/api/v1/runners/{runner['id']}")

    refused = agents.start(runner["token"], "--sandbox", "local")
    exit_code = await asyncio.to_thread(refused.wait, 60)

    assert exit_code == 1


async def test_a_job_past_its_deadline_fails_not_the_students_fault(
    stack: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    config_id = await runner_config(stack, demo_config, [])
    submission_id = await submit(stack, config_id, "d1", demo_files("python-right"))
    # Nobody serves it; its hour (the least a config may give is a minute) is up now.
    await database_rows(
        "UPDATE runner_jobs SET deadline = now() WHERE submission_id = $1", submission_id
    )

    failed = await wait_terminal(stack, submission_id, timeout_s=60)

    details = failed["pipeline_execution"]["steps"][-1]["error_details"]
    assert failed["status"] == "failed"
    assert details["error_type"] == "runner_lost"
    assert "deadline" in details["detail"]


async def test_following_a_jobs_log_streams_it_as_it_grows(
    stack: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    config_id = await runner_config(stack, demo_config, [])
    runner = await register(stack, "streamer", [])
    submission_id = await submit(stack, config_id, "s1", demo_files("python-right"))
    received: list[tuple[str, dict[str, Any]]] = []

    async def follow() -> None:
        url = f"/api/v1/submissions/{submission_id}/logs"
        async with stack.stream("GET", url, params={"follow": "true"}) as response:
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    received.append((event, json.loads(line.removeprefix("data: "))))

    async with as_runner(stack, runner["token"]) as client:
        job = await claim_first_job(client)
        following = asyncio.create_task(follow())
        sent = 0
        for piece in (b"compiling\n", b"test 1 passed\n"):
            headers = {**job_headers(job), "Content-Range": f"bytes {sent}-{sent + len(piece) - 1}"}
            await client.patch(f"/jobs/{job['id']}/log", content=piece, headers=headers)
            sent += len(piece)
            await eventually(lambda n=sent: streamed(received, n), timeout_s=30)
        await client.put(
            f"/jobs/{job['id']}/complete", json={"outcome": "failed"}, headers=job_headers(job)
        )
        await asyncio.wait_for(following, 30)

    text = "".join(data["text"] for event, data in received if event == "log")
    assert text == "compiling\ntest 1 passed\n"
    assert len([event for event, _ in received if event == "log"]) == 2  # as it grew
    assert received[-1] == ("end", {"job_id": job["id"], "state": "failed"})


async def heard_after(runner_name: str, moment: Any) -> bool:
    """Whether the runner called the server (a heartbeat, a poll) after `moment`."""
    rows = await database_rows("SELECT last_heartbeat_at FROM runners WHERE name = $1", runner_name)
    return bool(rows[0]["last_heartbeat_at"] and rows[0]["last_heartbeat_at"] > moment)


async def streamed(received: list[tuple[str, dict[str, Any]]], length: int) -> bool:
    """Whether the follower has received `length` bytes of log."""
    text = "".join(data["text"] for event, data in received if event == "log")
    return len(text.encode()) >= length


async def test_an_agent_that_lost_its_claim_reports_nothing_more(
    stack: httpx.AsyncClient, agents: Agents, demo_config: dict[str, Any]
) -> None:
    config_id = await runner_config(stack, demo_config, [])
    frozen = agents.start((await register(stack, "frozen", []))["token"])
    thief = await register(stack, "thief", [])
    slow = {"main.py": "import time\ntime.sleep(3)\n" + demo_files("python-right")["main.py"]}
    submission_id = await submit(stack, config_id, "z1", slow)

    async def grading() -> bool:
        rows = await database_rows(
            "SELECT claims FROM runner_jobs WHERE submission_id = $1", submission_id
        )
        return bool(rows and rows[0]["claims"] == 1)

    await eventually(grading, timeout_s=60)
    frozen.send_signal(signal.SIGSTOP)  # a machine that hangs: no heartbeat
    job_id = (
        await database_rows("SELECT id FROM runner_jobs WHERE submission_id = $1", submission_id)
    )[0]["id"]
    try:
        await lease_lapsed(job_id)
        async with as_runner(stack, thief["token"]) as client:
            stolen = await claim_first_job(client)
            async with keeping_claim(client, stolen):  # the thief holds it while the agent wakes
                woke = await database_rows("SELECT now() AS at")
                frozen.send_signal(signal.SIGCONT)
                await eventually(lambda: heard_after("frozen", woke[0]["at"]), timeout_s=30)
    finally:
        frozen.send_signal(signal.SIGCONT)
    job = (
        await database_rows(
            "SELECT state, claims FROM runner_jobs WHERE submission_id = $1", submission_id
        )
    )[0]
    late = await database_rows(
        "SELECT step FROM runner_job_steps s JOIN runner_jobs j ON j.id = s.job_id"
        " WHERE j.submission_id = $1 AND s.claim = 1 AND s.reported_at > j.claimed_at",
        submission_id,
    )

    assert stolen["claim"] == 2
    assert (job["state"], job["claims"]) == ("running", 2)  # the thief's, not completed
    assert late == []  # nothing from the first claim after the job was claimed again
    assert frozen.poll() is None  # the agent goes on serving other jobs
