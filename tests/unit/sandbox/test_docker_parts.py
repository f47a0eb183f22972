"""The Docker backend's pure parts: the container spec, the stderr protocol, archives, ELF."""

import io
import json
import struct
import tarfile

import pytest

from contracts.sandbox import RunResult, Verdict
from services.sandbox.backends.docker_engine import (
    LABEL_POOL,
    SANDBOX_USER,
    container_spec,
    workspace_archive,
)
from services.sandbox.backends.docker_run import StderrChannel, wrapper_argv
from services.sandbox.backends.elf import may_have_failed_to_load, static_memory_bytes
from services.sandbox.backends.runrules import BoundedOutput
from services.sandbox.settings import SandboxSettings

REPORT = b'{"status": 0, "cpu_ms": 3, "peak_memory_kb": 9000, "timed_out": false, "wall_ms": 5}\n'
TRAILER = b'\n{"oom_kills": 0}\n'


def test_the_container_is_hardened() -> None:
    settings = SandboxSettings(memory_mb=512, pids_limit=64, cpus=0.5, workspace_mb=32)

    spec = container_spec(settings, "python", "ns", "instance")
    host = spec["HostConfig"]

    assert spec["Image"] == "autograder/sandbox-python:bookworm"
    assert spec["User"] == SANDBOX_USER
    assert spec["NetworkDisabled"] is True
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "CapAdd" not in host
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["PidsLimit"] == 64
    assert host["Memory"] == host["MemorySwap"] == 512 << 20
    assert host["NanoCpus"] == 500_000_000
    assert {u["Name"]: u["Hard"] for u in host["Ulimits"]} == {
        "nofile": 256,
        "fsize": 16 << 20,
        "core": 0,
    }
    assert "size=32m" in host["Mounts"][0]["VolumeOptions"]["DriverConfig"]["Options"]["o"]
    assert "size=16m" in host["Tmpfs"]["/tmp"]
    assert spec["Labels"][LABEL_POOL] == "ns"
    assert all(not entry.startswith(("AMQP", "DATABASE")) for entry in spec["Env"])


def test_the_wrapper_gets_the_supervisor_and_its_config() -> None:
    argv = wrapper_argv(["./a.out"], [(0, 1, 2)], 1500, "src")

    assert argv[:2] == ["/bin/sh", "-c"]
    assert "def main()" in argv[4]  # supervisor.py itself
    assert json.loads(argv[5]) == {
        "argv": ["./a.out"],
        "limits": [[0, 1, 2]],
        "uid": None,
        "wall_time_limit_ms": 1500,
        "report_fd": 3,
    }
    assert argv[6] == "src"


def channel_of(*chunks: bytes, limit: int = 100) -> StderrChannel:
    channel = StderrChannel(limit)
    for chunk in chunks:
        channel.feed(chunk)
    return channel


def test_stderr_is_taken_apart() -> None:
    channel = channel_of(b'{"pid": 7}\nboom\n', REPORT, TRAILER)

    parts = channel.finish()

    assert channel.header == {"pid": 7}
    assert channel.has_trailer()
    assert parts.program_stderr == b"boom\n"
    assert not parts.truncated
    assert parts.report is not None
    assert parts.report["wall_ms"] == 5
    assert parts.oom_kills == 0


def test_reports_split_across_chunks_and_after_a_partial_line() -> None:
    whole = b'{"pid": 7}\nno newline' + REPORT + b'\n{"oom_kills": 2}\n'

    parts = channel_of(*(whole[i : i + 5] for i in range(0, len(whole), 5))).finish()

    assert parts.program_stderr == b"no newline"
    assert parts.report is not None
    assert parts.oom_kills == 2


def test_a_program_cannot_pass_for_the_final_report() -> None:
    fake = b'{"status": 0, "cpu_ms": 0, "peak_memory_kb": 0, "timed_out": false, "wall_ms": 0}\n'
    real = REPORT.replace(b'"status": 0', b'"status": 9')

    parts = channel_of(b'{"pid": 7}\n', fake, real, TRAILER).finish()

    assert parts.report is not None
    assert parts.report["status"] == 9
    assert parts.program_stderr == fake


def test_stderr_past_the_limit_is_truncated() -> None:
    channel = channel_of(b'{"pid": 7}\n', b"x" * 150, REPORT, TRAILER)

    parts = channel.finish()

    assert parts.truncated
    assert parts.program_stderr == b"x" * 100
    assert not channel.overflowed  # within the slack: the report may still be in it


def test_stderr_far_past_the_limit_overflows_at_once() -> None:
    channel = channel_of(b'{"pid": 7}\n', b"x" * 10_000)

    assert channel.overflowed


def test_no_report_when_the_supervisor_was_killed() -> None:
    parts = channel_of(b'{"pid": 7}\nbye\n', TRAILER).finish()

    assert parts.report is None
    assert parts.program_stderr == b"bye\n"


def test_output_keeps_the_limit_counts_the_rest_and_says_once_when_it_overflowed() -> None:
    capture = BoundedOutput(4)

    assert capture.feed(b"abc") is False
    assert capture.feed(b"def") is True
    assert capture.feed(b"ghi") is False  # already said

    assert bytes(capture.data) == b"abcd"
    assert capture.overflowed
    assert capture.total == 9


def members_of(archive: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as opened:
        return {member.name: member for member in opened}


def test_the_workspace_archive_sets_owners_and_modes() -> None:
    archive = workspace_archive({"src/a.py": b"x", "b.txt": b"yz"}, read_only=False, mtime=1)
    locked = workspace_archive({"t/expected.txt": b"1"}, read_only=True, mtime=1)

    members, locked_members = members_of(archive), members_of(locked)

    assert (members["src"].isdir(), members["src"].uid, members["src"].mode) == (True, 10001, 0o755)
    assert (members["src/a.py"].uid, members["src/a.py"].mode) == (10001, 0o644)
    assert members["b.txt"].size == 2
    assert (locked_members["t"].uid, locked_members["t/expected.txt"].uid) == (10001, 0)
    assert locked_members["t/expected.txt"].mode == 0o444


def elf_with_loads(*sizes: int) -> bytes:
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", header, 0x20, 64)
    struct.pack_into("<HH", header, 0x36, 56, len(sizes) + 1)
    tables = b"".join(struct.pack("<I36xQ8x", 1, size) for size in sizes)
    return bytes(header) + tables + struct.pack("<I52x", 6)  # and a non-load segment


def test_static_memory_sums_the_load_segments() -> None:
    assert static_memory_bytes(elf_with_loads(4096, 1 << 30)) == 4096 + (1 << 30)
    assert static_memory_bytes(b"#!/bin/sh\n") is None
    assert static_memory_bytes(elf_with_loads(4096)[:70]) is None


@pytest.mark.parametrize(
    ("signal", "exit_code", "cpu_ms", "expected"),
    [(11, None, 1, True), (None, 139, 0, True), (9, None, 2, True), (11, None, 500, False)],
)
def test_what_may_be_a_load_failure(
    signal: int | None, exit_code: int | None, cpu_ms: int, expected: bool
) -> None:
    result = RunResult(
        exit_code=exit_code, signal=signal, cpu_ms=cpu_ms, verdict=Verdict.RUNTIME_ERROR
    )

    assert may_have_failed_to_load(result) is expected
