"""What a runner job's log says, for people: each step's outcome, the output of a
setup command that failed, and each test's verdict, time and memory."""

from typing import Any

from contracts.failures import SetupCommandFailed
from contracts.messages import StepResult, utcnow
from contracts.steps import StepName
from shared.execution import tests_of

OUTPUT_SHOWN = 4000


class LogBook:
    """The job's log so far, as bytes: the flusher sends what the server does not have."""

    def __init__(self) -> None:
        self.data = bytearray()

    def say(self, line: str) -> None:
        stamp = utcnow().strftime("%H:%M:%S")
        self.data += f"{stamp} {line}\n".encode()

    def step(self, result: StepResult) -> None:
        self.say(
            f"{result.step.value}: {result.status.value} in {result.duration_ms} ms"
            f" - {result.message}"
        )
        for line in _details(result):
            self.say(f"  {line}")


def _details(result: StepResult) -> list[str]:
    details = result.error_details
    if isinstance(details, SetupCommandFailed):
        failed = details.failed_command
        lines = [f"$ {failed.command} (exit code {failed.exit_code})"]
        lines += [f"  | {line}" for line in _shown(failed.stdout + failed.stderr)]
        return lines
    if result.step is StepName.GRADE and isinstance(result.output.get("result_tree"), dict):
        return [_test_line(test) for test in tests_of(result.output["result_tree"])]
    return []


def _shown(text: str) -> list[str]:
    cut = text[-OUTPUT_SHOWN:]
    return cut.splitlines()


def _test_line(test: dict[str, Any]) -> str:
    line = f"{test['path']}: {test['verdict']} score {test['score']:g}"
    measured = test.get("measured")
    if measured:
        line += f", CPU {measured['cpu_ms']} ms, wall {measured['wall_ms']} ms"
        line += f", memory {measured['peak_memory_kb']} KB"
    return line
