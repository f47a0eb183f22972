"""Checks of the submission's JavaScript: language features used, methods not allowed.

Both match the syntax tree, so a feature or method named only in a comment or a string
does not count.
"""

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from ast_grep_py import Rule, SgNode
from pydantic import AfterValidator

from shared.grading.messages import say, say_count
from shared.grading.ports import GradeContext
from shared.grading.templates.base import TestFunction, TestOutcome
from shared.grading.templates.webdev.common import (
    failed,
    file_line,
    listed,
    looked_at,
    passed,
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
    label_key: str  # how a message names it: a catalogue key
    rule: Rule  # an ast-grep rule matching one use of it


def _any(*rules: Rule) -> Rule:
    return {"any": list(rules)}


def _calls(function: str) -> Rule:
    """`function(...)` called plainly or as a method (`window.fetch(...)`)."""
    return _any({"pattern": f"{function}($$$)"}, {"pattern": f"$OBJECT.{function}($$$)"})


FEATURES: dict[str, Feature] = {
    "arrow_functions": Feature("webdev.js.feature.arrow_functions", {"kind": "arrow_function"}),
    "let_const": Feature("webdev.js.feature.let_const", {"kind": "lexical_declaration"}),
    "template_literals": Feature(
        "webdev.js.feature.template_literals", {"kind": "template_string"}
    ),
    "async_await": Feature(
        "webdev.js.feature.async_await", _any({"kind": "await_expression"}, *_ASYNC_FUNCTIONS)
    ),
    "fetch": Feature("webdev.js.feature.fetch", _calls("fetch")),
    "addEventListener": Feature("webdev.js.feature.add_event_listener", _calls("addEventListener")),
    "classes": Feature(
        "webdev.js.feature.classes", _any({"kind": "class_declaration"}, {"kind": "class"})
    ),
    "modules": Feature(
        "webdev.js.feature.modules",
        _any({"kind": "import_statement"}, {"kind": "export_statement"}),
    ),
    "destructuring": Feature(
        "webdev.js.feature.destructuring",
        _any({"kind": "object_pattern"}, {"kind": "array_pattern"}),
    ),
    "spread": Feature("webdev.js.feature.spread", {"kind": "spread_element"}),
    "for_of": Feature(
        "webdev.js.feature.for_of",
        {"kind": "for_in_statement", "has": {"field": "operator", "regex": "^of$"}},
    ),
    "promises": Feature(
        "webdev.js.feature.promises",
        _any({"pattern": "new Promise($$$)"}, {"pattern": "$PROMISE.then($$$)"}),
    ),
    "query_selector": Feature(
        "webdev.js.feature.query_selector",
        _any(_calls("querySelector"), _calls("querySelectorAll")),
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


def _where(ctx: GradeContext, params: JsParams, sources: list[JsSource]) -> str:
    files = (source.file for source in sources)
    return looked_at(ctx, params.js_file, files, "webdev.js.your_javascript")


def _places(ctx: GradeContext, uses: list[JsMatch]) -> str:
    return listed(ctx, (file_line(ctx, use.file, use.line) for use in uses))


def js_uses_feature(ctx: GradeContext, params: FeatureParams) -> TestOutcome:
    sources = js_sources(ctx, params.js_file)
    where = _where(ctx, params, sources)
    feature = say(ctx, FEATURES[params.feature].label_key)
    if not sources:
        return failed(say(ctx, "webdev.js.none_found", where=where))
    uses = find(sources, FEATURES[params.feature].rule)
    if not uses:
        return failed(say(ctx, "webdev.js.feature_unused", feature=feature, where=where))
    places = _places(ctx, uses)
    return passed(say(ctx, "webdev.js.feature_used", feature=feature, where=where, places=places))


def uses_forbidden_method(ctx: GradeContext, params: ForbiddenMethodParams) -> TestOutcome:
    sources = js_sources(ctx, params.js_file)
    where = _where(ctx, params, sources)
    uses = _uses_of(params.method, sources)
    if not uses:
        return passed(say(ctx, "webdev.js.method_unused", method=params.method, where=where))
    return failed(
        say(
            ctx,
            "webdev.js.forbidden_method_used",
            method=params.method,
            where=where,
            times=say_count(ctx, "webdev.count.time", len(uses)),
            places=_places(ctx, uses),
        )
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
