"""Conformance of the real Docker backend against hostile programs.

Each case ends with the right verdict (or a clear refusal), leaves nothing running, does
not disturb a bystander lease running at the same time, and the pool gets back to its
full size afterwards. (Hostile uploaded archives are refused by intake, tested there.)
"""

import asyncio
import json
import os
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from contracts.sandbox import RunRequest, RunResult, Verdict
from services.sandbox.backends.docker import DockerBackend
from tests.integration.sandbox.support import (
    nothing_survives,
    pool_is_full,
    python,
    shell,
    unique_owner,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

POOL_SIZES = {"python": 3, "c": 1}

STATIC_BOMB_C = b"""#include <string.h>
static char big[1 << 30];
int main(void) { memset(big, 1, sizeof big); return big[12345]; }
"""
HEAP_BOMB_C = b"""#include <stdlib.h>
#include <string.h>
int main(void) { for (;;) { char *p = malloc(1 << 20); memset(p, 1, 1 << 20); } }
"""


@dataclass
class Bystander:
    """Another submission's lease, busy while the hostile program runs."""

    backend: DockerBackend
    lease_id: str
    secret: str

    async def still_fine(self) -> None:
        code = "import time; time.sleep(1); print(open('secret.txt').read())"
        result = await python(self.backend, self.lease_id, code)
        assert result.verdict is Verdict.OK, result
        assert result.stdout == f"{self.secret}\n"


@pytest_asyncio.fixture(loop_scope="module")
async def bystander(backend: DockerBackend) -> AsyncIterator[Bystander]:
    lease_id = await backend.acquire(unique_owner(), "python")
    secret = f"secret-{uuid.uuid4().hex}"
    await backend.put_files(lease_id, {"secret.txt": secret.encode()})
    yield Bystander(backend, lease_id, secret)
    await backend.release(lease_id)


@pytest_asyncio.fixture(loop_scope="module")
async def lease(backend: DockerBackend) -> AsyncIterator[str]:
    lease_id = await backend.acquire(unique_owner(), "python")
    yield lease_id
    await backend.release(lease_id)
    assert await pool_is_full(backend), backend.metrics()


async def beside(bystander: Bystander, hostile: Awaitable[RunResult]) -> RunResult:
    """Run the hostile program while the bystander works; the bystander must not notice."""
    result, _ = await asyncio.gather(hostile, bystander.still_fine())
    return result


# --- processes and CPU ----------------------------------------------------------------------


async def test_fork_bomb(backend: DockerBackend, lease: str, bystander: Bystander) -> None:
    bomb = "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass"

    result = await beside(bystander, python(backend, lease, bomb, wall_time_limit_ms=3_000))

    assert result.verdict is Verdict.TIME_LIMIT
    assert result.wall_ms < 30_000  # stopped by the limit, not left running
    await nothing_survives(backend, lease)


async def test_shell_fork_bomb(backend: DockerBackend, lease: str, bystander: Bystander) -> None:
    bomb = RunRequest(argv=["bash", "-c", ":(){ :|:& };:; sleep 5"], wall_time_limit_ms=3_000)

    result = await beside(bystander, backend.run(lease, bomb))

    assert result.verdict is Verdict.TIME_LIMIT
    await nothing_survives(backend, lease)


async def test_cpu_loop(backend: DockerBackend, lease: str, bystander: Bystander) -> None:
    loop = python(backend, lease, "while True: pass", cpu_time_limit_ms=1_000)

    result = await beside(bystander, loop)

    assert result.verdict is Verdict.TIME_LIMIT
    assert result.signal in (signal.SIGXCPU, signal.SIGKILL)
    # It burned CPU; how much is no verdict (878 ms was seen under a CPU hog: the
    # kernel's accounting ticks), so no threshold decides this test.
    assert result.cpu_ms > 0


async def test_sleeping_past_the_wall_limit(backend: DockerBackend, lease: str) -> None:
    result = await backend.run(lease, RunRequest(argv=["sleep", "30"], wall_time_limit_ms=1_000))

    assert result.verdict is Verdict.TIME_LIMIT
    assert result.signal == signal.SIGKILL
    assert 1_000 <= result.wall_ms < 20_000  # the program would sleep 30 s
    await nothing_survives(backend, lease)


async def test_children_left_behind_are_killed(backend: DockerBackend, lease: str) -> None:
    # One in the program's group, one that left it (setsid), one double-forked away.
    command = "sleep 100 & setsid sleep 100 & (setsid sh -c 'sleep 100 &') ; echo started"

    result = await shell(backend, lease, command)

    assert result.verdict is Verdict.OK
    assert result.stdout == "started\n"
    await nothing_survives(backend, lease)


# --- memory -------------------------------------------------------------------------------


async def test_python_heap_bomb(backend: DockerBackend, lease: str, bystander: Bystander) -> None:
    bomb = "blocks = []\nwhile True: blocks.append(bytearray(10 << 20))"

    result = await beside(bystander, python(backend, lease, bomb, memory_limit_mb=128))

    # The memory cgroup stops it (an OOM kill), not Python's MemoryError.
    assert result.verdict is Verdict.MEMORY_LIMIT
    assert result.peak_memory_kb > 128 * 1024


@pytest_asyncio.fixture(loop_scope="module")
async def c_lease(backend: DockerBackend) -> AsyncIterator[str]:
    lease_id = await backend.acquire(unique_owner(), "c")
    await backend.put_files(lease_id, {"static.c": STATIC_BOMB_C, "heap.c": HEAP_BOMB_C})
    built = await shell(backend, lease_id, "gcc static.c -o static && gcc heap.c -o heap")
    assert built.verdict is Verdict.OK, built.stderr
    yield lease_id
    await backend.release(lease_id)
    assert await pool_is_full(backend), backend.metrics()


async def test_c_heap_bomb(backend: DockerBackend, c_lease: str, bystander: Bystander) -> None:
    bomb = backend.run(c_lease, RunRequest(argv=["./heap"], memory_limit_mb=64))

    result = await beside(bystander, bomb)

    assert result.verdict is Verdict.MEMORY_LIMIT


async def test_static_memory_bomb(
    backend: DockerBackend, c_lease: str, bystander: Bystander
) -> None:
    # 1 GiB of static array: under a 64 MB address space the program cannot even load.
    result = await beside(bystander, shell(backend, c_lease, "./static", memory_limit_mb=64))

    assert result.verdict is Verdict.MEMORY_LIMIT


async def test_memory_past_the_container_limit_is_a_memory_limit(
    backend: DockerBackend, c_lease: str
) -> None:
    # Asking more than the container may hold (512 MB here): the cgroup OOM-kills it.
    result = await backend.run(c_lease, RunRequest(argv=["./heap"], memory_limit_mb=4096))

    assert result.verdict is Verdict.MEMORY_LIMIT
    assert result.signal == signal.SIGKILL
    await nothing_survives(backend, c_lease)


# --- output and disk ------------------------------------------------------------------------


async def test_stdout_flood(backend: DockerBackend, lease: str, bystander: Bystander) -> None:
    flood = backend.run(lease, RunRequest(argv=["yes"], output_limit_bytes=10_000))

    result = await beside(bystander, flood)

    assert result.verdict is Verdict.OUTPUT_LIMIT
    assert result.stdout_truncated
    assert not result.stderr_truncated
    assert len(result.stdout) == 10_000
    await nothing_survives(backend, lease)


async def test_stderr_flood(backend: DockerBackend, lease: str, bystander: Bystander) -> None:
    result = await beside(bystander, shell(backend, lease, "yes >&2", output_limit_bytes=1_000))

    assert result.verdict is Verdict.OUTPUT_LIMIT
    assert result.stderr_truncated
    assert result.stderr == "y\n" * 500
    await nothing_survives(backend, lease)


async def test_flood_from_a_detached_child(backend: DockerBackend, lease: str) -> None:
    result = await shell(backend, lease, "setsid yes & sleep 1", output_limit_bytes=1_000)

    assert result.verdict is Verdict.OUTPUT_LIMIT
    await nothing_survives(backend, lease)


async def test_filling_the_disk(backend: DockerBackend, lease: str, bystander: Bystander) -> None:
    fill = """
import itertools
for n in itertools.count():
    for where in ("", "/tmp/"):
        with open(f"{where}fill{n}", "wb") as f:
            f.write(bytes(8 << 20))
"""
    result = await beside(bystander, python(backend, lease, fill, wall_time_limit_ms=20_000))
    usage = await shell(backend, lease, "df -m /workspace /tmp | tail -n 2")

    assert result.verdict is Verdict.RUNTIME_ERROR
    assert "No space left on device" in result.stderr
    sizes = [int(line.split()[1]) for line in usage.stdout.splitlines()]
    assert sizes == [32, 16]  # the workspace and /tmp are small tmpfs of their own


async def test_the_root_filesystem_is_read_only(backend: DockerBackend, lease: str) -> None:
    result = await shell(backend, lease, "touch /etc/x /usr/bin/x /x 2>&1; true")

    assert result.stdout.count("Read-only file system") == 3


# --- escaping -------------------------------------------------------------------------------


async def test_no_network(backend: DockerBackend, lease: str) -> None:
    code = "import socket; socket.create_connection(('1.1.1.1', 53), timeout=3)"

    result = await python(backend, lease, code)
    interfaces = await shell(backend, lease, "tail -n +3 /proc/net/dev | cut -d: -f1")

    assert result.verdict is Verdict.RUNTIME_ERROR
    assert "Network is unreachable" in result.stderr
    assert interfaces.stdout.split() == ["lo"]


async def test_the_hosts_files_are_out_of_reach(
    backend: DockerBackend, lease: str, tmp_path: Path
) -> None:
    host_file = tmp_path / "host-secret.txt"
    host_file.write_text("host secret")
    paths = [str(host_file), "/var/run/docker.sock", "/run/docker.sock", "/root/.docker"]
    code = f"import os; print([os.path.exists(p) for p in {paths!r}])"

    result = await python(backend, lease, code)

    assert result.stdout == "[False, False, False, False]\n"


async def test_another_submissions_files_are_out_of_reach(
    backend: DockerBackend, lease: str, bystander: Bystander
) -> None:
    search = f"""
import os
hits = []
for root, dirs, files in os.walk("/", onerror=lambda error: None):
    if root in ("/proc", "/sys", "/dev"):
        dirs.clear()
        continue
    for name in files:
        path = os.path.join(root, name)
        try:
            with open(path, "rb") as f:
                if {bystander.secret.encode()!r} in f.read(1 << 20):
                    hits.append(path)
        except OSError:
            pass
print(hits, sorted(p for p in os.listdir("/proc") if p.isdigit())[:1])
"""
    result = await python(backend, lease, search, wall_time_limit_ms=30_000)

    assert result.verdict is Verdict.OK, result.stderr
    assert result.stdout == "[] ['1']\n"  # no file of it, and PID 1 is our own init


async def test_the_environment_is_the_sandboxs_own(
    backend: DockerBackend, lease: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOGRADER_HOST_ONLY_SECRET", "do-not-leak")

    result = await python(backend, lease, "import json, os; print(json.dumps(list(os.environ)))")

    names = set(json.loads(result.stdout))
    assert names <= {"HOME", "LANG", "PATH", "TMPDIR", "HOSTNAME", "PWD", "OLDPWD"}
    assert not {"AMQP_URL", "DATABASE_URL", "AUTOGRADER_HOST_ONLY_SECRET"} & names
    assert set(os.environ) - names  # the host's environment was not empty either


async def test_killing_the_parent(backend: DockerBackend, lease: str) -> None:
    result = await python(backend, lease, "import os; os.kill(os.getppid(), 9); input()")

    assert result.verdict is Verdict.RUNTIME_ERROR
    assert result.signal == signal.SIGKILL
    assert "interfered with its supervisor" in result.stderr
    await nothing_survives(backend, lease)


async def test_killing_everything_it_can_see(backend: DockerBackend, lease: str) -> None:
    code = "import os, signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):\n"
    code += "    os.kill(1, s)\nos.kill(-1, signal.SIGKILL)"

    result = await python(backend, lease, code)

    assert result.verdict is Verdict.RUNTIME_ERROR
    await nothing_survives(backend, lease)  # PID 1 ignored it all: the container lives


async def test_setuid_attempts(backend: DockerBackend, lease: str) -> None:
    become_root = await python(backend, lease, "import os; os.setuid(0)")
    su = await backend.run(lease, RunRequest(argv=["su", "-c", "id"], stdin="root\n"))
    status = await shell(
        backend, lease, "grep -E '^(Uid|NoNewPrivs|Cap(Inh|Prm|Eff|Bnd|Amb))' /proc/self/status"
    )

    assert become_root.verdict is Verdict.RUNTIME_ERROR
    assert "Operation not permitted" in become_root.stderr
    assert su.verdict is Verdict.RUNTIME_ERROR  # the setuid bit buys nothing
    fields = dict(line.split(":", 1) for line in status.stdout.splitlines())
    assert fields["Uid"].split() == ["10001"] * 4
    assert fields["NoNewPrivs"].strip() == "1"
    assert {fields[f"Cap{kind}"].strip() for kind in ("Inh", "Prm", "Eff", "Bnd", "Amb")} == {
        "0000000000000000"
    }


async def test_the_pool_is_full_after_all_that(backend: DockerBackend) -> None:
    assert await pool_is_full(backend), backend.metrics()
    metrics = backend.metrics()
    assert metrics["leases_in_use"] == 0
    assert metrics["languages"]["python"]["create_failures"] == 0
