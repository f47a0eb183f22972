"""The job summary (GITHUB_STEP_SUMMARY): score, a row per test, the feedback.

Cells are escaped: a test's name or message may carry the student's text, and a
summary is Markdown that GitHub renders; it must show as text."""

import html
from typing import Any

from shared.execution import tests_of


def job_summary(response: dict[str, Any]) -> str:
    score = response["final_score"]
    lines = [
        f"## Autograder: {score if score is not None else 0:g}/100",
        "",
        f"Status: **{response['status']}**",
        "",
    ]
    tests = tests_of(response.get("result_tree") or {})
    if tests:
        lines += ["| test | verdict | score | CPU ms | memory KB |", "|---|---|---|---|---|"]
        lines += [_row(test) for test in tests]
        lines.append("")
    failed = response["pipeline_execution"].get("failed_at_step")
    if failed:
        lines += [f"The pipeline stopped at step `{failed}`.", ""]
    if response.get("feedback"):
        lines += ["### Feedback", "", response["feedback"], ""]
    return "\n".join(lines) + "\n"


def _row(test: dict[str, Any]) -> str:
    measured = test.get("measured") or {}
    cells = [
        test["path"],
        test["verdict"],
        f"{test['score']:g}",
        str(measured.get("cpu_ms", "")),
        str(measured.get("peak_memory_kb", "")),
    ]
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _cell(text: str) -> str:
    return html.escape(text).replace("|", "\\|").replace("\n", " ")
