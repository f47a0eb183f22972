"""Intake settings (env prefix INTAKE_)."""

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings


class IntakeSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    max_files: int = Field(default=200, gt=0)
    max_file_bytes: int = Field(default=1024 * 1024, gt=0)
    max_total_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    # An archive expanding more than this many times its size is treated as a zip bomb.
    max_compression_ratio: int = Field(default=100, gt=0)
    # A request body larger than this is refused unread; None means 3 x max_total_bytes.
    max_request_bytes: int | None = Field(default=None, gt=0)
    max_config_bytes: int = Field(default=1024 * 1024, gt=0)
    # Requests per minute per API token (a burst of as many), in each intake process.
    rate_limit_per_minute: int = Field(default=600, gt=0)
    # POST /api/v1/execute runs at once in each intake process (each holds a sandbox).
    max_executions: int = Field(default=2, gt=0)
    # Standard Webhooks secret of POST /api/v1/webhooks/submissions (unset: refused).
    webhook_secret: SecretStr = SecretStr("")
    # GitHub pushes (POST /api/v1/webhooks/github): the webhook's secret (unset:
    # refused), the REST API to read pushed files from, and a token that may read them.
    github_secret: SecretStr = SecretStr("")
    github_api_url: str = "https://api.github.com"
    github_token: SecretStr = SecretStr("")
    # Pull runners (docs/runners.md): a claim's lease (the agent beats every third of
    # it), how many claims a job may lose before it fails, how often expiry is checked.
    runner_lease_s: float = Field(default=30.0, gt=0)
    runner_max_claims: int = Field(default=3, ge=1)
    runner_sweep_interval_s: float = Field(default=5.0, gt=0)
