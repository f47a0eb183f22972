"""POST /api/v1/execute through the whole stack: the code runs in a Docker sandbox of
its own, once per stdin case; nothing is graded or stored, and the lease goes back."""

from typing import Any

import httpx
import pytest

from tests.support import eventually

pytestmark = pytest.mark.e2e

GREET = "name = input()\nprint('Hello, ' + name)\n"


def request(content: str, cases: list[list[str]] | None, **changed: Any) -> dict[str, Any]:
    return {
        "language": "python",
        "submission_files": [{"filename": "main.py", "content": content}],
        "program_command": "python3 main.py",
        "test_cases": cases,
        **changed,
    }


async def leases(stack: httpx.AsyncClient) -> int:
    metrics = (await stack.get("/api/v1/sandbox/metrics")).json()
    return sum(pool["leased"] for pool in metrics["languages"].values())


async def test_each_stdin_case_runs_and_is_answered_in_order(stack: httpx.AsyncClient) -> None:
    response = await stack.post("/api/v1/execute", json=request(GREET, [["Alice"], ["Bob"]]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["stdout"] for r in body["results"]] == ["Hello, Alice\n", "Hello, Bob\n"]
    assert {r["category"] for r in body["results"]} == {"success"}
    assert body["stopped_early"] is False
    submissions = (await stack.get("/api/v1/submissions")).json()
    assert submissions["items"] == []  # nothing stored

    async def released() -> bool:
        return await leases(stack) == 0

    await eventually(released)


async def test_a_crash_and_a_loop_are_told_apart_and_a_loop_stops_the_batch(
    stack: httpx.AsyncClient,
) -> None:
    program = (
        "import sys\nline = input()\nif line == 'crash':\n    sys.exit(3)\nwhile True:\n    pass\n"
    )
    response = await stack.post(
        "/api/v1/execute", json=request(program, [["crash"], ["loop"], ["never run"]])
    )
    crash, loop = response.json()["results"]
    assert (crash["category"], crash["exit_code"]) == ("runtime_error", 3)
    assert crash["error_message"] == "exited with code 3"
    assert loop["category"] == "timeout"
    assert response.json()["stopped_early"] is True


async def test_without_cases_it_runs_once_with_empty_stdin(stack: httpx.AsyncClient) -> None:
    response = await stack.post("/api/v1/execute", json=request("print('<b>not html</b>')\n", None))
    [result] = response.json()["results"]
    assert result["output"] == "<b>not html</b>\n"  # text, as printed


@pytest.mark.parametrize(
    ("changed", "field"),
    [
        ({"language": "cobol"}, ["body", "language"]),
        ({"program_command": "python3 'main.py"}, ["body", "program_command"]),
        (
            {"submission_files": [{"filename": "../etc/passwd", "content": "x"}]},
            ["body", "submission_files", 0, "filename"],
        ),
        ({"test_cases": [[]] * 5}, ["body", "test_cases"]),
    ],
)
async def test_a_request_that_may_not_run_names_the_field(
    stack: httpx.AsyncClient, changed: dict[str, Any], field: list[object]
) -> None:
    response = await stack.post("/api/v1/execute", json=request(GREET, [["x"]], **changed))
    assert response.status_code == 422
    assert field in [error["loc"] for error in response.json()["errors"]]
