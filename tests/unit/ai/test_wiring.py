"""AI wired into the in-process chain: AI_BATCH is planned for AI tests, its scores
reach GRADE, and AI feedback mode asks the model (fake server, real HTTP)."""

import json
from pathlib import Path
from typing import Any

import pytest

from contracts.config import GradingConfigIn
from services.cli import main
from services.feedback.catalog import t
from services.inprocess import InProcessOptions, grade_files
from services.sandbox.backends.local import LocalBackend
from shared.ai.client import AiSettings, chat_client_from
from tests.fake_openai import FakeOpenAI


@pytest.fixture
def ai_env(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    monkeypatch.setenv("AI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("AI_API_KEY", "sk-wiring-test")
    monkeypatch.setenv("AI_MODEL", "fake-model")
    monkeypatch.setenv("AI_BACKOFF_S", "0")
    return fake_openai


def ai_config(feedback_mode: str = "default") -> GradingConfigIn:
    return GradingConfigIn(
        external_assignment_id="ai",
        template_name=["static_analysis", "ai"],
        languages=["python"],
        criteria_config={
            "base": {
                "tests": [
                    {"name": "ai_check", "criterion": "Names are descriptive"},
                    {"name": "forbidden_keyword", "keywords": ["eval"]},
                ]
            }
        },
        feedback_config={"mode": feedback_mode},
    )


async def grade(config: GradingConfigIn) -> dict[str, Any]:
    backend = LocalBackend()
    try:
        return await grade_files(
            {"main.py": b"total = 1 + 2\nprint(total)\n"},
            config,
            "python",
            backend,
            InProcessOptions(ai=chat_client_from(AiSettings())),
        )
    finally:
        await backend.close()


async def test_ai_batch_runs_in_the_chain_and_its_score_is_graded(ai_env: FakeOpenAI) -> None:
    def answer(body: dict[str, Any]) -> str:
        schema = body["response_format"]["json_schema"]["schema"]
        paths = schema["properties"]["results"]["required"]
        verdict = {"score": 60, "passed": False, "feedback": "Rename x."}
        return json.dumps({"results": dict.fromkeys(paths, verdict)})

    ai_env.answer_with(answer)
    response = await grade(ai_config())
    steps = [s["name"] for s in response["pipeline_execution"]["steps"]]
    assert steps.index("AI_BATCH") < steps.index("STRUCTURAL_ANALYSIS") < steps.index("GRADE")
    assert "SANDBOX" not in steps  # nothing runs the program
    # two equal-weight tests: AI 60, static check passes 100 -> 80
    assert response["final_score"] == 80.0
    assert len(ai_env.requests) == 1


async def test_ai_feedback_mode_asks_the_model_for_the_report(ai_env: FakeOpenAI) -> None:
    def answer(body: dict[str, Any]) -> str:
        if "response_format" in body:
            paths = body["response_format"]["json_schema"]["schema"]["properties"]["results"][
                "required"
            ]
            return json.dumps(
                {"results": {p: {"score": 100, "passed": True, "feedback": "ok"} for p in paths}}
            )
        return "Great naming, keep it up."

    ai_env.answer_with(answer)
    response = await grade(ai_config(feedback_mode="ai"))
    assert response["final_score"] == 100.0
    assert "Great naming, keep it up." in response["feedback"]
    assert len(ai_env.requests) == 2  # one AI_BATCH, one feedback


async def test_without_ai_configured_ai_tests_fail_clearly_and_feedback_falls_back() -> None:
    response = await grade(ai_config(feedback_mode="ai"))
    base = response["result_tree"]["children"]["base"]
    ai_test = next(test for test in base["tests"] if test["type"] == "ai_check")
    assert ai_test["verdict"] == "error"
    assert (
        "not your" in ai_test["message"].lower() or "not the student" in ai_test["message"].lower()
    )
    assert response["final_score"] == 50.0
    assert t("en", "ai_feedback.not_configured") in response["feedback"]
    assert "## Grade: 50/100" in response["feedback"]  # the default report follows


def test_grade_json_prints_one_document_while_the_model_is_retried(
    ai_env: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ai_env.fail(503, times=2)  # AI_BATCH retries twice: log lines, never on stdout
    (tmp_path / "main.py").write_text("total = 1 + 2\nprint(total)\n")
    config = tmp_path / "config.json"
    config.write_text(ai_config("ai").model_dump_json())

    code = main(["grade", str(tmp_path), "--config", str(config), "--sandbox", "local", "--json"])

    captured = capsys.readouterr()
    body = json.loads(captured.out)  # the whole of stdout is one JSON document
    assert code == 0
    assert body["status"] == "completed"
    assert "ai_request_retry" in captured.err
    assert len(ai_env.requests) >= 3
