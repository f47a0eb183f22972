"""The criteria tree: an instructor's criteria config, checked and ready to grade.

`build_tree` validates the whole config against the templates' test functions and
reports every problem at once (`InvalidCriteria.errors`, each with its JSON path).

Decisions beyond the reference format:
- `bonus` and `penalty` must state their `weight` (0..100): the points they can add or
  take away. A silent default would either do nothing or cost students points.
  The `weight` of `base` is ignored (base always counts fully).
- Unknown keys on categories and subjects are errors (typos like "subject" would
  otherwise silently drop a part of the grade); unknown test keys are parameters, which
  the test function rejects when it does not know them.
- `subjects_weight` is required (0..100) only when a node has both subjects and tests;
  otherwise it is ignored and stored as None.
- Weights of sibling subjects, and of sibling tests, are rescaled to sum to 100; when
  all are 0 they share equally.
- Paths: `<category>/<subject>/.../<test name>`, built depth-first with subjects before
  tests; a path already taken gets `#2`, `#3`, ... appended, so every path is unique.
- With several templates, a test function found in more than one is an error; the test
  then names its template: `"type": "<template>.<function>"`.
- A test's `file` is also given to its function as the parameter `file` when the
  function's parameters declare one (static_analysis checks only that file).
- `custom` holds the config's custom templates (templates/custom): a name in
  `template_names` is looked up there first. Their problems are reported at
  `custom_templates/<i>/...`; while one cannot be read, a test function that no template
  has is not reported again (it is most likely in the unreadable module).
"""

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel

from contracts.config import CustomTemplateSource, GradingConfigIn
from shared.grading.errors import CriteriaProblem, InvalidCriteria, UnknownTemplate
from shared.grading.parameters import Loc, collect_parameters, validate_parameters
from shared.grading.templates.base import Template, TestFunction
from shared.grading.templates.custom import CustomTemplates, custom_templates
from shared.grading.templates.registry import get_template

CATEGORY_NAMES = ("base", "bonus", "penalty")
# The reference puts the name of a test library here; templates replace it.
IGNORED_TOP_LEVEL_KEYS = frozenset({"test_library"})
_NODE_KEYS = frozenset({"weight", "tests", "subjects", "subjects_weight"})
_SUBJECT_KEYS = _NODE_KEYS | {"subject_name"}


@dataclass(frozen=True)
class TestNode:
    """One test to run. `weight` is its rescaled share among its sibling tests."""

    __test__: ClassVar[bool] = False  # not a pytest test class despite the name

    name: str
    type: str
    path: str
    weight: float
    file: str | None
    parameters: dict[str, Any]  # as the instructor wrote them, both forms merged
    params: BaseModel  # the same, validated by the function's params model
    function: TestFunction[Any]
    template: Template


@dataclass(frozen=True)
class CriteriaNode:
    """A category or a subject. A category's `weight` is its weight in the final formula;
    a subject's is its rescaled share among its sibling subjects."""

    kind: Literal["category", "subject"]
    name: str
    path: str
    weight: float
    subjects_weight: float | None
    subjects: tuple["CriteriaNode", ...]
    tests: tuple[TestNode, ...]

    def all_tests(self) -> Iterator[TestNode]:
        for subject in self.subjects:
            yield from subject.all_tests()
        yield from self.tests


@dataclass(frozen=True)
class CriteriaTree:
    """`categories` always has "base", and "bonus"/"penalty" when configured."""

    categories: dict[str, CriteriaNode]

    def tests(self) -> list[TestNode]:
        return [test for node in self.categories.values() for test in node.all_tests()]

    @property
    def requires_sandbox(self) -> bool:
        return any(test.template.requires_sandbox for test in self.tests())


def build_tree(
    criteria_config: Mapping[str, Any],
    template_names: Sequence[str],
    custom: Sequence[CustomTemplateSource] = (),
) -> CriteriaTree:
    """The checked tree; raises InvalidCriteria listing every problem in the config."""
    builder = _TreeBuilder(template_names, custom_templates(custom))
    tree = builder.tree(criteria_config)
    if builder.problems or tree is None:
        raise InvalidCriteria(builder.problems)
    return tree


def config_tree(config: GradingConfigIn) -> CriteriaTree:
    """build_tree for a whole config: its criteria, template names and custom templates."""
    return build_tree(config.criteria_config, config.template_names, config.custom_templates)


