"""Regrading through the whole stack: a fixed test flips a verdict, every attempt keeps
its own record, the diff shows what the change did, and asking twice makes one attempt."""

import copy
from typing import Any

import httpx
import pytest

from tests.conftest import demo_files
from tests.support import eventually, wait_terminal

pytestmark = pytest.mark.e2e


async def submit_wrong_program(stack: httpx.AsyncClient, config: dict[str, Any]) -> tuple[int, int]:
    created = (await stack.post("/api/v1/configs", json=config)).json()
    body = {
        "grading_config_id": created["id"],
        "external_user_id": "s1",
        "username": "ada",
        "language": "python",
        "submission_files": demo_files("python-wrong"),  # prints a - b
    }
    submitted = await stack.post("/api/v1/submissions", json=body)
    return int(created["id"]), int(submitted.json()["id"])


async def attempt_finished(
    stack: httpx.AsyncClient, submission_id: int, attempt: int
) -> dict[str, Any]:
    async def ended() -> bool:
        body = (await stack.get(f"/api/v1/submissions/{submission_id}")).json()
        return body["attempt"] == attempt and body["status"] in ("completed", "failed")

    await eventually(ended, timeout_s=90)
    return dict((await stack.get(f"/api/v1/submissions/{submission_id}")).json())


async def test_a_regrade_after_a_fixed_test_flips_its_verdict_and_keeps_the_old_grade(
    stack: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    config_id, submission_id = await submit_wrong_program(stack, demo_config)
    first = await wait_terminal(stack, submission_id)
    assert (first["attempt"], first["final_score"]) == (1, 20.0)

    # Staff decide 2 and 3 should give -1 (what the program prints): a changed test.
    criteria = copy.deepcopy(demo_config["criteria_config"])
    criteria["base"]["subjects"][0]["tests"][0]["parameters"][1]["value"] = "-1"
    changed = await stack.put(f"/api/v1/configs/{config_id}", json={"criteria_config": criteria})
    assert changed.status_code == 200

    asked = await stack.post(
        f"/api/v1/submissions/{submission_id}/regrade", json={"config": "latest"}
    )
    again = await stack.post(
        f"/api/v1/submissions/{submission_id}/regrade", json={"config": "latest"}
    )
    assert asked.status_code == again.status_code == 202
    assert asked.json()["attempt"] == again.json()["attempt"] == 2  # one attempt made

    second = await attempt_finished(stack, submission_id, 2)
    assert second["final_score"] > first["final_score"]
    attempts = (await stack.get(f"/api/v1/submissions/{submission_id}/attempts")).json()
    assert [(a["attempt"], a["final_score"]) for a in attempts] == [
        (1, 20.0),
        (2, second["final_score"]),
    ]
    assert attempts[1]["config_version"] == 2
    assert attempts[0]["pipeline_execution"]["status"] == "success"  # its own record

    diff = (
        await stack.get(f"/api/v1/submissions/{submission_id}/attempts/2/diff?against=1")
    ).json()
    assert diff["score_change"] == round(second["final_score"] - 20.0, 2)
    [flipped] = diff["tests"]
    assert (flipped["verdict_before"], flipped["verdict_after"]) == ("failed", "passed")
    assert (flipped["score_before"], flipped["score_after"]) == (0, 100)


async def test_regrading_what_does_not_exist_or_was_graded_elsewhere_is_refused(
    stack: httpx.AsyncClient,
) -> None:
    missing = await stack.post("/api/v1/submissions/424242/regrade")
    assert missing.status_code == 404
    absent = await stack.get("/api/v1/submissions/424242/attempts/2/diff?against=1")
    assert absent.status_code == 404


async def test_a_bulk_regrade_waits_in_its_lane_while_new_submissions_go_first(
    stack: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    """30 students regraded while 10 new submissions arrive: the new ones are graded
    ahead of the batch, whose progress is reported until every regrade is done."""
    created = (await stack.post("/api/v1/configs", json=demo_config)).json()

    async def submit(user: str) -> int:
        body = {
            "grading_config_id": created["id"],
            "external_user_id": user,
            "username": user,
            "language": "python",
            "submission_files": demo_files("python-right"),
        }
        return int((await stack.post("/api/v1/submissions", json=body)).json()["id"])

    students = [await submit(f"student-{n}") for n in range(30)]
    for submission_id in students:
        await wait_terminal(stack, submission_id, timeout_s=300)

    batch = await stack.post(f"/api/v1/configs/{created['id']}/regrade")
    assert batch.status_code == 202
    assert batch.json()["submissions"] == 30
    newcomers = [await submit(f"newcomer-{n}") for n in range(10)]

    async def batch_done() -> bool:
        progress = (await stack.get(f"/api/v1/regrades/{batch.json()['batch_id']}")).json()
        return bool(progress["done"] + progress["failed"] == 30)

    await eventually(batch_done, timeout_s=600)
    for submission_id in newcomers:
        await wait_terminal(stack, submission_id, timeout_s=300)
    progress = (await stack.get(f"/api/v1/regrades/{batch.json()['batch_id']}")).json()
    assert (progress["total"], progress["done"], progress["waiting"]) == (30, 30, 0)

    async def finished_at(submission_id: int, attempt: int) -> str:
        attempts = (await stack.get(f"/api/v1/submissions/{submission_id}/attempts")).json()
        return str(attempts[attempt - 1]["finished_at"])

    new_ends = sorted([await finished_at(s, 1) for s in newcomers])
    bulk_ends = sorted([await finished_at(s, 2) for s in students])
    assert new_ends[-1] < bulk_ends[-1]  # every newcomer before the batch's end
    assert new_ends[len(new_ends) // 2] < bulk_ends[len(bulk_ends) // 2]
    assert sum(end < new_ends[-1] for end in bulk_ends) <= 10  # few regrades went first
