"""GRADE gives each test the limits of the config, then of the grading settings; a test's own
limits win over both. Checked on the RunRequests a fake sandbox receives."""

from typing import Any

import pytest

from contracts.config import GradingConfig
from contracts.messages import StepRequest, SubmissionInfo
from contracts.sandbox import Manifest, RunRequest, RunResult, Verdict
from contracts.steps import StepName
from services.grading.handlers import GradingHandlers
from services.grading.logic import LimitDefaults, limit_defaults
from services.intake.logic import first_steps
from shared.db.blobs import MemoryBlobStore


class RecordingSandbox:
    def __init__(self) -> None:
        self.runs: list[RunRequest] = []

    async def run(self, lease_id: str, request: RunRequest) -> RunResult:
        self.runs.append(request)
        return RunResult(exit_code=0, stdout="ok\n", verdict=Verdict.OK)

    async def put_files(self, lease_id: str, manifest: Manifest, read_only: bool = False) -> None:
        return None

    async def read_file(self, lease_id: str, path: str) -> bytes | None:
        return None


TESTS = [
    {"name": "defaults", "type": "expect_output", "expected_output": "ok"},
    {
        "name": "own limits",
        "type": "expect_output",
        "expected_output": "ok",
        "time_limit_ms": 300,
        "memory_limit_mb": 32,
    },
]


async def graded_limits(
    handlers: GradingHandlers, blobs: MemoryBlobStore, **limits: Any
) -> list[tuple[int, int]]:
    """(cpu time, memory) of each run GRADE asked for, in the order of TESTS."""
    config = GradingConfig(
        id=1, external_assignment_id="limits", criteria_config={"base": {"tests": TESTS}}, **limits
    )
    manifest = await blobs.put_many({"main.py": b"print('ok')\n"})
    info = SubmissionInfo(id=7, attempt=1, language="python", manifest=manifest)
    request = StepRequest(
        plan=first_steps(config).plan,
        config=config,
        submission=info,
        context={StepName.SANDBOX.value: {"lease_id": "lease-1"}},
    )
    graded = await handlers.grade_step(request, StepName.GRADE)
    assert graded.output["final_score"] == 100
    assert isinstance(handlers.sandbox, RecordingSandbox)
    return [(run.cpu_time_limit_ms, run.memory_limit_mb) for run in handlers.sandbox.runs]


async def test_the_config_limits_reach_the_run_and_a_test_s_own_limits_win() -> None:
    blobs = MemoryBlobStore()
    handlers = GradingHandlers(
        RecordingSandbox(), blobs, default_time_limit_ms=5000, default_memory_limit_mb=256
    )
    runs = await graded_limits(handlers, blobs, time_limit_ms=1500, memory_limit_mb=96)
    assert runs == [(1500, 96), (300, 32)]


async def test_without_config_limits_the_grading_settings_apply() -> None:
    blobs = MemoryBlobStore()
    handlers = GradingHandlers(
        RecordingSandbox(), blobs, default_time_limit_ms=4000, default_memory_limit_mb=200
    )
    runs = await graded_limits(handlers, blobs, memory_limit_mb=128)
    assert runs == [(4000, 128), (300, 32)]


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"time_limit_ms": 0}, "greater than 0"),
        ({"time_limit_ms": 60_001}, "less than or equal to 60000"),
        ({"memory_limit_mb": 4097}, "less than or equal to 4096"),
    ],
)
def test_config_limits_are_bounded(limits: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GradingConfig(id=1, external_assignment_id="x", criteria_config={}, **limits)


def test_limit_defaults_prefer_the_config() -> None:
    service = LimitDefaults(time_limit_ms=5000, memory_limit_mb=256)
    config = GradingConfig(id=1, external_assignment_id="x", criteria_config={}, time_limit_ms=9)
    assert limit_defaults(config, service) == LimitDefaults(9, 256)
