"""Grading settings (env prefix GRADING_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.ai.client import AiSettings
from shared.settings import CommonSettings


class GradingSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="GRADING_", extra="ignore")

    default_time_limit_ms: int = Field(default=5000, gt=0)
    default_memory_limit_mb: int = Field(default=256, gt=0)
    # Read from AI_BASE_URL, AI_API_KEY, AI_MODEL, ...; AI tests are errors when unset.
    ai: AiSettings = Field(default_factory=AiSettings)
