"""Every exchange, queue and routing key of the system, in one place.

- `<ns>.pipeline` (topic): step work is routed by `step.<STEP>`, step results by
  `result.<STEP>`, and the few commands (`sandbox.release`, `feedback.failure`,
  `tracker.*`) by their own keys.
- one durable quorum queue per service, bound to the keys it handles, with bounded
  redelivery (x-delivery-limit) and a dead-letter exchange `<ns>.dead` that routes to
  a dead queue per service (`<ns>.<service>.dead`).
- `<ns>.status` (topic): status events `submission.<status>`; dashboards bind their own
  queues to it.
- `<ns>.sandbox.rpc`: the sandbox service's request/reply queue.
"""

from dataclasses import dataclass

from contracts.steps import StepName

# Every service, in the order `serve all` starts them: the tracker is consuming before
# any step reports, intake opens the door last. The one list of service names.
SERVICE_NAMES = ("tracker", "sandbox", "preflight", "grading", "feedback", "export", "intake")

# The queues the services consume (intake consumes none). "sandbox-control" is the sandbox
# service's second queue: releases must never wait behind SANDBOX steps that are
# themselves waiting for a container a release would free.
SERVICE_QUEUES = (*(name for name in SERVICE_NAMES if name != "intake"), "sandbox-control")

STEP_SERVICE: dict[StepName, str] = {
    StepName.SANDBOX: "sandbox",
    StepName.PRE_FLIGHT: "preflight",
    StepName.AI_BATCH: "grading",
    StepName.STRUCTURAL_ANALYSIS: "grading",
    StepName.GRADE: "grading",
    StepName.FOCUS: "grading",
    StepName.FEEDBACK: "feedback",
}

SANDBOX_RELEASE_KEY = "sandbox.release"
FAILURE_FEEDBACK_KEY = "feedback.failure"
TRACKER_ACCEPTED_KEY = "tracker.accepted"
TRACKER_FEEDBACK_KEY = "tracker.feedback"
TRACKER_CANCEL_KEY = "tracker.cancel"
EXPORT_REQUESTED_KEY = "export.requested"
# How many times a message already waited out a failure (header of a retried copy).
RETRIES_HEADER = "x-autograder-retries"


def step_key(step: StepName) -> str:
    return f"step.{step.value}"


def result_key(step: StepName) -> str:
    return f"result.{step.value}"


def status_key(status: str) -> str:
    return f"submission.{status}"


def bindings(service: str) -> list[str]:
    """The routing keys a service's queue is bound to."""
    keys = [step_key(step) for step, owner in STEP_SERVICE.items() if owner == service]
    extra = {
        "sandbox-control": [SANDBOX_RELEASE_KEY],
        "feedback": [FAILURE_FEEDBACK_KEY],
        "export": [EXPORT_REQUESTED_KEY],
        "tracker": ["result.*", "tracker.*"],
    }
    return keys + extra.get(service, [])


@dataclass(frozen=True)
class Topology:
    namespace: str = "autograder"

    @property
    def pipeline_exchange(self) -> str:
        return f"{self.namespace}.pipeline"

    @property
    def status_exchange(self) -> str:
        return f"{self.namespace}.status"

    @property
    def dead_exchange(self) -> str:
        return f"{self.namespace}.dead"

    @property
    def sandbox_rpc_queue(self) -> str:
        return f"{self.namespace}.sandbox.rpc"

    def queue(self, service: str) -> str:
        return f"{self.namespace}.{service}"

    def dead_queue(self, service: str) -> str:
        return f"{self.namespace}.{service}.dead"

    def delay_queue(self, routing_key: str, delay_ms: int) -> str:
        """Where a message waits `delay_ms` before going back to `routing_key`."""
        return f"{self.namespace}.delay.{routing_key}.{delay_ms}"
