"""Grading settings (env prefix GRADING_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings


class GradingSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="GRADING_", extra="ignore")

    default_time_limit_ms: int = Field(default=5000, gt=0)
    default_memory_limit_mb: int = Field(default=256, gt=0)
