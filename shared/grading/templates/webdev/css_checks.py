"""Checks of the submission's CSS: declared properties, media queries, flexbox, overuse."""

import re
from typing import Annotated, Any

from pydantic import AfterValidator, AliasChoices, Field

from shared.grading.messages import say, say_count
from shared.grading.ports import GradeContext
from shared.grading.templates.base import TestFunction, TestOutcome
from shared.grading.templates.webdev.common import (
    NonEmptyText,
    RequiredCount,
    failed,
    file_line,
    listed,
    looked_at,
    outcome,
    passed,
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


def _property_name(name: str) -> str:
    cleaned = name.strip().lower()
    if not _PROPERTY_NAME.fullmatch(cleaned):
        raise ValueError("must be a CSS property name like 'color' or 'font-size'")
    return cleaned


CssProperty = Annotated[str, AfterValidator(_property_name)]


class HasStyleParams(CssParams):
    property: CssProperty = Field(validation_alias=AliasChoices("property", "style"))
    required_count: RequiredCount = Field(
        default=0, validation_alias=AliasChoices("required_count", "count")
    )


class PropertyValueParams(CssParams):
    property: CssProperty = Field(validation_alias=AliasChoices("property", "prop"))
    value: NonEmptyText | None = Field(
        default=None, description="The value it must have (or contain); by default any value."
    )


class MediaQueryParams(CssParams):
    required_count: RequiredCount = 1


class OverUsageParams(CssParams):
    text: NonEmptyText
    max_allowed: int = Field(default=0, ge=0)


def _where(ctx: GradeContext, params: CssParams, sources: list[CssSource]) -> str:
    files = (source.file for source in sources)
    return looked_at(ctx, params.css_file, files, "webdev.css.your_css")


def has_style(ctx: GradeContext, params: HasStyleParams) -> TestOutcome:
    sources = required_css(ctx, params.css_file)
    found = [d for d in declarations(sources) if d.property == params.property]
    message = say(
        ctx,
        "webdev.css.property_count",
        property=params.property,
        times=say_count(ctx, "webdev.count.time", len(found)),
        where=_where(ctx, params, sources),
        required=params.required_count,
    )
    return outcome(share_score(len(found), params.required_count), message)


def css_uses_property(ctx: GradeContext, params: PropertyValueParams) -> TestOutcome:
    sources = required_css(ctx, params.css_file)
    same_property = [d for d in declarations(sources) if d.property == params.property]
    value = params.value
    matching = [d for d in same_property if value is None or d.has_value(value)]
    wanted = params.property if value is None else f"{params.property}: {value}"
    where = _where(ctx, params, sources)
    if matching:
        places = listed(ctx, (d.located(ctx) for d in matching))
        return passed(say(ctx, "webdev.css.used", wanted=wanted, where=where, places=places))
    message = say(ctx, "webdev.css.not_found", wanted=wanted, where=where)
    if same_property:
        values = listed(ctx, dict.fromkeys(d.value for d in same_property))
        message += " " + say(ctx, "webdev.css.set_to", property=params.property, values=values)
    return failed(message)


def check_media_queries(ctx: GradeContext, params: MediaQueryParams) -> TestOutcome:
    sources = required_css(ctx, params.css_file)
    queries = media_queries(sources)
    where = _where(ctx, params, sources)
    if not queries:
        return failed(say(ctx, "webdev.css.no_media_query", where=where))
    found = listed(
        ctx, (f"@media {q.condition} ({file_line(ctx, q.file, q.line)})" for q in queries)
    )
    message = say(
        ctx,
        "webdev.css.media_queries_found",
        queries=say_count(ctx, "webdev.count.media_query", len(queries)),
        where=where,
        required=params.required_count,
        found=found,
    )
    return outcome(share_score(len(queries), params.required_count), message)


def check_flexbox_usage(ctx: GradeContext, params: CssParams) -> TestOutcome:
    sources = required_css(ctx, params.css_file)
    containers = [
        d
        for d in declarations(sources)
        if d.property == "display" and comparable_value(d.value) in _FLEX_CONTAINERS
    ]
    where = _where(ctx, params, sources)
    if not containers:
        return failed(say(ctx, "webdev.css.no_flexbox", where=where))
    places = listed(ctx, (_flex_container(ctx, d) for d in containers))
    return passed(say(ctx, "webdev.css.flexbox_used", where=where, places=places))


def _flex_container(ctx: GradeContext, declaration: Declaration) -> str:
    place = declaration.located(ctx)
    return say(ctx, "webdev.css.flex_container", value=declaration.value, place=place)


def count_over_usage(ctx: GradeContext, params: OverUsageParams) -> TestOutcome:
    sources = css_sources(ctx, params.css_file)
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
        "Counts declarations of a CSS property (any value); partial credit for "
        "found/required_count.",
        HasStyleParams,
        has_style,
    ),
    webdev_function(
        "css_uses_property",
        "Passes when a CSS property is declared, with the given value if one is named.",
        PropertyValueParams,
        css_uses_property,
    ),
    webdev_function(
        "check_media_queries",
        "Counts @media rules; partial credit for found/required_count.",
        MediaQueryParams,
        check_media_queries,
    ),
    webdev_function(
        "check_flexbox_usage",
        "Passes when some rule makes a flex container (display: flex or inline-flex).",
        CssParams,
        check_flexbox_usage,
    ),
    webdev_function(
        "count_over_usage",
        "Fails when a text (like '!important') appears more than max_allowed times in the "
        "CSS, comments not counted.",
        OverUsageParams,
        count_over_usage,
    ),
)
