"""AI feedback: the prompt the model gets, its report, and the fallback without AI."""

from typing import Any

import pytest

from contracts.config import GradingConfig
from contracts.messages import StepRequest, SubmissionInfo
from contracts.steps import StepName
from services.feedback.ai import make_feedback_step, render_ai_feedback
from services.feedback.catalog import t
from services.feedback.handlers import feedback_step
from services.feedback.logic import render_report
from shared.ai.client import ChatClient
from shared.db.blobs import MemoryBlobStore
from shared.feedback_config import parse_feedback_config
from tests.fake_openai import FakeOpenAI
from tests.unit.ai.conftest import settings_for
from tests.unit.feedback.builders import focus_ranking, graded_tree

AI_CONFIG = {
    "mode": "ai",
    "ai": {
        "feedback_persona": "a pirate captain who teaches Python",
        "feedback_tone": "playful but precise",
        "assignment_context": "Lab 3: a calculator reading two numbers from stdin.",
        "extra_orientations": "Mention PEP 8 once.",
        "provide_solutions": "none",
    },
}
FILES = {"main.py": "a = int(input())\nprint(a + 1)\n"}


async def ai_feedback(
    fake_openai: FakeOpenAI | None, raw: dict[str, Any] = AI_CONFIG, locale: str = "en"
) -> str:
    client = None if fake_openai is None else ChatClient(settings_for(fake_openai))
    config = parse_feedback_config(raw)
    return await render_ai_feedback(client, graded_tree(), focus_ranking(), config, locale, FILES)


async def test_the_prompt_carries_persona_tone_context_and_orientations(
    fake_openai: FakeOpenAI,
) -> None:
    await ai_feedback(fake_openai)

    [request] = fake_openai.requests
    system, user = request.system_prompt, request.user_prompt
    assert "You are a pirate captain who teaches Python" in system
    assert "Tone: playful but precise." in system
    assert "Instructor's orientations: Mention PEP 8 once." in system
    assert "Write the whole answer in English" in system
    assert "Lab 3: a calculator reading two numbers from stdin." in user
    assert "response_format" not in request.body


async def test_the_prompt_carries_results_focus_and_files(fake_openai: FakeOpenAI) -> None:
    await ai_feedback(fake_openai)

    user = fake_openai.requests[0].user_prompt
    assert "Final score: 85.5/100" in user
    assert "- [base] `base.adds_numbers` (adds_numbers): failed, score 0/100" in user
    assert "message: 'The sum is wrong.'" in user
    assert "expected: '5\\n'" in user
    assert "1. `base.handles_empty_input` (base): 10 point(s) lost" in user
    assert '<file path="main.py">\na = int(input())' in user


async def test_the_answer_is_in_the_students_language(fake_openai: FakeOpenAI) -> None:
    await ai_feedback(fake_openai, locale="pt-BR")

    assert "in Brazilian Portuguese (pt-BR)" in fake_openai.requests[0].system_prompt


@pytest.mark.parametrize(
    ("level", "instruction"),
    [
        ("none", "Do NOT give solutions"),
        ("hints", "Give hints only"),
        ("full", "You may show corrected code"),
    ],
)
async def test_the_solution_policy_is_stated(
    fake_openai: FakeOpenAI, level: str, instruction: str
) -> None:
    await ai_feedback(fake_openai, {"mode": "ai", "ai": {"provide_solutions": level}})

    assert instruction in fake_openai.requests[0].system_prompt


async def test_only_the_files_the_config_names_are_read(fake_openai: FakeOpenAI) -> None:
    raw = {"mode": "ai", "ai": {"submission_files_to_read": ["notes.txt"]}}

    await ai_feedback(fake_openai, raw)

    user = fake_openai.requests[0].user_prompt
    assert '<file path="notes.txt">\n(this file is not in the submission)' in user
    assert "main.py" not in user


