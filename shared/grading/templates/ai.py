"""The `ai` template: criteria a language model judges by reading the submission.

Every `ai_check` test of a submission is graded in ONE model request by the AI_BATCH
step, which hands the outcomes to GRADE by test path. The test function's own `run`
is only reached when AI_BATCH did not run for the submission (a plan without it, or a
config changed in between); it cannot batch, so it reports a grader error instead of
calling the model once per test.
"""

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from shared.grading.messages import say
from shared.grading.ports import GradeContext
from shared.grading.templates.base import Template, TestFunction, TestOutcome

AI_CHECK_NAME = "ai_check"


class AiCheckParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    criterion: str = Field(
        min_length=1,
        # "prompt" is how instructors tend to write it; both mean the same.
        validation_alias=AliasChoices("criterion", "prompt"),
        description="what the model checks, in the instructor's words (also accepted as `prompt`)",
    )
    files: list[str] | None = Field(
        default=None,
        description="submission files the model reads for this test; "
        "default: every file (long files are truncated)",
    )


async def ai_check(ctx: GradeContext, params: AiCheckParams) -> TestOutcome:
    message = f"{say(ctx, 'ai.not_batched')} {say(ctx, 'common.not_the_students_fault')}"
    return TestOutcome(score=0, verdict="error", message=message)


AI_CHECK = TestFunction(
    name=AI_CHECK_NAME,
    description="A language model reads the submission and scores it (0-100) against the "
    "criterion, with feedback for the student. Graded by the AI_BATCH step.",
    params_model=AiCheckParams,
    run=ai_check,
)
AI = Template(
    name="ai",
    requires_sandbox=False,
    functions={AI_CHECK.name: AI_CHECK},
    description="Criteria judged by a language model reading the submission's files.",
)
