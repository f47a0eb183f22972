"""Checks of the submission's JavaScript: language features used, methods not allowed.

By default (`match: "text"`) both search the raw text for what the test names, as the
reference autograder does, so a comment or a string counts too. With `match: "syntax"`
they match the syntax tree: a feature is one of FEATURES, a method is used as code.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from ast_grep_py import Rule, SgNode
from pydantic import AfterValidator, Field, ValidationInfo

from shared.grading.messages import say, say_count
from shared.grading.ports import GradeContext
from shared.grading.templates.base import TestFunction, TestOutcome
from shared.grading.templates.webdev.common import (
    Place,
    failed,
    find_text,
    literal,
    looked_at,
    passed,
    places,
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


def _feature_for_match(feature: str, info: ValidationInfo) -> str:
    """In text mode any text (the reference's rule); in syntax mode a feature with a rule."""
    if info.data.get("match") == "syntax" and feature not in FEATURES:
        raise ValueError(f"with match 'syntax', must be one of: {', '.join(FEATURES)}")
    return feature


def _method_for_match(method: str, info: ValidationInfo) -> str:
    """In text mode searched as written (the reference's rule); in syntax mode a name."""
    if info.data.get("match") != "syntax":
        return method
    cleaned = method.strip().removesuffix("()")
    if not _MEMBER_NAME.fullmatch(cleaned):
        raise ValueError("must be a name like 'eval', 'innerHTML' or 'document.write'")
    return cleaned


class FeatureParams(JsParams):
    feature: Annotated[str, Field(min_length=1), AfterValidator(_feature_for_match)] = Field(
        description="Text mode: the text to find, e.g. 'addEventListener'; syntax mode: one "
        f"of {', '.join(get_args(JsFeature))}."
    )


class ForbiddenMethodParams(JsParams):
    method: Annotated[str, Field(min_length=1), AfterValidator(_method_for_match)]


def _where(ctx: GradeContext, params: JsParams, sources: list[JsSource]) -> str:
    files = (source.file for source in sources)
    return looked_at(ctx, params.named_file, files, "webdev.js.your_javascript")


def js_uses_feature(ctx: GradeContext, params: FeatureParams) -> TestOutcome:
    sources = js_sources(ctx, params)
    where = _where(ctx, params, sources)
    if not sources:
        return failed(say(ctx, "webdev.js.none_found", where=where))
    if params.match == "text":
        # The reference: `feature in text`, so a comment or "prefetch" counts for "fetch".
        feature = repr(params.feature)
        uses: Sequence[Place] = find_text(sources, literal(params.feature))
    else:
        feature = say(ctx, FEATURES[params.feature].label_key)
        uses = find(sources, FEATURES[params.feature].rule)
    if not uses:
        return failed(say(ctx, "webdev.js.feature_unused", feature=feature, where=where))
    found_at = places(ctx, uses)
    return passed(say(ctx, "webdev.js.feature_used", feature=feature, where=where, places=found_at))


def uses_forbidden_method(ctx: GradeContext, params: ForbiddenMethodParams) -> TestOutcome:
    sources = js_sources(ctx, params)
    where = _where(ctx, params, sources)
    if params.match == "text":
        # The reference: `method in text`, comments and strings included.
        uses: Sequence[Place] = find_text(sources, literal(params.method))
    else:
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
            places=places(ctx, uses),
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
        "Passes when the JavaScript's text contains the feature, e.g. 'addEventListener' "
        f"(match: syntax: a language feature used as code: {', '.join(FEATURES)}).",
        FeatureParams,
        js_uses_feature,
    ),
    webdev_function(
        "uses_forbidden_method",
        "Fails when the JavaScript's text contains a method that is not allowed, e.g. "
        "'eval' (match: syntax: the method or property is used as code).",
        ForbiddenMethodParams,
        uses_forbidden_method,
    ),
)