Child = TypeVar("Child", CriteriaNode, TestNode)


def rescaled(children: list[Child]) -> tuple[Child, ...]:
    """`children` with weights rescaled to sum to 100 (equal shares when all are 0)."""
    total = sum(child.weight for child in children)
    if total == 0:
        return tuple(replace(child, weight=100 / len(children)) for child in children)
    return tuple(replace(child, weight=100 * child.weight / total) for child in children)


def _is_number(value: Any) -> bool:
    # bool is an int in Python, but `"weight": true` is a mistake, not 1.
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value)


def _given(raw: Mapping[str, Any], key: str) -> bool:
    return raw.get(key) not in (None, [])


def _with_file(
    function: TestFunction[Any], parameters: dict[str, Any], file: str | None
) -> dict[str, Any]:
    """The parameters a function sees: the test's `file` too, when the function has one."""
    if file is None or "file" not in function.params_model.model_fields:
        return parameters
    return {**parameters, "file": file}


class _TreeBuilder:
    """Walks a criteria config once, building nodes and collecting every problem."""

    def __init__(self, template_names: Sequence[str], custom: CustomTemplates) -> None:
        self.problems: list[CriteriaProblem] = list(custom.problems)
        self._taken_paths: set[str] = set()
        self._custom = custom
        self._unreadable_in_use = bool(custom.unreadable & set(template_names))
        self._templates = self._load_templates(template_names)

    def tree(self, config: Any) -> CriteriaTree | None:
        loc: Loc = ["criteria_config"]
        if not isinstance(config, Mapping):
            self._report(loc, "criteria_config must be an object")
            return None
        for key in config:
            if key not in CATEGORY_NAMES and key not in IGNORED_TOP_LEVEL_KEYS:
                self._report(
                    [*loc, key], f"unknown category {key!r}; expected base, bonus, penalty"
                )
        if "base" not in config:
            self._report([*loc, "base"], "the 'base' category is required")
        categories = {
            name: self._category(name, config[name], [*loc, name])
            for name in CATEGORY_NAMES
            if name in config
        }
        return CriteriaTree({name: node for name, node in categories.items() if node is not None})

    def _category(self, name: str, raw: Any, loc: Loc) -> CriteriaNode | None:
        if not self._is_object(raw, loc, _NODE_KEYS, "a category"):
            return None
        weight = 100.0 if name == "base" else self._category_weight(raw, loc)
        return self._node("category", name, self._claim_path(None, name), weight, raw, loc)

    def _subject(self, raw: Any, loc: Loc, parent_path: str) -> CriteriaNode | None:
        if not self._is_object(raw, loc, _SUBJECT_KEYS, "a subject"):
            return None
        name = self._text(raw, "subject_name", loc, required=True) or "?"
        path = self._claim_path(parent_path, name)
        return self._node("subject", name, path, self._weight(raw, loc), raw, loc)

    def _node(
        self,
        kind: Literal["category", "subject"],
        name: str,
        path: str,
        weight: float,
        raw: Mapping[str, Any],
        loc: Loc,
    ) -> CriteriaNode:
        subjects = self._children(
            raw, "subjects", loc, lambda item, at: self._subject(item, at, path)
        )
        tests = self._children(raw, "tests", loc, lambda item, at: self._test(item, at, path))
        return CriteriaNode(
            kind=kind,
            name=name,
            path=path,
            weight=weight,
            subjects_weight=self._mixed_subjects_weight(raw, name, loc),
            subjects=rescaled(subjects),
            tests=rescaled(tests),
        )

    def _mixed_subjects_weight(self, raw: Mapping[str, Any], name: str, loc: Loc) -> float | None:
        """The subjects' share of a node with both subjects and tests; None for the others."""
        has_subjects, has_tests = _given(raw, "subjects"), _given(raw, "tests")
        if not has_subjects and not has_tests:
            self._report(loc, f"{name!r} needs at least one test or subject")
        mixed = has_subjects and has_tests
        share = self._percentage(raw, "subjects_weight", loc, required=mixed)
        return share if mixed else None

    def _children(
        self, raw: Mapping[str, Any], key: str, loc: Loc, build: Callable[[Any, Loc], Child | None]
    ) -> list[Child]:
        items = raw.get(key, [])
        if not isinstance(items, list):
            self._report([*loc, key], f"'{key}' must be a list")
            return []
        built = [build(item, [*loc, key, index]) for index, item in enumerate(items)]
        return [child for child in built if child is not None]

    def _test(self, raw: Any, loc: Loc, parent_path: str) -> TestNode | None:
        if not self._is_object(raw, loc, None, "a test"):
            return None
        name = self._text(raw, "name", loc, required=True)
        function_name = self._text(raw, "type", loc) or name
        file = self._text(raw, "file", loc)
        weight = self._weight(raw, loc)
        path = self._claim_path(parent_path, name or "?")
        parameters = collect_parameters(raw, loc, self.problems)
        if function_name is None:
            return None
        found = self._function(function_name, [*loc, "type" if "type" in raw else "name"])
        if found is None:
            return None
        template, function = found
        params = validate_parameters(
            function, _with_file(function, parameters, file), loc, self.problems
        )
        if params is None or name is None:
            return None
        return TestNode(
            name, function_name, path, weight, file, parameters, params, function, template
        )

    def _load_templates(self, names: Sequence[str]) -> list[Template]:
        if not names:
            self._report(["template_name"], "no template given")
        found = [self._template(name) for name in names if name not in self._custom.unreadable]
        return [template for template in found if template is not None]

    def _template(self, name: str) -> Template | None:
        if name in self._custom.templates:
            return self._custom.templates[name]
        try:
            return get_template(name)
        except UnknownTemplate as error:
            custom = ", ".join(sorted(self._custom.templates))
            self._report(["template_name"], f"{error}; custom: {custom}" if custom else str(error))
            return None

    def _function(self, name: str, loc: Loc) -> tuple[Template, TestFunction[Any]] | None:
        template_name, _, function_name = name.rpartition(".")
        owners = {
            template.name: template
            for template in self._templates
            if function_name in template.functions and template_name in ("", template.name)
        }
        if len(owners) == 1:
            (owner,) = owners.values()
            return owner, owner.functions[function_name]
        if owners:
            names = " and ".join(owners)
            qualified = f"{next(iter(owners))}.{function_name}"
            self._report(loc, f"test function {name!r} is in {names}; name one, e.g. {qualified!r}")
            return None
        if self._unreadable_in_use:
            return None
        known = sorted({f for template in self._templates for f in template.functions})
        where = ", ".join(template.name for template in self._templates) or "none"
        message = f"unknown test function {name!r}; known functions (templates: {where}): "
        self._report(loc, message + (", ".join(known) or "none"))
        return None

    def _claim_path(self, parent_path: str | None, name: str) -> str:
        wanted = name if parent_path is None else f"{parent_path}/{name}"
        path, copy = wanted, 1
        while path in self._taken_paths:
            copy += 1
            path = f"{wanted}#{copy}"
        self._taken_paths.add(path)
        return path

    def _is_object(self, raw: Any, loc: Loc, allowed: frozenset[str] | None, what: str) -> bool:
        if not isinstance(raw, Mapping):
            self._report(loc, f"{what} must be an object")
            return False
        for key in raw:
            if allowed is not None and key not in allowed:
                self._report(
                    [*loc, key], f"unknown key {key!r}; allowed: {', '.join(sorted(allowed))}"
                )
        return True

    def _text(
        self, raw: Mapping[str, Any], key: str, loc: Loc, required: bool = False
    ) -> str | None:
        value = raw.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            self._report([*loc, key], f"'{key}' must be a non-empty string")
            return None
        return value

    def _weight(self, raw: Mapping[str, Any], loc: Loc) -> float:
        weight = raw.get("weight", 100)
        if not _is_number(weight) or weight < 0:
            self._report([*loc, "weight"], "'weight' must be a number >= 0")
            return 0.0
        return float(weight)

    def _category_weight(self, raw: Mapping[str, Any], loc: Loc) -> float:
        return self._percentage(raw, "weight", loc, required=True) or 0.0

    def _percentage(
        self, raw: Mapping[str, Any], key: str, loc: Loc, required: bool
    ) -> float | None:
        if key not in raw:
            if required:
                self._report([*loc, key], f"'{key}' (0..100) is required here")
            return None
        value = raw[key]
        if not _is_number(value) or not 0 <= value <= 100:
            self._report([*loc, key], f"'{key}' must be a number from 0 to 100")
            return None
        return float(value)

    def _report(self, loc: Loc, message: str) -> None:
        self.problems.append({"loc": loc, "msg": message})
