"""Grading handlers.

Consumes: step.requested.v1 for STRUCTURAL_ANALYSIS, AI_BATCH, GRADE and FOCUS.
Publishes: step.completed.v1 (via the step worker), and the next step's work.
STRUCTURAL_ANALYSIS parses the submission's source files once and grades every
static_analysis test on those trees, handing the outcomes over (PrecomputedOutcomes).
GRADE builds the criteria tree from the config carried in the message, takes the
outcomes STRUCTURAL_ANALYSIS and AI_BATCH handed over, runs every other test in the
submission's sandbox and scores the tree; FOCUS ranks tests by points lost.
"""

from dataclasses import dataclass

from contracts.handover import FocusHandOver, GradeHandOver
from contracts.messages import StepRequest
from contracts.steps import StepName
from services.grading.logic import (
    LeasedRunner,
    LimitDefaults,
    decoded,
    grade_message,
    hand_over_outcomes,
    limit_defaults,
    structural_message,
    structural_outcomes,
    structural_summary,
    student_locale,
)
from services.grading.ports import BlobReader, SandboxClient
from shared.grading.criteria import config_tree
from shared.grading.ports import GradeContext
from shared.grading.scoring import focus, grade
from shared.grading.structural import parse_submission
from shared.pipeline import StepOutcome


@dataclass
class GradingHandlers:
    sandbox: SandboxClient
    blobs: BlobReader
    default_time_limit_ms: int = 5000
    default_memory_limit_mb: int = 256

    async def grade_step(self, request: StepRequest, step: StepName) -> StepOutcome:
        tree = config_tree(request.config)
        files = await self.blobs.read_manifest(request.submission.manifest)
        service = LimitDefaults(self.default_time_limit_ms, self.default_memory_limit_mb)
        limits = limit_defaults(request.config, service)
        context = GradeContext(
            language=request.submission.language,
            files=decoded(files),
            runner=self._runner(request),
            default_time_limit_ms=limits.time_limit_ms,
            default_memory_limit_mb=limits.memory_limit_mb,
            locale=student_locale(request),
        )
        result = await grade(tree, context, request.context.precomputed())
        graded = GradeHandOver(final_score=result.final_score, result_tree=result)
        output = graded.model_dump(mode="json")
        return StepOutcome.success(grade_message(result), output=output, context=graded)

    async def structural_step(self, request: StepRequest, step: StepName) -> StepOutcome:
        tree = config_tree(request.config)
        files = decoded(await self.blobs.read_manifest(request.submission.manifest))
        language = request.submission.language
        parsed = parse_submission(files, language)
        context = GradeContext(
            language=language,
            files=files,
            runner=None,
            parsed=parsed,
            locale=student_locale(request),
        )
        outcomes = await structural_outcomes(tree, context)
        return StepOutcome.success(
            structural_message(parsed),
            output=structural_summary(parsed, outcomes),
            context=hand_over_outcomes(outcomes),
        )

    def _runner(self, request: StepRequest) -> LeasedRunner | None:
        lease = request.context.sandbox
        return None if lease is None else LeasedRunner(self.sandbox, lease.lease_id)

    async def focus_step(self, request: StepRequest, step: StepName) -> StepOutcome:
        ranked = FocusHandOver(focus=focus(request.context.graded().result_tree))
        lost = sum(1 for item in ranked.focus if item.points_lost > 0)
        message = f"Focus computed: {lost} test(s) cost points"
        return StepOutcome.success(message, output=ranked.model_dump(mode="json"), context=ranked)
