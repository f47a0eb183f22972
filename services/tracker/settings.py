"""Tracker settings (env prefix TRACKER_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings


class TrackerSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="TRACKER_", extra="ignore")

    # A pipeline with no new step result for this long is marked INTERRUPTED.
    stuck_after_s: float = Field(default=600, gt=0)
    sweep_interval_s: float = Field(default=30, gt=0)
