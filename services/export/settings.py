"""Export settings (env prefix EXPORT_). The secret is never logged."""

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings


class ExportSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="EXPORT_", extra="ignore")

    webhook_secret: SecretStr = SecretStr("change-me")
