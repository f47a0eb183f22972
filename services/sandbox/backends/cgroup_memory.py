"""A container's peak memory for one run, read from its memory cgroup on the host.

rusage's ru_maxrss is the largest single process: a program that forks, or spreads its
memory over several processes, looks smaller than it is. The container's memory cgroup
counts them all (and what they keep in the tmpfs workspace), and it is what the kernel
OOM-kills by. Inside the container the cgroup is read-only, so its peak cannot be reset
between two runs of one lease; the sandbox service, on the host, can:

- cgroup v1: writing 0 to memory.max_usage_in_bytes resets the peak to the usage now;
- cgroup v2: writing to an open memory.peak resets the peak seen through that file
  (Linux 6.12 and later).

A run's peak is that peak minus the usage just before the run (the idle container and
the files already in its workspace). When the service cannot reach the host's cgroups
(run in a container without them mounted, or an older v2 kernel) `locate` answers None
and the backend reports rusage alone; docs/sandbox.md says how to mount them.
"""

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

KIB = 1024


def candidate_directories(root: Path, container_id: str) -> list[Path]:
    """Where Docker puts a container's memory cgroup, for each driver and version."""
    return [
        root / "memory" / "docker" / container_id,  # v1, cgroupfs driver
        root / "memory" / "system.slice" / f"docker-{container_id}.scope",  # v1, systemd
        root / "system.slice" / f"docker-{container_id}.scope",  # v2, systemd driver
        root / "docker" / container_id,  # v2, cgroupfs driver
    ]


@dataclass(frozen=True)
class MemoryCgroup:
    directory: Path

    @property
    def is_v1(self) -> bool:
        return (self.directory / "memory.max_usage_in_bytes").exists()

    def begin(self) -> "RunMeter | None":
        """Reset the peak to now; None when this kernel cannot reset it."""
        if self.is_v1:
            baseline = _read_int(self.directory / "memory.usage_in_bytes")
            (self.directory / "memory.max_usage_in_bytes").write_text("0")
            return RunMeter(self, baseline, peak_fd=None)
        peak_fd = os.open(self.directory / "memory.peak", os.O_RDWR)
        try:
            os.write(peak_fd, b"reset\n")
        except OSError:  # before Linux 6.12 memory.peak cannot be reset
            os.close(peak_fd)
            return None
        return RunMeter(self, _read_int(self.directory / "memory.current"), peak_fd)


@dataclass
class RunMeter:
    cgroup: MemoryCgroup
    baseline_bytes: int
    peak_fd: int | None

    def peak_kb(self) -> int | None:
        """The run's peak above the usage before it, in KiB; None when unreadable."""
        try:
            if self.peak_fd is None:
                peak = _read_int(self.cgroup.directory / "memory.max_usage_in_bytes")
            else:
                peak = int(os.pread(self.peak_fd, 64, 0))
        except (OSError, ValueError):  # the container went away with its cgroup
            return None
        finally:
            self.close()
        return max(0, peak - self.baseline_bytes) // KIB

    def close(self) -> None:
        if self.peak_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.peak_fd)
            self.peak_fd = None


def locate(root: Path, container_id: str) -> MemoryCgroup | None:
    """The container's memory cgroup if this process may reset and read it."""
    for directory in candidate_directories(root, container_id):
        cgroup = MemoryCgroup(directory)
        reset_file = "memory.max_usage_in_bytes" if cgroup.is_v1 else "memory.peak"
        if os.access(directory / reset_file, os.R_OK | os.W_OK):
            return cgroup
    return None


def _read_int(path: Path) -> int:
    return int(path.read_text())
