"""What a student reads: the Markdown report of a graded submission and the text of a failure.

Pure functions, no I/O. Every sentence comes from the locale catalogues (`catalog.t`), so
the same code speaks each supported language. `render_failure` follows the layout of
reference/pipeline-execution-tracking.txt ("## Preflight Check Failed").
"""

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from contracts.failures import (
    FailedCommand,
    InternalError,
    RequiredFileMissing,
    RunnerLost,
    SetupCommandFailed,
)
from contracts.messages import StepResult
from contracts.results import FocusItem, NodeResult, ResultTree, TestResult
from contracts.steps import StepName, StepStatus
from services.feedback.catalog import placeholders, t, t_list, template
from shared.feedback_config import FeedbackConfig, OnlineContent

CATEGORY_ORDER = ("base", "bonus", "penalty")
LIMIT_VERDICTS = ("time_limit", "memory_limit", "output_limit", "runtime_error")
# Compiler output: the first error is at the head, and later ones are mostly its echoes.
MAX_ERROR_LINES = 60
MAX_ERROR_CHARS = 4000
# Expected/received blocks: enough to spot a difference without burying the report.
MAX_OUTPUT_LINES = 30
MAX_OUTPUT_CHARS = 2000

COMPILED_LANGUAGES = frozenset({"java", "c", "cpp"})
TOOLCHAIN_LANGUAGES = frozenset({"java", "c", "cpp", "python", "node"})
_LANGUAGE_ALIASES = {
    "c++": "cpp",
    "javascript": "node",
    "js": "node",
    "nodejs": "node",
    "python3": "python",
    "py": "python",
}


@dataclass(frozen=True)
class _Entry:
    """A test with the subjects above it (`functions / strings`), for headings."""

    test: TestResult
    subject: str


@dataclass(frozen=True)
class _Excerpt:
    """The first (or last) lines of a long text and how much of it they are."""

    text: str
    shown_lines: int
    total_lines: int
    shown_chars: int
    total_chars: int
    from_end: bool = False

    @property
    def truncated(self) -> bool:
        return self.shown_chars < self.total_chars


def choose_locale(config: FeedbackConfig, submission_locale: str) -> str:
    """The instructor's locale when the feedback config sets one, else the submission's."""
    return config.locale or submission_locale


# --- the report of a graded submission ------------------------------------------------


def render_report(
    tree: ResultTree, focus: list[FocusItem], config: FeedbackConfig, locale: str
) -> str:
    """The Markdown report: title, grade, summary, each category, learning resources."""
    general = config.general
    sections = [f"# {general.report_title or t(locale, 'report.title')}"]
    if general.show_score:
        sections.append(t(locale, "report.grade", score=_number(tree.final_score, locale)))
    if general.add_report_summary:
        sections.append(_summary(tree, locale))
    rank = {item.path: item for item in focus}
    for name, node in _ordered_categories(tree):
        sections.append(_category_section(name, node, rank, config, locale))
    resources = _learning_resources(tree, general.online_content, locale)
    if resources:
        sections.append(resources)
    return "\n\n".join(sections) + "\n"


def _ordered_categories(tree: ResultTree) -> list[tuple[str, NodeResult]]:
    known = [(name, tree.children[name]) for name in CATEGORY_ORDER if name in tree.children]
    others = [(name, node) for name, node in tree.children.items() if name not in CATEGORY_ORDER]
    return known + others


def _summary(tree: ResultTree, locale: str) -> str:
    tests = [entry.test for entry in _all_entries(tree)]
    failed = sum(1 for test in tests if _failed(test))
    summary = t(
        locale, "report.summary", passed=len(tests) - failed, failed=failed, total=len(tests)
    )
    return f"{summary}\n\n{t(locale, 'report.all_passed')}" if tests and not failed else summary


def _category_section(
    name: str,
    node: NodeResult,
    rank: Mapping[str, FocusItem],
    config: FeedbackConfig,
    locale: str,
) -> str:
    entries = list(_entries(node, ""))
    failed = _by_focus([entry for entry in entries if _failed(entry.test)], rank)
    blocks = [_category_heading(name, node, bool(failed), config, locale)]
    blocks += [_failed_test(entry, rank.get(entry.test.path), config, locale) for entry in failed]
    if not failed:
        key = "report.no_penalty" if name == "penalty" else "report.category_clean"
        blocks.append(t(locale, key))
    passed = [entry for entry in entries if not _failed(entry.test)]
    if config.general.show_passed_tests and passed:
        blocks.append(_passed_list(passed, locale))
    return "\n\n".join(blocks)


