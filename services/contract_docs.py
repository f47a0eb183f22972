"""Generates docs/contracts/: one JSON Schema per message type, an AsyncAPI 2.6
document of the channels, and intake's OpenAPI document. `make contracts` writes them;
a test fails on drift.

A composition root, like the CLI: it reads every service's contract.
Run: python -m services.contract_docs [--check]
"""

import json
import sys
from pathlib import Path
from typing import Any

from contracts.messages import MESSAGE_TYPES, Envelope
from services.intake.handlers import api

OUT = Path(__file__).resolve().parents[1] / "docs" / "contracts"

# type -> (channel (routing key pattern on its exchange), who publishes, who consumes)
CHANNELS: dict[str, tuple[str, str, str]] = {
    "submission.accepted.v1": ("pipeline/tracker.accepted", "intake", "tracker"),
    "step.requested.v1": ("pipeline/step.{STEP}", "intake, step services", "step services"),
    "step.completed.v1": ("pipeline/result.{STEP}", "intake, step services", "tracker"),
    "submission.status.v1": ("status/submission.{status}", "tracker", "dashboards"),
    "feedback.failure_requested.v1": ("pipeline/feedback.failure", "tracker", "feedback"),
    "feedback.failure_rendered.v1": ("pipeline/tracker.feedback", "feedback", "tracker"),
    "sandbox.release.v1": ("pipeline/sandbox.release", "tracker", "sandbox"),
    "sandbox.call.v1": ("sandbox.rpc", "preflight, grading", "sandbox"),
    "sandbox.reply.v1": ("reply queue of the caller", "sandbox", "preflight, grading"),
}


def schemas() -> dict[str, dict[str, Any]]:
    # Imported here: the criteria format is documented beside the messages, but it is
    # the grading engine's, not a message contract.
    from shared.grading.criteria_schema import CriteriaSpec

    out = {"envelope": Envelope.model_json_schema(), "criteria": CriteriaSpec.model_json_schema()}
    for name, model in MESSAGE_TYPES.items():
        out[name] = model.model_json_schema()
    return out


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for name, (channel, publisher, consumer) in CHANNELS.items():
        channels[channel] = {
            "description": f"published by {publisher}; consumed by {consumer}",
            "subscribe": {
                "message": {
                    "name": name,
                    "contentType": "application/json",
                    "payload": {"$ref": f"{name}.schema.json"},
                    "description": "Wrapped in the envelope (envelope.schema.json) as `data`.",
                }
            },
        }
    return {
        "asyncapi": "2.6.0",
        "info": {"title": "Autograder pipeline", "version": "1.0.0"},
        "defaultContentType": "application/json",
        "channels": channels,
    }


def rendered() -> dict[str, str]:
    files = {f"{name}.schema.json": _dump(body) for name, body in schemas().items()}
    files["asyncapi.json"] = _dump(asyncapi())
    files["openapi.json"] = _dump(api().openapi())
    return files


def _dump(body: dict[str, Any]) -> str:
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def drift() -> list[str]:
    """Files whose committed text differs from what the models generate."""
    wanted = rendered()
    stale = [
        n for n, text in wanted.items() if not (OUT / n).exists() or (OUT / n).read_text() != text
    ]
    extra = [p.name for p in OUT.glob("*.json") if p.name not in wanted]
    return sorted(stale + extra)


def main() -> int:
    if "--check" in sys.argv:
        stale = drift()
        if stale:
            print(f"contracts drifted from docs/contracts: {stale}; run `make contracts`")
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):
        old.unlink()
    for name, text in rendered().items():
        (OUT / name).write_text(text)
    print(f"wrote {len(rendered())} files to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
