"""A grading configuration as instructors write it (the reference web API's field names)."""

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator

from contracts.base import Contract

KNOWN_LANGUAGES = ("python", "java", "c", "cpp", "node")
# Bounds what every step message carries: the config, custom modules included, rides along.
CUSTOM_TEMPLATE_MAX_BYTES = 64 * 1024
MAX_CUSTOM_TEMPLATES = 8
# Upper bounds of the default per-test limits a config may set.
MAX_TIME_LIMIT_MS = 60_000
MAX_MEMORY_LIMIT_MB = 4096
# The largest id PostgreSQL's bigint holds.
MAX_DB_ID = 2**63 - 1
SUPPORTED_LOCALES = ("en", "pt-BR")
_LOCALE_SPELLINGS = {"en": "en", "en-us": "en", "en-gb": "en", "pt": "pt-BR", "pt-br": "pt-BR"}


def _canonical_locale(value: object) -> object:
    """'pt_BR', 'pt-br', 'pt' -> 'pt-BR'; an unknown locale is refused, naming the known."""
    if not isinstance(value, str):
        return value
    canonical = _LOCALE_SPELLINGS.get(value.strip().replace("_", "-").lower())
    if canonical is None:
        raise ValueError(f"unknown locale {value!r}; supported: {list(SUPPORTED_LOCALES)}")
    return canonical


# The language students read feedback in.
Locale = Annotated[str, BeforeValidator(_canonical_locale)]
# A test's limits (a config's defaults, or a test's own): bounded the same everywhere.
TimeLimitMs = Annotated[int, Field(gt=0, le=MAX_TIME_LIMIT_MS, description="CPU time limit")]
MemoryLimitMb = Annotated[int, Field(gt=0, le=MAX_MEMORY_LIMIT_MB)]


class GitHubSource(Contract):
    """Where pushes for an assignment come from: repositories whose full name starts
    with `repository_prefix` (`school/hw1-`: one repository per student), on `branch`."""

    repository_prefix: str = Field(min_length=3, max_length=200, pattern=r"^[\w.-]+/[\w.-]*$")
    branch: str = Field(default="main", min_length=1, max_length=200)


# A runner label: what a machine offers (`python`, `gpu`, `matlab-r2024`).
RunnerLabel = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
MAX_RUNNER_LABELS = 16


class Execution(Contract):
    """Where SANDBOX..FOCUS run: in the services (`service`), or on a pull runner whose
    labels include every one of `labels` (`runner`; docs/runners.md)."""

    mode: Literal["service", "runner"] = "service"
    labels: list[RunnerLabel] = Field(default_factory=list, max_length=MAX_RUNNER_LABELS)
    # A runner job not done this long after it was queued fails (not the student's fault).
    timeout_s: int = Field(default=3600, ge=60, le=86_400)


class CustomTemplateSource(Contract):
    """An instructor's Python module of test functions, used as a template by its `name`.

    Intake only reads it (shared/grading/templates/custom); it runs in the sandbox only.
    """

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)
    source: str = Field(min_length=1)

    @field_validator("source")
    @classmethod
    def _bounded(cls, source: str) -> str:
        size = len(source.encode("utf-8"))
        if size > CUSTOM_TEMPLATE_MAX_BYTES:
            raise ValueError(f"source is {size} bytes; at most {CUSTOM_TEMPLATE_MAX_BYTES}")
        return source


class GradingConfigIn(Contract):
    """The body of POST /api/v1/configs and the file `autograder grade --config` reads."""

    external_assignment_id: str = Field(min_length=1, max_length=200)
    template_name: str | list[str] = "input_output"
    # Modules a config uses by listing their names in `template_name`.
    custom_templates: list[CustomTemplateSource] = Field(
        default_factory=list, max_length=MAX_CUSTOM_TEMPLATES
    )
    criteria_config: dict[str, Any]
    setup_config: dict[str, Any] = Field(default_factory=dict)
    feedback_config: dict[str, Any] | None = None
    # Unset: the languages setup_config names (its keys), or python when it names none.
    languages: list[str] = Field(min_length=1)
    include_feedback: bool = True
    locale: Locale = "en"
    # The limits of every test that runs the program and sets none of its own; unset,
    # the grading service's defaults (GRADING_DEFAULT_*) apply.
    time_limit_ms: TimeLimitMs | None = None
    memory_limit_mb: MemoryLimitMb | None = None
    # When set, every finished attempt (completed or failed) is delivered there, signed
    # per Standard Webhooks with the export service's secret; retried with backoff.
    export_webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    # Pushes to these repositories become submissions (POST /api/v1/webhooks/github).
    github: GitHubSource | None = None
    execution: Execution = Field(default_factory=Execution)

    @model_validator(mode="before")
    @classmethod
    def _languages_from_setup(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("languages") is None:
            setup = data.get("setup_config") or {}
            named = (
                [key for key in setup if key in KNOWN_LANGUAGES] if isinstance(setup, dict) else []
            )
            data = {**data, "languages": named or ["python"]}
        return data

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, languages: list[str]) -> list[str]:
        unknown = [lang for lang in languages if lang not in KNOWN_LANGUAGES]
        if unknown:
            raise ValueError(f"unknown language(s) {unknown}; known: {list(KNOWN_LANGUAGES)}")
        return languages

    @property
    def template_names(self) -> list[str]:
        names = self.template_name
        return [names] if isinstance(names, str) else list(names)


class GradingConfig(GradingConfigIn):
    """A stored, immutable version of a config; carried in step messages."""

    id: int
    version: int = 1


class GradingConfigUpdate(Contract):
    """PUT /api/v1/configs/...: the fields to change; the new version keeps the rest.
    An unknown field is refused (a typo would otherwise change nothing, silently)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    template_name: str | list[str] | None = None
    custom_templates: list[CustomTemplateSource] | None = None
    criteria_config: dict[str, Any] | None = None
    setup_config: dict[str, Any] | None = None
    feedback_config: dict[str, Any] | None = None
    languages: list[str] | None = None
    include_feedback: bool | None = None
    locale: Locale | None = None
    time_limit_ms: TimeLimitMs | None = None
    memory_limit_mb: MemoryLimitMb | None = None
    export_webhook_url: str | None = None
    github: GitHubSource | None = None
    execution: Execution | None = None
    external_assignment_id: str | None = None
