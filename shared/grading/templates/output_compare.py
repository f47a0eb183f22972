"""Comparing a program's output with the expected output, and locating the first difference.

Modes (the `normalize` parameter of expect_output and expect_file_artifact):
- "strip" (the default, the reference autograder's `normalization: true`): "\\r\\n" and
  "\\r" become "\\n", trailing whitespace of each line is removed, then leading and
  trailing whitespace of the whole text (so blank lines before and after do not count).
- "none" (`normalization: false`): byte-for-byte equal text.
- "trailing_whitespace": trailing whitespace of each line and trailing blank lines are
  ignored; leading blank lines and indentation of the first line count.
- "case_insensitive": like "trailing_whitespace", and letter case is ignored.
- "whitespace": only the sequence of non-blank words matters; any run of spaces, tabs
  and newlines equals any other.
"""

from dataclasses import dataclass
from typing import Literal

NormalizeMode = Literal["strip", "none", "trailing_whitespace", "whitespace", "case_insensitive"]


@dataclass(frozen=True)
class Difference:
    """Where `actual` stops matching: its 1-based line, counted in `actual` as printed,
    and that line of each text as compared (None where the text had already ended).
    `lines` is None in "whitespace" mode, where lines are not what is compared."""

    line: int
    lines: tuple[str | None, str | None] | None


def strip_normalized(text: str) -> str:
    """The reference autograder's normalization (mode "strip")."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def first_difference(expected: str, actual: str, mode: NormalizeMode) -> Difference | None:
    """Where `actual` stops matching `expected`; None when they are equal in `mode`."""
    if mode == "whitespace":
        line = _first_word_difference(expected, actual)
        return None if line is None else Difference(line, None)
    want, got = _lines(expected, mode), _lines(actual, mode)
    index = _first_line_difference(_folded(want, mode), _folded(got, mode))
    if index is None:
        return None
    pair = (_at(want, index), _at(got, index))
    return Difference(index + 1 + _dropped_leading_lines(actual, mode), pair)


def _lines(text: str, mode: NormalizeMode) -> list[str]:
    if mode == "none":
        return text.split("\n")
    if mode == "strip":
        return strip_normalized(text).split("\n")
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _folded(lines: list[str], mode: NormalizeMode) -> list[str]:
    return [line.casefold() for line in lines] if mode == "case_insensitive" else lines


def _dropped_leading_lines(text: str, mode: NormalizeMode) -> int:
    """Blank lines "strip" removed before the first printed line: line numbers a student
    reads count them."""
    if mode != "strip":
        return 0
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blank = 0
    while blank < len(lines) - 1 and not lines[blank].strip():
        blank += 1
    return blank


def _at(lines: list[str], index: int) -> str | None:
    return lines[index] if index < len(lines) else None


def _first_line_difference(expected: list[str], actual: list[str]) -> int | None:
    """The 0-based index of the first differing line; None when equal."""
    for index, (want, got) in enumerate(zip(expected, actual, strict=False)):
        if want != got:
            return index
    if len(expected) == len(actual):
        return None
    return min(len(expected), len(actual))


def _first_word_difference(expected: str, actual: str) -> int | None:
    want = [word for _, word in _numbered_words(expected)]
    got = _numbered_words(actual)
    for wanted_word, (line, got_word) in zip(want, got, strict=False):
        if wanted_word != got_word:
            return line
    if len(want) == len(got):
        return None
    if len(got) > len(want):
        return got[len(want)][0]
    # The output stopped early: the difference is just after its last word.
    return (got[-1][0] + 1) if got else 1


def _numbered_words(text: str) -> list[tuple[int, str]]:
    return [
        (number, word)
        for number, line in enumerate(text.splitlines(), start=1)
        for word in line.split()
    ]
