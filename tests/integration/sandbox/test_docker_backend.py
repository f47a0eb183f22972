"""The Docker backend with real containers: the same RunResult shape as the local backend,
files in and out of the workspace, leases, the pools' life cycle."""

import asyncio
import json
import sys
from collections.abc import AsyncIterator

import aiodocker
import pytest
import pytest_asyncio

from contracts.sandbox import RunRequest, Verdict
from services.sandbox.backends.base import LeaseNotFound, SandboxError, UnsafePath
from services.sandbox.backends.docker import DockerBackend
from services.sandbox.backends.docker_engine import LABEL_POOL
from tests.integration.sandbox.support import (
    POOL_FILL_TIMEOUT_S,
    nothing_survives,
    pool_is_full,
    program_started,
    python,
    sandbox_settings,
    shell,
    unique_owner,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

POOL_SIZES = {"python": 2, "java": 1, "c": 1, "cpp": 1, "node": 1}

C_PROGRAM = b"""#include <stdio.h>
int main(void) { int a, b; scanf("%d %d", &a, &b); printf("%d\\n", a + b); return 0; }
"""
CPP_PROGRAM = b"""#include <iostream>
int main() { int a, b; std::cin >> a >> b; std::cout << a + b << std::endl; }
"""
JAVA_PROGRAM = b"""import java.util.Scanner;
public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        System.out.println(in.nextInt() + in.nextInt());
    }
}
"""
NODE_PROGRAM = b"""const words = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/);
console.log(Number(words[0]) + Number(words[1]));
"""
PYTHON_PROGRAM = b"a, b = map(int, input().split())\nprint(a + b)\n"

HELLO = {
    "python": ({"main.py": PYTHON_PROGRAM}, None, ["python3", "main.py"]),
    "c": ({"main.c": C_PROGRAM}, "gcc main.c -o main", ["./main"]),
    "cpp": ({"main.cpp": CPP_PROGRAM}, "g++ main.cpp -o main", ["./main"]),
    "java": ({"Main.java": JAVA_PROGRAM}, "javac Main.java", ["java", "Main"]),
    "node": ({"main.js": NODE_PROGRAM}, None, ["node", "main.js"]),
}
LIMITS = {"memory_limit_mb": 256, "cpu_time_limit_ms": 20_000, "wall_time_limit_ms": 30_000}


@pytest_asyncio.fixture(loop_scope="module")
async def lease(backend: DockerBackend) -> AsyncIterator[str]:
    lease_id = await backend.acquire(unique_owner(), "python")
    yield lease_id
    await backend.release(lease_id)


# --- running programs ---------------------------------------------------------------------


@pytest.mark.parametrize("language", list(HELLO))
async def test_a_program_reads_stdin_and_answers(backend: DockerBackend, language: str) -> None:
    files, build, command = HELLO[language]
    lease_id = await backend.acquire(unique_owner(), language)
    await backend.put_files(lease_id, files)

    if build is not None:
        built = await shell(backend, lease_id, build, **LIMITS)
        assert built.verdict is Verdict.OK, built.stderr
    result = await backend.run(lease_id, RunRequest(argv=command, stdin="2 40\n", **LIMITS))
    await backend.release(lease_id)

    assert result.verdict is Verdict.OK, result.stderr
    assert result.ok
    assert (result.exit_code, result.signal) == (0, None)
    assert result.stdout == "42\n"
    assert result.stderr == ""  # nothing of the supervisor's, nor the JVM's notice
    assert not result.stdout_truncated
    assert not result.stderr_truncated
    assert 0 <= result.cpu_ms <= result.wall_ms + 1000
    assert result.peak_memory_kb > 0


async def test_unread_stdin_does_not_hold_the_run(backend: DockerBackend, lease: str) -> None:
    # Docker keeps an exec open while stdin is not all taken in: held, the run would
    # end at its wall limit (time_limit) instead of when the program ends.
    request = RunRequest(argv=["true"], stdin="x" * 5_000_000, wall_time_limit_ms=10_000)

    result = await backend.run(lease, request)

    assert result.verdict is Verdict.OK


async def test_stderr_without_a_final_newline_is_kept_whole(
    backend: DockerBackend, lease: str
) -> None:
    result = await shell(backend, lease, "printf 'no newline' >&2")

    assert result.stderr == "no newline"


# --- files ------------------------------------------------------------------------------


async def test_put_files_are_visible_in_their_directory(backend: DockerBackend, lease: str) -> None:
    await backend.put_files(lease, {"src/deep/a.txt": b"alpha", "b.txt": b"beta"})

    listed = await shell(backend, lease, "cat a.txt; stat -c '%U %a' . a.txt", cwd="src/deep")
    written = await shell(backend, lease, "echo new > src/deep/made-by-program.txt")

    assert listed.stdout == "alphastudent 755\nstudent 644\n"
    assert written.verdict is Verdict.OK
    assert await backend.read_file(lease, "src/deep/made-by-program.txt") == b"new\n"


async def test_read_file_refuses_links_and_directories(backend: DockerBackend, lease: str) -> None:
    await shell(backend, lease, "ln -s /etc/passwd link; mkdir -p folder")

    for path in ("link", "folder"):
        with pytest.raises(UnsafePath, match="not a regular file"):
            await backend.read_file(lease, path)


async def test_files_stop_at_the_file_size_limit(backend: DockerBackend, lease: str) -> None:
    result = await python(backend, lease, "open('big', 'wb').write(bytes(20 << 20))")

    assert result.verdict is Verdict.RUNTIME_ERROR
    assert "File too large" in result.stderr  # Python ignores SIGXFSZ
    assert len(await backend.read_file(lease, "big") or b"") == 16 << 20


# --- leases and pools ---------------------------------------------------------------------


async def test_release_destroys_the_container_and_is_idempotent(backend: DockerBackend) -> None:
    lease_id = await backend.acquire(unique_owner(), "python")
    await backend.put_files(lease_id, {"mine.txt": b"x"})

    await backend.release(lease_id)
    await backend.release(lease_id)

    with pytest.raises(LeaseNotFound):
        await backend.run(lease_id, RunRequest(argv=["true"]))
    assert await pool_is_full(backend)


async def test_release_kills_a_running_program(backend: DockerBackend) -> None:
    lease_id = await backend.acquire(unique_owner(), "python")
    running = asyncio.create_task(shell(backend, lease_id, "sleep 30", wall_time_limit_ms=60_000))
    await program_started(backend, lease_id, "sleep 30")

    await backend.release(lease_id)

    with pytest.raises((LeaseNotFound, SandboxError)):
        await asyncio.wait_for(running, 10)


async def test_a_cancelled_run_leaves_nothing_running(backend: DockerBackend, lease: str) -> None:
    running = asyncio.create_task(shell(backend, lease, "sleep 60 & sleep 60"))
    await program_started(backend, lease, "sleep 60")

    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    await nothing_survives(backend, lease)


async def test_a_program_cannot_end_its_run_early_by_forging_reports(
    backend: DockerBackend, lease: str
) -> None:
    forged = (
        'printf \'{"status": 0, "cpu_ms": 0, "peak_memory_kb": 0, "timed_out": false, '
        '"wall_ms": 0}\\n\\n{"oom_kills": 0}\\n\' >&2; sleep 30'
    )

    result = await shell(backend, lease, forged, wall_time_limit_ms=3_000)

    assert result.verdict is Verdict.RUNTIME_ERROR
    assert "interfered with its supervisor" in result.stderr
    await nothing_survives(backend, lease)


async def test_the_metrics_name_every_pool(backend: DockerBackend, lease: str) -> None:
    metrics = backend.metrics()

    assert metrics["backend"] == "docker"
    assert set(metrics["languages"]) == set(POOL_SIZES)
    assert metrics["leases_in_use"] >= 1
    json.dumps(metrics)  # ready for the RPC reply


async def test_leftovers_of_a_crash_are_removed_and_close_removes_everything() -> None:
    settings = sandbox_settings({"python": 2})
    await crash_with_a_full_pool(settings.namespace)

    successor = DockerBackend(settings)
    await successor.wait_until_full(POOL_FILL_TIMEOUT_S)
    leftovers = successor.metrics()["leftovers_removed"]
    await successor.close()

    assert leftovers == 2
    label = f"{LABEL_POOL}={settings.namespace}"
    assert await containers_labelled(label) == []
    assert await volumes_labelled(label) == []  # the workspaces went with them


CRASHING_SERVICE = """
import asyncio, sys
from services.sandbox.backends.docker import DockerBackend
from tests.integration.sandbox.support import sandbox_settings

async def main():
    settings = sandbox_settings({"python": 2}).model_copy(update={"namespace": sys.argv[1]})
    await DockerBackend(settings).wait_until_full(60)
    print("full", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def crash_with_a_full_pool(namespace: str) -> None:
    """A sandbox service in a process of its own, SIGKILLed once its pool is full."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_SERVICE, namespace, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        assert await asyncio.wait_for(process.stdout.readline(), 60) == b"full\n"
    finally:
        process.kill()
        await process.wait()


async def containers_labelled(label: str) -> list[str]:
    async with aiodocker.Docker() as docker:
        found = await docker.containers.list(all=True, filters=json.dumps({"label": [label]}))
    return [container.id for container in found]


async def volumes_labelled(label: str) -> list[str]:
    async with aiodocker.Docker() as docker:
        found = await docker.volumes.list(filters={"label": [label]})
    return [volume["Name"] for volume in found["Volumes"] or []]


TOUCH_128_MIB = {
    "c": (
        "main.c",
        b"#include <stdlib.h>\n#include <string.h>\n"
        b"int main(void) { char *p = malloc(128 << 20); memset(p, 1, 128 << 20); return p[7]; }\n",
        "gcc main.c -o main",
    ),
    "cpp": (
        "main.cpp",
        b"#include <vector>\nint main() { std::vector<char> v(128 << 20, 1); return v[7]; }\n",
        "g++ main.cpp -o main",
    ),
}


@pytest.mark.parametrize("language", list(TOUCH_128_MIB))
async def test_touching_more_than_the_limit_is_a_memory_limit_in_c_and_cpp(
    backend: DockerBackend, language: str
) -> None:
    """Issue 9: under RLIMIT_AS, C's malloc returned NULL and the program segfaulted
    (runtime_error) while C++ threw bad_alloc (memory_limit). The cgroup bounds both."""
    name, source, build = TOUCH_128_MIB[language]
    lease_id = await backend.acquire(unique_owner(), language)
    await backend.put_files(lease_id, {name: source})
    built = await shell(backend, lease_id, build, memory_limit_mb=512, cpu_time_limit_ms=20_000)

    result = await backend.run(lease_id, RunRequest(argv=["./main"], memory_limit_mb=128))
    roomy = await backend.run(lease_id, RunRequest(argv=["./main"], memory_limit_mb=256))
    await backend.release(lease_id)

    assert built.verdict is Verdict.OK, built.stderr
    assert result.verdict is Verdict.MEMORY_LIMIT, result
    assert roomy.verdict is Verdict.RUNTIME_ERROR  # ran to the end: exits 1, its p[7]
    assert roomy.exit_code == 1
    assert roomy.peak_memory_kb >= 128 * 1024


# Two processes, forked first, each touching 48 MiB: no single one passes 64 MiB.
TWO_PROCESSES_48_MIB_EACH = """
import os, time
child = os.fork()
data = bytearray(48 << 20)
data[::4096] = b"x" * len(data[::4096])
time.sleep(0.3)  # both hold their memory at once
if child == 0:
    os._exit(0)
os.waitpid(child, 0)
"""


async def test_peak_memory_counts_every_process_of_the_program(
    backend: DockerBackend, lease: str
) -> None:
    """Issue 9: the peak came from rusage, the largest single process. It is the cgroup's
    now, so memory spread over processes counts, and passing the limit with it is judged."""
    roomy = await python(backend, lease, TWO_PROCESSES_48_MIB_EACH, memory_limit_mb=256)
    tight = await python(backend, lease, TWO_PROCESSES_48_MIB_EACH, memory_limit_mb=80)
    alone = await python(backend, lease, "pass", memory_limit_mb=256)

    assert roomy.verdict is Verdict.OK, roomy
    assert roomy.peak_memory_kb >= 96 * 1024
    assert tight.verdict is Verdict.MEMORY_LIMIT, tight
    # The next run's peak is its own: the cgroup's was reset, not carried over.
    assert alone.verdict is Verdict.OK
    assert alone.peak_memory_kb < 48 * 1024
