"""The Action's inputs, read from the standard Actions environment and checked at once.

A Docker action gets each input as `INPUT_<NAME>` (hyphens kept, upper case); the
reference's action also passed them under plain names (`TEMPLATE_PRESET`, ...). Both are
read. Every wrong input is one clear line; the Action then exits 2 before grading.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from contracts.config import SUPPORTED_LOCALES, Locale

# Every input action.yml declares, with its default (None: no default).
INPUTS: dict[str, str | None] = {
    "template-preset": "input_output",
    "feedback-type": "default",
    "include-feedback": "false",
    "custom-template": "",
    "execution-mode": "repo",
    "grading-config-id": "",
    "autograder-cloud-url": "",
    "autograder-cloud-token": "",
    "submission-language": "",
    "locale": "en",
    "github-token": "",
    "openai-key": "",
    "fail-on-failure": "true",
}
FEEDBACK_TYPES = ("default", "ai")


class InvalidInputs(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class GitHubContext:
    workspace: Path
    repository: str = ""
    sha: str = ""
    ref: str = ""
    run_id: str = ""
    run_attempt: str = "1"
    actor: str = ""
    api_url: str = "https://api.github.com"
    output: Path | None = None
    step_summary: Path | None = None


@dataclass(frozen=True)
class ActionInputs:
    template_preset: str
    feedback_type: str
    include_feedback: bool
    custom_template: str
    execution_mode: str
    grading_config_id: int | None
    cloud_url: str
    cloud_token: str
    submission_language: str
    locale: str
    github_token: str
    openai_key: str
    fail_on_failure: bool
    github: GitHubContext = field(default_factory=lambda: GitHubContext(Path(".")))

    @property
    def external(self) -> bool:
        return self.execution_mode == "external"


def raw_input(env: Mapping[str, str], name: str) -> str:
    """INPUT_TEMPLATE-PRESET, INPUT_TEMPLATE_PRESET or TEMPLATE_PRESET, in that order."""
    upper = name.upper()
    plain = upper.replace("-", "_")
    for key in (f"INPUT_{upper}", f"INPUT_{plain}", plain):
        if env.get(key, "").strip():
            return env[key].strip()
    return INPUTS[name] or ""


def read_inputs(env: Mapping[str, str] = os.environ) -> ActionInputs:
    raw = {name: raw_input(env, name) for name in INPUTS}
    problems: list[str] = []
    flags = {
        name: _flag(raw[name], name, problems) for name in ("include-feedback", "fail-on-failure")
    }
    mode = raw["execution-mode"]
    if mode not in ("repo", "external"):
        problems.append(f"execution-mode must be repo or external, not {mode!r}")
    if raw["feedback-type"] not in FEEDBACK_TYPES:
        problems.append(f"feedback-type must be one of {list(FEEDBACK_TYPES)}")
    locale = _locale(raw["locale"], problems)
    config_id = _external_problems(raw, problems) if mode == "external" else None
    github = _github_context(env, problems)
    if problems:
        raise InvalidInputs(problems)
    return ActionInputs(
        template_preset=raw["template-preset"],
        feedback_type=raw["feedback-type"],
        include_feedback=flags["include-feedback"],
        custom_template=raw["custom-template"],
        execution_mode=mode,
        grading_config_id=config_id,
        cloud_url=raw["autograder-cloud-url"].rstrip("/"),
        cloud_token=raw["autograder-cloud-token"],
        submission_language=raw["submission-language"].lower(),
        locale=locale,
        github_token=raw["github-token"] or env.get("GITHUB_TOKEN", ""),
        openai_key=raw["openai-key"],
        fail_on_failure=flags["fail-on-failure"],
        github=github,
    )


def _flag(value: str, name: str, problems: list[str]) -> bool:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    problems.append(f"{name} must be true or false, not {value!r}")
    return False


def _locale(value: str, problems: list[str]) -> str:
    try:
        return str(TypeAdapter(Locale).validate_python(value))
    except ValidationError:
        problems.append(f"locale must be one of {list(SUPPORTED_LOCALES)}, not {value!r}")
        return "en"


def _external_problems(raw: Mapping[str, str], problems: list[str]) -> int | None:
    for name in ("grading-config-id", "autograder-cloud-url", "autograder-cloud-token"):
        if not raw[name]:
            problems.append(f"{name} is required when execution-mode is external")
    url = raw["autograder-cloud-url"]
    if url and not url.startswith(("https://", "http://")):
        problems.append(f"autograder-cloud-url must start with https://, not {url!r}")
    value = raw["grading-config-id"]
    if value and not (value.isdigit() and 1 <= int(value) < 2**63):
        problems.append(f"grading-config-id must be an integer, not {value!r}")
        return None
    return int(value) if value else None


def _github_context(env: Mapping[str, str], problems: list[str]) -> GitHubContext:
    workspace = env.get("GITHUB_WORKSPACE", "")
    if not workspace or not Path(workspace).is_dir():
        problems.append(f"GITHUB_WORKSPACE must be the checked-out repository, not {workspace!r}")
    if not env.get("GITHUB_ACTOR"):
        problems.append("GITHUB_ACTOR is not set: it names the student")

    def path(name: str) -> Path | None:
        return Path(env[name]) if env.get(name) else None

    return GitHubContext(
        workspace=Path(workspace or "."),
        repository=env.get("GITHUB_REPOSITORY", ""),
        sha=env.get("GITHUB_SHA", ""),
        ref=env.get("GITHUB_REF", ""),
        run_id=env.get("GITHUB_RUN_ID", ""),
        run_attempt=env.get("GITHUB_RUN_ATTEMPT", "1"),
        actor=env.get("GITHUB_ACTOR", ""),
        api_url=env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/"),
        output=path("GITHUB_OUTPUT"),
        step_summary=path("GITHUB_STEP_SUMMARY"),
    )
