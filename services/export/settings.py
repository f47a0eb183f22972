"""Export settings (env prefix EXPORT_). The secret is never logged."""

from typing import Self

from pydantic import Field, PositiveInt, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings

# Never a usable secret: what an unset variable and the old example value give.
_PLACEHOLDER_SECRETS = {"", "change-me"}


class ExportSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="EXPORT_", extra="ignore")

    # Shared with the receivers: `whsec_<base64>` as Standard Webhooks writes them, or
    # any random string (used as its bytes).
    webhook_secret: SecretStr = SecretStr("")
    timeout_s: float = Field(default=10.0, gt=0)
    # The waits before each retry of a delivery that failed for a reason worth retrying
    # (EXPORT_RETRY_DELAYS_MS='[5000, 30000]'): after the last one, the delivery fails.
    retry_delays_ms: list[PositiveInt] = Field(
        default_factory=lambda: [5_000, 30_000, 120_000, 600_000, 1_800_000]
    )

    @model_validator(mode="after")
    def _secret_is_set_outside_development(self) -> Self:
        if self.env != "development" and self.webhook_secret.get_secret_value() in (
            _PLACEHOLDER_SECRETS
        ):
            raise ValueError(
                "EXPORT_WEBHOOK_SECRET is unset or a placeholder: set it to a random secret "
                "shared with the webhook's receiver (AUTOGRADER_ENV=development runs without)"
            )
        return self
