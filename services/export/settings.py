"""Export settings (env prefix EXPORT_). The secret is never logged."""

from typing import Self

from pydantic import SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings

# Never a usable secret: what an unset variable and the old example value give.
_PLACEHOLDER_SECRETS = {"", "change-me"}


class ExportSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="EXPORT_", extra="ignore")

    webhook_secret: SecretStr = SecretStr("")

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
