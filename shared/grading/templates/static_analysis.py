"""The `static_analysis` template: checks that read the source code's syntax trees, with
no sandbox.

- `forbidden_import`: passes when no checked file imports any of `forbidden_imports`.
- `forbidden_keyword`: passes when no checked file contains any construct named by
  `forbidden_keywords` (see static_keywords for the vocabulary) or matched by a rule of
  `custom_ast_grep_rules`.
- `required_keyword`: passes when each of `keywords` or `rules` is found at least once.

The two forbidden checks score as the reference autograder's functions of those names,
and take its parameter names (ours, `imports`, `keywords` and `rules`, are accepted
too): 100 when nothing forbidden is found, so as a penalty test it takes nothing away
from a clean submission; 0 naming each violation with its file and line. An empty list
forbids nothing and passes. Every check reads the trees of ctx.parsed, parsed once per
submission.

Decisions:
- The checked files are every source file of the submission's language, or only the
  test's `file`. No source file, or a missing `file`, passes a forbidden check (as in
  the reference: nothing forbidden can be in it) and fails required_keyword (nothing
  could be confirmed). A syntax error fails neither: the parser recovers, the rest is
  checked, and the message says so.
- The language is unknown when a config is checked, so keywords are validated against
  every language's vocabulary; a keyword that means nothing in the submission's language
  (a comprehension in Java) is skipped at run time with a note in the message.
- A custom rule is an ast-grep pattern (`"$A.sort()"`), a rule object (`{"kind": ...}`,
  `{"pattern": ..., "inside": ...}`), or a config `{"rule": ..., "constraints": ...}`;
  objects may add `message` (how the student reads it) and `language` (only then is it
  applied, and it is checked against that language's grammar at config time). Any other
  rule must be valid in at least one language, and is skipped, with a note, where not.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

from ast_grep_py import SgRoot
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from shared.grading.messages import Phrase, say
from shared.grading.ports import GradeContext
from shared.grading.structural import (
    SOURCE_EXTENSIONS,
    ParsedFile,
    ast_grep_language,
    line_of,
    parsed_submission,
    search,
    search_first,
)
from shared.grading.templates.base import Template, TestFunction, TestOutcome
from shared.grading.templates.static_imports import brings_in, imports_in
from shared.grading.templates.static_keywords import ALL_KEYWORDS, KEYWORDS, Construct

SHOWN_VIOLATIONS = 20
SHOWN_SNIPPET_CHARS = 80
LANGUAGE_NAMES = {
    "python": "Python",
    "java": "Java",
    "javascript": "JavaScript",
    "c": "C",
    "cpp": "C++",
}
_RULE_LABELS = frozenset({"message", "language"})
_CONFIG_KEYS = frozenset({"rule", "constraints", "utils"})

RuleSpec = str | dict[str, Any]


# --- custom rules -------------------------------------------------------------------


@dataclass(frozen=True)
class CustomRule:
    construct: Construct
    language: str | None  # ast-grep language it is written for; None for any


def custom_rule(spec: RuleSpec) -> CustomRule:
    """The rule an instructor wrote; ValueError when its shape is wrong."""
    if isinstance(spec, str):
        description = Phrase("static_analysis.rule.pattern", {"pattern": spec})
        return CustomRule(Construct(description, {"pattern": spec}), None)
    language = _rule_language(spec.get("language"))
    body = {key: value for key, value in spec.items() if key not in _RULE_LABELS}
    rule, extra = _rule_and_extra(body)
    return CustomRule(Construct(_rule_description(spec, rule), rule, extra), language)


def _rule_description(spec: dict[str, Any], rule: dict[str, Any]) -> Phrase:
    """The instructor's `message` for the rule, in their words, else the rule itself."""
    message = spec.get("message")
    if message is None:
        return Phrase("static_analysis.rule.object", {"rule": _compact(rule)})
    if not isinstance(message, str):
        raise ValueError("'message' must be a string")
    return Phrase("static_analysis.rule.instructor_message", {"message": message})


def _rule_language(language: Any) -> str | None:
    if language is None:
        return None
    grep_language = ast_grep_language(language) if isinstance(language, str) else None
    if grep_language is None:
        raise ValueError(f"unknown language {language!r}; known: {sorted(SOURCE_EXTENSIONS)}")
    return grep_language


