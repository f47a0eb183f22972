"""PRE_FLIGHT with a fake sandbox: required files, assets, setup commands."""

from typing import Any

from contracts.config import GradingConfig
from contracts.messages import StepRequest, SubmissionInfo
from contracts.sandbox import FileRef, Manifest, RunRequest, RunResult, Verdict
from contracts.steps import StepName, StepStatus
from services.preflight.handlers import PreflightHandlers
from shared.db.blobs import MemoryBlobStore

REF = FileRef(sha256="0" * 64, size=1)


class FakeSandbox:
    def __init__(self, results: list[RunResult]) -> None:
        self.results = results
        self.calls: list[tuple[str, Any]] = []

    async def run(self, lease_id: str, request: RunRequest) -> RunResult:
        self.calls.append(("run", request.shell))
        return self.results.pop(0)

    async def put_files(self, lease_id: str, manifest: Manifest, read_only: bool = False) -> None:
        self.calls.append(("put_files", (sorted(manifest), read_only)))

    async def read_file(self, lease_id: str, path: str) -> bytes | None:
        return None


def request(setup: dict[str, Any], files: list[str], language: str = "java") -> StepRequest:
    config = GradingConfig(
        id=1,
        external_assignment_id="a",
        criteria_config={},
        setup_config=setup,
        languages=[language],
    )
    info = SubmissionInfo(id=1, attempt=1, language=language, manifest=dict.fromkeys(files, REF))
    return StepRequest(
        plan=[StepName.PRE_FLIGHT],
        config=config,
        submission=info,
        context={"SANDBOX": {"lease_id": "lease-1"}},
    )


def ran(exit_code: int = 0, stderr: str = "", verdict: Verdict = Verdict.OK) -> RunResult:
    return RunResult(exit_code=exit_code, stderr=stderr, verdict=verdict)


async def test_a_case_near_miss_is_named() -> None:
    handlers = PreflightHandlers(FakeSandbox([]), MemoryBlobStore())
    setup = {"java": {"required_files": ["Calculator.java"]}}
    outcome = await handlers.preflight_step(
        request(setup, ["calculator.java"]), StepName.PRE_FLIGHT
    )
    assert outcome.status is StepStatus.FAIL
    assert outcome.error_details is not None
    assert outcome.error_details.model_dump() == {
        "error_type": "required_file_missing",
        "phase": "required_files",
        "missing_file": "Calculator.java",
        "near_miss": "calculator.java",
    }


async def test_assets_are_copied_before_setup_commands_read_only_when_asked() -> None:
    sandbox = FakeSandbox([ran()])
    setup = {
        "java": {"setup_commands": ["javac Main.java"]},
        "assets": [
            {"path": "data/in.txt", "content": "1 2"},
            {"path": "scratch.txt", "content": "", "read_only": False},
        ],
    }
    outcome = await PreflightHandlers(sandbox, MemoryBlobStore()).preflight_step(
        request(setup, ["Main.java"]), StepName.PRE_FLIGHT
    )
    assert outcome.status is StepStatus.SUCCESS
    assert sandbox.calls == [
        ("put_files", (["data/in.txt"], True)),
        ("put_files", (["scratch.txt"], False)),
        ("run", "javac Main.java"),
    ]


async def test_the_first_failing_setup_command_ends_the_step_in_the_reference_shape() -> None:
    sandbox = FakeSandbox([ran(), ran(1, "Main.java:4: error: ';' expected"), ran()])
    setup = {
        "java": {
            "setup_commands": [
                "echo ok",
                {"name": "Compile Main.java", "command": "javac Main.java"},
                "never run",
            ]
        }
    }
    outcome = await PreflightHandlers(sandbox, MemoryBlobStore()).preflight_step(
        request(setup, ["Main.java"]), StepName.PRE_FLIGHT
    )
    assert outcome.message == "Setup command 'Compile Main.java' failed with exit code 1"
    assert outcome.error_details is not None
    assert outcome.error_details.model_dump() == {
        "error_type": "setup_command_failed",
        "phase": "setup_commands",
        "command_name": "Compile Main.java",
        "failed_command": {
            "command": "javac Main.java",
            "exit_code": 1,
            "stdout": "",
            "stderr": "Main.java:4: error: ';' expected",
        },
    }
    assert [c for c in sandbox.calls if c[0] == "run"] == [
        ("run", "echo ok"),
        ("run", "javac Main.java"),
    ]


async def test_a_setup_command_past_its_time_limit_says_so() -> None:
    sandbox = FakeSandbox([ran(None, verdict=Verdict.TIME_LIMIT)])  # type: ignore[arg-type]
    setup = {"java": {"setup_commands": [{"name": "Build", "command": "make", "timeout_s": 5}]}}
    outcome = await PreflightHandlers(sandbox, MemoryBlobStore()).preflight_step(
        request(setup, ["Main.java"]), StepName.PRE_FLIGHT
    )
    assert outcome.message == "Setup command 'Build' exceeded its time limit"
    assert outcome.error_details is not None
    assert outcome.error_details.model_dump()["failed_command"]["exit_code"] == -1
    assert outcome.error_details.model_dump()["failed_command"]["verdict"] == "time_limit"
