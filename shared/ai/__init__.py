"""A chat client for OpenAI-compatible APIs, shared by AI_BATCH (grading) and AI feedback."""

from shared.ai.client import (
    AiBadResponse,
    AiError,
    AiSettings,
    AiUnavailable,
    ChatClient,
    ChatMessage,
    chat_client_from,
)

__all__ = [
    "AiBadResponse",
    "AiError",
    "AiSettings",
    "AiUnavailable",
    "ChatClient",
    "ChatMessage",
    "chat_client_from",
]
