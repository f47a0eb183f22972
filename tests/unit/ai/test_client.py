"""The chat client against a real HTTP server that speaks the OpenAI API."""

from typing import Any

import pytest
from structlog.testing import capture_logs

from shared.ai.client import (
    AiBadResponse,
    AiSettings,
    AiUnavailable,
    ChatClient,
    ChatMessage,
    chat_client_from,
)
from tests.fake_openai import FakeOpenAI
from tests.unit.ai.conftest import API_KEY, settings_for

MESSAGES: list[ChatMessage] = [{"role": "user", "content": "Grade this."}]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"score": {"type": "number", "minimum": 0, "maximum": 100}},
    "required": ["score"],
    "additionalProperties": False,
}


async def test_json_request_carries_model_auth_and_strict_json_schema(
    client: ChatClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.answer_json({"score": 80})

    answer = await client.complete_json(MESSAGES, SCHEMA, "verdict")

    assert answer == {"score": 80}
    [request] = fake_openai.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body["model"] == "fake-model"
    assert request.body["messages"] == MESSAGES
    assert request.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "verdict", "schema": SCHEMA, "strict": True},
    }


async def test_text_request_has_no_response_format(
    client: ChatClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.answer_text("  Nice work on the loop.\n")

    assert await client.complete_text(MESSAGES) == "Nice work on the loop."
    assert "response_format" not in fake_openai.requests[0].body


async def test_server_errors_are_retried_until_an_answer_comes(
    client: ChatClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail(503, times=1)
    fake_openai.fail(429, times=1)
    fake_openai.answer_text("ok")

    assert await client.complete_text(MESSAGES) == "ok"
    assert len(fake_openai.requests) == 3


async def test_retries_are_bounded_then_ai_is_unavailable(
    client: ChatClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail(503, times=10)

    with pytest.raises(AiUnavailable, match=r"after 3 attempt\(s\).*HTTP 503"):
        await client.complete_text(MESSAGES)
    assert len(fake_openai.requests) == 3  # 1 attempt + max_retries=2


async def test_backoff_doubles_between_attempts(fake_openai: FakeOpenAI) -> None:
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    client = ChatClient(settings_for(fake_openai, backoff_s=1.0, max_retries=3), sleep=record)
    fake_openai.fail(500, times=4)

    with pytest.raises(AiUnavailable):
        await client.complete_text(MESSAGES)

    assert len(delays) == 3  # none after the last attempt
    for attempt, delay in enumerate(delays):
        assert 2**attempt * 0.5 <= delay <= 2**attempt  # jittered exponential


async def test_a_client_error_is_not_retried(client: ChatClient, fake_openai: FakeOpenAI) -> None:
    fake_openai.fail(401, times=5)

    with pytest.raises(AiUnavailable, match=r"refused the request.*HTTP 401"):
        await client.complete_text(MESSAGES)
    assert len(fake_openai.requests) == 1


async def test_a_slow_server_times_out_and_each_attempt_is_bounded(
    fake_openai: FakeOpenAI,
) -> None:
    client = ChatClient(settings_for(fake_openai, timeout_s=0.2, max_retries=1))
    fake_openai.stall(5.0, times=2)

    with pytest.raises(AiUnavailable, match=r"no answer within 0\.2s"):
        await client.complete_text(MESSAGES)
    assert len(fake_openai.requests) == 2


async def test_an_unreachable_server_is_unavailable(fake_openai: FakeOpenAI) -> None:
    settings = settings_for(fake_openai)
    fake_openai.stop()  # nothing listens on the port any more

    with pytest.raises(AiUnavailable, match="ConnectError"):
        await ChatClient(settings).complete_text(MESSAGES)


async def test_content_that_is_not_json_is_a_bad_response(
    client: ChatClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.malformed_content()

    with pytest.raises(AiBadResponse, match="not valid JSON"):
        await client.complete_json(MESSAGES, SCHEMA, "verdict")


async def test_a_body_that_is_not_json_is_a_bad_response(
    client: ChatClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.malformed_body()

    with pytest.raises(AiBadResponse, match="not JSON"):
        await client.complete_text(MESSAGES)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({}, "'score' is missing"),
        ({"score": "high"}, r"\$\.score: expected number"),
        ({"score": 120}, r"\$\.score: must be <= 100"),
        ({"score": 50, "bonus": 1}, "unexpected 'bonus'"),
        ([50], r"\$: expected object"),
    ],
)
async def test_json_that_breaks_the_schema_is_a_bad_response(
    client: ChatClient, fake_openai: FakeOpenAI, answer: Any, problem: str
) -> None:
    fake_openai.answer_json(answer)

    with pytest.raises(AiBadResponse, match=problem):
        await client.complete_json(MESSAGES, SCHEMA, "verdict")


async def test_a_looser_accept_schema_keeps_partial_answers(
    client: ChatClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.answer_json({})

    assert await client.complete_json(MESSAGES, SCHEMA, "verdict", accept={}) == {}
    assert fake_openai.requests[0].json_schema["schema"] == SCHEMA


async def test_json_in_a_markdown_fence_is_accepted(
    client: ChatClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.answer_text('```json\n{"score": 7}\n```')

    assert await client.complete_json(MESSAGES, SCHEMA, "verdict") == {"score": 7}


async def test_the_api_key_never_appears_in_logs_or_errors(fake_openai: FakeOpenAI) -> None:
    settings = settings_for(fake_openai)
    # Some services quote the key they rejected in the error body.
    fake_openai.fail(503, times=3, error_text=f"quota exceeded for key {API_KEY}")

    with capture_logs() as logs, pytest.raises(AiUnavailable) as raised:
        await ChatClient(settings).complete_text(MESSAGES)

    assert logs, "the retries should have been logged"
    assert API_KEY not in str(raised.value)
    assert API_KEY not in repr(logs)
    assert API_KEY not in repr(settings)
    assert "quota exceeded for key ***" in str(raised.value)


async def test_without_a_base_url_ai_is_not_configured() -> None:
    settings = AiSettings(base_url=None)

    assert chat_client_from(settings) is None
    with pytest.raises(AiUnavailable, match="not configured"):
        await ChatClient(settings).complete_text(MESSAGES)


def test_settings_come_from_ai_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("AI_API_KEY", API_KEY)
    monkeypatch.setenv("AI_MODEL", "small-model")
    monkeypatch.setenv("AI_MAX_RETRIES", "4")

    settings = AiSettings()

    assert settings.configured
    assert settings.model == "small-model"
    assert settings.max_retries == 4
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == API_KEY