def _category_heading(
    name: str, node: NodeResult, has_failures: bool, config: FeedbackConfig, locale: str
) -> str:
    custom = getattr(config.default.category_headers, name, None)
    # Instructors' headers often carry their own emoji, so only the default gets an icon.
    header = custom or f"{'❌' if has_failures else '✅'} {_default_header(name, locale)}"
    if config.general.show_score:
        header += " " + t(locale, "report.category_score", score=_number(node.score, locale))
    return f"### {header}"


def _default_header(name: str, locale: str) -> str:
    return t(locale, f"report.category.{name}") if name in CATEGORY_ORDER else name


def _by_focus(entries: list[_Entry], rank: Mapping[str, FocusItem]) -> list[_Entry]:
    """Focus order (most points lost first); tests focus does not rank keep tree order."""
    position = {path: index for index, path in enumerate(rank)}
    return sorted(entries, key=lambda entry: position.get(entry.test.path, len(position)))


def _failed_test(
    entry: _Entry, focus: FocusItem | None, config: FeedbackConfig, locale: str
) -> str:
    test = entry.test
    heading = f"#### ❌ `{test.name}`" + (f" · {entry.subject}" if entry.subject else "")
    lines = [heading]
    if config.general.show_score and focus is not None and focus.points_lost > 0:
        lines.append(t(locale, "report.points_lost", points=_number(focus.points_lost, locale)))
    lines += _test_explanation(test, locale)
    lines += _comparison(test, locale)
    return "\n\n".join(lines)


def _test_explanation(test: TestResult, locale: str) -> list[str]:
    lines = [t(locale, f"verdict.{test.verdict}")] if test.verdict != "failed" else []
    if test.message:
        lines.append(test.message)
    return lines or [t(locale, "verdict.failed")]


def _comparison(test: TestResult, locale: str) -> list[str]:
    blocks: list[str] = []
    if test.first_diff_line is not None:
        blocks.append(t(locale, "report.first_difference", line=test.first_diff_line))
    if test.expected is not None:
        blocks.append(_output_block(t(locale, "report.expected"), test.expected, locale))
    if test.actual is not None:
        blocks.append(_output_block(t(locale, "report.received"), test.actual, locale))
    return blocks


def _output_block(label: str, output: str, locale: str) -> str:
    if not output:
        return f"{label} {t(locale, 'output.empty')}"
    head = _head(output, MAX_OUTPUT_LINES, MAX_OUTPUT_CHARS)
    return f"{label}\n{_fenced(head.text, 'text')}{_truncation_note(head, locale)}"


def _passed_list(entries: list[_Entry], locale: str) -> str:
    items = [f"- ✅ `{entry.test.name}`" for entry in entries]
    return "\n".join([t(locale, "report.passed_tests"), *items])


def _learning_resources(tree: ResultTree, contents: list[OnlineContent], locale: str) -> str:
    """Resources linked (by test name or type) to a failed test, with the tests they help."""
    failed = [entry.test for entry in _all_entries(tree) if _failed(entry.test)]
    items: list[str] = []
    for content in contents:
        helped = [
            test.name for test in failed if {test.name, test.type} & set(content.linked_tests)
        ]
        if helped:
            tests = ", ".join(f"`{name}`" for name in dict.fromkeys(helped))
            text = content.description or content.url
            items.append(
                t(locale, "report.resource", description=text, url=content.url, tests=tests)
            )
    return f"{t(locale, 'report.resources_title')}\n\n" + "\n".join(items) if items else ""


def _all_entries(tree: ResultTree) -> Iterator[_Entry]:
    for _, node in _ordered_categories(tree):
        yield from _entries(node, "")


def _entries(node: NodeResult, subject: str) -> Iterator[_Entry]:
    for test in node.tests:
        yield _Entry(test, subject)
    for child in node.subjects:
        yield from _entries(child, f"{subject} / {child.name}" if subject else child.name)


