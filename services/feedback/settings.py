"""Feedback settings: the common ones, and the AI service for AI-written feedback."""

from pydantic import Field

from shared.ai.client import AiSettings
from shared.settings import CommonSettings


class FeedbackSettings(CommonSettings):
    # Read from AI_BASE_URL, AI_API_KEY, AI_MODEL, ...; AI feedback is off when unset.
    ai: AiSettings = Field(default_factory=AiSettings)
