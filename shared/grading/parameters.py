"""A test's parameters: gathered from both config forms, then validated by its function.

Parameters may be given as `"parameters": [{"name": ..., "value": ...}]` (an object
`{name: value}` is accepted too) or as extra keys on the test object, or both at once;
the same name given both ways is an error. Every problem is reported at
`<test loc> + ["parameters", <name>, ...]`, whichever form the parameter came in.
"""

from collections.abc import Mapping
from typing import Any

from pydantic import AliasChoices, BaseModel, ValidationError
from pydantic_core import ErrorDetails

from shared.grading.errors import CriteriaProblem
from shared.grading.templates.base import TestFunction

Loc = list[str | int]
# Keys of a test object that describe the test itself; every other key is a parameter.
TEST_KEYS = frozenset({"name", "type", "file", "weight", "parameters"})
_LIST_SHAPE = '\'parameters\' must be a list of objects {"name": ..., "value": ...}'


def collect_parameters(
    test: Mapping[str, Any], loc: Loc, problems: list[CriteriaProblem]
) -> dict[str, Any]:
    """The test's parameters by name, from both forms; problems are appended."""
    listed = _listed_parameters(test.get("parameters", []), loc, problems)
    flat = {key: value for key, value in test.items() if key not in TEST_KEYS}
    for name in sorted(listed.keys() & flat.keys()):
        message = f"parameter {name!r} is given twice: in 'parameters' and as a key of the test"
        problems.append({"loc": [*loc, "parameters", name], "msg": message})
    return {**flat, **listed}


def validate_parameters(
    function: TestFunction[Any],
    parameters: dict[str, Any],
    loc: Loc,
    problems: list[CriteriaProblem],
) -> BaseModel | None:
    """The validated parameters, or None after appending one problem per mistake."""
    try:
        params: BaseModel = function.params_model.model_validate(parameters)
    except ValidationError as error:
        problems.extend(_from_pydantic(detail, function, loc) for detail in error.errors())
        return None
    return params


def _listed_parameters(raw: Any, loc: Loc, problems: list[CriteriaProblem]) -> dict[str, Any]:
    if isinstance(raw, dict):
        return dict(raw)
    if not isinstance(raw, list):
        problems.append({"loc": [*loc, "parameters"], "msg": _LIST_SHAPE})
        return {}
    parameters: dict[str, Any] = {}
    for index, item in enumerate(raw):
        item_loc: Loc = [*loc, "parameters", index]
        if not (isinstance(item, dict) and isinstance(item.get("name"), str) and "value" in item):
            problems.append({"loc": item_loc, "msg": _LIST_SHAPE})
        elif item["name"] in parameters:
            message = f"parameter {item['name']!r} is given twice in 'parameters'"
            problems.append({"loc": item_loc, "msg": message})
        else:
            parameters[item["name"]] = item["value"]
    return parameters


def _from_pydantic(detail: ErrorDetails, function: TestFunction[Any], loc: Loc) -> CriteriaProblem:
    reason = detail["msg"].removeprefix("Value error, ")
    if not detail["loc"]:  # a rule about several parameters at once
        return {"loc": [*loc, "parameters"], "msg": reason}
    name, *inner = detail["loc"]
    spellings = _spellings(function.params_model)
    if detail["type"] == "missing":
        message = f"missing required parameter {name!r} of {function.name}"
    elif detail["type"] == "extra_forbidden" and len(spellings.get(str(name), [])) > 1:
        # Two spellings of one parameter (the reference's name and ours) given at once.
        other = next(other for other in spellings[str(name)] if other != name)
        message = f"parameter {name!r} is given twice: {other!r} is the same parameter"
    elif detail["type"] == "extra_forbidden":
        known = ", ".join(spellings)
        message = f"unknown parameter {name!r} of {function.name}; known parameters: {known}"
    else:
        where = "".join(f"[{part!r}]" for part in inner)
        message = f"parameter {name!r}{where}: {reason}"
    return {"loc": [*loc, "parameters", name, *inner], "msg": message}


def _spellings(model: type[BaseModel]) -> dict[str, list[str]]:
    """Every name a parameter is accepted under -> all the names of that parameter."""
    out: dict[str, list[str]] = {}
    for field_name, field in model.model_fields.items():
        alias = field.validation_alias
        names = [field_name]
        if isinstance(alias, AliasChoices):
            names = [choice for choice in alias.choices if isinstance(choice, str)]
        for name in names:
            out[name] = names
    return out
