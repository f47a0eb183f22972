"""Finding a container's memory cgroup and reading one run's peak from it (cgroup v1
files faked in a directory; the real ones are read in the Docker integration tests)."""

from pathlib import Path

from services.sandbox.backends import cgroup_memory
from services.sandbox.backends.docker_run import ContainerEnding
from services.sandbox.backends.supervised import Ending

CONTAINER = "c0ffee" * 10


def fake_v1(root: Path, usage: int, peak: int) -> Path:
    directory = root / "memory" / "docker" / CONTAINER
    directory.mkdir(parents=True)
    (directory / "memory.usage_in_bytes").write_text(f"{usage}\n")
    (directory / "memory.max_usage_in_bytes").write_text(f"{peak}\n")
    return directory


def test_a_v1_run_resets_the_peak_and_counts_above_the_usage_before_it(tmp_path: Path) -> None:
    directory = fake_v1(tmp_path, usage=4 << 20, peak=900 << 20)  # an earlier run's peak
    cgroup = cgroup_memory.locate(tmp_path, CONTAINER)
    assert cgroup is not None
    assert cgroup.directory == directory

    meter = cgroup.begin()
    assert meter is not None
    assert (directory / "memory.max_usage_in_bytes").read_text() == "0"  # reset asked
    (directory / "memory.max_usage_in_bytes").write_text(f"{(4 + 100) << 20}\n")  # the run

    assert meter.peak_kb() == 100 * 1024


def test_the_systemd_drivers_v2_directory_is_found(tmp_path: Path) -> None:
    directory = tmp_path / "system.slice" / f"docker-{CONTAINER}.scope"
    directory.mkdir(parents=True)
    (directory / "memory.peak").write_text("0\n")
    (directory / "memory.current").write_text("0\n")

    cgroup = cgroup_memory.locate(tmp_path, CONTAINER)

    assert cgroup is not None
    assert cgroup.directory == directory
    assert not cgroup.is_v1


def test_no_cgroup_to_reach_gives_none(tmp_path: Path) -> None:
    assert cgroup_memory.locate(tmp_path, CONTAINER) is None


def test_a_cgroup_gone_with_its_container_reads_as_unknown(tmp_path: Path) -> None:
    directory = fake_v1(tmp_path, usage=0, peak=0)
    cgroup = cgroup_memory.locate(tmp_path, CONTAINER)
    assert cgroup is not None
    meter = cgroup.begin()
    assert meter is not None
    for file in directory.iterdir():
        file.unlink()

    assert meter.peak_kb() is None


def ending(rusage_kb: int, supervisor_kb: int) -> ContainerEnding:
    finished = Ending(
        status=0,
        cpu_ms=1,
        peak_memory_kb=rusage_kb,
        wall_ms=1,
        killed_at_wall_limit=False,
        stdout=b"",
        stderr=b"",
        stdout_truncated=False,
        stderr_truncated=False,
        supervisor_kb=supervisor_kb,
    )
    return ContainerEnding(finished, oom_killed=False, container_killed=False)


def test_the_cgroup_peak_less_the_supervisor_counts_when_larger_than_rusage() -> None:
    spread = ending(rusage_kb=50_000, supervisor_kb=4_000).with_cgroup_peak(104_000)
    single = ending(rusage_kb=9_000, supervisor_kb=4_000).with_cgroup_peak(7_000)
    unknown = ending(rusage_kb=9_000, supervisor_kb=4_000).with_cgroup_peak(None)

    assert spread.ending.peak_memory_kb == 100_000
    assert single.ending.peak_memory_kb == 9_000  # shared pages rusage saw, charged before
    assert unknown.ending.peak_memory_kb == 9_000
    assert (spread.ending.status, spread.ending.cpu_ms) == (0, 1)  # the rest unchanged
