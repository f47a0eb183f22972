"""Submission files as a model reads them: delimited, truncated, and within a budget.

Student files are untrusted text inside a prompt. Each one is wrapped in a
`<file path="...">` element whose closing tag cannot be forged from inside the file,
so the prompts can tell the model that everything in those elements is data.
"""

from collections.abc import Iterable, Mapping

# A long file says what it needs in its first 20k characters; 100k in all keeps a
# batch well inside the context window of small models.
MAX_FILE_CHARS = 20_000
MAX_TOTAL_CHARS = 100_000
_CLOSING_TAG = "</file>"


def files_block(
    files: Mapping[str, str],
    wanted: Iterable[str] | None = None,
    *,
    max_file_chars: int = MAX_FILE_CHARS,
    max_total_chars: int = MAX_TOTAL_CHARS,
) -> str:
    """The `wanted` files (default: all), sorted by path, each truncated, in one block."""
    paths = sorted(set(files) if wanted is None else set(wanted))
    budget = max_total_chars
    blocks = []
    for path in paths:
        shown, budget = _file_text(files.get(path), max_file_chars, budget)
        blocks.append(f'<file path="{_attribute(path)}">\n{shown}\n{_CLOSING_TAG}')
    return "\n\n".join(blocks) if blocks else "(no files)"


def _file_text(content: str | None, max_file_chars: int, budget: int) -> tuple[str, int]:
    """What to show of one file, and the budget left after it."""
    if content is None:
        return "(this file is not in the submission)", budget
    if "\x00" in content:
        return "(binary file, not shown)", budget
    limit = min(max_file_chars, budget)
    if limit <= 0:
        return "(not shown: the other files already fill the space for files)", budget
    safe = content.replace(_CLOSING_TAG, "<\\/file>")
    if len(safe) <= limit:
        return safe, budget - len(safe)
    note = f"\n[truncated: showing the first {limit} of {len(safe)} characters]"
    return safe[:limit] + note, budget - limit


def _attribute(path: str) -> str:
    return path.replace("&", "&amp;").replace('"', "&quot;")
