"""A small client for OpenAI-compatible chat APIs (`POST {base_url}/chat/completions`).

Used by AI_BATCH (structured answers checked against a JSON schema) and by the AI
feedback mode (free text). Every failure ends in one of two exceptions, so callers can
fall back without knowing HTTP:
- `AiUnavailable`: not configured, or no usable answer after the bounded retries
  (network errors, timeouts, 429 and 5xx are retried with exponential backoff; other
  4xx are not, since asking again cannot help).
- `AiBadResponse`: the service answered, but not with what was asked (no content,
  invalid JSON, or JSON that does not match the schema).

The API key is a `SecretStr`: it is only revealed to build the Authorization header,
and removed from any text of the service's that ends up in a message.
"""

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import httpx
import structlog
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import AutograderError

log = structlog.get_logger()

# A Retry-After longer than this is not worth holding a grading worker for.
MAX_DELAY_S = 30.0
# Enough of an error body to tell a quota error from a bad model name, and no more.
MAX_ERROR_TEXT = 300
_RETRYABLE_STATUS = frozenset({408, 409, 429})


class AiSettings(BaseSettings):
    """The AI service (env prefix AI_). `base_url` None means AI is not configured."""

    model_config = SettingsConfigDict(env_prefix="AI_", extra="ignore")

    base_url: str | None = None  # e.g. https://api.openai.com/v1
    api_key: SecretStr | None = None  # optional: local servers often need none
    model: str = "gpt-4o-mini"
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    backoff_s: float = Field(default=1.0, ge=0)  # first retry delay; doubles each time

    @property
    def configured(self) -> bool:
        return bool(self.base_url)


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


class AiError(AutograderError):
    """Root of the AI client's exceptions."""


class AiUnavailable(AiError):
    """No answer: AI is not configured, or the service failed after every retry."""


class AiBadResponse(AiError, ValueError):
    """An answer that cannot be used: no content, invalid JSON, or not matching the schema."""


@dataclass(frozen=True)
class _Retryable:
    """An attempt that failed in a way a later attempt may not."""

    reason: str
    retry_after_s: float | None = None


Sleep = Callable[[float], Awaitable[None]]


def chat_client_from(settings: AiSettings) -> "ChatClient | None":
    """The client of a composition root; None when AI is not configured."""
    return ChatClient(settings) if settings.configured else None


