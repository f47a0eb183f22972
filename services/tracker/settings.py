"""Tracker settings (env prefix TRACKER_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings


class TrackerSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="TRACKER_", extra="ignore")

    # A step whose worker has not beaten for this long (workers beat every 10 s), seen on
    # two sweeps in a row, is a stall: its attempt is marked INTERRUPTED.
    stuck_after_s: float = Field(default=120, gt=0)
    sweep_interval_s: float = Field(default=30, gt=0)
    # The last resort: an attempt with no step running and no event for this long (a
    # message parked for a redrive that never came) is ended too.
    abandoned_after_s: float = Field(default=6 * 3600, gt=0)