def _rule_and_extra(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    if "rule" not in body:
        return body, {}
    unknown = sorted(body.keys() - _CONFIG_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} next to 'rule'; allowed: constraints, utils")
    if not isinstance(body["rule"], dict):
        raise ValueError("'rule' must be an object")
    return body["rule"], {key: value for key, value in body.items() if key != "rule"}


def _compact(rule: dict[str, Any]) -> str:
    shown = ", ".join(f"{key}: {value!r}" for key, value in rule.items())
    return "{" + shown[:SHOWN_SNIPPET_CHARS] + "}"


def compile_error(construct: Construct, grep_language: str) -> str | None:
    """Why ast-grep rejects the construct's rule in this language; None when it is valid."""
    try:
        search_first(SgRoot("", grep_language).root(), construct.config())
    except Exception as error:  # ast-grep reports every rule mistake as a plain exception
        return _reason(str(error))
    return None


def _reason(text: str) -> str:
    # ast-grep's message is "cannot get matcher", then numbered causes, then a backtrace.
    lines = text.split("Stack backtrace:")[0].strip().splitlines()
    causes = [line.strip().split(": ", 1)[-1] for line in lines if line.strip()[:1].isdigit()]
    return causes[-1] if causes else (lines[0] if lines else "invalid rule")


def _valid_rule(spec: RuleSpec) -> RuleSpec:
    rule = custom_rule(spec)
    languages = [rule.language] if rule.language else list(SOURCE_EXTENSIONS)
    errors = [compile_error(rule.construct, language) for language in languages]
    if all(errors):
        where = f"in {LANGUAGE_NAMES[rule.language]}" if rule.language else "in any language"
        raise ValueError(f"not a valid ast-grep rule {where}: {errors[0]}")
    return spec


def _known_keyword(keyword: str) -> str:
    if keyword not in ALL_KEYWORDS:
        raise ValueError(f"unknown keyword {keyword!r}; known: {', '.join(sorted(ALL_KEYWORDS))}")
    return keyword


# --- parameters ---------------------------------------------------------------------

Keyword = Annotated[
    str,
    AfterValidator(_known_keyword),
    WithJsonSchema({"type": "string", "enum": sorted(ALL_KEYWORDS)}),
]


class StaticParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str | None = Field(
        default=None,
        description="Check only this file (the test's `file`); by default every source "
        "file of the submission's language.",
    )
    submission_language: str | None = Field(
        default=None,
        description="Accepted from reference configs and not used: the submission's own "
        "language always decides, as it does there when known.",
    )


class ForbiddenImportParams(StaticParams):
    imports: list[Annotated[str, Field(min_length=1)]] = Field(
        validation_alias=AliasChoices("forbidden_imports", "imports"),
        description='Module names; "os" also forbids "os.path", "java.util" also '
        '"java.util.Scanner", "stdio.h" (or "stdio") the header. An empty list forbids '
        "nothing. Also accepted as `imports`.",
    )


KEYWORDS_DESCRIPTION = f"Constructs by name: {', '.join(sorted(ALL_KEYWORDS))}."
RULES_DESCRIPTION = (
    'ast-grep patterns ("$A.sort()"), rule objects, or {"rule": ..., "constraints": ...}; '
    'objects may add "message" and "language".'
)
RuleList = list[Annotated[RuleSpec, AfterValidator(_valid_rule)]]


class ForbiddenKeywordParams(StaticParams):
    """The reference's names first; none given forbids nothing (the test passes)."""

    keywords: list[Keyword] = Field(
        default_factory=list,
        validation_alias=AliasChoices("forbidden_keywords", "keywords"),
        description=KEYWORDS_DESCRIPTION + " Also accepted as `keywords`.",
    )
    rules: RuleList = Field(
        default_factory=list,
        validation_alias=AliasChoices("custom_ast_grep_rules", "rules"),
        description=RULES_DESCRIPTION + " Also accepted as `rules`.",
    )


class KeywordParams(StaticParams):
    keywords: list[Keyword] = Field(default_factory=list, description=KEYWORDS_DESCRIPTION)
    rules: RuleList = Field(
        default_factory=list, validate_default=True, description=RULES_DESCRIPTION
    )

    @field_validator("rules")
    @classmethod
    def _something_to_look_for(cls, rules: list[RuleSpec], info: ValidationInfo) -> list[RuleSpec]:
        keywords = info.data.get("keywords")  # None when invalid: reported already
        if not rules and keywords == []:
            raise ValueError("give at least one keyword or rule")
        return rules


# --- which files, and what to look for ---------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The files one check reads, in one language, and notes for the student."""

    language: str
    files: list[ParsedFile]
    notes: list[str] = field(default_factory=list)

    def file_names(self) -> str:
        return ", ".join(parsed.path for parsed in self.files)


def files_in_scope(
    ctx: GradeContext, file: str | None, absent_passes: bool = False
) -> Scope | TestOutcome:
    """The files to check, or the outcome saying why nothing can be checked. With
    `absent_passes` (the forbidden checks, as in the reference autograder) no file to
    check passes: nothing forbidden can be in it."""
    parsed = parsed_submission(ctx)
    if parsed.language is None:
        return _error(say(ctx, "static_analysis.unsupported_language", language=ctx.language))
    language = LANGUAGE_NAMES[parsed.language]
    if file is not None and file not in parsed.files:
        return _file_problem(ctx, file, language, parsed.unreadable, absent_passes)
    files = [parsed.files[file]] if file else list(parsed.files.values())
    if not files:
        message = say(ctx, "static_analysis.no_source_file", language=language)
        return _passed(message) if absent_passes else _failed(message)
    unread = {} if file else parsed.unreadable
    notes = [_unreadable_note(ctx, path, why) for path, why in unread.items()]
    return Scope(parsed.language, files, notes + _syntax_notes(ctx, files))


def _file_problem(
    ctx: GradeContext, file: str, language: str, unreadable: dict[str, str], absent_passes: bool
) -> TestOutcome:
    if file in unreadable:
        reason = unreadable[file]
        return _error(say(ctx, "static_analysis.file_unreadable", file=file, reason=reason))
    if file in ctx.files:
        return _error(say(ctx, "static_analysis.not_source_file", file=file, language=language))
    message = say(ctx, "static_analysis.file_missing", file=file)
    return _passed(message) if absent_passes else _failed(message)


def _unreadable_note(ctx: GradeContext, path: str, reason: str) -> str:
    return say(ctx, "static_analysis.unreadable_note", file=path, reason=reason)


def _syntax_notes(ctx: GradeContext, files: list[ParsedFile]) -> list[str]:
    return [
        say(ctx, "static_analysis.syntax_note", file=parsed.path, line=parsed.syntax_error_line)
        for parsed in files
        if parsed.syntax_error_line is not None
    ]


@dataclass(frozen=True)
class Wanted:
    """One keyword or custom rule, and the constructs any of which satisfies it."""

    label: str
    constructs: tuple[Construct, ...]


def wanted_constructs(
    ctx: GradeContext, params: KeywordParams | ForbiddenKeywordParams, language: str
) -> tuple[list[Wanted], list[str]]:
    """What to look for in `language`, and notes on what does not apply there."""
    keywords, skipped_keywords = _wanted_keywords(ctx, params.keywords, language)
    rules, skipped_rules = _wanted_rules(ctx, params.rules, language)
    skipped = skipped_keywords + skipped_rules
    notes = [say(ctx, "static_analysis.not_checked", items=", ".join(skipped))] if skipped else []
    return keywords + rules, notes


def _wanted_keywords(
    ctx: GradeContext, keywords: list[str], language: str
) -> tuple[list[Wanted], list[str]]:
    vocabulary, shown_language = KEYWORDS[language], LANGUAGE_NAMES[language]
    wanted, skipped = [], []
    for keyword in keywords:
        if keyword in vocabulary:
            descriptions = ", ".join(c.description.said(ctx) for c in vocabulary[keyword])
            wanted.append(Wanted(f"{keyword} ({descriptions})", vocabulary[keyword]))
        else:
            note = "static_analysis.keyword_not_in_language"
            skipped.append(say(ctx, note, keyword=keyword, language=shown_language))
    return wanted, skipped


def _wanted_rules(
    ctx: GradeContext, specs: list[RuleSpec], language: str
) -> tuple[list[Wanted], list[str]]:
    wanted, skipped = [], []
    for spec in specs:
        rule = custom_rule(spec)
        description = rule.construct.description.said(ctx)
        if _applies(rule, language):
            wanted.append(Wanted(description, (rule.construct,)))
        else:
            skipped.append(say(ctx, "static_analysis.rule_for_other_language", rule=description))
    return wanted, skipped


def _applies(rule: CustomRule, language: str) -> bool:
    if rule.language not in (None, language):
        return False
    return compile_error(rule.construct, language) is None


# --- findings -----------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    what: str
    code: str

    def shown(self, ctx: GradeContext) -> str:
        return say(
            ctx,
            "static_analysis.violation",
            file=self.path,
            line=self.line,
            what=self.what,
            code=self.code,
        )


def _snippet(text: str) -> str:
    first_line = next(iter(text.strip().splitlines()), "")
    return first_line[:SHOWN_SNIPPET_CHARS]


def matches(
    ctx: GradeContext, files: Iterable[ParsedFile], construct: Construct
) -> list[Violation]:
    what = construct.description.said(ctx)
    return [
        Violation(parsed.path, line_of(node), what, _snippet(node.text()))
        for parsed in files
        for node in search(parsed.root, construct.config())
    ]


def _found_anywhere(files: Iterable[ParsedFile], constructs: Iterable[Construct]) -> bool:
    return any(
        search_first(parsed.root, construct.config()) is not None
        for construct in constructs
        for parsed in files
    )


def judged(
    ctx: GradeContext, violations: list[Violation], notes: list[str], clean: str, header_key: str
) -> TestOutcome:
    """100 when nothing was found, else 0 with each violation (the first ones) listed
    under the header `header_key` ("Your code has {count} ...:")."""
    if not violations:
        return _passed(_joined(clean, notes))
    ordered = sorted(violations, key=lambda violation: (violation.path, violation.line))
    lines = [violation.shown(ctx) for violation in ordered[:SHOWN_VIOLATIONS]]
    if len(ordered) > SHOWN_VIOLATIONS:
        more = len(ordered) - SHOWN_VIOLATIONS
        lines.append(say(ctx, "static_analysis.more_violations", count=more))
    header = say(ctx, header_key, count=len(ordered))
    return _failed(_joined("\n".join([header, *lines]), notes))


def _joined(message: str, notes: list[str]) -> str:
    return "\n".join([message, *notes])


def _passed(message: str) -> TestOutcome:
    return TestOutcome(score=100, verdict="passed", message=message)


def _failed(message: str) -> TestOutcome:
    return TestOutcome(score=0, verdict="failed", message=message)


def _error(message: str) -> TestOutcome:
    return TestOutcome(score=0, verdict="error", message=message)


# --- the test functions -------------------------------------------------------------


async def forbidden_import(ctx: GradeContext, params: ForbiddenImportParams) -> TestOutcome:
    if not params.imports:
        return _passed(say(ctx, "static_analysis.nothing_forbidden"))
    scope = files_in_scope(ctx, params.file, absent_passes=True)
    if isinstance(scope, TestOutcome):
        return scope
    violations = _import_violations(ctx, scope, params.imports)
    clean = say(ctx, "static_analysis.no_forbidden_import", files=scope.file_names())
    return judged(ctx, violations, scope.notes, clean, "static_analysis.forbidden_imports_found")


def _import_violations(ctx: GradeContext, scope: Scope, forbidden: list[str]) -> list[Violation]:
    return [
        Violation(
            parsed.path,
            found.line,
            say(ctx, "static_analysis.imports", module=name),
            found.statement,
        )
        for parsed in scope.files
        for found in imports_in(parsed.root, scope.language)
        for name in forbidden
        if any(brings_in(imported, name) for imported in found.names)
    ]


async def forbidden_keyword(ctx: GradeContext, params: ForbiddenKeywordParams) -> TestOutcome:
    if not params.keywords and not params.rules:
        return _passed(say(ctx, "static_analysis.nothing_forbidden"))
    scope = files_in_scope(ctx, params.file, absent_passes=True)
    if isinstance(scope, TestOutcome):
        return scope
    wanted, notes = wanted_constructs(ctx, params, scope.language)
    # "loops" and "for" share constructs; each one is searched (and reported) once.
    constructs = dict.fromkeys(construct for item in wanted for construct in item.constructs)
    violations = [found for c in constructs for found in matches(ctx, scope.files, c)]
    clean = say(ctx, "static_analysis.no_forbidden_construct", files=scope.file_names())
    header_key = "static_analysis.forbidden_constructs_found"
    return judged(ctx, violations, scope.notes + notes, clean, header_key)


async def required_keyword(ctx: GradeContext, params: KeywordParams) -> TestOutcome:
    scope = files_in_scope(ctx, params.file)
    if isinstance(scope, TestOutcome):
        return scope
    wanted, notes = wanted_constructs(ctx, params, scope.language)
    missing = [item.label for item in wanted if not _found_anywhere(scope.files, item.constructs)]
    if not missing:
        message = say(ctx, "static_analysis.uses_everything", files=scope.file_names())
        return _passed(_joined(message, scope.notes + notes))
    listed = "\n".join(f"- {label}" for label in missing)
    message = say(ctx, "static_analysis.required_not_found", items=listed)
    return _failed(_joined(message, scope.notes + notes))


FORBIDDEN_IMPORT = TestFunction(
    name="forbidden_import",
    description="Passes when the source files import none of the given modules.",
    params_model=ForbiddenImportParams,
    run=forbidden_import,
)
FORBIDDEN_KEYWORD = TestFunction(
    name="forbidden_keyword",
    description="Passes when the source files contain none of the given constructs "
    "(loops, eval, recursion, ...) and match none of the given ast-grep rules.",
    params_model=ForbiddenKeywordParams,
    run=forbidden_keyword,
)
REQUIRED_KEYWORD = TestFunction(
    name="required_keyword",
    description="Passes when the source files contain each of the given constructs, "
    "or match each of the given ast-grep rules, at least once.",
    params_model=KeywordParams,
    run=required_keyword,
)
STATIC_ANALYSIS = Template(
    name="static_analysis",
    requires_sandbox=False,
    functions={f.name: f for f in (FORBIDDEN_IMPORT, FORBIDDEN_KEYWORD, REQUIRED_KEYWORD)},
    description="Checks the source code's syntax (imports, loops, eval, recursion, custom "
    "ast-grep rules) without running it.",
)
