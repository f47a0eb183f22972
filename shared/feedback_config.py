"""The feedback section of a grading config: what the student's report shows and how it sounds.

Every model forbids unknown keys, so a typo in an instructor's config (`show_scores`) is
rejected when the config is created instead of being silently ignored at grading time.
`parse_feedback_config` turns pydantic's errors into one message naming every bad key.
"""

from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from contracts.config import Locale
from shared.errors import AutograderError


class InvalidFeedbackConfig(AutograderError, ValueError):
    """The feedback config does not validate; the message names every offending key."""


class _StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OnlineContent(_StrictModel):
    """A learning resource, offered when a test it is linked to (by name or type) fails."""

    url: str = Field(min_length=1)
    description: str = ""
    linked_tests: list[str] = Field(default_factory=list)


class GeneralConfig(_StrictModel):
    report_title: str | None = None  # None: the localized default title
    show_score: bool = True
    show_passed_tests: bool = False
    add_report_summary: bool = True
    online_content: list[OnlineContent] = Field(default_factory=list)


class CategoryHeaders(_StrictModel):
    """Instructor headings per category; a missing one uses the localized default."""

    base: str | None = None
    bonus: str | None = None
    penalty: str | None = None


class DefaultModeConfig(_StrictModel):
    category_headers: CategoryHeaders = Field(default_factory=CategoryHeaders)


SolutionLevel = Literal["none", "hints", "full"]
# The reference autograder spells the levels "hint" and "detailed"; its configs stay valid.
_SOLUTION_ALIASES = {"hint": "hints", "detailed": "full"}


class AiConfig(_StrictModel):
    provide_solutions: SolutionLevel = "hints"
    feedback_tone: str = "friendly, encouraging and straight to the point"
    feedback_persona: str = "a patient teaching assistant"
    assignment_context: str = ""
    extra_orientations: str = ""
    # Accepted because reference-autograder configs carry it: files the AI may read.
    submission_files_to_read: list[str] = Field(default_factory=list)

    @field_validator("provide_solutions", mode="before")
    @classmethod
    def _reference_spelling(cls, value: object) -> object:
        return _SOLUTION_ALIASES.get(value, value) if isinstance(value, str) else value


class FeedbackConfig(_StrictModel):
    general: GeneralConfig = Field(default_factory=GeneralConfig)
    default: DefaultModeConfig = Field(default_factory=DefaultModeConfig)
    ai: AiConfig = Field(default_factory=AiConfig)
    mode: Literal["default", "ai"] = "default"
    locale: Locale | None = None  # None: the submission's locale


def parse_feedback_config(raw: Mapping[str, Any] | None) -> FeedbackConfig:
    """Validate an instructor's `feedback_config`; None or {} gives every default."""
    try:
        return FeedbackConfig.model_validate(dict(raw or {}))
    except ValidationError as error:
        problems = "; ".join(_describe(detail) for detail in error.errors())
        raise InvalidFeedbackConfig(f"invalid feedback_config: {problems}") from error


def _describe(detail: ErrorDetails) -> str:
    where = ".".join(str(part) for part in detail["loc"]) or "feedback_config"
    if detail["type"] != "extra_forbidden":
        return f"{where}: {detail['msg']}"
    owner = _model_at(detail["loc"][:-1])
    allowed = ", ".join(sorted(owner.model_fields)) if owner else "?"
    return f"unknown key {where!r} (allowed here: {allowed})"


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that validates the object at `loc` (list indexes are skipped)."""
    model: type[BaseModel] | None = FeedbackConfig
    for part in loc:
        if model is None:
            return None
        if isinstance(part, str):
            field = model.model_fields.get(part)
            model = _model_in(field.annotation) if field else None
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None
