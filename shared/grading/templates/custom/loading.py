"""Turning a config's custom modules into Templates, or into problems at their JSON paths.

Each test function's parameters model is derived from its signature, so `build_tree`
checks a custom test's parameters exactly as it checks a built-in one's.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from contracts.config import CustomTemplateSource, MemoryLimitMb, TimeLimitMs
from shared.grading.errors import CriteriaProblem
from shared.grading.ports import GradeContext
from shared.grading.templates.base import Template, TestFunction, TestOutcome
from shared.grading.templates.custom.reading import (
    REQUIRED,
    FunctionSpec,
    ParameterSpec,
    read_module,
)
from shared.grading.templates.custom.running import HarnessCall, run_check
from shared.grading.templates.registry import known_templates


class CustomParams(BaseModel):
    """What every custom test takes besides its function's own parameters."""

    # No protected namespaces: an instructor's parameter may well be called `model_name`.
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    time_limit_ms: TimeLimitMs | None = None
    memory_limit_mb: MemoryLimitMb | None = None


class OpenCustomParams(CustomParams):
    """For a function with `**params`: any other parameter is passed on as given."""

    model_config = ConfigDict(extra="allow")


@dataclass(frozen=True)
class CustomTemplates:
    """A config's usable custom templates by name, and the problems of the others.

    `unreadable` names the declared templates that could not be used; their problems say
    why, so a criteria config naming them needs no second complaint.
    """

    templates: dict[str, Template]
    unreadable: frozenset[str]
    problems: list[CriteriaProblem]


def custom_templates(sources: Sequence[CustomTemplateSource]) -> CustomTemplates:
    templates: dict[str, Template] = {}
    unreadable: set[str] = set()
    problems: list[CriteriaProblem] = []
    for index, source in enumerate(sources):
        loc: list[str | int] = ["custom_templates", index]
        name_problem = _name_problem(source.name, templates.keys() | unreadable)
        if name_problem is not None:
            problems.append({"loc": [*loc, "name"], "msg": name_problem})
        template, messages = _template(source.name, source.source)
        problems += [{"loc": [*loc, "source"], "msg": message} for message in messages]
        if template is None or name_problem is not None:
            unreadable.add(source.name)
        else:
            templates[source.name] = template
    return CustomTemplates(templates, frozenset(unreadable), problems)


def _name_problem(name: str, taken: set[str]) -> str | None:
    if name in known_templates():
        return f"{name!r} is a built-in template; give the custom template another name"
    if name in taken:
        return f"another custom template is already called {name!r}"
    return None


@lru_cache(maxsize=64)
def _template(name: str, source: str) -> tuple[Template | None, tuple[str, ...]]:
    """Cached: every step of a submission rebuilds the tree from the same config."""
    specs, problems = read_module(source, f"<{name}>")
    if problems:
        return None, tuple(problems)
    functions = {spec.name: _test_function(name, source, spec) for spec in specs}
    description = f"Custom template {name!r}: the instructor's own checks, run in the sandbox."
    return Template(name, requires_sandbox=True, functions=functions, description=description), ()


def _test_function(template: str, source: str, spec: FunctionSpec) -> TestFunction[Any]:
    params_model = _params_model(spec)

    async def run(ctx: GradeContext, params: CustomParams) -> TestOutcome:
        call = HarnessCall(template, source, spec.name, _arguments(params))
        return await run_check(ctx, call, params.time_limit_ms, params.memory_limit_mb)

    description = spec.description or f"The instructor's check {spec.name!r}."
    return TestFunction(spec.name, description, params_model, run)


def _params_model(spec: FunctionSpec) -> type[CustomParams]:
    base = OpenCustomParams if spec.accepts_more else CustomParams
    fields: dict[str, Any] = {p.name: _field(p) for p in spec.parameters}
    return create_model(f"{spec.name}_params", __base__=base, **fields)


def _field(parameter: ParameterSpec) -> tuple[Any, Any]:
    default = ... if parameter.default is REQUIRED else parameter.default
    return parameter.annotation, default


def _arguments(params: CustomParams) -> dict[str, Any]:
    """The function's own arguments: every parameter but the run's limits."""
    return params.model_dump(exclude=set(CustomParams.model_fields))
