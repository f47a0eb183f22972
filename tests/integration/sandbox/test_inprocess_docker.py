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


def graded_tests(response: dict[str, Any]) -> list[dict[str, Any]]:
    tree = response["result_tree"]["children"]
    return [test for node in tree.values() for test in node["tests"]]


def verdicts(response: dict[str, Any]) -> list[str]:
    return [test["verdict"] for test in graded_tests(response)]


@pytest.mark.parametrize(
    ("command", "program"),
    [
        ("python3 main.py", "while True: pass\n"),
        ("python3 -u main.py 2>&1", "while True: pass\n"),  # a shell between: exit 152
        ("./a.out", None),
    ],
)
def test_an_infinite_loop_is_a_time_limit_in_every_test(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, program: str | None
) -> None:
    """Issue 9: a loop run by `python3 main.py` was `runtime_error` ("exited with code
    152", CPU 996 ms of 1000) in the first test and `time_limit` in the next."""
    if program is None:
        (tmp_path / "main.cpp").write_text("int main() { while (1); }\n")
        setup = {"cpp": {"setup_commands": [{"name": "build", "command": "g++ main.cpp"}]}}
        language = "cpp"
    else:
        (tmp_path / "main.py").write_text(program)
        setup, language = {}, "python"
    test = {"name": "expect_output", "expected_output": "1", "program_command": command}
    config = {
        "external_assignment_id": "loop",
        "template_name": "input_output",
        "languages": [language],
        "time_limit_ms": 1000,
        "criteria_config": {"base": {"tests": [test, {**test, "expected_output": "2"}]}},
        "setup_config": setup,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    submission = tmp_path / "submission"
    submission.mkdir()
    for source in tmp_path.glob("main.*"):
        source.rename(submission / source.name)

    config_file = str(tmp_path / "config.json")
    main(["grade", str(submission), "--config", config_file, "--json", "--sandbox", "docker"])
    response = json.loads(capsys.readouterr().out)

    assert response["status"] == "completed", response["pipeline_execution"]
    assert verdicts(response) == ["time_limit", "time_limit"]
    for test in graded_tests(response):  # what the sandbox measured says why (issue 9)
        measured = test["measured"]
        # CPU or wall limit, whichever a loaded machine reaches first: no stopwatch here.
        assert measured["cpu_ms"] > 0
        assert measured["peak_memory_kb"] > 0
        assert measured["signal"] is not None or measured["exit_code"] is not None


def test_a_crash_reports_its_exit_code_and_what_was_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "main.py").write_text("import sys\nprint('partial')\nsys.exit(3)\n")
    test = {"name": "expect_output", "expected_output": "1", "program_command": "python3 main.py"}
    config = {
        "external_assignment_id": "crash",
        "template_name": "input_output",
        "criteria_config": {"base": {"tests": [test]}},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))

    args = ["grade", str(tmp_path / "submission"), "--config", str(tmp_path / "config.json")]
    main([*args, "--json", "--sandbox", "docker"])
    [graded] = graded_tests(json.loads(capsys.readouterr().out))

    assert graded["verdict"] == "runtime_error"
    assert (graded["measured"]["exit_code"], graded["measured"]["signal"]) == (3, None)
    # Both measured; not compared: CPU comes in 10 ms ticks and can top a short wall time.
    assert graded["measured"]["wall_ms"] > 0
    assert graded["measured"]["cpu_ms"] >= 0
