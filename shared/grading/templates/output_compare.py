"""Comparing a program's output with the expected output, and locating the first difference.

Modes (the `normalize` parameter of expect_output):
- "none": byte-for-byte equal text.
- "trailing_whitespace" (default): trailing whitespace of each line and trailing blank
  lines are ignored; also makes "\\r\\n" and "\\n" equal.
- "case_insensitive": like "trailing_whitespace", and letter case is ignored.
- "whitespace": only the sequence of non-blank words matters; any run of spaces, tabs
  and newlines equals any other.
"""

from typing import Literal

NormalizeMode = Literal["none", "trailing_whitespace", "whitespace", "case_insensitive"]


def first_difference(expected: str, actual: str, mode: NormalizeMode) -> int | None:
    """The 1-based line of `actual` where it stops matching `expected`; None when equal."""
    if mode == "whitespace":
        return _first_word_difference(expected, actual)
    return _first_line_difference(_lines(expected, mode), _lines(actual, mode))


def _lines(text: str, mode: NormalizeMode) -> list[str]:
    if mode == "none":
        return text.split("\n")
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if mode == "case_insensitive":
        return [line.casefold() for line in lines]
    return lines


def _first_line_difference(expected: list[str], actual: list[str]) -> int | None:
    for number, (want, got) in enumerate(zip(expected, actual, strict=False), start=1):
        if want != got:
            return number
    if len(expected) == len(actual):
        return None
    return min(len(expected), len(actual)) + 1


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
