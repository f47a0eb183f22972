"""Sandbox run requests and results, shared by every sandbox backend and its callers."""

from enum import StrEnum

from pydantic import Field, model_validator

from contracts.base import Contract


class Verdict(StrEnum):
    OK = "ok"
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    RUNTIME_ERROR = "runtime_error"


class RunRequest(Contract):
    """One command to run inside a leased sandbox.

    Exactly one of `argv` (no shell) or `shell` (run by /bin/sh -c) is given.
    """

    argv: list[str] | None = None
    shell: str | None = None
    stdin: str = ""
    cwd: str = "."
    cpu_time_limit_ms: int = Field(default=5_000, gt=0)
    wall_time_limit_ms: int = Field(default=10_000, gt=0)
    memory_limit_mb: int = Field(default=256, gt=0)
    output_limit_bytes: int = Field(default=64 * 1024, gt=0)

    @model_validator(mode="after")
    def _one_command(self) -> "RunRequest":
        if (self.argv is None) == (self.shell is None):
            raise ValueError("give exactly one of argv or shell")
        if self.argv is not None and not self.argv:
            raise ValueError("argv must not be empty")
        return self


class RunResult(Contract):
    exit_code: int | None
    signal: int | None = None
    cpu_ms: int = 0
    wall_ms: int = 0
    peak_memory_kb: int = 0
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    verdict: Verdict

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK and self.exit_code == 0


class FileRef(Contract):
    """A stored file: its content lives once in the blob store under its sha256."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


# Relative POSIX path -> stored file. The claim-check that messages carry instead of bytes.
Manifest = dict[str, FileRef]


class LanguagePool(Contract):
    """One language's warm pool: its gauges and counters since the service started."""

    size: int
    idle: int
    leased: int
    starting: int
    created: int = 0
    create_failures: int = 0
    destroyed: int = 0
    acquired: int = 0
    waits: int = 0
    wait_timeouts: int = 0
    reaped: int = 0


class SandboxMetrics(Contract):
    """The sandbox's pools (the Docker backend) or its leases in use (the local one)."""

    backend: str
    languages: dict[str, LanguagePool] = Field(default_factory=dict)
    leases_in_use: int = 0
    waits: int = 0
    reaped: int = 0
    leftovers_removed: int = 0
