"""A grading configuration as instructors write it (the reference web API's field names)."""

from typing import Any

from pydantic import Field, field_validator

from contracts.base import Contract

KNOWN_LANGUAGES = ("python", "java", "c", "cpp", "node")


class GradingConfigIn(Contract):
    """The body of POST /api/v1/configs and the file `autograder grade --config` reads."""

    external_assignment_id: str = Field(min_length=1, max_length=200)
    template_name: str | list[str] = "input_output"
    criteria_config: dict[str, Any]
    setup_config: dict[str, Any] = Field(default_factory=dict)
    feedback_config: dict[str, Any] | None = None
    languages: list[str] = Field(default_factory=lambda: ["python"], min_length=1)
    include_feedback: bool = True
    locale: str = "en"
    # When set, EXPORT posts the result there, signed with the export service's secret.
    export_webhook_url: str | None = Field(default=None, pattern=r"^https?://")

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