async def test_the_report_is_the_models_text_under_the_computed_grade(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.answer_text("Arr! Your sum is off by one.")

    text = await ai_feedback(fake_openai, locale="pt-BR")

    assert text == "# Relatório de Correção\n\n## Nota: 85,5/100\n\nArr! Your sum is off by one.\n"


@pytest.mark.parametrize("locale", ["en", "pt-BR"])
async def test_without_ai_configured_the_default_report_says_so(locale: str) -> None:
    text = await ai_feedback(None, locale=locale)

    default = render_report(
        graded_tree(), focus_ranking(), parse_feedback_config(AI_CONFIG), locale
    )
    assert text == f"> {t(locale, 'ai_feedback.not_configured')}\n\n{default}"


def test_the_fallback_notes_read_naturally_in_both_languages() -> None:
    assert "AI-written feedback is not set up" in t("en", "ai_feedback.not_configured")
    assert "feedback escrito por IA" in t("pt-BR", "ai_feedback.not_configured")
    assert "not available right now" in t("en", "ai_feedback.unavailable")
    assert "não está disponível no momento" in t("pt-BR", "ai_feedback.unavailable")


@pytest.mark.parametrize("locale", ["en", "pt-BR"])
async def test_when_the_model_is_down_the_default_report_says_so(
    fake_openai: FakeOpenAI, locale: str
) -> None:
    fake_openai.fail(503, times=10)

    text = await ai_feedback(fake_openai, locale=locale)

    assert text.startswith(f"> {t(locale, 'ai_feedback.unavailable')}\n\n# ")
    assert len(fake_openai.requests) == 3


async def a_feedback_request(raw: dict[str, Any]) -> tuple[StepRequest, MemoryBlobStore]:
    blobs = MemoryBlobStore()
    manifest = await blobs.put_many({path: text.encode() for path, text in FILES.items()})
    config = GradingConfig(
        id=1, external_assignment_id="lab-3", criteria_config={}, feedback_config=raw
    )
    submission = SubmissionInfo(id=7, attempt=1, language="python", manifest=manifest)
    context = {
        StepName.GRADE.value: {
            "final_score": graded_tree().final_score,
            "result_tree": graded_tree().model_dump(mode="json"),
        },
        StepName.FOCUS.value: {"focus": [item.model_dump(mode="json") for item in focus_ranking()]},
    }
    request = StepRequest(
        plan=[StepName.FEEDBACK], config=config, submission=submission, context=context
    )
    return request, blobs


async def test_the_step_uses_ai_mode_and_reads_the_files(fake_openai: FakeOpenAI) -> None:
    fake_openai.answer_text("Well done.")
    request, blobs = await a_feedback_request(AI_CONFIG)
    step = make_feedback_step(ChatClient(settings_for(fake_openai)), blobs)

    outcome = await step(request, StepName.FEEDBACK)

    assert outcome.message == "Feedback generated by AI"
    assert outcome.output["feedback"].endswith("Well done.\n")
    assert '<file path="main.py">' in fake_openai.requests[0].user_prompt


async def test_the_step_in_default_mode_is_the_default_feedback_step(
    fake_openai: FakeOpenAI,
) -> None:
    request, blobs = await a_feedback_request({"mode": "default"})
    step = make_feedback_step(ChatClient(settings_for(fake_openai)), blobs)

    outcome = await step(request, StepName.FEEDBACK)

    assert outcome == await feedback_step(request, StepName.FEEDBACK)
    assert fake_openai.requests == []


async def test_the_step_without_ai_falls_back_and_says_so_in_its_message() -> None:
    request, blobs = await a_feedback_request(AI_CONFIG)

    outcome = await make_feedback_step(None, blobs)(request, StepName.FEEDBACK)

    assert outcome.message == "Feedback generated (AI unavailable)"
    assert outcome.output["feedback"].startswith(f"> {t('en', 'ai_feedback.not_configured')}")
