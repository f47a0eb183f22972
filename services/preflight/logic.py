"""Pure pre-flight checks: which required file is missing (and its near miss), what a
failed setup command reports. Texts for students are rendered by the feedback service
from these error_details (reference/pipeline-execution-tracking.txt)."""

from typing import Any

from contracts.sandbox import RunResult
from shared.setup_config import SetupCommand

# Enough to show the first compiler errors; the rest is noise for a student.
MAX_OUTPUT_CHARS = 4000


def missing_required_file(required: list[str], submitted: list[str]) -> dict[str, Any] | None:
    """error_details for the first required file not submitted (names are case-sensitive)."""
    present = set(submitted)
    for name in required:
        if name in present:
            continue
        details: dict[str, Any] = {
            "error_type": "required_file_missing",
            "phase": "required_files",
            "missing_file": name,
        }
        near = [path for path in submitted if path.lower() == name.lower()]
        if near:
            details["near_miss"] = near[0]
        return details
    return None


def truncate(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """Keep the head, where the first error is; say how much was cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [{len(text) - limit} more characters truncated]\n"


def setup_failure(command: SetupCommand, result: RunResult) -> dict[str, Any]:
    return {
        "error_type": "setup_command_failed",
        "phase": "setup_commands",
        "command_name": command.name,
        "failed_command": {
            "command": command.command,
            "exit_code": result.exit_code if result.exit_code is not None else -1,
            "stdout": truncate(result.stdout),
            "stderr": truncate(result.stderr),
        },
    }


def setup_failure_message(command: SetupCommand, result: RunResult) -> str:
    if result.verdict.value == "time_limit":
        return f"Setup command '{command.name}' exceeded its time limit"
    return f"Setup command '{command.name}' failed with exit code {result.exit_code}"
