"""The CSS of a submission: where it is, and what it declares (parsed with tinycss2).

Which CSS a test looks at: the file named by `css_file`, else by the test's `file`; with
neither, all the CSS of the submission: every .css file and every page's <style>
elements and style attributes. A named file is read whole in text mode, as the
reference reads it; in syntax mode a named HTML page gives its <style> elements and
style attributes. Syntax mode never counts comments.
"""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import tinycss2  # type: ignore[import-untyped]  # tinycss2 ships no type hints
from bs4 import BeautifulSoup
from pydantic import Field

from shared.grading.messages import say
from shared.grading.ports import GradeContext
from shared.grading.templates.webdev.common import (
    MATCH_DESCRIPTION,
    Match,
    MissingSource,
    RelativePath,
    WebdevParams,
)
from shared.grading.templates.webdev.files import (
    html_pages,
    is_html,
    parse_html,
    read_file,
    submission_files,
    tags,
)

_PARSE_OPTIONS = {"skip_comments": True, "skip_whitespace": True}
_SPACE_AROUND_PUNCTUATION = re.compile(r"\s*([,()/])\s*")


class CssParams(WebdevParams):
    css_file: RelativePath | None = Field(
        default=None,
        description="The stylesheet to check; by default the test's `file`, else all the "
        "CSS of the submission.",
    )
    match: Match = Field(default="text", description=MATCH_DESCRIPTION)

    @property
    def named_file(self) -> str | None:
        return self.css_file or self.file


@dataclass(frozen=True)
class CssSource:
    """A piece of CSS. `selector` is set for a style attribute, whose text is only
    declarations (e.g. "<p style>"); `first_line` is its line in `file`."""

    file: str
    text: str
    first_line: int = 1
    selector: str | None = None


@dataclass(frozen=True)
class Declaration:
    file: str
    line: int
    selector: str
    property: str
    value: str  # as written, whitespace collapsed, without !important

    def located(self, ctx: GradeContext) -> str:
        return say(
            ctx, "webdev.css.declared_at", selector=self.selector, file=self.file, line=self.line
        )

    def has_value(self, expected: str) -> bool:
        """Whether `expected` is the value or one of its parts ("auto" in "0 auto")."""
        wanted = re.escape(comparable_value(expected))
        return re.search(rf"(?<![\w-]){wanted}(?![\w-])", comparable_value(self.value)) is not None


@dataclass(frozen=True)
class MediaQuery:
    file: str
    line: int
    condition: str


def comparable_value(value: str) -> str:
    collapsed = " ".join(value.split()).lower()
    return _SPACE_AROUND_PUNCTUATION.sub(r"\1", collapsed)


def css_sources(ctx: GradeContext, params: CssParams) -> list[CssSource]:
    """The CSS a test looks at; raises MissingSource when the named file is not there."""
    named = params.named_file
    if named is None:
        files = submission_files(ctx)
        stylesheets = [CssSource(path, files[path]) for path in sorted(files) if _is_css(path)]
        inline = [source for path, page in html_pages(ctx) for source in _inline_css(path, page)]
        return stylesheets + inline
    text = read_file(ctx, named)
    if is_html(named) and params.match == "syntax":
        return _inline_css(named, parse_html(text))
    return [CssSource(named, text)]


def required_css(ctx: GradeContext, params: CssParams) -> list[CssSource]:
    """Like css_sources, but no CSS at all fails the test too."""
    sources = css_sources(ctx, params)
    if not sources:
        where = params.named_file or say(ctx, "webdev.your_submission")
        raise MissingSource(say(ctx, "webdev.css.none_found", where=where))
    return sources


def declarations(sources: Iterable[CssSource]) -> list[Declaration]:
    return [
        Declaration(
            file=source.file,
            line=source.first_line + node.source_line - 1,
            selector=selector,
            property=node.lower_name,
            value=" ".join(tinycss2.serialize(node.value).split()),
        )
        for source in sources
        for node, selector in _nodes(source)
        if node.type == "declaration"
    ]


def media_queries(sources: Iterable[CssSource]) -> list[MediaQuery]:
    return [
        MediaQuery(
            source.file,
            source.first_line + node.source_line - 1,
            " ".join(tinycss2.serialize(node.prelude).split()),
        )
        for source in sources
        for node, _ in _nodes(source)
        if node.type == "at-rule" and node.lower_at_keyword == "media"
    ]


def without_comments(source: CssSource) -> str:
    return str(
        tinycss2.serialize(tinycss2.parse_component_value_list(source.text, skip_comments=True))
    )


def _is_css(path: str) -> bool:
    return path.lower().endswith(".css")


def _inline_css(path: str, page: BeautifulSoup) -> list[CssSource]:
    blocks = [
        CssSource(path, element.get_text(), element.sourceline or 1)
        for element in tags(page, "style")
    ]
    attributes = [
        CssSource(path, str(element["style"]), element.sourceline or 1, f"<{element.name} style>")
        for element in tags(page)
        if element.has_attr("style")
    ]
    return blocks + attributes


def _nodes(source: CssSource) -> Iterator[tuple[Any, str]]:
    """Every rule and declaration of `source`, nested ones too, with its selector."""
    if source.selector is None:
        yield from _walk(tinycss2.parse_stylesheet(source.text, **_PARSE_OPTIONS), "")
        return
    attribute = tinycss2.parse_blocks_contents(source.text, **_PARSE_OPTIONS)
    yield from _walk(attribute, source.selector)


def _walk(nodes: Iterable[Any], selector: str) -> Iterator[tuple[Any, str]]:
    for node in nodes:
        yield node, selector
        if node.type in ("qualified-rule", "at-rule") and node.content is not None:
            inner = tinycss2.parse_blocks_contents(node.content, **_PARSE_OPTIONS)
            yield from _walk(inner, _selector_of(node))


def _selector_of(rule: Any) -> str:
    prelude = " ".join(tinycss2.serialize(rule.prelude).split())
    return prelude if rule.type == "qualified-rule" else f"@{rule.lower_at_keyword} {prelude}"
