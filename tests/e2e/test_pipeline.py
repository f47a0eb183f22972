"""From an HTTP submission through every service on RabbitMQ to the final GET."""

import asyncio

import httpx
import pytest

from tests.conftest import demo_files
from tests.support import wait_terminal

pytestmark = pytest.mark.e2e


async def submit(client: httpx.AsyncClient, config_id: int, example: str, language: str) -> int:
    response = await client.post(
        "/api/v1/submissions",
        json={
            "grading_config_id": config_id,
            "external_user_id": "u-1",
            "username": "ada",
            "language": language,
            "submission_files": demo_files(example),
        },
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    return int(response.json()["id"])


async def create_config(client: httpx.AsyncClient, config: dict) -> int:
    response = await client.post("/api/v1/configs", json=config)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_right_and_wrong_programs_are_graded_through_the_services(
    stack: httpx.AsyncClient, demo_config: dict
) -> None:
    config_id = await create_config(stack, demo_config)
    right, wrong = await asyncio.gather(
        submit(stack, config_id, "python-right", "python"),
        submit(stack, config_id, "python-wrong", "python"),
    )
    graded = await wait_terminal(stack, right)
    assert graded["status"] == "completed"
    assert graded["final_score"] == 100.0
    execution = graded["pipeline_execution"]
    assert execution["status"] == "success"
    assert execution["failed_at_step"] is None
    assert execution["total_steps_planned"] == 7
    assert execution["steps_completed"] == 7
    assert [s["name"] for s in execution["steps"]] == [
        "LOAD_TEMPLATE",
        "BUILD_TREE",
        "SANDBOX",
        "PRE_FLIGHT",
        "GRADE",
        "FOCUS",
        "FEEDBACK",
    ]
    assert all("error_details" not in s for s in execution["steps"])
    assert graded["result_tree"]["final_score"] == 100.0
    assert "## Grade: 100/100" in graded["feedback"]
    # a - b instead of a + b: every base test fails (base 0); the bonus test 0+0 passes
    # (+100 x 20/100 = 20); the penalty test (exits 0) passes, so no deduction: 20.
    wrong_body = await wait_terminal(stack, wrong)
    assert wrong_body["status"] == "completed"
    assert wrong_body["final_score"] == 20.0
    assert "Expected" in wrong_body["feedback"]


async def test_a_missing_required_file_fails_in_preflight(
    stack: httpx.AsyncClient, demo_config: dict
) -> None:
    config_id = await create_config(stack, demo_config)
    body = await wait_terminal(stack, await submit(stack, config_id, "c-missing-file", "c"))
    assert body["status"] == "failed"
    assert body["result_tree"] is None
    execution = body["pipeline_execution"]
    assert execution["failed_at_step"] == "PRE_FLIGHT"
    assert execution["status"] == "failed"
    assert execution["steps_completed"] == 4
    failed = execution["steps"][-1]
    assert failed["status"] == "fail"
    assert failed["error_details"]["error_type"] == "required_file_missing"
    assert failed["error_details"]["missing_file"] == "main.c"
    assert "Preflight Check Failed" in body["feedback"]
    assert "main.c" in body["feedback"]


async def test_a_compile_error_fails_in_preflight_with_the_compiler_output(
    stack: httpx.AsyncClient, demo_config: dict
) -> None:
    config_id = await create_config(stack, demo_config)
    body = await wait_terminal(stack, await submit(stack, config_id, "java-compile-error", "java"))
    failed = body["pipeline_execution"]["steps"][-1]
    details = failed["error_details"]
    assert details["error_type"] == "setup_command_failed"
    assert details["command_name"] == "Compile Main.java"
    assert details["failed_command"]["command"] == "javac Main.java"
    assert details["failed_command"]["exit_code"] == 1
    assert "';' expected" in details["failed_command"]["stderr"]
    assert "### Setup Command Failed: Compile Main.java" in body["feedback"]


async def test_a_zip_archive_is_accepted_by_multipart(
    stack: httpx.AsyncClient, demo_config: dict
) -> None:
    import io
    import zipfile

    config_id = await create_config(stack, demo_config)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.c", demo_files("c-right")["main.c"])
    response = await stack.post(
        "/api/v1/submissions",
        data={
            "grading_config_id": str(config_id),
            "language": "c",
            "external_user_id": "u-1",
            "username": "ada",
        },
        files={"archive": ("code.zip", buffer.getvalue(), "application/zip")},
    )
    assert response.status_code == 202, response.text
    body = await wait_terminal(stack, response.json()["id"])
    assert body["status"] == "completed"
    assert body["final_score"] == 100.0


async def test_sandbox_pool_metrics_are_served_over_http(stack: httpx.AsyncClient) -> None:
    response = await stack.get("/api/v1/sandbox/metrics")
    assert response.status_code == 200, response.text
    metrics = response.json()
    assert metrics["backend"] == "docker"  # the end-to-end tests grade in containers
    assert "leases_in_use" in metrics
    assert set(metrics["languages"]) == {"python", "java", "c", "cpp", "node"}
    assert all(pool["size"] >= 1 for pool in metrics["languages"].values())
