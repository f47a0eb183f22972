"""Grading glue that has no I/O: the program runner bound to one lease, messages, and the
test outcomes steps hand over to GRADE (STRUCTURAL_ANALYSIS computes its own here)."""

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from contracts.config import GradingConfigIn
from contracts.handover import PrecomputedOutcomes
from contracts.messages import StepRequest
from contracts.results import ResultTree
from contracts.sandbox import RunRequest, RunResult
from services.grading.ports import SandboxClient
from shared.feedback_config import parse_feedback_config
from shared.grading.criteria import CriteriaTree
from shared.grading.ports import GradeContext
from shared.grading.structural import ParsedSubmission
from shared.grading.templates.base import TestOutcome
from shared.grading.templates.static_analysis import STATIC_ANALYSIS


@dataclass(frozen=True)
class LeasedRunner:
    """The grading engine's ProgramRunner, running in one submission's sandbox."""

    sandbox: SandboxClient
    lease_id: str

    async def run(self, request: RunRequest) -> RunResult:
        return await self.sandbox.run(self.lease_id, request)

    async def read_file(self, path: str) -> bytes | None:
        return await self.sandbox.read_file(self.lease_id, path)


class LimitDefaults(NamedTuple):
    """The limits of a test that sets none of its own."""

    time_limit_ms: int
    memory_limit_mb: int


def limit_defaults(config: GradingConfigIn, service: LimitDefaults) -> LimitDefaults:
    """The config's default limits where it sets them, else the grading service's."""
    return LimitDefaults(
        time_limit_ms=config.time_limit_ms or service.time_limit_ms,
        memory_limit_mb=config.memory_limit_mb or service.memory_limit_mb,
    )


def student_locale(request: StepRequest) -> str:
    """The instructor's feedback locale when set, else the submission's."""
    configured = parse_feedback_config(request.config.feedback_config).locale
    return configured or request.submission.locale


def decoded(files: dict[str, bytes]) -> dict[str, str]:
    return {path: content.decode("utf-8", errors="replace") for path, content in files.items()}


def grade_message(tree: ResultTree) -> str:
    return f"Grading completed: {tree.final_score:g}/100"


def hand_over_outcomes(outcomes: dict[str, TestOutcome]) -> PrecomputedOutcomes:
    """What STRUCTURAL_ANALYSIS and AI_BATCH hand over to GRADE."""
    return PrecomputedOutcomes(outcomes=outcomes)


async def structural_outcomes(tree: CriteriaTree, ctx: GradeContext) -> dict[str, TestOutcome]:
    """The outcome of every static_analysis test, all reading ctx's one parse."""
    outcomes = {}
    for test in tree.tests():
        if test.template is not STATIC_ANALYSIS:
            continue
        # A check that crashes is left out: GRADE runs it again and reports the grader
        # error the way it reports every other one.
        with contextlib.suppress(Exception):
            outcomes[test.path] = await test.function.run(ctx, test.params)
    return outcomes


def structural_message(parsed: ParsedSubmission) -> str:
    return f"Structural analysis completed: {len(parsed.files)} file(s) parsed"


def structural_summary(
    parsed: ParsedSubmission, outcomes: Mapping[str, TestOutcome]
) -> dict[str, Any]:
    return {
        "language": parsed.language,
        "files_parsed": sorted(parsed.files),
        "syntax_errors": parsed.with_syntax_errors(),
        "unreadable": dict(parsed.unreadable),
        "tests": {path: outcome.verdict for path, outcome in outcomes.items()},
    }
