"""Pure pre-flight checks: which required file is missing (and its near miss), what a
failed setup command reports. Texts for students are rendered by the feedback service
from these error_details (reference/pipeline-execution-tracking.txt)."""

from contracts.failures import FailedCommand, RequiredFileMissing, SetupCommandFailed
from contracts.sandbox import RunResult, Verdict
from shared.setup_config import SetupCommand

# Enough to show the first compiler errors; the rest is noise for a student.
MAX_OUTPUT_CHARS = 4000


def missing_required_file(required: list[str], submitted: list[str]) -> RequiredFileMissing | None:
    """The first required file not submitted (names are case-sensitive), and its near miss."""
    present = set(submitted)
    for name in required:
        if name in present:
            continue
        near = [path for path in submitted if path.lower() == name.lower()]
        return RequiredFileMissing(missing_file=name, near_miss=near[0] if near else None)
    return None


def truncate(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """Keep the head, where the first error is; say how much was cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [{len(text) - limit} more characters truncated]\n"


def setup_failure(command: SetupCommand, result: RunResult) -> SetupCommandFailed:
    limit = None if result.verdict in (Verdict.OK, Verdict.RUNTIME_ERROR) else result.verdict
    failed = FailedCommand(
        command=command.command,
        exit_code=result.exit_code if result.exit_code is not None else -1,
        stdout=truncate(result.stdout),
        stderr=truncate(result.stderr),
        verdict=limit,
    )
    return SetupCommandFailed(command_name=command.name, failed_command=failed)


def setup_failure_message(command: SetupCommand, result: RunResult) -> str:
    if result.verdict is Verdict.TIME_LIMIT:
        return f"Setup command '{command.name}' exceeded its time limit"
    return f"Setup command '{command.name}' failed with exit code {result.exit_code}"
