"""A submission's source files parsed once, with ast-grep, for every structural check.

STRUCTURAL_ANALYSIS parses the files of the submission's language a single time and
every static_analysis test searches those trees. Parsing never fails a submission:
tree-sitter recovers from syntax errors, so a file with one still has a tree (its first
error line is recorded), and a file the parser cannot read at all is listed in
`ParsedSubmission.unreadable` instead of stopping the run.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from ast_grep_py import Config, SgNode, SgRoot

from shared.grading.ports import GradeContext

# (source text, ast-grep language) -> syntax tree; tests inject one to count the parses.
SourceParser = Callable[[str, str], SgRoot]

# Submission languages (contracts.config.KNOWN_LANGUAGES) -> ast-grep's language names.
AST_GREP_LANGUAGES = {
    "python": "python",
    "java": "java",
    "node": "javascript",
    "javascript": "javascript",
    "c": "c",
    "cpp": "cpp",
}
SOURCE_EXTENSIONS = {
    "python": (".py",),
    "java": (".java",),
    "javascript": (".js", ".mjs", ".cjs", ".jsx"),
    "c": (".c", ".h"),
    "cpp": (".cpp", ".cc", ".cxx", ".hpp", ".hh", ".hxx", ".h"),
}
# A zero-width leaf is a token tree-sitter inserted because it was missing.
_RECOVERED_ERRORS = {"rule": {"any": [{"kind": "ERROR"}, {"regex": "^$"}]}}


@dataclass(frozen=True)
class ParsedFile:
    """One source file's syntax tree; `syntax_error_line` is the first line (1-based) the
    parser could not make sense of, None when the file parsed cleanly."""

    path: str
    root: SgNode
    syntax_error_line: int | None


@dataclass(frozen=True)
class ParsedSubmission:
    """Every source file of the submission's language, parsed. `language` is ast-grep's
    name for it, None when ast-grep does not support the submission's language."""

    language: str | None
    files: dict[str, ParsedFile] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)  # path -> why

    def with_syntax_errors(self) -> dict[str, int]:
        return {
            path: parsed.syntax_error_line
            for path, parsed in self.files.items()
            if parsed.syntax_error_line is not None
        }


def parse_source(source: str, language: str) -> SgRoot:
    return SgRoot(source, language)


def ast_grep_language(language: str) -> str | None:
    return AST_GREP_LANGUAGES.get(language)


def is_source_file(path: str, grep_language: str) -> bool:
    return path.lower().endswith(SOURCE_EXTENSIONS[grep_language])


def parse_submission(
    files: Mapping[str, str], language: str, parser: SourceParser | None = None
) -> ParsedSubmission:
    """Parses each source file of `language` in `files` exactly once."""
    grep_language = ast_grep_language(language)
    if grep_language is None:
        return ParsedSubmission(language=None)
    parse = parser or parse_source  # looked up per call so tests can replace parse_source
    parsed = ParsedSubmission(language=grep_language)
    for path in sorted(files):
        if is_source_file(path, grep_language):
            _parse_into(parsed, path, files[path], parse)
    return parsed


def parsed_submission(ctx: GradeContext) -> ParsedSubmission:
    """The context's parsed files, parsing them on first use when no step did it before."""
    if ctx.parsed is None:
        # The parse is derived from ctx.files alone, so filling it in once does not change
        # what is graded; it lets every check of this submission share one parse.
        object.__setattr__(ctx, "parsed", parse_submission(ctx.files, ctx.language))
    parsed: ParsedSubmission = ctx.parsed
    return parsed


def line_of(node: SgNode) -> int:
    return node.range().start.line + 1


def search(node: SgNode, config: Mapping[str, Any]) -> list[SgNode]:
    """Every node under `node` matching an ast-grep config `{"rule": ..., ...}`."""
    return node.find_all(cast(Config, config))


def search_first(node: SgNode, config: Mapping[str, Any]) -> SgNode | None:
    return node.find(cast(Config, config))


def _parse_into(parsed: ParsedSubmission, path: str, source: str, parse: SourceParser) -> None:
    try:
        root = parse(source, parsed.language or "").root()
    except Exception as error:  # one unreadable file must not hide the others
        first_line = next(iter(str(error).splitlines()), "")
        parsed.unreadable[path] = f"{type(error).__name__}: {first_line}"
        return
    parsed.files[path] = ParsedFile(path, root, _first_error_line(root))


def _first_error_line(root: SgNode) -> int | None:
    errors = [node for node in search(root, _RECOVERED_ERRORS) if node.parent() is not None]
    return min((line_of(node) for node in errors), default=None)
