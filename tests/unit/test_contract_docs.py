"""The committed JSON Schemas, AsyncAPI and OpenAPI documents match the code, and the
AsyncAPI document is valid against the official AsyncAPI schema (offline copies)."""

import json
from pathlib import Path
from typing import Any, get_args

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from contracts.handover import GradeHandOver, SandboxLease, StepContext
from contracts.messages import MESSAGE_TYPES, MessageType, StepRequest, SubmissionInfo, envelope
from contracts.results import ResultTree
from contracts.steps import StepName
from services.contract_docs import asyncapi, drift, rendered, schemas
from shared.messaging.topology import STEP_SERVICE, TRACKER_ACCEPTED_KEY, Topology, step_key

SPECS = Path(__file__).resolve().parents[1] / "data" / "asyncapi"


def no_network(uri: str) -> Resource[Any]:
    raise LookupError(f"refusing to fetch {uri}: the schemas must all be local")


def spec_validator(path: str, registry: Registry[Any] | None = None) -> Draft7Validator:
    schema = json.loads((SPECS / path).read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, registry=registry or Registry(retrieve=no_network))


def binding_validators() -> dict[str, Draft7Validator]:
    extension = DRAFT7.create_resource(
        json.loads((SPECS / "definitions/3.0.0/specificationExtension.json").read_text())
    )
    registry = Registry(retrieve=no_network).with_resource(extension.id() or "", extension)
    return {
        kind: spec_validator(f"bindings/amqp/0.2.0/{kind}.json", registry)
        for kind in ("channel", "operation", "message")
    }


def errors_of(validator: Draft7Validator, document: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_committed_contract_docs_match_the_code() -> None:
    assert drift() == [], "run `make contracts` and commit docs/contracts"


def test_the_asyncapi_document_is_valid_against_the_official_schema() -> None:
    assert errors_of(spec_validator("2.6.0.json"), asyncapi()) == []


def test_every_amqp_binding_is_valid_against_the_amqp_binding_schemas() -> None:
    validators = binding_validators()
    document = asyncapi()
    problems = []
    for channel in document["channels"].values():
        problems += errors_of(validators["channel"], channel["bindings"]["amqp"])
        problems += errors_of(validators["operation"], channel["subscribe"]["bindings"]["amqp"])
    for message in document["components"]["messages"].values():
        problems += errors_of(validators["message"], message["bindings"]["amqp"])
    assert problems == []


def test_a_document_that_breaks_the_spec_is_caught() -> None:
    broken = asyncapi()
    broken["servers"]["rabbitmq"].pop("protocol")
    broken["channels"]["step.GRADE"]["bindings"]["amqp"]["exchange"]["type"] = "bogus"

    assert errors_of(spec_validator("2.6.0.json"), broken) != []
    bindings = broken["channels"]["step.GRADE"]["bindings"]["amqp"]
    assert errors_of(binding_validators()["channel"], bindings) != []


def test_channels_are_the_topologys_routing_keys() -> None:
    channels = asyncapi()["channels"]
    topology = Topology()

    for step, service in STEP_SERVICE.items():
        channel = channels[step_key(step)]
        assert channel["bindings"]["amqp"]["exchange"]["name"] == topology.pipeline_exchange
        assert topology.queue(service) in channel["description"]
    assert TRACKER_ACCEPTED_KEY in channels
    assert topology.sandbox_rpc_queue in channels


def test_every_message_is_the_envelope_with_its_typed_data() -> None:
    messages = asyncapi()["components"]["messages"]

    assert set(messages) == set(MESSAGE_TYPES)
    payload = messages["step.requested.v1"]["payload"]["allOf"]
    assert payload[0] == {"$ref": "#/components/schemas/Envelope"}
    assert payload[1]["properties"]["data"] == {"$ref": "#/components/schemas/StepRequest"}


def test_a_real_step_request_validates_against_its_published_schema() -> None:
    context = StepContext().with_hand_over(StepName.SANDBOX, SandboxLease(lease_id="l1"))
    tree = ResultTree(final_score=50, children={})
    context = context.with_hand_over(
        StepName.GRADE, GradeHandOver(final_score=50, result_tree=tree)
    )
    info = SubmissionInfo(id=1, attempt=1, language="python", manifest={})
    config = {"id": 1, "external_assignment_id": "a", "criteria_config": {}}
    request = StepRequest.model_validate(
        {"plan": ["FOCUS"], "config": config, "submission": info, "context": context}
    )
    data = envelope(request, submission_id=1, attempt=1).data
    validator = Draft202012Validator(schemas()["step.requested.v1"])

    assert errors_of(validator, data) == []  # type: ignore[arg-type]
    data["context"]["SANDBOX"] = {"lease": 3}  # not a lease: the schema says so
    assert errors_of(validator, data) != []  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["openapi.json", "asyncapi.json", "envelope.schema.json"])
def test_every_document_is_rendered(name: str) -> None:
    assert name in rendered()


def test_the_message_type_names_are_the_registry_keys() -> None:
    assert get_args(MessageType) == tuple(MESSAGE_TYPES)
