"""The submission's files as the webdev checks see them: looked up by path, HTML parsed."""

import warnings

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, Tag

from shared.grading.messages import say
from shared.grading.ports import GradeContext
from shared.grading.templates.webdev.common import MissingSource, normalized_path

HTML_SUFFIXES = (".html", ".htm")


def submission_files(ctx: GradeContext) -> dict[str, str]:
    """The submission's files by normalized relative path."""
    return {normalized_path(path): text for path, text in ctx.files.items()}


def read_file(ctx: GradeContext, path: str) -> str:
    """The text of `path`; raises MissingSource (a failed test) when it is not there."""
    files = submission_files(ctx)
    if path in files:
        return files[path]
    raise MissingSource(_missing_message(ctx, path, files))


def _missing_message(ctx: GradeContext, path: str, files: dict[str, str]) -> str:
    message = say(ctx, "webdev.file_missing", file=path)
    same_but_case = [name for name in files if name.lower() == path.lower()]
    if same_but_case:
        message += " " + say(ctx, "webdev.file_in_other_case", file=same_but_case[0])
    return message


def is_html(path: str) -> bool:
    return path.lower().endswith(HTML_SUFFIXES)


def parse_html(text: str) -> BeautifulSoup:
    with warnings.catch_warnings():
        # A tiny page can look like a file name or URL to bs4; here it is always markup.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        return BeautifulSoup(text, "html.parser")


def html_page(ctx: GradeContext, path: str) -> BeautifulSoup:
    return parse_html(read_file(ctx, path))


def html_pages(ctx: GradeContext) -> list[tuple[str, BeautifulSoup]]:
    """Every HTML page of the submission with its path, in path order."""
    files = submission_files(ctx)
    return [(path, parse_html(files[path])) for path in sorted(files) if is_html(path)]


def tags(page: BeautifulSoup, name: str | None = None) -> list[Tag]:
    """The elements named `name` (every element when None), in document order."""
    return [found for found in page.find_all(name or True) if isinstance(found, Tag)]


def at_line(ctx: GradeContext, element: Tag) -> str:
    if element.sourceline is None:
        return say(ctx, "webdev.unknown_line")
    return say(ctx, "webdev.line", line=element.sourceline)
