"""Feedback handlers.

Consumes: step.requested.v1 for FEEDBACK (the report of a graded submission),
          feedback.failure_requested.v1 (the text of a failed pipeline, asked by the tracker).
Publishes: step.completed.v1 (via the step worker), feedback.failure_rendered.v1.
"""

from dataclasses import dataclass
from typing import Protocol

from contracts.handover import FeedbackOutput
from contracts.messages import (
    Envelope,
    FailureFeedbackRendered,
    FailureFeedbackRequest,
    StepRequest,
)
from contracts.steps import StepName
from services.feedback.logic import choose_locale, plain_failure, render_failure, render_report
from shared.feedback_config import parse_feedback_config
from shared.messaging.topology import TRACKER_FEEDBACK_KEY
from shared.pipeline import StepOutcome


class Publisher(Protocol):
    async def publish(self, envelope: Envelope, routing_key: str) -> None: ...


async def feedback_step(request: StepRequest, step: StepName) -> StepOutcome:
    config = parse_feedback_config(request.config.feedback_config)
    report = render_report(
        request.context.graded().result_tree,
        request.context.ranked(),
        config,
        choose_locale(config, request.submission.locale),
    )
    output = FeedbackOutput(feedback=report).model_dump()
    return StepOutcome.success("Feedback generated", output=output)


@dataclass
class FailureFeedback:
    bus: Publisher

    async def on_failure_requested(self, message: Envelope) -> None:
        request = message.payload(FailureFeedbackRequest)
        text = render_failure(request.failed, request.language, request.locale)
        reply = message.caused(FailureFeedbackRendered(feedback=text))
        await self.bus.publish(reply, TRACKER_FEEDBACK_KEY)

    async def on_failure_given_up(self, message: Envelope, error: BaseException) -> None:
        """The tracker ends a failed attempt only once it has the text: when rendering it
        keeps failing, send the failed step's own message instead of leaving it open."""
        request = message.payload(FailureFeedbackRequest)
        text = plain_failure(request.failed)
        await self.bus.publish(
            message.caused(FailureFeedbackRendered(feedback=text)), TRACKER_FEEDBACK_KEY
        )
