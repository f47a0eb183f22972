"""Checks of the submission's CSS: declared properties, media queries, flexbox, overuse.

By default (`match: "text"`) each check applies the reference autograder's rule to the
raw text, comments included, so existing criteria grade alike. `match: "syntax"` counts
only what the parsed CSS declares.
"""

import re
from typing import Annotated, Any

from pydantic import AfterValidator, AliasChoices, Field, ValidationInfo

from shared.grading.messages import say, say_count
from shared.grading.ports import GradeContext
from shared.grading.templates.base import TestFunction, TestOutcome
from shared.grading.templates.webdev.common import (
    NonEmptyText,
    RequiredCount,
    TextHit,
    failed,
    file_line,
    find_text,
    listed,
    literal,
    looked_at,
    outcome,
    passed,
    places,
    share_score,
    webdev_function,
)
from shared.grading.templates.webdev.css import (
    CssParams,
    CssSource,
    Declaration,
    comparable_value,
    css_sources,
    declarations,
    media_queries,
    required_css,
    without_comments,
)

_PROPERTY_NAME = re.compile(r"-{0,2}[a-z][a-z0-9-]*")
_FLEX_CONTAINERS = ("flex", "inline-flex")
# The reference's patterns. Its flexbox one is widened only after the match starts
# ("flex-" -> "flex-direction"), so it finds the same places and messages can name them.
_MEDIA_TEXT = re.compile(r"@media\s+[^{]+\{")
_FLEX_TEXT = re.compile(r"\b(?:display\s*:\s*flex[\w-]*|flex-[\w-]*)")


def _property_for_match(name: str, info: ValidationInfo) -> str:
    """In syntax mode a property is compared with parsed names, so it must be one; in text
    mode it is searched as written, like the reference does."""
    if info.data.get("match") != "syntax":
        return name
    cleaned = name.strip().lower()
    if not _PROPERTY_NAME.fullmatch(cleaned):
        raise ValueError("must be a CSS property name like 'color' or 'font-size'")
    return cleaned


CssProperty = Annotated[str, Field(min_length=1), AfterValidator(_property_for_match)]


class HasStyleParams(CssParams):
    style: CssProperty = Field(
        validation_alias=AliasChoices("style", "property"), description="A property: margin."
    )
    count: RequiredCount = Field(
        default=0, validation_alias=AliasChoices("count", "required_count")
    )


class PropertyValueParams(CssParams):
    prop: CssProperty = Field(validation_alias=AliasChoices("prop", "property"))
    value: str = Field(default="", description="The value it must have; '' (default) is any.")


class MediaQueryParams(CssParams):
    required_count: RequiredCount = 1


class OverUsageParams(CssParams):
    text: NonEmptyText
    max_allowed: int = Field(default=0, ge=0)


def _where(ctx: GradeContext, params: CssParams, sources: list[CssSource]) -> str:
    files = (source.file for source in sources)
    return looked_at(ctx, params.named_file, files, "webdev.css.your_css")


def has_style(ctx: GradeContext, params: HasStyleParams) -> TestOutcome:
    sources = required_css(ctx, params)
    if params.match == "text":
        # The reference: "<style>: ...;" in any case, so "color" counts "background-color:
        # red;" too, and a last declaration without its ";" does not count.
        style_text = re.compile(rf"{re.escape(params.style)}\s*:\s*[^;]+;", re.IGNORECASE)
        found, key = len(find_text(sources, style_text)), "webdev.css.style_text_count"
    else:
        found = sum(1 for d in declarations(sources) if d.property == params.style)
        key = "webdev.css.property_count"
    message = say(
        ctx,
        key,
        property=params.style,
        times=say_count(ctx, "webdev.count.time", found),
        where=_where(ctx, params, sources),
        required=params.count,
    )
    return outcome(share_score(found, params.count), message)


def css_uses_property(ctx: GradeContext, params: PropertyValueParams) -> TestOutcome:
    sources = required_css(ctx, params)
    wanted = f"{params.prop}: {params.value}" if params.value else params.prop
    where = _where(ctx, params, sources)
    if params.match == "syntax":
        return _declared_property(ctx, params, sources, wanted, where)
    # The reference: the property, a colon, then the value anywhere later on that line.
    value_text = rf"{re.escape(params.prop)}\s*:\s*.*{re.escape(params.value)}"
    hits = find_text(sources, re.compile(value_text, re.IGNORECASE))
    if not hits:
        return failed(say(ctx, "webdev.css.not_found", wanted=wanted, where=where))
    found_at = places(ctx, hits)
    return passed(say(ctx, "webdev.css.used", wanted=wanted, where=where, places=found_at))


def _declared_property(
    ctx: GradeContext,
    params: PropertyValueParams,
    sources: list[CssSource],
    wanted: str,
    where: str,
) -> TestOutcome:
    same_property = [d for d in declarations(sources) if d.property == params.prop]
    matching = [d for d in same_property if not params.value or d.has_value(params.value)]
    if matching:
        found_at = listed(ctx, (d.located(ctx) for d in matching))
        return passed(say(ctx, "webdev.css.used", wanted=wanted, where=where, places=found_at))
    message = say(ctx, "webdev.css.not_found", wanted=wanted, where=where)
    if same_property:
        values = listed(ctx, dict.fromkeys(d.value for d in same_property))
        message += " " + say(ctx, "webdev.css.set_to", property=params.prop, values=values)
    return failed(message)


