"""Assets reach the program, and read-only assets stay read-only (real local sandbox)."""

from contracts.config import GradingConfigIn
from services.inprocess import grade_files
from services.sandbox.backends.local import LocalBackend

PROGRAM = b"""
print(open("data/numbers.txt").read().split()[1])
try:
    open("data/numbers.txt", "w").write("overwritten")
    print("wrote")
except OSError:
    print("read-only")
"""


async def test_assets_are_in_the_sandbox_and_read_only_when_asked() -> None:
    config = GradingConfigIn(
        external_assignment_id="assets",
        languages=["python"],
        include_feedback=False,
        criteria_config={
            "base": {"tests": [{"name": "expect_output", "expected_output": "42\nread-only"}]}
        },
        setup_config={
            "assets": [{"path": "data/numbers.txt", "content": "7 42", "read_only": True}]
        },
    )
    backend = LocalBackend()
    try:
        response = await grade_files({"main.py": PROGRAM}, config, "python", backend)
    finally:
        await backend.close()
    assert response["status"] == "completed", response["pipeline_execution"]
    assert response["final_score"] == 100.0, response["result_tree"]
