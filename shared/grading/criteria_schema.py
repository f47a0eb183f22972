"""The criteria format as pydantic models, used only to publish its JSON Schema
(docs/contracts/criteria.schema.json). Validation itself is done by `build_tree`,
which also checks each test's parameters against its template."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ParameterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Parameter")
    name: str
    value: Any


class TestSpec(BaseModel):
    """Parameters go in `parameters` (a list of {name, value}) or as extra keys."""

    model_config = ConfigDict(extra="allow", title="Test")
    name: str = Field(description="The test's name; also its test function unless `type` is given")
    type: str | None = Field(default=None, description="The test function (defaults to `name`)")
    file: str | None = None
    weight: float = Field(default=100, ge=0, description="Rescaled among siblings to sum to 100")
    parameters: list[ParameterSpec] | dict[str, Any] | None = None


class SubjectSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Subject")
    subject_name: str
    weight: float = Field(default=100, ge=0)
    tests: list[TestSpec] | None = None
    subjects: list["SubjectSpec"] | None = None
    subjects_weight: float | None = Field(
        default=None, ge=0, le=100, description="Share of subjects when a node has both"
    )


class CategorySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Category")
    weight: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="For bonus and penalty: their weight in the final score (required there)",
    )
    tests: list[TestSpec] | None = None
    subjects: list[SubjectSpec] | None = None
    subjects_weight: float | None = Field(default=None, ge=0, le=100)


class CriteriaSpec(BaseModel):
    """final = clamp(0, 100, base + bonus*bonus.weight/100 - (100-penalty)*penalty.weight/100)"""

    model_config = ConfigDict(extra="forbid", title="Criteria")
    test_library: str | None = Field(default=None, description="Accepted and ignored (reference)")
    base: CategorySpec
    bonus: CategorySpec | None = None
    penalty: CategorySpec | None = None
