"""The fake OpenAI-compatible server, started per test, and a client pointed at it."""

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from shared.ai.client import AiSettings, ChatClient
from tests.fake_openai import FakeOpenAI, running_fake_openai

API_KEY = "sk-test-0123456789abcdef-never-shown"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with running_fake_openai() as server:
        yield server


def settings_for(server: FakeOpenAI, **overrides: Any) -> AiSettings:
    """Fast settings for tests: short timeout, no backoff wait."""
    values: dict[str, Any] = {
        "base_url": server.base_url,
        "api_key": SecretStr(API_KEY),
        "model": "fake-model",
        "timeout_s": 2.0,
        "max_retries": 2,
        "backoff_s": 0.0,
    }
    return AiSettings(**(values | overrides))


@pytest.fixture
def client(fake_openai: FakeOpenAI) -> ChatClient:
    return ChatClient(settings_for(fake_openai))
