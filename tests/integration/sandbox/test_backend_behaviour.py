"""What every sandbox backend must do alike, run against both: the local processes and
the Docker containers. A grader must not be able to tell which one ran its program.

Backend-specific behaviour (the local backend's uids and namespaces, Docker's pools and
hardening) stays in test_local_backend.py and test_docker_backend.py.
"""

import asyncio
import signal
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from contracts.sandbox import RunRequest, Verdict
from services.sandbox.backends.base import SandboxBackend, SandboxError, UnsafePath
from services.sandbox.backends.docker import DockerBackend
from services.sandbox.backends.local import LocalBackend
from tests.integration.sandbox.support import (
    POOL_FILL_TIMEOUT_S,
    python,
    require_docker_and_images,
    sandbox_settings,
    shell,
    unique_owner,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

POOL_SIZES = {"python": 2}
UNSAFE_PATHS = ["../escape", "/etc/passwd", "a/../../b", "a/b/../../../x", "nul\x00byte"]


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["local", "docker"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[SandboxBackend]:
    sandbox: SandboxBackend
    if request.param == "docker":
        await require_docker_and_images()  # fails, never skips, without Docker
        docker = DockerBackend(sandbox_settings(POOL_SIZES))
        await docker.wait_until_full(POOL_FILL_TIMEOUT_S)
        sandbox = docker
    else:
        sandbox = LocalBackend()
    yield sandbox
    await sandbox.close()


@pytest_asyncio.fixture(loop_scope="module")
async def lease(backend: SandboxBackend) -> AsyncIterator[str]:
    lease_id = await backend.acquire(unique_owner(), "python")
    yield lease_id
    await backend.release(lease_id)


class TestRunning:
    async def test_stdin_round_trips_to_stdout(self, backend: SandboxBackend, lease: str) -> None:
        result = await backend.run(lease, RunRequest(argv=["cat"], stdin="héllo\nworld\n"))

        assert result.verdict is Verdict.OK
        assert (result.exit_code, result.signal) == (0, None)
        assert result.stdout == "héllo\nworld\n"

    async def test_large_stdin_is_fed_whole(self, backend: SandboxBackend, lease: str) -> None:
        result = await backend.run(lease, RunRequest(argv=["wc", "-c"], stdin="x" * 1_000_000))

        assert result.stdout.strip() == "1000000"

    async def test_a_program_that_ignores_its_stdin_still_finishes(
        self, backend: SandboxBackend, lease: str
    ) -> None:
        result = await backend.run(lease, RunRequest(argv=["true"], stdin="x" * 1_000_000))

        assert result.verdict is Verdict.OK

    async def test_nonzero_exit_is_a_runtime_error(
        self, backend: SandboxBackend, lease: str
    ) -> None:
        result = await shell(backend, lease, "echo out; echo oops >&2; exit 3")

        assert result.verdict is Verdict.RUNTIME_ERROR
        assert (result.exit_code, result.signal) == (3, None)
        assert (result.stdout, result.stderr) == ("out\n", "oops\n")

    async def test_death_by_signal_reports_the_signal(
        self, backend: SandboxBackend, lease: str
    ) -> None:
        result = await python(backend, lease, "import os; os.abort()")

        assert result.verdict is Verdict.RUNTIME_ERROR
        assert (result.exit_code, result.signal) == (None, signal.SIGABRT)

    async def test_missing_program_is_a_runtime_error(
        self, backend: SandboxBackend, lease: str
    ) -> None:
        result = await backend.run(lease, RunRequest(argv=["./does-not-exist"]))

        assert result.verdict is Verdict.RUNTIME_ERROR
        assert result.exit_code == 127

    async def test_invalid_utf8_output_is_replaced(
        self, backend: SandboxBackend, lease: str
    ) -> None:
        result = await shell(backend, lease, r"printf 'a\377b'")

        assert result.stdout == "a\ufffdb"

    async def test_peak_memory_is_measured(self, backend: SandboxBackend, lease: str) -> None:
        code = "data = bytearray(64 << 20); data[::4096] = b'x' * len(data[::4096])"

        result = await python(backend, lease, code, memory_limit_mb=256)

        assert result.verdict is Verdict.OK
        assert result.peak_memory_kb >= 64 * 1024


class TestLimits:
    async def test_a_cpu_loop_hits_the_time_limit(
        self, backend: SandboxBackend, lease: str
    ) -> None:
        result = await python(backend, lease, "while True: pass", cpu_time_limit_ms=500)

        assert result.verdict is Verdict.TIME_LIMIT
        assert result.signal in (signal.SIGXCPU, signal.SIGKILL)

    @pytest.mark.parametrize(
        "command",
        [
            "python3 loop.py",  # a simple command: run without a shell
            "python3 -c 'while True: pass'",  # quotes: through a shell, which sees 152
            "cd . && exec python3 loop.py",
        ],
    )
    async def test_an_infinite_loop_is_a_time_limit_however_it_is_started(
        self, backend: SandboxBackend, lease: str, command: str
    ) -> None:
        await backend.put_files(lease, {"loop.py": b"while True: pass\n"})

        result = await shell(backend, lease, command, cpu_time_limit_ms=1_000)

        assert result.verdict is Verdict.TIME_LIMIT, result

    async def test_a_simple_command_runs_without_a_shell(
        self, backend: SandboxBackend, lease: str
    ) -> None:
        parent = "import os; print(open(f'/proc/{os.getppid()}/comm').read().strip())"
        await backend.put_files(lease, {"parent.py": parent.encode()})

        simple = await shell(backend, lease, "python3 parent.py")
        piped = await shell(backend, lease, "python3 parent.py | cat")

        assert simple.stdout.strip() not in ("sh", "dash", "bash")
        assert piped.stdout.strip() in ("sh", "dash")

    async def test_a_sleeping_program_is_killed_at_the_wall_limit(
        self, backend: SandboxBackend, lease: str
    ) -> None:
        request = RunRequest(argv=["sleep", "30"], wall_time_limit_ms=1_000)

        result = await backend.run(lease, request)

        assert result.verdict is Verdict.TIME_LIMIT
        assert result.signal == signal.SIGKILL

    async def test_allocating_past_the_limit_is_a_memory_limit(
        self, backend: SandboxBackend, lease: str
    ) -> None:
        result = await python(backend, lease, "data = bytearray(1 << 30)", memory_limit_mb=128)

        assert result.verdict is Verdict.MEMORY_LIMIT

    async def test_stdout_flood_is_cut_at_the_output_limit(
        self, backend: SandboxBackend, lease: str
    ) -> None:
        result = await backend.run(lease, RunRequest(argv=["yes"], output_limit_bytes=10_000))

        assert result.verdict is Verdict.OUTPUT_LIMIT
        assert result.stdout_truncated
        assert not result.stderr_truncated
        assert len(result.stdout) == 10_000

    async def test_stderr_flood_is_cut_too(self, backend: SandboxBackend, lease: str) -> None:
        result = await shell(backend, lease, "yes >&2", output_limit_bytes=1_000)

        assert result.verdict is Verdict.OUTPUT_LIMIT
        assert result.stderr_truncated
        assert len(result.stderr) <= 1_000


class TestConcurrency:
    async def test_runs_on_different_leases_overlap(self, backend: SandboxBackend) -> None:
        """Proved by order, not by a stopwatch: each run starts before the other ends."""
        clock = "import time; print(time.time()); time.sleep(2); print(time.time())"
        leases = [await backend.acquire(unique_owner(), "python") for _ in range(2)]

        runs = await asyncio.gather(*(python(backend, lease, clock) for lease in leases))
        for lease_id in leases:
            await backend.release(lease_id)

        (start_a, end_a), (start_b, end_b) = ([float(t) for t in r.stdout.split()] for r in runs)
        assert start_a < end_b
        assert start_b < end_a


class TestFiles:
    async def test_read_only_files_cannot_be_overwritten(
        self, backend: SandboxBackend, lease: str
    ) -> None:
        await backend.put_files(lease, {"tests/expected.txt": b"42\n"}, read_only=True)

        result = await shell(backend, lease, "echo 0 > tests/expected.txt")

        assert result.verdict is Verdict.RUNTIME_ERROR
        assert await backend.read_file(lease, "tests/expected.txt") == b"42\n"

    async def test_put_files_replaces_a_file(self, backend: SandboxBackend, lease: str) -> None:
        await backend.put_files(lease, {"a.txt": b"old"})
        await backend.put_files(lease, {"a.txt": b"new"})

        assert await backend.read_file(lease, "a.txt") == b"new"

    async def test_a_program_reads_files_put_in_its_directory(
        self, backend: SandboxBackend, lease: str
    ) -> None:
        await backend.put_files(lease, {"sub/dir/data.txt": b"42"})

        result = await backend.run(lease, RunRequest(argv=["cat", "data.txt"], cwd="sub/dir"))

        assert result.stdout == "42"

    @pytest.mark.parametrize("path", UNSAFE_PATHS)
    async def test_unsafe_paths_are_refused_and_nothing_of_the_batch_is_written(
        self, backend: SandboxBackend, lease: str, path: str
    ) -> None:
        with pytest.raises(UnsafePath):
            await backend.put_files(lease, {"fine.txt": b"x", path: b"x"})
        with pytest.raises(UnsafePath):
            await backend.read_file(lease, path)

        assert await backend.read_file(lease, "fine.txt") is None

    async def test_read_file_does_not_follow_links(
        self, backend: SandboxBackend, lease: str
    ) -> None:
        await shell(backend, lease, "ln -s /etc etc && ln -s /etc/passwd passwd")

        with pytest.raises(UnsafePath):
            await backend.read_file(lease, "etc/passwd")
        with pytest.raises(UnsafePath):
            await backend.read_file(lease, "passwd")

    async def test_read_file_returns_what_a_program_wrote(
        self, backend: SandboxBackend, lease: str
    ) -> None:
        await shell(backend, lease, "mkdir -p out && printf result > out/answer.txt")

        assert await backend.read_file(lease, "out/answer.txt") == b"result"
        assert await backend.read_file(lease, "out/missing.txt") is None

    async def test_a_missing_working_directory_is_an_error(
        self, backend: SandboxBackend, lease: str
    ) -> None:
        with pytest.raises(SandboxError, match="does not exist"):
            await backend.run(lease, RunRequest(argv=["true"], cwd="nowhere"))


class TestLeases:
    async def test_acquire_is_idempotent_per_owner(self, backend: SandboxBackend) -> None:
        owner = unique_owner()

        first = await backend.acquire(owner, "python")
        again = await backend.acquire(owner, "python")
        await backend.release_owner(owner)

        assert first == again

    async def test_an_owner_gets_a_fresh_workspace_after_release(
        self, backend: SandboxBackend
    ) -> None:
        owner = unique_owner()
        first = await backend.acquire(owner, "python")
        await backend.put_files(first, {"left-over.txt": b"old"})

        await backend.release_owner(owner)
        await backend.release_owner(owner)
        second = await backend.acquire(owner, "python")
        left_over = await backend.read_file(second, "left-over.txt")
        await backend.release(second)

        assert second != first
        assert left_over is None
