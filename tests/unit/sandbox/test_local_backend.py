"""The local process backend, with real processes: what a grader would notice of each run."""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contracts.sandbox import RunRequest, RunResult, Verdict
from services.sandbox.backends.base import LeaseNotFound, SandboxBackend, SandboxError, UnsafePath
from services.sandbox.backends.isolation import SAFE_PATH
from services.sandbox.backends.local import LocalBackend
from tests.support import eventually

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="a uid of its own needs root")


@pytest.fixture
async def backend() -> AsyncIterator[LocalBackend]:
    sandbox = LocalBackend()
    yield sandbox
    await sandbox.close()


@pytest.fixture
async def lease(backend: LocalBackend) -> str:
    return await backend.acquire("42:1", "python")


async def shell(backend: SandboxBackend, lease_id: str, command: str, **limits: int) -> RunResult:
    return await backend.run(lease_id, RunRequest(shell=command, **limits))


async def python(backend: SandboxBackend, lease_id: str, code: str, **limits: int) -> RunResult:
    return await backend.run(lease_id, RunRequest(argv=["python3", "-c", code], **limits))


async def workspace_of(backend: SandboxBackend, lease_id: str) -> Path:
    return Path((await shell(backend, lease_id, "pwd")).stdout.strip())


def is_running(pid: int) -> bool:
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def processes_working_in(directory: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cwd").readlink() == directory:
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to look at
            continue
    return found


async def eventually_running_in(directory: Path, program: str = "sleep") -> list[int]:
    """The processes working in `directory`, once `program` is one of them (the
    supervisor starts there too, a moment before the program execs)."""
    found: list[int] = []

    def running(pid: int) -> bool:
        with contextlib.suppress(OSError):
            return Path(f"/proc/{pid}/comm").read_text().strip() == program
        return False

    async def started() -> bool:
        found[:] = processes_working_in(directory)
        return any(running(pid) for pid in found)

    await eventually(started, timeout_s=10)
    return found


def wait_until_gone(pid: int, timeout_s: float = 1.0) -> bool:
    # SIGKILL is delivered asynchronously: give the kernel a moment to finish the exit.
    deadline = time.monotonic() + timeout_s
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not is_running(pid)


# --- running programs ----------------------------------------------------------------


async def test_peak_memory_is_the_programs_not_the_backends(
    backend: LocalBackend, lease: str
) -> None:
    # A child forked straight from a big process inherits its memory high-water mark.
    ballast = bytearray(256 << 20)
    ballast[::4096] = b"x" * len(ballast[::4096])

    result = await backend.run(lease, RunRequest(argv=["true"]))

    assert result.peak_memory_kb < 32 * 1024
    del ballast


async def test_background_child_is_killed_when_the_run_ends(
    backend: LocalBackend, lease: str
) -> None:
    result = await shell(backend, lease, "sleep 100 & echo $!")
    child = int(result.stdout)

    assert result.verdict is Verdict.OK
    assert wait_until_gone(child)


@needs_root
async def test_child_that_left_the_process_group_is_killed_too(
    backend: LocalBackend, lease: str
) -> None:
    code = (
        "import subprocess\n"
        "child = subprocess.Popen(['sleep', '100'], start_new_session=True)\n"
        "print(child.pid)"
    )
    result = await python(backend, lease, code)

    assert wait_until_gone(int(result.stdout))


async def test_environment_is_clean(
    backend: LocalBackend, lease: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOGRADER_HOST_SECRET", "do-not-leak")

    result = await backend.run(lease, RunRequest(argv=["env"]))

    variables = dict(line.split("=", 1) for line in result.stdout.splitlines())
    home = str(await workspace_of(backend, lease))
    assert "AUTOGRADER_HOST_SECRET" not in variables
    assert variables == {"PATH": SAFE_PATH, "HOME": home, "LANG": "C.UTF-8", "TMPDIR": home}


CONNECT_TO = """
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
    print("connected")
except OSError as error:
    print("failed", error)
"""


async def test_network_is_unreachable_when_isolated() -> None:
    isolated, open_ = LocalBackend(isolate_network=True), LocalBackend(isolate_network=False)
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = str(server.getsockname()[1])
        request = RunRequest(argv=["python3", "-c", CONNECT_TO, port])
        try:
            from_isolated = await isolated.run(await isolated.acquire("a", "python"), request)
            from_open = await open_.run(await open_.acquire("a", "python"), request)
        finally:
            await isolated.close()
            await open_.close()

    assert from_isolated.stdout.startswith("failed")
    assert from_open.stdout == "connected\n"  # so the failure above is the isolation's doing


@needs_root
@pytest.mark.parametrize("isolate_network", [True, False])
async def test_programs_run_as_an_unprivileged_uid_per_lease(isolate_network: bool) -> None:
    backend = LocalBackend(isolate_network=isolate_network)
    try:
        first = await shell(backend, await backend.acquire("1:1", "c"), "id -u; id -G")
        second = await shell(backend, await backend.acquire("2:1", "c"), "id -u")
    finally:
        await backend.close()

    uid, groups = first.stdout.split()
    assert int(uid) != 0
    assert groups == uid  # no supplementary groups
    assert int(uid) != int(second.stdout)


# --- files ---------------------------------------------------------------------------


async def test_put_files_does_not_follow_a_symlinked_directory(
    backend: LocalBackend, lease: str, tmp_path: Path
) -> None:
    await shell(backend, lease, f"ln -s {tmp_path} outside")

    with pytest.raises(UnsafePath, match="outside/planted"):
        await backend.put_files(lease, {"outside/planted": b"x"})
    assert not (tmp_path / "planted").exists()


async def test_put_files_does_not_write_through_a_symlinked_file(
    backend: LocalBackend, lease: str, tmp_path: Path
) -> None:
    target = tmp_path / "precious"
    target.write_text("keep")
    await shell(backend, lease, f"ln -s {target} link")

    with pytest.raises(UnsafePath, match="link"):
        await backend.put_files(lease, {"link": b"overwritten"})
    assert target.read_text() == "keep"


async def test_a_file_where_a_directory_should_be(backend: LocalBackend, lease: str) -> None:
    await backend.put_files(lease, {"main.c": b"int main;"})

    assert await backend.read_file(lease, "main.c/x") is None
    with pytest.raises(SandboxError, match=r"main\.c/x"):
        await backend.put_files(lease, {"main.c/x": b""})
    with pytest.raises(SandboxError, match="does not exist"):
        await backend.run(lease, RunRequest(argv=["true"], cwd="main.c"))


# --- leases --------------------------------------------------------------------------


async def test_each_owner_gets_a_workspace_directory_of_its_own(backend: LocalBackend) -> None:
    first = await backend.acquire("42:1", "python")
    other = await backend.acquire("42:2", "python")

    assert await workspace_of(backend, other) != await workspace_of(backend, first)


async def test_release_removes_the_workspace_and_is_idempotent(
    backend: LocalBackend, lease: str
) -> None:
    directory = await workspace_of(backend, lease)
    assert directory.is_dir()

    await backend.release(lease)
    await backend.release(lease)

    assert not directory.exists()
    with pytest.raises(LeaseNotFound, match="no live lease"):
        await shell(backend, lease, "true")


async def test_release_kills_a_running_program(backend: LocalBackend, lease: str) -> None:
    directory = await workspace_of(backend, lease)
    running = asyncio.create_task(shell(backend, lease, "sleep 30"))
    await eventually_running_in(directory)

    await backend.release(lease)

    try:  # left alone, `sleep 30` would end OK
        result = await running
    except LeaseNotFound:  # the release came first: said so, as the Docker backend does
        return
    assert result.verdict is not Verdict.OK
    assert result.signal == signal.SIGKILL


async def test_cancelled_run_leaves_nothing_running(backend: LocalBackend, lease: str) -> None:
    directory = await workspace_of(backend, lease)
    running = asyncio.create_task(shell(backend, lease, "sleep 30"))
    programs = await eventually_running_in(directory)

    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    assert programs
    assert not [pid for pid in programs if not wait_until_gone(pid)]


async def test_close_releases_everything() -> None:
    backend = LocalBackend()
    lease_id = await backend.acquire("1:1", "python")
    directory = await workspace_of(backend, lease_id)

    await backend.close()

    assert not directory.exists()
    with pytest.raises(LeaseNotFound):
        await backend.read_file(lease_id, "x")


# --- compiled languages --------------------------------------------------------------

C_PROGRAM = b"""
#include <stdio.h>
int main(void) { int a, b; scanf("%d %d", &a, &b); printf("%d\\n", a + b); return 0; }
"""

JAVA_PROGRAM = b"""
public class Main {
    public static void main(String[] args) {
        java.util.Scanner in = new java.util.Scanner(System.in);
        System.out.println(in.nextInt() * in.nextInt());
    }
}
"""

JAVA_HOG = b"""
public class Hog {
    public static void main(String[] args) { System.out.println(new long[100_000_000].length); }
}
"""


async def test_c_program_compiles_and_runs(backend: LocalBackend) -> None:
    lease_id = await backend.acquire("c:1", "c")
    await backend.put_files(lease_id, {"main.c": C_PROGRAM})

    compiled = await shell(backend, lease_id, "gcc main.c -o a.out", memory_limit_mb=512)
    result = await backend.run(lease_id, RunRequest(argv=["./a.out"], stdin="2 40"))

    assert compiled.verdict is Verdict.OK, compiled.stderr
    assert result.stdout == "42\n"


async def test_java_program_compiles_and_runs_under_the_limits(backend: LocalBackend) -> None:
    lease_id = await backend.acquire("java:1", "java")
    await backend.put_files(lease_id, {"Main.java": JAVA_PROGRAM, "Hog.java": JAVA_HOG})
    limits = {"memory_limit_mb": 256, "cpu_time_limit_ms": 20_000, "wall_time_limit_ms": 30_000}

    compiled = await shell(backend, lease_id, "javac Main.java Hog.java", **limits)
    result = await backend.run(lease_id, RunRequest(argv=["java", "Main"], stdin="6 7", **limits))
    hog = await backend.run(lease_id, RunRequest(argv=["java", "Hog"], memory_limit_mb=64))

    assert compiled.verdict is Verdict.OK, compiled.stderr
    assert result.verdict is Verdict.OK, result.stderr
    assert result.stdout == "42\n"
    assert result.stderr == ""  # the JVM's JAVA_TOOL_OPTIONS notice is not the program's
    assert hog.verdict is Verdict.MEMORY_LIMIT, hog.stderr


async def test_node_program_runs_with_its_heap_capped(backend: LocalBackend) -> None:
    lease_id = await backend.acquire("node:1", "node")
    hog = "const a = []; while (true) a.push(new Array(1e5).fill(1));"

    result = await backend.run(lease_id, RunRequest(argv=["node", "-e", "console.log(6 * 7)"]))
    hogged = await backend.run(lease_id, RunRequest(argv=["node", "-e", hog], memory_limit_mb=64))

    assert result.verdict is Verdict.OK, result.stderr
    assert result.stdout == "42\n"
    assert hogged.verdict is Verdict.MEMORY_LIMIT


async def test_metrics_count_the_leases_in_use(backend: LocalBackend) -> None:
    before = backend.metrics()["leases_in_use"]
    lease_id = await backend.acquire("metrics:1", "python")
    assert backend.metrics()["leases_in_use"] == before + 1
    assert backend.metrics()["backend"] == "local"
    await backend.release(lease_id)
    assert backend.metrics()["leases_in_use"] == before


@needs_root
async def test_a_lease_network_namespace_goes_away_with_the_lease() -> None:
    backend = LocalBackend(isolate_network=True)
    lease_id = await backend.acquire("netns:1", "python")

    def namespaces() -> str:
        return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout

    assert f"autograder-{lease_id[:16]}" in namespaces()
    await backend.release(lease_id)
    await backend.close()
    assert f"autograder-{lease_id[:16]}" not in namespaces()
