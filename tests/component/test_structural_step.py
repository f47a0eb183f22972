"""STRUCTURAL_ANALYSIS then GRADE through the grading handlers, with in-memory fakes."""

from typing import Any

import pytest
from ast_grep_py import SgRoot

from contracts.config import GradingConfig, GradingConfigIn
from contracts.handover import PrecomputedOutcomes, SandboxLease, StepContext
from contracts.messages import StepRequest, SubmissionInfo
from contracts.sandbox import Manifest, RunRequest, RunResult, Verdict
from contracts.steps import StepName, StepStatus
from services.grading.handlers import GradingHandlers
from services.inprocess import grade_files
from services.intake.logic import first_steps
from services.sandbox.backends.local import LocalBackend
from shared.db.blobs import MemoryBlobStore
from shared.grading import structural
from shared.grading.templates import TestOutcome
from shared.pipeline import StepOutcome, hand_over

STATIC_TESTS = [
    {"name": "no_os", "type": "forbidden_import", "imports": ["os"]},
    {"name": "no_loops", "type": "forbidden_keyword", "keywords": ["loops"]},
    {"name": "uses_recursion", "type": "required_keyword", "keywords": ["recursion"]},
]
SOURCES = {
    "main.py": "from helpers import fact\nprint(fact(5))\n",
    "helpers.py": "def fact(n):\n    return 1 if n < 2 else n * fact(n - 1)\n",
    "README.md": "for i in range(3): import os",
}


class FakeSandbox:
    """Answers every run with the output a correct program prints."""

    def __init__(self, stdout: str) -> None:
        self.stdout = stdout
        self.runs: list[RunRequest] = []

    async def run(self, lease_id: str, request: RunRequest) -> RunResult:
        self.runs.append(request)
        return RunResult(exit_code=0, stdout=self.stdout, verdict=Verdict.OK, cpu_ms=5)

    async def put_files(self, lease_id: str, manifest: Manifest, read_only: bool = False) -> None:
        return None

    async def read_file(self, lease_id: str, path: str) -> bytes | None:
        return None


def grading_config(criteria: dict[str, Any], templates: list[str]) -> GradingConfig:
    return GradingConfig(
        id=1,
        external_assignment_id="structural",
        template_name=templates,
        criteria_config=criteria,
    )


async def request_for(
    config: GradingConfig, blobs: MemoryBlobStore, sources: dict[str, str]
) -> StepRequest:
    manifest = await blobs.put_many({path: text.encode() for path, text in sources.items()})
    info = SubmissionInfo(id=7, attempt=1, language="python", manifest=manifest)
    return StepRequest(plan=first_steps(config).plan, config=config, submission=info)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sources ast-grep parsed during the test."""
    parsed: list[str] = []

    def counting(source: str, language: str) -> SgRoot:
        parsed.append(source)
        return SgRoot(source, language)

    monkeypatch.setattr(structural, "parse_source", counting)
    return parsed


async def structural_then_grade(
    handlers: GradingHandlers, request: StepRequest
) -> tuple[StepOutcome, StepOutcome]:
    analysed = await handlers.structural_step(request, StepName.STRUCTURAL_ANALYSIS)
    graded_request = hand_over(request, StepName.STRUCTURAL_ANALYSIS, analysed)
    graded = await handlers.grade_step(graded_request, StepName.GRADE)
    return analysed, graded


async def test_a_static_only_config_plans_no_sandbox_and_grades_from_the_outcomes(
    parses: list[str],
) -> None:
    config = grading_config({"base": {"tests": STATIC_TESTS}}, ["static_analysis"])
    blobs = MemoryBlobStore()
    request = await request_for(config, blobs, SOURCES)
    assert StepName.SANDBOX not in request.plan
    assert StepName.STRUCTURAL_ANALYSIS in request.plan
    handlers = GradingHandlers(FakeSandbox(""), blobs)

    analysed, graded = await structural_then_grade(handlers, request)

    assert analysed.status is StepStatus.SUCCESS
    assert analysed.message == "Structural analysis completed: 2 file(s) parsed"
    assert analysed.output["files_parsed"] == ["helpers.py", "main.py"]
    assert isinstance(analysed.context, PrecomputedOutcomes)
    assert set(analysed.context.outcomes) == {
        "base/no_os",
        "base/no_loops",
        "base/uses_recursion",
    }
    assert len(parses) == 2  # once per source file, none in GRADE
    assert graded.output["final_score"] == 100


async def test_grade_uses_the_handed_over_outcomes_next_to_the_sandboxed_tests(
    parses: list[str],
) -> None:
    criteria = {
        "base": {"tests": [{"name": "expect_output", "expected_output": "120"}]},
        "penalty": {"weight": 40, "tests": STATIC_TESTS},
    }
    config = grading_config(criteria, ["input_output", "static_analysis"])
    blobs = MemoryBlobStore()
    sources = {**SOURCES, "main.py": "import os\n" + SOURCES["main.py"]}
    request = await request_for(config, blobs, sources)
    context = StepContext(SANDBOX=SandboxLease(lease_id="lease-1"))
    request = request.model_copy(update={"context": context})
    sandbox = FakeSandbox("120\n")

    analysed, graded = await structural_then_grade(GradingHandlers(sandbox, blobs), request)

    assert analysed.output["tests"]["penalty/no_os"] == "failed"
    assert len(sandbox.runs) == 1  # only expect_output ran in the sandbox
    assert len(parses) == 2
    # penalty = (0 + 100 + 100) / 3; final = 100 - (100 - 66.67) * 40/100 = 86.67
    assert graded.output["final_score"] == 86.67
    penalty = graded.output["result_tree"]["children"]["penalty"]
    assert "main.py line 1: imports 'os'" in penalty["tests"][0]["message"]


async def test_grade_also_takes_the_outcomes_ai_batch_handed_over() -> None:
    config = grading_config({"base": {"tests": STATIC_TESTS}}, ["static_analysis"])
    blobs = MemoryBlobStore()
    request = await request_for(config, blobs, SOURCES)
    from_ai = TestOutcome(score=25, verdict="failed", message="judged elsewhere")
    context = StepContext(AI_BATCH=PrecomputedOutcomes(outcomes={"base/no_os": from_ai}))
    request = request.model_copy(update={"context": context})

    graded = await GradingHandlers(FakeSandbox(""), blobs).grade_step(request, StepName.GRADE)

    tests = graded.output["result_tree"]["children"]["base"]["tests"]
    assert (tests[0]["score"], tests[0]["message"]) == (25, "judged elsewhere")
    assert [test["score"] for test in tests[1:]] == [100, 100]  # graded in GRADE itself


async def test_the_in_process_chain_runs_structural_analysis_before_grade() -> None:
    criteria = {
        "base": {"tests": [{"name": "expect_output", "expected_output": "120"}]},
        "penalty": {"weight": 40, "tests": STATIC_TESTS},
    }
    config = GradingConfigIn(
        external_assignment_id="structural",
        template_name=["input_output", "static_analysis"],
        criteria_config=criteria,
        include_feedback=False,
    )
    files = {path: text.encode() for path, text in SOURCES.items()}
    backend = LocalBackend()
    try:
        response = await grade_files(files, config, "python", backend)
    finally:
        await backend.close()
    assert response["status"] == "completed", response["pipeline_execution"]
    steps = [step["name"] for step in response["pipeline_execution"]["steps"]]
    assert steps.index("STRUCTURAL_ANALYSIS") < steps.index("GRADE")
    assert response["final_score"] == 100
