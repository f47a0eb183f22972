"""A config mixing a built-in and a custom template, graded in-process (real local sandbox)."""

from typing import Any

from contracts.config import GradingConfigIn
from services.inprocess import grade_files
from services.sandbox.backends.local import LocalBackend

CHECKS = '''
import ast


@test
def defines(submission, function: str, file: str = "main.py"):
    """Passes when the file defines the function."""
    tree = ast.parse(submission.files[file])
    names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    return function in names, f"{function} is {'' if function in names else 'not '}defined."


@test
def explained(submission, file: str = "main.py"):
    lines = submission.files[file].splitlines()
    comments = sum(1 for line in lines if line.strip().startswith("#"))
    return min(100, 50 * comments)
'''
PROGRAM = b"""# Adds two numbers read from stdin.
def add(a, b):
    return a + b


print(add(int(input()), int(input())))
"""


def config() -> GradingConfigIn:
    tests: list[dict[str, Any]] = [
        {"name": "expect_output", "inputs": [2, 3], "expected_output": "5"},
        {"name": "defines add", "type": "defines", "function": "add"},
        {"name": "defines main", "type": "defines", "function": "main"},
        {"name": "explained"},
    ]
    return GradingConfigIn(
        external_assignment_id="custom",
        template_name=["input_output", "my_checks"],
        custom_templates=[{"name": "my_checks", "source": CHECKS}],
        criteria_config={"base": {"tests": tests}},
        include_feedback=False,
    )


async def test_built_in_and_custom_tests_are_graded_together() -> None:
    backend = LocalBackend()
    try:
        response = await grade_files({"main.py": PROGRAM}, config(), "python", backend)
    finally:
        await backend.close()
    assert response["status"] == "completed", response["pipeline_execution"]
    tests = {t["name"]: t for t in response["result_tree"]["children"]["base"]["tests"]}
    verdicts = {name: (t["score"], t["verdict"]) for name, t in tests.items()}
    assert verdicts == {
        "expect_output": (100, "passed"),
        "defines add": (100, "passed"),
        "defines main": (0, "failed"),
        "explained": (50, "failed"),
    }
    assert tests["defines main"]["message"] == "main is not defined."
    assert response["final_score"] == 62.5
    steps = [step["name"] for step in response["pipeline_execution"]["steps"]]
    assert {"SANDBOX", "GRADE"} <= set(steps)