def check_media_queries(ctx: GradeContext, params: MediaQueryParams) -> TestOutcome:
    sources = required_css(ctx, params)
    queries = _media_text(ctx, sources) if params.match == "text" else _media_rules(ctx, sources)
    where = _where(ctx, params, sources)
    if not queries:
        return failed(say(ctx, "webdev.css.no_media_query", where=where))
    message = say(
        ctx,
        "webdev.css.media_queries_found",
        queries=say_count(ctx, "webdev.count.media_query", len(queries)),
        where=where,
        required=params.required_count,
        found=listed(ctx, queries),
    )
    return outcome(share_score(len(queries), params.required_count), message)


def _media_text(ctx: GradeContext, sources: list[CssSource]) -> list[str]:
    """The reference's rule: "@media", whitespace, a condition, "{" (so "@media(" is not)."""
    return [
        f"@media {' '.join(hit.text[len('@media') : -1].split())} "
        f"({file_line(ctx, hit.file, hit.line)})"
        for hit in find_text(sources, _MEDIA_TEXT)
    ]


def _media_rules(ctx: GradeContext, sources: list[CssSource]) -> list[str]:
    return [
        f"@media {query.condition} ({file_line(ctx, query.file, query.line)})"
        for query in media_queries(sources)
    ]


def check_flexbox_usage(ctx: GradeContext, params: CssParams) -> TestOutcome:
    sources = required_css(ctx, params)
    where = _where(ctx, params, sources)
    if params.match == "syntax":
        return _flex_containers(ctx, sources, where)
    hits = find_text(sources, _FLEX_TEXT)
    if not hits:
        return failed(say(ctx, "webdev.css.no_flex_text", where=where))
    found_at = listed(ctx, (_flex_text(ctx, hit) for hit in hits))
    return passed(say(ctx, "webdev.css.flexbox_used", where=where, places=found_at))


def _flex_text(ctx: GradeContext, hit: TextHit) -> str:
    return f"{' '.join(hit.text.split())} ({file_line(ctx, hit.file, hit.line)})"


def _flex_containers(ctx: GradeContext, sources: list[CssSource], where: str) -> TestOutcome:
    containers = [
        d
        for d in declarations(sources)
        if d.property == "display" and comparable_value(d.value) in _FLEX_CONTAINERS
    ]
    if not containers:
        return failed(say(ctx, "webdev.css.no_flexbox", where=where))
    found_at = listed(ctx, (_flex_container(ctx, d) for d in containers))
    return passed(say(ctx, "webdev.css.flexbox_used", where=where, places=found_at))


def _flex_container(ctx: GradeContext, declaration: Declaration) -> str:
    place = declaration.located(ctx)
    return say(ctx, "webdev.css.flex_container", value=declaration.value, place=place)


def count_over_usage(ctx: GradeContext, params: OverUsageParams) -> TestOutcome:
    sources = css_sources(ctx, params)
    if params.match == "text":
        # The reference: str.count on the raw text, case-sensitive, comments included.
        count = len(find_text(sources, literal(params.text)))
    else:
        wanted = params.text.lower()
        count = sum(without_comments(source).lower().count(wanted) for source in sources)
    usage = {
        "text": repr(params.text),
        "times": say_count(ctx, "webdev.count.time", count),
        "where": _where(ctx, params, sources),
        "max_allowed": params.max_allowed,
    }
    if count <= params.max_allowed:
        return passed(say(ctx, "webdev.css.usage_within_limit", **usage))
    if params.max_allowed == 0:
        return failed(say(ctx, "webdev.css.usage_none_allowed", **usage))
    return failed(say(ctx, "webdev.css.usage_over_limit", **usage))


CSS_FUNCTIONS: tuple[TestFunction[Any], ...] = (
    webdev_function(
        "has_style",
        "Counts '<style>: ...;' in the CSS (match: syntax counts declarations of the "
        "property); partial credit for found/count.",
        HasStyleParams,
        has_style,
    ),
    webdev_function(
        "css_uses_property",
        "Passes when the CSS has the property with the value later on its line (match: "
        "syntax: a declaration of the property with that value); any value when none given.",
        PropertyValueParams,
        css_uses_property,
    ),
    webdev_function(
        "check_media_queries",
        "Counts '@media ... {' (match: syntax counts @media rules); partial credit for "
        "found/required_count (1 by default).",
        MediaQueryParams,
        check_media_queries,
    ),
    webdev_function(
        "check_flexbox_usage",
        "Passes when the CSS has 'display: flex' or a flex-* property (match: syntax: a "
        "rule makes a flex container, display: flex or inline-flex).",
        CssParams,
        check_flexbox_usage,
    ),
    webdev_function(
        "count_over_usage",
        "Fails when a text (like '!important') appears more than max_allowed times in the "
        "CSS, case-sensitively and comments included (match: syntax: comments not counted, "
        "any case).",
        OverUsageParams,
        count_over_usage,
    ),
)
