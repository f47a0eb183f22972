"""Sandbox settings (env prefix SANDBOX_)."""

from pathlib import Path
from typing import Literal

from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings


class SandboxSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_", extra="ignore")

    backend: Literal["local"] = "local"
    work_root: Path | None = None
