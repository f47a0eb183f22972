"""Runs one instructor test function INSIDE the sandbox; its text is the program of
`python3 -I -c <this file>` (isolated mode: the student's files cannot shadow a module).

stdin: one JSON object {"module", "source", "function", "arguments", "language"}.
stdout: one JSON line, the reply:
    {"status": "ok", "score": 0..100, "message": str | None}
    {"status": "memory_limit"}
    {"status": "error", "kind": "load" | "exception" | "missing_function" | "bad_result"
     | "score_out_of_range", ...details, "traceback": str (for the instructor's log)}
While the check runs, file descriptor 1 points at stderr, so nothing it (or a program it
starts) prints can be mistaken for the reply.

Standard library only: it runs on the sandbox image's python3 (Debian bookworm's 3.11,
in every image), not in the service's environment.
"""

import json
import linecache
import os
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any, TextIO

MAX_FILE_BYTES = 1024 * 1024
SKIPPED_DIRS = frozenset({".git", "__pycache__", "node_modules", ".venv"})
TRACEBACK_CHARS = 3000


def test(function: Callable[..., Any]) -> Callable[..., Any]:
    """The decorator instructor modules mark their test functions with; it changes nothing."""
    return function


class Submission:
    """What a test function sees of the submission; it cannot change it."""

    __slots__ = ("_files", "_language")
    _files: "types.MappingProxyType[str, str]"
    _language: str

    def __init__(self, files: dict[str, str], language: str) -> None:
        object.__setattr__(self, "_files", types.MappingProxyType(dict(files)))
        object.__setattr__(self, "_language", language)

    @property
    def files(self) -> "types.MappingProxyType[str, str]":
        return self._files

    @property
    def language(self) -> str:
        return self._language

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("the submission is read-only")

    def __repr__(self) -> str:
        return f"Submission(language={self.language!r}, files={sorted(self.files)})"


def read_files(root: str = ".") -> dict[str, str]:
    """Every UTF-8 text file under `root` by relative POSIX path; binaries are left out."""
    files: dict[str, str] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(names):
            path = os.path.join(folder, name)
            text = _text_of(path)
            if text is not None:
                files[os.path.relpath(path, root).replace(os.sep, "/")] = text
    return files


def _text_of(path: str) -> str | None:
    try:
        if os.path.getsize(path) > MAX_FILE_BYTES:
            return None
        with open(path, "rb") as file:
            return file.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def reply_for(call: dict[str, Any], submission: Submission) -> dict[str, Any]:
    """Load the module, call the function, judge what it returned."""
    namespace: dict[str, Any] = {"__name__": call["module"], "test": test}
    filename = f"<{call['module']}>"
    # So the instructor's traceback shows their source lines, as for a file.
    lines = call["source"].splitlines(keepends=True)
    linecache.cache[filename] = (len(call["source"]), None, lines, filename)
    try:
        exec(compile(call["source"], filename, "exec"), namespace)
    except MemoryError:
        return {"status": "memory_limit"}
    except BaseException as error:  # SystemExit too: whatever stops the check is reported
        return _failure("load", error)
    function = namespace.get(call["function"])
    if not callable(function):
        return {"status": "error", "kind": "missing_function"}
    try:
        returned = function(submission, **call["arguments"])
    except MemoryError:
        return {"status": "memory_limit"}
    except BaseException as error:  # SystemExit too: whatever stops the check is reported
        return _failure("exception", error)
    return judged(returned)


def judged(returned: Any) -> dict[str, Any]:
    """A bool, a number 0..100 or (score, message) as a reply; anything else is an error."""
    score, message = returned, None
    if isinstance(returned, tuple) and len(returned) == 2:
        score, message = returned
    if isinstance(score, bool):
        score = 100.0 if score else 0.0
    if not isinstance(score, int | float) or not isinstance(message, str | None):
        return {"status": "error", "kind": "bad_result", "returned": type(returned).__name__}
    if not 0 <= score <= 100:  # NaN fails this too
        return {"status": "error", "kind": "score_out_of_range", "returned": repr(score)[:40]}
    return {"status": "ok", "score": float(score), "message": message}


def _failure(kind: str, error: BaseException) -> dict[str, Any]:
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    return {
        "status": "error",
        "kind": kind,
        "exception": type(error).__name__,
        "traceback": "".join(lines)[-TRACEBACK_CHARS:],
    }


def _private_stdout() -> TextIO:
    """The real stdout, kept for the reply; fd 1 then points at stderr."""
    sys.stdout.flush()
    kept = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(kept, "w", encoding="utf-8")


def main() -> None:
    call = json.loads(sys.stdin.read())
    replies = _private_stdout()
    submission = Submission(read_files(), call["language"])
    reply = reply_for(call, submission)
    replies.write(json.dumps(reply) + "\n")
    replies.flush()


if __name__ == "__main__":
    main()