def _failed(test: TestResult) -> bool:
    return test.verdict != "passed"


def _number(value: float, locale: str) -> str:
    """85.5 -> '85.5' ('85,5' in pt-BR); whole numbers lose their decimals."""
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return text.replace(".", t(locale, "number.decimal_separator"))


# --- the text of a failed pipeline ------------------------------------------------------


def render_failure(failed: StepResult, language: str, locale: str) -> str:
    """The Markdown a student reads when the pipeline stopped at `failed`."""
    if failed.status != StepStatus.FAIL:
        raise ValueError(f"step {failed.step} did not fail; there is no failure to explain")
    details = failed.error_details
    if failed.step != StepName.PRE_FLIGHT or details is None:
        return _internal_error(failed.step, locale)
    match details:
        case InternalError() | RunnerLost():
            return _internal_error(failed.step, locale)
        case RequiredFileMissing():
            return _required_file_missing(details, locale)
        case SetupCommandFailed():
            return _setup_command_failed(details, _toolchain(language), locale)
    return _preflight_other(failed.message, locale)


def plain_failure(failed: StepResult) -> str:
    """The failure as the step reported it, for when the full text cannot be rendered."""
    return f"Grading stopped at {failed.step.value}: {failed.message}"


def _preflight_heading(locale: str) -> str:
    return f"{t(locale, 'preflight.title')}\n\n{t(locale, 'preflight.intro')}"


def _required_file_missing(details: RequiredFileMissing, locale: str) -> str:
    missing = details.missing_file or t(locale, "preflight.missing.unnamed")
    near_miss = details.near_miss
    blocks = [
        _preflight_heading(locale),
        t(locale, "preflight.missing.heading", file=missing),
        t(locale, "preflight.missing.explanation", file=missing),
    ]
    if near_miss:
        blocks.append(t(locale, "preflight.missing.near_miss", found=near_miss, file=missing))
    variant = _case_variant(missing)
    todo = t_list(locale, "preflight.missing.todo", file=missing, variant=variant)
    blocks.append(_bullets(t(locale, "todo.title"), todo))
    return "\n\n".join(blocks) + "\n"


def _case_variant(name: str) -> str:
    """A spelling differing only in case, to show that case matters: 'Main.java' -> 'main.java'."""
    lowered = name.lower()
    return lowered if lowered != name else name[:1].upper() + name[1:]


def _setup_command_failed(details: SetupCommandFailed, language: str, locale: str) -> str:
    command = details.failed_command
    command_text = command.command
    name = details.command_name or command_text
    blocks = [
        _preflight_heading(locale),
        t(locale, "setup.heading", command_name=name),
        f"{t(locale, 'setup.command')}\n{_fenced(command_text, 'bash')}",
    ]
    blocks.append(t(locale, "setup.exit_code", exit_code=command.exit_code))
    blocks.append(_error_output(command, locale))
    if command.verdict is not None:
        blocks.append(limit_message(command.verdict.value, locale))
    blocks.append(_bullets(t(locale, "todo.title"), _setup_todo(language, locale)))
    return "\n\n".join(blocks) + "\n"


def _error_output(command: FailedCommand, locale: str) -> str:
    """stderr, or stdout when stderr is empty (some tools report errors on stdout)."""
    output = (command.stderr or command.stdout).rstrip("\n")
    label = t(locale, "setup.error_output")
    if not output:
        return f"{label} {t(locale, 'output.empty')}"
    head = _head(output, MAX_ERROR_LINES, MAX_ERROR_CHARS)
    note = _truncation_note(head, locale)
    if note:
        note += " " + t(locale, "output.first_error_first")
    return f"{label}\n{_fenced(head.text)}{note}"


def _setup_todo(language: str, locale: str) -> list[str]:
    kind = "compiled" if language in COMPILED_LANGUAGES else "other"
    return [
        t(locale, f"setup.todo.fix_{kind}"),
        t(locale, "setup.todo.line_numbers"),
        *t_list(locale, f"guidance.{language}"),
        t(locale, f"setup.todo.resubmit_{kind}"),
    ]


