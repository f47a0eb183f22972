"""Checks of the submission's CSS: declared properties, media queries, flexbox, overuse."""

import re
from typing import Annotated, Any

from pydantic import AfterValidator, AliasChoices, Field

from shared.grading.ports import GradeContext
from shared.grading.templates.base import TestFunction, TestOutcome
from shared.grading.templates.webdev.common import (
    NonEmptyText,
    RequiredCount,
    failed,
    listed,
    looked_at,
    outcome,
    passed,
    plural,
    share_score,
    webdev_function,
)
from shared.grading.templates.webdev.css import (
    CssParams,
    CssSource,
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
        default=1, validation_alias=AliasChoices("required_count", "count")
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
    max_allowed: int = Field(ge=0)


def _where(params: CssParams, sources: list[CssSource]) -> str:
    return looked_at(params.css_file, (source.file for source in sources), "CSS")


def has_style(ctx: GradeContext, params: HasStyleParams) -> TestOutcome:
    sources = required_css(ctx, params.css_file)
    found = [d for d in declarations(sources) if d.property == params.property]
    message = (
        f"{params.property} is set {plural(len(found), 'time')} in {_where(params, sources)}; "
        f"{params.required_count} required."
    )
    return outcome(share_score(len(found), params.required_count), message)


def css_uses_property(ctx: GradeContext, params: PropertyValueParams) -> TestOutcome:
    sources = required_css(ctx, params.css_file)
    same_property = [d for d in declarations(sources) if d.property == params.property]
    value = params.value
    matching = [d for d in same_property if value is None or d.has_value(value)]
    wanted = params.property if value is None else f"{params.property}: {value}"
    where = _where(params, sources)
    if matching:
        return passed(f"{wanted} is used in {where}: {listed(d.located() for d in matching)}.")
    message = f"{wanted} was not found in {where}."
    if same_property:
        values = listed(dict.fromkeys(d.value for d in same_property))
        message += f" {params.property} is set to: {values}."
    return failed(message)


def check_media_queries(ctx: GradeContext, params: MediaQueryParams) -> TestOutcome:
    sources = required_css(ctx, params.css_file)
    queries = media_queries(sources)
    where = _where(params, sources)
    if not queries:
        return failed(
            f"No media query (@media) was found in {where}; use one to adapt the layout "
            "to small screens."
        )
    found = listed(
        f"@media {query.condition} ({query.file} line {query.line})" for query in queries
    )
    count = plural(len(queries), "media query", "media queries")
    message = f"Found {count} in {where}; {params.required_count} required: {found}."
    return outcome(share_score(len(queries), params.required_count), message)


def check_flexbox_usage(ctx: GradeContext, params: CssParams) -> TestOutcome:
    sources = required_css(ctx, params.css_file)
    containers = [
        d
        for d in declarations(sources)
        if d.property == "display" and comparable_value(d.value) in _FLEX_CONTAINERS
    ]
    where = _where(params, sources)
    if not containers:
        return failed(f"No flex container (display: flex or inline-flex) was found in {where}.")
    places = listed(f"display: {d.value} in {d.located()}" for d in containers)
    return passed(f"Flexbox is used in {where}: {places}.")


def count_over_usage(ctx: GradeContext, params: OverUsageParams) -> TestOutcome:
    sources = css_sources(ctx, params.css_file)
    wanted = params.text.lower()
    count = sum(without_comments(source).lower().count(wanted) for source in sources)
    where = _where(params, sources)
    uses = f"{params.text!r} appears {plural(count, 'time')} in {where}"
    if count <= params.max_allowed:
        return passed(f"{uses}; at most {params.max_allowed} allowed.")
    allowed = "none are" if params.max_allowed == 0 else f"at most {params.max_allowed} are"
    return failed(f"{uses}, but {allowed} allowed.")


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
