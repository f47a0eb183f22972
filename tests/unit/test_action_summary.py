"""The Action's job summary shows a student's text as text, never as markup."""

from services.action.summary import job_summary


def test_a_test_row_escapes_what_could_be_markup() -> None:
    test = {
        "path": "base/<img src=x onerror=alert(1)>|x",
        "verdict": "wrong_answer",
        "score": 0.0,
        "measured": {"cpu_ms": 3, "peak_memory_kb": 900},
    }
    tree = {"children": {"base": {"tests": [test], "subjects": []}}}
    response = {
        "status": "completed",
        "final_score": 0.0,
        "feedback": "",
        "result_tree": tree,
        "pipeline_execution": {"failed_at_step": None},
    }

    summary = job_summary(response)

    assert "<img" not in summary
    assert "&lt;img src=x onerror=alert(1)&gt;\\|x | wrong_answer | 0 | 3 | 900 |" in summary
    assert summary.startswith("## Autograder: 0/100")
