"""How a run's facts become a verdict (no processes)."""

import signal

import pytest

from contracts.sandbox import RunRequest, Verdict
from services.sandbox.backends.verdict import RunFacts, judge

REQUEST = RunRequest(argv=["./a.out"], cpu_time_limit_ms=1_000, memory_limit_mb=100)


def facts(**overrides: object) -> RunFacts:
    values: dict[str, object] = {
        "exit_code": 0,
        "signal": None,
        "cpu_ms": 10,
        "peak_memory_kb": 2_000,
        "stderr": "",
        "killed_at_wall_limit": False,
        "output_overflowed": False,
    }
    values.update(overrides)
    return RunFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "verdict"),
    [
        ({}, Verdict.OK),
        ({"exit_code": 1}, Verdict.RUNTIME_ERROR),
        ({"exit_code": None, "signal": signal.SIGSEGV}, Verdict.RUNTIME_ERROR),
        ({"exit_code": None, "signal": signal.SIGXCPU, "cpu_ms": 1_000}, Verdict.TIME_LIMIT),
        ({"exit_code": None, "signal": signal.SIGKILL, "cpu_ms": 2_000}, Verdict.TIME_LIMIT),
        # RLIMIT_CPU has whole seconds: 1.4 s of a 1 s limit can still end normally.
        ({"cpu_ms": 1_400}, Verdict.TIME_LIMIT),
        # A shell that waited for a program killed by SIGXCPU exits with 128 + 24, and the
        # CPU reading can fall a tick under the limit (issue 9: was runtime_error).
        ({"exit_code": 152, "cpu_ms": 1_010, "through_shell": True}, Verdict.TIME_LIMIT),
        ({"exit_code": 152, "cpu_ms": 996, "through_shell": True}, Verdict.TIME_LIMIT),
        ({"exit_code": None, "signal": signal.SIGXCPU, "cpu_ms": 996}, Verdict.TIME_LIMIT),
        # The hard limit's SIGKILL (a program that survived SIGXCPU), through a shell too.
        ({"exit_code": 137, "cpu_ms": 1_992, "through_shell": True}, Verdict.TIME_LIMIT),
        # A SIGKILL under the limit is not the CPU limit's (it comes above): an OOM kill.
        ({"exit_code": None, "signal": signal.SIGKILL, "cpu_ms": 985}, Verdict.RUNTIME_ERROR),
        # A program may exit 152 itself: without a shell that is its own exit code.
        ({"exit_code": 152, "cpu_ms": 996}, Verdict.RUNTIME_ERROR),
        # SIGKILL far from the CPU limit is not a time limit (an OOM kill, a kill -9).
        ({"exit_code": None, "signal": signal.SIGKILL, "cpu_ms": 300}, Verdict.RUNTIME_ERROR),
        (
            {"exit_code": None, "signal": signal.SIGKILL, "killed_at_wall_limit": True},
            Verdict.TIME_LIMIT,
        ),
        ({"exit_code": 1, "stderr": "Traceback...\nMemoryError\n"}, Verdict.MEMORY_LIMIT),
        (
            {"exit_code": 1, "stderr": 'Exception in thread "main" java.lang.OutOfMemoryError'},
            Verdict.MEMORY_LIMIT,
        ),
        (
            {"exit_code": None, "signal": signal.SIGABRT, "stderr": "std::bad_alloc"},
            Verdict.MEMORY_LIMIT,
        ),
        (
            {"exit_code": None, "signal": signal.SIGSEGV, "peak_memory_kb": 95_000},
            Verdict.MEMORY_LIMIT,
        ),
        ({"exit_code": 1, "peak_memory_kb": 99_000}, Verdict.RUNTIME_ERROR),
        # Past the limit inside the cgroup's headroom (Docker): a memory limit all the same,
        ({"peak_memory_kb": 110_000}, Verdict.MEMORY_LIMIT),
        # but not for a runtime bounded by its own heap flag (the JVM's RSS exceeds -Xmx).
        ({"peak_memory_kb": 110_000, "heap_limited": True}, Verdict.OK),
        (
            {"exit_code": None, "signal": signal.SIGKILL, "output_overflowed": True},
            Verdict.OUTPUT_LIMIT,
        ),
    ],
)
def test_verdict(overrides: dict[str, object], verdict: Verdict) -> None:
    assert judge(facts(**overrides), REQUEST) is verdict
