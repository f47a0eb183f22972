"""How a finished run's facts become a verdict; shared by every backend, no I/O."""

import signal
from dataclasses import dataclass

from contracts.sandbox import RunRequest, Verdict

MEMORY_ERROR_MARKERS = (
    "MemoryError",
    "java.lang.OutOfMemoryError",
    "std::bad_alloc",
    "Cannot allocate memory",
    "JavaScript heap out of memory",
)
# A program killed by a signal this close to its memory limit most likely died of it
# (a failed malloc in C often ends as SIGSEGV).
NEAR_MEMORY_LIMIT = 0.9


@dataclass(frozen=True)
class RunFacts:
    exit_code: int | None
    signal: int | None
    cpu_ms: int
    peak_memory_kb: int
    stderr: str
    killed_at_wall_limit: bool
    output_overflowed: bool


def judge(facts: RunFacts, request: RunRequest) -> Verdict:
    """The first limit that explains the ending wins; otherwise the exit status decides."""
    if facts.output_overflowed:
        return Verdict.OUTPUT_LIMIT
    if facts.killed_at_wall_limit or _cpu_exhausted(facts, request):
        return Verdict.TIME_LIMIT
    if _out_of_memory(facts, request):
        return Verdict.MEMORY_LIMIT
    if facts.exit_code == 0 and facts.signal is None:
        return Verdict.OK
    return Verdict.RUNTIME_ERROR


def _cpu_exhausted(facts: RunFacts, request: RunRequest) -> bool:
    # RLIMIT_CPU counts whole seconds, so a program can finish above its limit and still
    # exit normally; a shell that waited for it reports 128+SIGXCPU instead of the signal.
    return facts.signal == signal.SIGXCPU or facts.cpu_ms > request.cpu_time_limit_ms


def _out_of_memory(facts: RunFacts, request: RunRequest) -> bool:
    if any(marker in facts.stderr for marker in MEMORY_ERROR_MARKERS):
        return True
    limit_kb = request.memory_limit_mb * 1024
    return facts.signal is not None and facts.peak_memory_kb >= NEAR_MEMORY_LIMIT * limit_kb
