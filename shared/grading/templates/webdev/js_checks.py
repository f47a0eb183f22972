"""Checks of the submission's JavaScript: language features used, methods not allowed.

Both match the syntax tree, so a feature or method named only in a comment or a string
does not count.
"""

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from ast_grep_py import Rule, SgNode
from pydantic import AfterValidator

from shared.grading.ports import GradeContext
from shared.grading.templates.base import TestFunction, TestOutcome
from shared.grading.templates.webdev.common import (
    failed,
    listed,
    looked_at,
    passed,
    plural,
    webdev_function,
)
from shared.grading.templates.webdev.js import (
    JsMatch,
    JsParams,
    JsSource,
    find,
    js_sources,
    located,
    syntax_trees,
)

JsFeature = Literal[
    "arrow_functions",
    "let_const",
    "template_literals",
    "async_await",
    "fetch",
    "addEventListener",
    "classes",
    "modules",
    "destructuring",
    "spread",
    "for_of",
    "promises",
    "query_selector",
]
_MEMBER_NAME = re.compile(r"[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*")
_ASYNC_FUNCTION_KINDS = (
    "function_declaration",
    "function_expression",
    "arrow_function",
    "method_definition",
)


# A function is async when its text starts with the keyword: tree-sitter keeps it anonymous.
_ASYNC_FUNCTIONS: list[Rule] = [
    {"kind": kind, "regex": r"^(static\s+)?async\b"} for kind in _ASYNC_FUNCTION_KINDS
]


@dataclass(frozen=True)
class Feature:
    label: str  # how a message names it
    rule: Rule  # an ast-grep rule matching one use of it


def _any(*rules: Rule) -> Rule:
    return {"any": list(rules)}


def _calls(function: str) -> Rule:
    """`function(...)` called plainly or as a method (`window.fetch(...)`)."""
    return _any({"pattern": f"{function}($$$)"}, {"pattern": f"$OBJECT.{function}($$$)"})


FEATURES: dict[str, Feature] = {
    "arrow_functions": Feature("arrow functions", {"kind": "arrow_function"}),
    "let_const": Feature("let/const declarations", {"kind": "lexical_declaration"}),
    "template_literals": Feature("template literals", {"kind": "template_string"}),
    "async_await": Feature("async/await", _any({"kind": "await_expression"}, *_ASYNC_FUNCTIONS)),
    "fetch": Feature("fetch()", _calls("fetch")),
    "addEventListener": Feature("addEventListener()", _calls("addEventListener")),
    "classes": Feature("classes", _any({"kind": "class_declaration"}, {"kind": "class"})),
    "modules": Feature(
        "modules (import/export)", _any({"kind": "import_statement"}, {"kind": "export_statement"})
    ),
    "destructuring": Feature(
        "destructuring", _any({"kind": "object_pattern"}, {"kind": "array_pattern"})
    ),
    "spread": Feature("the spread operator (...)", {"kind": "spread_element"}),
    "for_of": Feature(
        "for...of loops",
        {"kind": "for_in_statement", "has": {"field": "operator", "regex": "^of$"}},
    ),
    "promises": Feature(
        "promises", _any({"pattern": "new Promise($$$)"}, {"pattern": "$PROMISE.then($$$)"})
    ),
    "query_selector": Feature(
        "querySelector()", _any(_calls("querySelector"), _calls("querySelectorAll"))
    ),
}


def _member_name(method: str) -> str:
    cleaned = method.strip().removesuffix("()")
    if not _MEMBER_NAME.fullmatch(cleaned):
        raise ValueError("must be a name like 'eval', 'innerHTML' or 'document.write'")
    return cleaned


class FeatureParams(JsParams):
    feature: JsFeature


class ForbiddenMethodParams(JsParams):
    method: Annotated[str, AfterValidator(_member_name)]


def _where(params: JsParams, sources: list[JsSource]) -> str:
    return looked_at(params.js_file, (source.file for source in sources), "JavaScript")


def js_uses_feature(ctx: GradeContext, params: FeatureParams) -> TestOutcome:
    sources = js_sources(ctx, params.js_file)
    where = _where(params, sources)
    feature = FEATURES[params.feature]
    if not sources:
        return failed(f"No JavaScript was found in {where}: no .js file and no inline <script>.")
    uses = find(sources, feature.rule)
    if not uses:
        return failed(f"No use of {feature.label} was found in {where}.")
    return passed(f"Found {feature.label} in {where}: {listed(str(use) for use in uses)}.")


def uses_forbidden_method(ctx: GradeContext, params: ForbiddenMethodParams) -> TestOutcome:
    sources = js_sources(ctx, params.js_file)
    where = _where(params, sources)
    uses = _uses_of(params.method, sources)
    if not uses:
        return passed(f"No use of {params.method} was found in {where}.")
    return failed(
        f"{params.method} is not allowed, but {where} uses it {plural(len(uses), 'time')}: "
        f"{listed(str(use) for use in uses)}."
    )


def _uses_of(name: str, sources: list[JsSource]) -> list[JsMatch]:
    """Where `name` ("eval", "innerHTML", "document.write") is used as code."""
    last = name.rpartition(".")[2]
    rule: Rule = {
        "any": [{"kind": "identifier"}, {"kind": "property_identifier"}],
        "regex": f"^{re.escape(last)}$",
    }
    return [
        located(source, node)
        for source, root in syntax_trees(sources)
        for node in root.find_all(**rule)
        if "." not in name or _ends_member(node, name)
    ]


def _ends_member(node: SgNode, dotted_name: str) -> bool:
    """Whether `node` ends a member expression spelled `dotted_name` (`a.document.write`
    ends `document.write`)."""
    parent = node.parent()
    if parent is None or parent.kind() != "member_expression":
        return False
    spelled = re.sub(r"\s|\?", "", parent.text())  # `a ?. b` is `a.b` here
    return spelled == dotted_name or spelled.endswith(f".{dotted_name}")


JS_FUNCTIONS: tuple[TestFunction[Any], ...] = (
    webdev_function(
        "js_uses_feature",
        f"Passes when the JavaScript uses a language feature: {', '.join(FEATURES)}.",
        FeatureParams,
        js_uses_feature,
    ),
    webdev_function(
        "uses_forbidden_method",
        "Fails when the JavaScript uses a method or property that is not allowed "
        "(e.g. eval, document.write, innerHTML).",
        ForbiddenMethodParams,
        uses_forbidden_method,
    ),
)
