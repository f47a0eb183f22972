"""Generates docs/contracts/: one JSON Schema per message type, an AsyncAPI 2.6
document of the channels, and intake's OpenAPI document. `make contracts` writes them;
a test fails on drift.

A composition root, like the CLI: it reads every service's contract.
Run: python -m services.contract_docs [--check]
"""

import json
import sys
from pathlib import Path
from typing import Annotated, Any, get_origin

from pydantic import TypeAdapter

from contracts.messages import MESSAGE_TYPES, Envelope, MessageType
from contracts.steps import EXECUTION_ORDER, SubmissionStatus
from services.intake.handlers import api
from shared.messaging.topology import (
    FAILURE_FEEDBACK_KEY,
    SANDBOX_RELEASE_KEY,
    STEP_SERVICE,
    TRACKER_ACCEPTED_KEY,
    TRACKER_FEEDBACK_KEY,
    Topology,
    result_key,
    status_key,
    step_key,
)

OUT = Path(__file__).resolve().parents[1] / "docs" / "contracts"
SCHEMAS = "#/components/schemas/"
AMQP = {"bindingVersion": "0.2.0"}
TOPOLOGY = Topology()  # the default namespace; a deployment's prefix replaces "autograder"


def schemas() -> dict[str, dict[str, Any]]:
    """One standalone JSON Schema per message type, the envelope and the criteria format."""
    # Imported here: the criteria format is documented beside the messages, but it is
    # the grading engine's, not a message contract.
    from shared.grading.criteria_schema import CriteriaSpec

    out = {"envelope": Envelope.model_json_schema(), "criteria": CriteriaSpec.model_json_schema()}
    for name, shape in MESSAGE_TYPES.items():
        out[name] = TypeAdapter(shape).json_schema()
    return out


def _schema_name(shape: Any) -> str:
    # The one union of models, sandbox.call.v1, is named after its alias.
    return "SandboxCall" if get_origin(shape) is Annotated else str(shape.__name__)


def component_schemas() -> dict[str, Any]:
    """Every model a message carries, as AsyncAPI components (refs inside the document)."""
    out: dict[str, Any] = {}
    for shape in (Envelope, *MESSAGE_TYPES.values()):
        schema = TypeAdapter(shape).json_schema(ref_template=SCHEMAS + "{model}")
        out.update(schema.pop("$defs", {}))
        out[_schema_name(shape)] = schema
    return {name: _asyncapi_discriminator(schema) for name, schema in out.items()}


def _asyncapi_discriminator(schema: Any) -> Any:
    """AsyncAPI 2.x names the discriminating property; pydantic gives OpenAPI's object."""
    if isinstance(schema, list):
        return [_asyncapi_discriminator(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    fixed = {key: _asyncapi_discriminator(value) for key, value in schema.items()}
    if isinstance(fixed.get("discriminator"), dict):
        fixed["discriminator"] = fixed["discriminator"]["propertyName"]
    return fixed


def message(name: MessageType) -> dict[str, Any]:
    """The message on the wire: the envelope, whose `data` is this type's payload."""
    data = {"$ref": SCHEMAS + _schema_name(MESSAGE_TYPES[name])}
    typed = {"type": "object", "properties": {"type": {"const": name}, "data": data}}
    return {
        "name": name,
        "title": name,
        "contentType": "application/json",
        "payload": {"allOf": [{"$ref": SCHEMAS + "Envelope"}, typed]},
        "bindings": {"amqp": {"messageType": name, "contentEncoding": "utf-8", **AMQP}},
    }


def _on_exchange(key: str, exchange: str, name: MessageType, queue: str) -> dict[str, Any]:
    exchange_binding = {"name": exchange, "type": "topic", "durable": True, "autoDelete": False}
    return {
        "description": f"Consumed from the queue {queue}.",
        "bindings": {"amqp": {"is": "routingKey", "exchange": exchange_binding, **AMQP}},
        "subscribe": _operation(key, name, mandatory=exchange == TOPOLOGY.pipeline_exchange),
    }


def _on_queue(key: str, queue: str, name: MessageType, *, private: bool) -> dict[str, Any]:
    flags = {"exclusive": private, "autoDelete": private, "durable": not private}
    return {
        "bindings": {"amqp": {"is": "queue", "queue": {"name": queue, **flags}, **AMQP}},
        "subscribe": _operation(key, name, mandatory=False),
    }


def _operation(key: str, name: MessageType, *, mandatory: bool) -> dict[str, Any]:
    words = key.replace("_", ".").replace("-", ".").split(".")
    return {
        "operationId": "receive" + "".join(word.capitalize() for word in words),
        "bindings": {"amqp": {"deliveryMode": 2, "mandatory": mandatory, **AMQP}},
        "message": {"$ref": f"#/components/messages/{name}"},
    }


def channels(t: Topology = TOPOLOGY) -> dict[str, Any]:
    """Every routing key and queue of shared/messaging/topology.py, with its message."""
    on_pipeline: list[tuple[str, MessageType, str]] = [
        *((step_key(s), "step.requested.v1", service) for s, service in STEP_SERVICE.items()),
        *((result_key(step), "step.completed.v1", "tracker") for step in EXECUTION_ORDER),
        *COMMANDS,
    ]
    out = {
        key: _on_exchange(key, t.pipeline_exchange, name, t.queue(service))
        for key, name, service in on_pipeline
    }
    for status in SubmissionStatus:
        key = status_key(status)
        out[key] = _on_exchange(key, t.status_exchange, "submission.status.v1", "of a dashboard")
    rpc = t.sandbox_rpc_queue
    out[rpc] = _on_queue(rpc, rpc, "sandbox.call.v1", private=False)
    out["sandbox.reply"] = _on_queue(
        "sandbox.reply", "(reply_to of the call)", "sandbox.reply.v1", private=True
    )
    return out


# The commands on the pipeline exchange: (routing key, message type, consuming queue).
COMMANDS: tuple[tuple[str, MessageType, str], ...] = (
    (TRACKER_ACCEPTED_KEY, "submission.accepted.v1", "tracker"),
    (TRACKER_FEEDBACK_KEY, "feedback.failure_rendered.v1", "tracker"),
    (FAILURE_FEEDBACK_KEY, "feedback.failure_requested.v1", "feedback"),
    (SANDBOX_RELEASE_KEY, "sandbox.release.v1", "sandbox-control"),
)


def asyncapi() -> dict[str, Any]:
    return {
        "asyncapi": "2.6.0",
        "info": {
            "title": "Autograder pipeline",
            "version": "1.0.0",
            "description": (
                "Every message is an Envelope whose `data` is the payload its `type` names. "
                "Channels are routing keys on the exchanges (or queues) of "
                "shared/messaging/topology.py; `subscribe` is what the consuming queue "
                "receives. Names carry the namespace prefix `autograder`."
            ),
        },
        "servers": {
            "rabbitmq": {
                "url": "amqp://127.0.0.1:5672/",
                "protocol": "amqp",
                "protocolVersion": "0-9-1",
                "description": "Set by AMQP_URL.",
            }
        },
        "defaultContentType": "application/json",
        "channels": channels(),
        "components": {
            "messages": {name: message(name) for name in MESSAGE_TYPES},
            "schemas": component_schemas(),
        },
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