def _toolchain(language: str) -> str:
    """The guidance set for a submission language; unknown languages get generic tips."""
    name = language.strip().lower()
    name = _LANGUAGE_ALIASES.get(name, name)
    return name if name in TOOLCHAIN_LANGUAGES else "generic"


def _preflight_other(message: str, locale: str) -> str:
    todo = t_list(locale, "preflight.other.todo")
    blocks = [_preflight_heading(locale), f"> {message}" if message else ""]
    blocks.append(_bullets(t(locale, "todo.title"), todo))
    return "\n\n".join(block for block in blocks if block) + "\n"


def _internal_error(step: StepName, locale: str) -> str:
    """Not the student's fault: say so plainly, and what happens next."""
    blocks = [
        t(locale, "internal.title"),
        t(locale, "internal.explanation", step=step.value),
        _bullets(
            t(locale, "internal.next_title"), t_list(locale, "internal.next", step=step.value)
        ),
    ]
    return "\n\n".join(blocks) + "\n"


# --- resource limits --------------------------------------------------------------------


def limit_message(verdict: str, locale: str, **params: object) -> str:
    """What happened and what to try, for a run stopped by a limit or a crash.

    Optional params add detail when given: `limit_ms` (time_limit), `limit_mb`
    (memory_limit), `limit_kb` (output_limit), `exit_code` (runtime_error), and
    `error_output` (any verdict: the program's stderr, shown truncated).
    """
    if verdict not in LIMIT_VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}; known: {list(LIMIT_VERDICTS)}")
    explanation = t(locale, f"limit.{verdict}.explanation")
    detail_key = f"limit.{verdict}.detail"
    if placeholders(template(locale, detail_key)) <= params.keys():
        explanation += " " + t(locale, detail_key, **params)
    blocks = [t(locale, f"limit.{verdict}.title"), explanation]
    error_output = params.get("error_output")
    if isinstance(error_output, str) and error_output.strip():
        # A crash names its error at the end of the output (the last traceback line).
        tail = _tail(error_output.rstrip("\n"), MAX_ERROR_LINES, MAX_ERROR_CHARS)
        label = t(locale, "setup.error_output")
        blocks.append(f"{label}\n{_fenced(tail.text)}{_truncation_note(tail, locale)}")
    blocks.append(_bullets(t(locale, "limit.tips_title"), t_list(locale, f"limit.{verdict}.tip")))
    return "\n\n".join(blocks)


# --- Markdown helpers -------------------------------------------------------------------


def _bullets(title: str, items: Sequence[str]) -> str:
    return "\n".join([title, *(f"- {item}" for item in items)])


def _fenced(text: str, info: str = "") -> str:
    """A code block whose fence is longer than any backtick run inside the text."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def _head(text: str, max_lines: int, max_chars: int) -> _Excerpt:
    """The first lines of `text` within both limits (a single overlong line is cut)."""
    lines = text.splitlines()
    kept: list[str] = []
    used = 0
    for line in lines[:max_lines]:
        if used + len(line) > max_chars:
            if not kept:
                kept.append(line[:max_chars])
            break
        kept.append(line)
        used += len(line) + 1
    shown = "\n".join(kept)
    return _Excerpt(shown, len(kept), len(lines), len(shown), len("\n".join(lines)))


def _tail(text: str, max_lines: int, max_chars: int) -> _Excerpt:
    """The last lines of `text` within both limits: where a traceback names the error."""
    reversed_head = _head("\n".join(reversed(text.splitlines())), max_lines, max_chars)
    shown = "\n".join(reversed(reversed_head.text.splitlines()))
    return replace(reversed_head, text=shown, from_end=True)


def _truncation_note(excerpt: _Excerpt, locale: str) -> str:
    if not excerpt.truncated:
        return ""
    part = "last" if excerpt.from_end else "first"
    if excerpt.shown_lines < excerpt.total_lines:
        shown, total, unit = excerpt.shown_lines, excerpt.total_lines, "lines"
    else:
        shown, total, unit = excerpt.shown_chars, excerpt.total_chars, "chars"
    return "\n\n" + t(locale, f"output.truncated_{part}_{unit}", shown=shown, total=total)
