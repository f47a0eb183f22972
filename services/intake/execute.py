"""POST /api/v1/execute: run a command on some files in a sandbox of its own, once
per stdin case, and say what happened; nothing is graded or stored. The limits are
the reference's: 20 files, 64 KiB each and 256 KiB in all, 4 cases of 16 KiB of
stdin, 8 s per case, 16 KiB of output per stream.
"""

import posixpath
import shlex
import uuid
from typing import Protocol

from contracts.api import ExecuteIn, ExecuteOut, ExecutionResult
from contracts.config import KNOWN_LANGUAGES
from contracts.sandbox import RunRequest, RunResult, Verdict
from services.intake.logic import Problem

MAX_TOTAL_FILE_BYTES = 256 * 1024
MAX_STDIN_BYTES = 16 * 1024
CASE_LIMIT_MS = 8_000
OUTPUT_LIMIT_BYTES = 16 * 1024
MEMORY_LIMIT_MB = 256


class Executor(Protocol):
    async def acquire(self, owner: str, language: str) -> str: ...
    async def write_files(self, lease_id: str, files: dict[str, str]) -> None: ...
    async def run(self, lease_id: str, request: RunRequest) -> RunResult: ...
    async def release_owner(self, owner: str) -> None: ...


def execute_problems(request: ExecuteIn) -> list[Problem]:
    """What the request asks beyond what may run, each at its field."""
    problems: list[Problem] = []
    if request.language not in KNOWN_LANGUAGES:
        known = list(KNOWN_LANGUAGES)
        problems.append({"loc": ["language"], "msg": f"not one of {known}"})
    problems += _file_problems(request)
    if not _argv(request.program_command):
        problems.append({"loc": ["program_command"], "msg": "not a program with arguments"})
    for index, case in enumerate(request.test_cases or []):
        if len(_stdin(case).encode()) > MAX_STDIN_BYTES:
            problems.append({"loc": ["test_cases", index], "msg": "stdin over 16 KiB"})
    return problems


def _file_problems(request: ExecuteIn) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, file in enumerate(request.submission_files):
        name = file.filename
        normal = posixpath.normpath(name)
        if normal != name or normal.startswith(("/", "../")) or normal in (".", ".."):
            problems.append(
                {"loc": ["submission_files", index, "filename"], "msg": "not a plain relative path"}
            )
        elif name in seen:
            problems.append({"loc": ["submission_files", index, "filename"], "msg": "given twice"})
        seen.add(name)
    if sum(len(f.content.encode()) for f in request.submission_files) > MAX_TOTAL_FILE_BYTES:
        problems.append({"loc": ["submission_files"], "msg": "over 256 KiB in all"})
    return problems


async def execute(request: ExecuteIn, sandbox: Executor) -> ExecuteOut:
    """Each case in turn in one fresh sandbox, released whatever happens."""
    owner = f"execute-{uuid.uuid4().hex}"
    try:  # an acquire that timed out may still lease later: released all the same
        lease_id = await sandbox.acquire(owner, request.language)
        files = {f.filename: f.content for f in request.submission_files}
        await sandbox.write_files(lease_id, files)
        return await _run_cases(request, sandbox, lease_id)
    finally:
        await sandbox.release_owner(owner)


async def _run_cases(request: ExecuteIn, sandbox: Executor, lease_id: str) -> ExecuteOut:
    results = []
    for case in request.test_cases or [[]]:
        run = RunRequest(
            argv=_argv(request.program_command),
            stdin=_stdin(case),
            cpu_time_limit_ms=CASE_LIMIT_MS,
            wall_time_limit_ms=CASE_LIMIT_MS,
            memory_limit_mb=MEMORY_LIMIT_MB,
            output_limit_bytes=OUTPUT_LIMIT_BYTES,
        )
        result = _result(await sandbox.run(lease_id, run))
        results.append(result)
        if result.category == "timeout":  # the rest would wait as long: stop here
            return ExecuteOut(results=results, stopped_early=len(results) < _cases(request))
    return ExecuteOut(results=results)


def _result(run: RunResult) -> ExecutionResult:
    category, message = _category(run)
    return ExecutionResult(
        category=category,
        stdout=run.stdout,
        stderr=run.stderr,
        exit_code=-1 if run.exit_code is None else run.exit_code,
        execution_time=run.wall_ms / 1000,
        output=run.stdout + run.stderr,
        error_message=message,
        truncated=run.stdout_truncated or run.stderr_truncated,
    )


def _category(run: RunResult) -> tuple[str, str | None]:
    if run.verdict is Verdict.TIME_LIMIT:
        return "timeout", f"stopped after the {CASE_LIMIT_MS // 1000} s limit"
    if run.verdict is Verdict.MEMORY_LIMIT:
        return "runtime_error", f"used more than {MEMORY_LIMIT_MB} MB of memory"
    if run.signal is not None:
        return "runtime_error", f"killed by signal {run.signal}"
    if run.exit_code != 0:
        return "runtime_error", f"exited with code {run.exit_code}"
    return "success", None


def _argv(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return []


def _stdin(case: list[str]) -> str:
    return "".join(f"{line}\n" for line in case)


def _cases(request: ExecuteIn) -> int:
    return len(request.test_cases or [[]])