class ChatClient:
    """Chat completions with a timeout per attempt and bounded, backed-off retries."""

    def __init__(
        self,
        settings: AiSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._sleep = sleep

    async def complete_json(
        self,
        messages: Sequence[ChatMessage],
        schema: dict[str, Any],
        schema_name: str,
        *,
        accept: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The model's answer as JSON, asked for with strict structured output (`schema`)
        and checked against `accept` (default: `schema`). A looser `accept` lets a caller
        keep the usable parts of an answer from a server that does not enforce schemas."""
        json_schema = {"name": schema_name, "schema": schema, "strict": True}
        format_ = {"type": "json_schema", "json_schema": json_schema}
        content = await self._complete({**self._body(messages), "response_format": format_})
        answer = _parsed_json(content)
        problems = schema_problems(answer, schema if accept is None else accept)
        if problems or not isinstance(answer, dict):
            shown = "; ".join(problems[:5]) or "$: expected object"
            raise AiBadResponse(f"the model's answer does not match {schema_name!r}: {shown}")
        return answer

    async def complete_text(self, messages: Sequence[ChatMessage]) -> str:
        """The model's answer as plain text."""
        return (await self._complete(self._body(messages))).strip()

    def _body(self, messages: Sequence[ChatMessage]) -> dict[str, Any]:
        return {"model": self.settings.model, "messages": list(messages)}

    async def _complete(self, body: dict[str, Any]) -> str:
        if not self.settings.base_url:
            raise AiUnavailable("AI is not configured (AI_BASE_URL is not set)")
        started = time.monotonic()
        answer = await self._post_with_retries(self.settings.base_url, body)
        elapsed_ms = int((time.monotonic() - started) * 1000)
        log.info("ai_request_completed", model=self.settings.model, duration_ms=elapsed_ms)
        return _message_content(answer)

    async def _post_with_retries(self, base_url: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{base_url.rstrip('/')}/chat/completions"
        attempts = self.settings.max_retries + 1
        timeout = httpx.Timeout(self.settings.timeout_s)
        async with httpx.AsyncClient(timeout=timeout, transport=self._transport) as http:
            for attempt in range(1, attempts + 1):
                outcome = await self._attempt(http, url, body)
                if not isinstance(outcome, _Retryable):
                    return outcome
                last_failure = outcome
                if attempt < attempts:
                    await self._back_off(attempt, attempts, outcome)
        raise AiUnavailable(
            f"the AI service gave no answer after {attempts} attempt(s) "
            f"(last: {last_failure.reason})"
        )

    async def _attempt(
        self, http: httpx.AsyncClient, url: str, body: dict[str, Any]
    ) -> dict[str, Any] | _Retryable:
        """The decoded answer, a retryable failure, or AiUnavailable for a final one."""
        try:
            response = await http.post(url, json=body, headers=self._headers())
        except httpx.TimeoutException:
            return _Retryable(f"no answer within {self.settings.timeout_s:g}s")
        except httpx.TransportError as error:
            return _Retryable(f"{type(error).__name__}: {self._redacted(str(error))}")
        if response.is_success:
            return _json_body(response)
        reason = f"HTTP {response.status_code}: {self._redacted(response.text)}"
        if response.status_code in _RETRYABLE_STATUS or response.status_code >= 500:
            return _Retryable(reason, _retry_after(response))
        raise AiUnavailable(f"the AI service refused the request ({reason})")

    async def _back_off(self, attempt: int, attempts: int, failure: _Retryable) -> None:
        exponential = self.settings.backoff_s * 2 ** (attempt - 1)
        # Jitter, so workers that failed together do not all come back together.
        delay = failure.retry_after_s or exponential * random.uniform(0.5, 1.0)
        delay = min(delay, MAX_DELAY_S)
        log.warning(
            "ai_request_retry",
            attempt=attempt,
            attempts=attempts,
            reason=failure.reason,
            delay_s=round(delay, 2),
        )
        await self._sleep(delay)

    def _headers(self) -> dict[str, str]:
        key = self.settings.api_key
        return {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}

    def _redacted(self, text: str) -> str:
        """The service's text, short, and without the API key (some services echo it)."""
        key = self.settings.api_key.get_secret_value() if self.settings.api_key else ""
        shown = text.replace(key, "***") if key else text
        return shown.strip()[:MAX_ERROR_TEXT]


def _json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise AiBadResponse("the AI service's answer is not JSON") from None
    if not isinstance(body, dict):
        raise AiBadResponse("the AI service's answer is not a JSON object")
    return body


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare from these APIs: ignored)."""
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _message_content(body: dict[str, Any]) -> str:
    """choices[0].message.content, or AiBadResponse saying why there is none."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise AiBadResponse("the AI service's answer has no choices[0].message") from None
    if message.get("refusal"):
        raise AiBadResponse(f"the model refused: {str(message['refusal'])[:MAX_ERROR_TEXT]}")
    if choice.get("finish_reason") == "length":
        raise AiBadResponse("the model's answer was cut off (finish_reason: length)")
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        raise AiBadResponse("the model's answer is empty")
    return content


def _parsed_json(content: str) -> Any:
    try:
        return json.loads(_unfenced(content))
    except ValueError:
        raise AiBadResponse("the model's answer is not valid JSON") from None


def _unfenced(content: str) -> str:
    """Some compatible servers wrap JSON in a Markdown fence despite response_format."""
    text = content.strip()
    if text.startswith("```") and text.endswith("```"):
        text = text[3:-3].removeprefix("json")
    return text


# --- the JSON Schema subset the callers use ----------------------------------------------

_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_problems(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """What in `value` breaks `schema`: type, enum, minimum/maximum, required, properties,
    additionalProperties (false) and items; enough for strict structured output."""
    types = schema.get("type")
    wanted = [types] if isinstance(types, str) else list(types or [])
    if wanted and not any(_TYPE_CHECKS[name](value) for name in wanted):
        return [f"{where}: expected {' or '.join(wanted)}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: must be one of {schema['enum']}"]
    if isinstance(value, dict):
        return _object_problems(value, schema, where)
    if isinstance(value, list) and "items" in schema:
        items = [schema_problems(v, schema["items"], f"{where}[{i}]") for i, v in enumerate(value)]
        return [problem for found in items for problem in found]
    return _range_problems(value, schema, where)


def _object_problems(value: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    properties: dict[str, Any] = schema.get("properties", {})
    required = schema.get("required", [])
    problems = [f"{where}: {key!r} is missing" for key in required if key not in value]
    if schema.get("additionalProperties") is False:
        problems += [f"{where}: unexpected {key!r}" for key in value if key not in properties]
    for key, inner in properties.items():
        if key in value:
            problems += schema_problems(value[key], inner, f"{where}.{key}")
    return problems


def _range_problems(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    if not _TYPE_CHECKS["number"](value):
        return []
    if "minimum" in schema and value < schema["minimum"]:
        return [f"{where}: must be >= {schema['minimum']}"]
    if "maximum" in schema and value > schema["maximum"]:
        return [f"{where}: must be <= {schema['maximum']}"]
    return []
