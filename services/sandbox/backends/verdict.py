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
# A shell reports a child killed by signal n as exit status 128 + n.
SHELL_SIGNAL_BASE = 128


@dataclass(frozen=True)
class RunFacts:
    exit_code: int | None
    signal: int | None
    cpu_ms: int
    peak_memory_kb: int
    stderr: str
    killed_at_wall_limit: bool
    output_overflowed: bool
    through_shell: bool = False  # a shell stood between the supervisor and the program
    heap_limited: bool = False  # a runtime (JVM, node) bounded by its own heap flag


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
    """RLIMIT_CPU sends SIGXCPU at its soft limit (whole seconds) and SIGKILL one second
    later; a program can also finish above its limit and still exit normally."""
    if facts.cpu_ms > request.cpu_time_limit_ms:
        return True
    # SIGXCPU says so whatever the CPU reading (it can fall a tick under the limit); the
    # hard limit's SIGKILL comes a second later, always above the limit, checked above.
    return death_signal(facts) == signal.SIGXCPU


def death_signal(facts: RunFacts) -> int | None:
    """The signal that ended the program, also when a shell reported it as 128 + n."""
    if facts.signal is not None:
        return facts.signal
    code = facts.exit_code
    if facts.through_shell and code is not None and SHELL_SIGNAL_BASE < code < 256:
        return code - SHELL_SIGNAL_BASE
    return None


def _out_of_memory(facts: RunFacts, request: RunRequest) -> bool:
    if any(marker in facts.stderr for marker in MEMORY_ERROR_MARKERS):
        return True
    limit_kb = request.memory_limit_mb * 1024
    if not facts.heap_limited and facts.peak_memory_kb > limit_kb:
        return True  # it used more than its limit, whatever let it (the cgroup's headroom)
    died = death_signal(facts) is not None
    return died and facts.peak_memory_kb >= NEAR_MEMORY_LIMIT * limit_kb
