"""The setup config: per-language required files and setup commands, plus assets.

Shape (reference): {"python": {"required_files": [...], "setup_commands": ["...",
{"name": "...", "command": "..."}]}, "assets": [{"path": ..., "content": ...}]}.
Checked when a config is created, so a typo fails there and not at grading time.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contracts.config import KNOWN_LANGUAGES


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SetupCommand(_Strict):
    name: str = Field(min_length=1)
    command: str = Field(min_length=1)
    timeout_s: int = Field(default=60, gt=0, le=600)


class LanguageSetup(_Strict):
    required_files: list[str] = Field(default_factory=list)
    setup_commands: list[SetupCommand] = Field(default_factory=list)

    @field_validator("setup_commands", mode="before")
    @classmethod
    def _named(cls, commands: Any) -> Any:
        """A bare string is a command named after itself."""
        if not isinstance(commands, list):
            return commands
        return [{"name": c, "command": c} if isinstance(c, str) else c for c in commands]


class Asset(_Strict):
    """A file the instructor provides (test data, a harness), copied before setup."""

    path: str = Field(min_length=1)
    content: str
    read_only: bool = True


class SetupConfig(_Strict):
    languages: dict[str, LanguageSetup] = Field(default_factory=dict)
    assets: list[Asset] = Field(default_factory=list)

    def for_language(self, language: str) -> LanguageSetup:
        return self.languages.get(language, LanguageSetup())


def parse_setup_config(raw: dict[str, Any]) -> SetupConfig:
    """Raises pydantic's ValidationError; locations are relative to setup_config."""
    unknown = [k for k in raw if k != "assets" and k not in KNOWN_LANGUAGES]
    if unknown:
        raise ValueError(
            f"unknown key(s) {unknown} in setup_config; expected a language of "
            f"{list(KNOWN_LANGUAGES)} or 'assets'"
        )
    languages = {k: v for k, v in raw.items() if k != "assets"}
    return SetupConfig.model_validate({"languages": languages, "assets": raw.get("assets", [])})


__all__ = ["SetupConfig", "ValidationError", "parse_setup_config"]
