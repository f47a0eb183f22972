"""`autograder grade --sandbox docker|local`: the same result shape and verdicts."""

import json
from pathlib import Path
from typing import Any

import pytest

from services.cli import main

DEMO = Path(__file__).resolve().parents[3] / "deploy" / "demo"
CONFIG = str(DEMO / "config.json")

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("docker_and_images")]


def graded(submission: str, sandbox: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    directory = str(DEMO / "submissions" / submission)
    main(["grade", directory, "--config", CONFIG, "--json", "--sandbox", sandbox])
    response: dict[str, Any] = json.loads(capsys.readouterr().out)
    return response


def outcome(response: dict[str, Any]) -> dict[str, Any]:
    """What grading decided, without timings."""
    steps = response["pipeline_execution"]["steps"]
    return {
        "status": response["status"],
        "final_score": response["final_score"],
        "steps": [(step["name"], step["status"], step["message"]) for step in steps],
        "feedback": response["feedback"],
    }


@pytest.mark.parametrize("submission", sorted(p.name for p in (DEMO / "submissions").iterdir()))
def test_docker_and_local_grade_alike(submission: str, capsys: pytest.CaptureFixture[str]) -> None:
    in_docker = graded(submission, "docker", capsys)
    locally = graded(submission, "local", capsys)

    assert in_docker.keys() == locally.keys()
    assert outcome(in_docker) == outcome(locally)
