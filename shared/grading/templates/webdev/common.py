"""What every webdev test function shares: parameter types, scores and how a check
becomes a TestFunction.

A check is a plain synchronous function `(GradeContext, Params) -> TestOutcome`. A file
the test names but the submission lacks raises MissingSource inside the check, which
`webdev_function` turns into a failed outcome for the student.
"""

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.grading.errors import GradingError
from shared.grading.messages import say
from shared.grading.ports import GradeContext
from shared.grading.templates.base import TestFunction, TestOutcome

Params = TypeVar("Params", bound=BaseModel)
_TAG_NAME = re.compile(r"[a-z][a-z0-9-]*")
SHOWN_ITEMS = 5


class MissingSource(GradingError, LookupError):
    """A file the test looks at is not in the submission; the student sees `str(self)`,
    so it is raised with a message from the catalogue, in the student's language."""


def normalized_path(path: str) -> str:
    """`path` as the submission's files are looked up: forward slashes, no "./"."""
    return posixpath.normpath(path.strip().replace("\\", "/")).lstrip("/")


def _relative_path(path: str) -> str:
    cleaned = normalized_path(path)
    if cleaned in ("", ".") or cleaned.startswith(".."):
        raise ValueError("must be a path inside the submission, like 'index.html' or 'css/'")
    return cleaned + "/" if path.rstrip().endswith("/") else cleaned


def _test_file(path: str | None) -> str | None:
    # The reference's configs write "all" for every file: that names no file.
    if path is None or path.strip().lower() == "all":
        return None
    return _relative_path(path)


def _tag_name(tag: str) -> str:
    # Instructors write "<div>" as often as "div".
    cleaned = tag.strip().strip("<>/").strip().lower()
    if not _TAG_NAME.fullmatch(cleaned):
        raise ValueError("must be an HTML tag name like 'div' or 'h1'")
    return cleaned


def one_or_many(value: Any) -> Any:
    """A single value where a list is expected means a list of one."""
    return [value] if isinstance(value, str) else value


RelativePath = Annotated[str, AfterValidator(_relative_path)]
TagName = Annotated[str, AfterValidator(_tag_name)]
RequiredCount = Annotated[
    int, Field(ge=0, description="How many are needed for full marks; 0 (the default) is none.")
]
NonEmptyText = Annotated[str, Field(min_length=1)]
Match = Literal["text", "syntax"]
MATCH_DESCRIPTION = (
    "text (the default, the reference's rule): searched in the raw text, so comments, "
    "strings and longer names count too; syntax: only what the code really declares or "
    "uses counts."
)


class WebdevParams(BaseModel):
    """Parameters of every webdev test function: unknown names are config errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    file: Annotated[str | None, AfterValidator(_test_file)] = Field(
        default=None,
        description="The test's `file`: the one file to check, as the reference reads it; "
        "'all' or none means the test's default files.",
    )


def _names_a_file(path: Any) -> bool:
    """Whether a raw `file` value names one file (not "all", not missing)."""
    return isinstance(path, str) and path.strip().lower() not in ("", "all")


class HtmlParams(WebdevParams):
    html_file: RelativePath = Field(
        default="index.html",
        description="The HTML page to check, relative to the submission; by default the "
        "test's `file`, else index.html.",
    )

    @model_validator(mode="before")
    @classmethod
    def _page_from_test_file(cls, data: Any) -> Any:
        # The reference checks the page the test's `file` names.
        if isinstance(data, dict) and "html_file" not in data and _names_a_file(data.get("file")):
            return {**data, "html_file": data["file"]}
        return data


class SourceText(Protocol):
    """A piece of CSS or JavaScript: `first_line` is the line of `file` where `text` starts."""

    @property
    def file(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def first_line(self) -> int: ...


@dataclass(frozen=True)
class TextHit:
    file: str
    line: int
    text: str


def find_text(sources: Iterable[SourceText], pattern: re.Pattern[str]) -> list[TextHit]:
    """Every match of `pattern` in the sources' raw text, comments included, as the
    reference's regex and substring searches see them (non-overlapping, like str.count)."""
    return [_hit(source, found) for source in sources for found in pattern.finditer(source.text)]


def _hit(source: SourceText, found: re.Match[str]) -> TextHit:
    line = source.first_line + source.text.count("\n", 0, found.start())
    return TextHit(source.file, line, found[0])


def literal(text: str) -> re.Pattern[str]:
    """`text` as a pattern that matches it literally, case-sensitively (Python's `in`)."""
    return re.compile(re.escape(text))


def share_score(found: int, required: int) -> float:
    """The reference autograder's partial credit, so existing criteria grade alike: the
    found share of what is required in whole percent (truncated, as its int() does),
    capped at 100; nothing required is full marks."""
    if required <= 0:
        return 100.0
    return float(min(100, int(found / required * 100)))


def outcome(score: float, message: str) -> TestOutcome:
    return TestOutcome(score=score, verdict="passed" if score == 100 else "failed", message=message)


def passed(message: str) -> TestOutcome:
    return outcome(100, message)


def failed(message: str) -> TestOutcome:
    return outcome(0, message)


def listed(ctx: GradeContext, items: Iterable[str]) -> str:
    """`items` joined for a sentence; long lists are cut to the first few."""
    shown = list(items)
    more = len(shown) - SHOWN_ITEMS
    text = ", ".join(shown[:SHOWN_ITEMS])
    return say(ctx, "webdev.list_and_more", items=text, more=more) if more > 0 else text


def looked_at(
    ctx: GradeContext, named_file: str | None, files: Iterable[str], yours_key: str
) -> str:
    """Where a test looked, for its message: the file it names, or every file it read,
    introduced by `yours_key` ("your CSS ({files})")."""
    if named_file is not None:
        return named_file
    unique = dict.fromkeys(files)
    if not unique:
        return say(ctx, "webdev.your_submission")
    return say(ctx, yours_key, files=listed(ctx, unique))


def file_line(ctx: GradeContext, file: str, line: int) -> str:
    """Where something is, for a message: "script.js line 3"."""
    return say(ctx, "webdev.file_line", file=file, line=line)


class Place(Protocol):
    @property
    def file(self) -> str: ...
    @property
    def line(self) -> int: ...


def places(ctx: GradeContext, found: Iterable[Place]) -> str:
    """Where things were found, for a message: "app.js line 2, app.js line 9"."""
    return listed(ctx, (file_line(ctx, place.file, place.line) for place in found))


def wildcard(pattern: str, star: str) -> re.Pattern[str]:
    """`pattern` with each `*` standing for `star` (a regex) and the rest taken literally."""
    parts = re.split(r"(\*)", pattern)
    return re.compile("".join(star if part == "*" else re.escape(part) for part in parts))


def webdev_function(
    name: str,
    description: str,
    params_model: type[Params],
    check: Callable[[GradeContext, Params], TestOutcome],
) -> TestFunction[Params]:
    async def run(ctx: GradeContext, params: Params) -> TestOutcome:
        try:
            return check(ctx, params)
        except MissingSource as missing:
            return failed(str(missing))

    return TestFunction(name=name, description=description, params_model=params_model, run=run)
