"""Settings every service shares; each service subclasses them with its own env prefix.

The common fields keep their plain names (AMQP_URL, DATABASE_URL, ...) whatever the
service prefix is, so one environment configures the whole stack.
"""

from typing import Literal

from pydantic import AliasChoices, AmqpDsn, Field, PositiveInt, PostgresDsn, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class LogSettings(BaseSettings):
    """What every process reads first, also the CLI's in-process grading (no broker)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", validation_alias=_env("AUTOGRADER_LOG_FORMAT")
    )
    log_level: str = Field(default="INFO", validation_alias=_env("AUTOGRADER_LOG_LEVEL"))


class CommonSettings(LogSettings):
    # Typed: a malformed URL stops the service at start, naming the variable.
    amqp_url: AmqpDsn = Field(
        default=AmqpDsn("amqp://guest:guest@127.0.0.1:5672/"), validation_alias=_env("AMQP_URL")
    )
    database_url: PostgresDsn = Field(
        default=PostgresDsn("postgresql://postgres@127.0.0.1:5432/test"),
        validation_alias=_env("DATABASE_URL"),
    )
    # Prefix of every exchange and queue; tests give each run its own.
    namespace: str = Field(default="autograder", validation_alias=_env("AUTOGRADER_NAMESPACE"))
    # PostgreSQL schema holding the tables; tests give each run its own.
    db_schema: str = Field(default="autograder", validation_alias=_env("AUTOGRADER_DB_SCHEMA"))
    prefetch: int = Field(default=8, ge=1, validation_alias=_env("AUTOGRADER_PREFETCH"))
    # Deliveries of one message before it is dead-lettered (quorum x-delivery-limit).
    delivery_limit: int = Field(default=5, ge=1, validation_alias=_env("AUTOGRADER_DELIVERY_LIMIT"))
    # How long a failed message waits before each retry (a delay queue each), so the
    # delivery limit spans minutes: a database restart is waited out, not dead-lettered.
    retry_delays_ms: list[PositiveInt] = Field(
        default_factory=lambda: [1_000, 5_000, 20_000, 60_000],
        min_length=1,
        validation_alias=_env("AUTOGRADER_RETRY_DELAYS_MS"),
    )
    # development tolerates what production refuses (an unset webhook secret, ...).
    env: Literal["production", "development"] = Field(
        default="production", validation_alias=_env("AUTOGRADER_ENV")
    )


def settings_problems(error: ValidationError) -> str:
    """A settings error as lines a person can act on: which variable, and what is wrong."""
    lines = []
    for problem in error.errors(include_url=False):
        field = ".".join(str(part) for part in problem["loc"])
        lines.append(f"  {_variable(error.title, field)}: {problem['msg']}")
    return "\n".join(lines)


def _variable(settings_name: str, field: str) -> str:
    """The environment variable of a settings field (`GRADING_DEFAULT_TIME_LIMIT_MS`)."""
    for settings in _subclasses(BaseSettings):
        if settings.__name__ == settings_name and field in settings.model_fields:
            return (str(settings.model_config.get("env_prefix", "")) + field).upper()
    return field or settings_name  # already the variable's name (an alias), or unknown


def _subclasses(cls: type[BaseSettings]) -> list[type[BaseSettings]]:
    direct = cls.__subclasses__()
    return direct + [deeper for sub in direct for deeper in _subclasses(sub)]
