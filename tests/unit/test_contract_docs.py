"""The committed JSON Schemas and AsyncAPI document match the pydantic models."""

from services.contract_docs import drift, rendered


def test_committed_contract_docs_match_the_models() -> None:
    assert drift() == [], "run `make contracts` and commit docs/contracts"


def test_every_message_type_has_a_schema_and_a_channel() -> None:
    files = rendered()
    assert "step.completed.v1.schema.json" in files
    assert '"step.completed.v1"' in files["asyncapi.json"]
