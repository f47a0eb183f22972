"""The JavaScript of a submission, and its syntax trees (ast-grep) for syntax mode.

Which JavaScript a test looks at: the file named by `js_file`, else by the test's `file`;
with neither, every .js file and every page's inline scripts (scripts loaded with `src`
are checked as the files they are). A named file is read whole in text mode, as the
reference reads it; in syntax mode a named HTML page gives its inline <script> elements.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from ast_grep_py import Rule, SgNode, SgRoot
from bs4 import BeautifulSoup, Tag
from pydantic import Field

from shared.grading.ports import GradeContext
from shared.grading.templates.webdev.common import (
    MATCH_DESCRIPTION,
    Match,
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

# <script type="..."> values that hold JavaScript; others (JSON, templates) are data.
_JAVASCRIPT_TYPES = frozenset(
    {"", "text/javascript", "application/javascript", "module", "text/ecmascript"}
)
_JAVASCRIPT_SUFFIXES = (".js", ".mjs", ".cjs")


class JsParams(WebdevParams):
    js_file: RelativePath | None = Field(
        default=None,
        description="The script to check; by default the test's `file`, else all the "
        "JavaScript of the submission.",
    )
    match: Match = Field(default="text", description=MATCH_DESCRIPTION)

    @property
    def named_file(self) -> str | None:
        return self.js_file or self.file


@dataclass(frozen=True)
class JsSource:
    """A script; `first_line` is the line of `file` where its text starts."""

    file: str
    text: str
    first_line: int = 1


@dataclass(frozen=True)
class JsMatch:
    file: str
    line: int


def js_sources(ctx: GradeContext, params: JsParams) -> list[JsSource]:
    """The scripts a test looks at; raises MissingSource when the named file is not there."""
    named = params.named_file
    if named is None:
        files = submission_files(ctx)
        scripts = [JsSource(path, files[path]) for path in sorted(files) if _is_js(path)]
        inline = [script for path, page in html_pages(ctx) for script in _inline_js(path, page)]
        return scripts + inline
    text = read_file(ctx, named)
    if is_html(named) and params.match == "syntax":
        return _inline_js(named, parse_html(text))
    return [JsSource(named, text)]


def syntax_trees(sources: Iterable[JsSource]) -> list[tuple[JsSource, SgNode]]:
    return [(source, SgRoot(source.text, "javascript").root()) for source in sources]


def find(sources: Iterable[JsSource], rule: Rule) -> list[JsMatch]:
    """Where `rule` matches, in source order."""
    return [
        located(source, node)
        for source, root in syntax_trees(sources)
        for node in root.find_all(**rule)
    ]


def located(source: JsSource, node: SgNode) -> JsMatch:
    return JsMatch(source.file, source.first_line + node.range().start.line)


def _is_js(path: str) -> bool:
    return path.lower().endswith(_JAVASCRIPT_SUFFIXES)


def _inline_js(path: str, page: BeautifulSoup) -> list[JsSource]:
    return [
        JsSource(path, script.get_text(), script.sourceline or 1)
        for script in tags(page, "script")
        if _holds_javascript(script)
    ]


def _holds_javascript(script: Tag) -> bool:
    kind = str(script.get("type") or "").strip().lower()
    return not script.has_attr("src") and kind in _JAVASCRIPT_TYPES
