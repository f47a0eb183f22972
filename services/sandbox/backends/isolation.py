"""Host mechanisms the local backend isolates programs with, probed or reserved once.

- a network namespace through `unshare --net` (probed: needs root or user namespaces),
  its loopback interface up so a program can reach servers it started itself;
- sandbox uids, one per lease, reserved across every backend on the host;
- a sweep that SIGKILLs every process of a sandbox uid, wherever it went;
- the directory tree the workspaces live in.
"""

import asyncio
import fcntl
import functools
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from services.sandbox.backends.base import SandboxError

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# High enough to miss real users, subordinate-uid ranges and nobody; below 2**31.
FIRST_SANDBOX_UID = 1_700_000_000
SANDBOX_UID_COUNT = 100_000
# Under /run so a sandboxed program (which may write /tmp) cannot plant it first.
UID_LOCK_DIR = Path("/run/autograder-sandbox-uids")
# A new network namespace starts with its loopback down. Still privileged inside it, this
# brings `lo` up (the ioctl behind `ip link set lo up`), then execs a second unshare that
# takes the rest of the command (`--setgid/--setuid ... -- program`) and only drops the
# privileges. Python rather than a shell: a shell would add PWD, SHLVL to the environment.
_LOOPBACK_UP_SOURCE = """
import fcntl, os, socket, struct, sys
IFREQ, SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = "16sH22x", 0x8913, 0x8914, 0x1
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
    flags = struct.unpack(IFREQ, fcntl.ioctl(sock, SIOCGIFFLAGS, struct.pack(IFREQ, b"lo", 0)))[1]
    fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))
os.execvp("unshare", ["unshare", *sys.argv[1:]])
"""
_LOOPBACK_UP = ("--", sys.executable, "-I", "-S", "-c", _LOOPBACK_UP_SOURCE)


NETNS_DIR = Path("/run/netns")


def lease_network(name: str) -> tuple[str, ...] | None:
    """As root: a network namespace of the lease's own, loopback up, made once per lease.

    Each run then enters it with nsenter (a few ms) instead of making a namespace and
    bringing loopback up every time (about 40 ms). None when it cannot be made; the
    per-run prefix of network_prefix() still isolates then.
    """
    if os.geteuid() != 0 or not (_quiet("ip", "netns", "add", name)):
        return None
    if not _quiet("ip", "-n", name, "link", "set", "lo", "up"):
        delete_lease_network(name)
        return None
    return ("nsenter", f"--net={NETNS_DIR / name}")


def delete_lease_network(name: str) -> None:
    _quiet("ip", "netns", "delete", name)


def _quiet(*argv: str) -> bool:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def network_prefix(isolate_network: bool | None) -> tuple[str, ...] | None:
    """The command prefix that cuts a program off the network; None for no isolation."""
    if isolate_network is False:
        return None
    prefix = _probe_network_prefix()
    if prefix is None and isolate_network:
        raise SandboxError("network isolation was asked for but `unshare --net` does not work")
    return prefix


@functools.cache
def _probe_network_prefix() -> tuple[str, ...] | None:
    if os.geteuid() == 0:
        unshare: tuple[str, ...] = ("unshare", "--net")
    else:  # an unprivileged user namespace may still allow a network namespace
        unshare = ("unshare", "--user", "--map-root-user", "--net")
    # Should bringing loopback up fail, the namespace still isolates, loopback down.
    for prefix in ((*unshare, *_LOOPBACK_UP), unshare):
        if _works(prefix):
            return prefix
    return None


def _works(prefix: tuple[str, ...]) -> bool:
    try:
        probe = subprocess.run(
            [*prefix, "--", "true"],
            env={"PATH": SAFE_PATH},
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


class UidPool:
    """Reserves sandbox uids across every backend on this host, one flock per uid.

    A uid of its own keeps a lease's programs from signalling or reading other leases and
    lets one kill(-1) reach all of them. The lock dies with its holder: a crash frees it.
    """

    def __init__(self, lock_dir: Path = UID_LOCK_DIR) -> None:
        lock_dir.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(lock_dir)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
            raise SandboxError(f"{lock_dir} must be a directory only root can write")
        self._lock_dir = lock_dir

    def reserve(self) -> tuple[int, int]:
        """Return a free uid and the fd whose closing frees it."""
        for uid in range(FIRST_SANDBOX_UID, FIRST_SANDBOX_UID + SANDBOX_UID_COUNT):
            flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(self._lock_dir / str(uid), flags, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return uid, fd
        raise SandboxError("every sandbox uid is in use")


async def kill_all_processes_of(uid: int) -> None:
    """SIGKILL every process of a sandbox uid at once, also those that left their group."""
    await asyncio.to_thread(
        subprocess.run,
        ["/bin/sh", "-c", "kill -9 -1"],  # kill(-1) spares only the caller itself
        user=uid,
        group=uid,
        extra_groups=[],
        cwd="/",
        env={"PATH": SAFE_PATH},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def make_root(root: Path | None, for_other_uids: bool) -> Path:
    """A fresh directory for this backend's workspaces (inside `root` when given)."""
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="autograder-sandbox-", dir=root))
    if for_other_uids:
        # Searchable but not listable: each lease's uid reaches only its own workspace.
        directory.chmod(0o711)
        try:
            _require_searchable(directory)
        except SandboxError:
            directory.rmdir()
            raise
    return directory


def _require_searchable(directory: Path) -> None:
    for ancestor in [directory, *directory.parents]:
        if not ancestor.stat().st_mode & stat.S_IXOTH:
            raise SandboxError(
                f"{ancestor} must be searchable by others (o+x): sandboxed programs run "
                "as uids of their own and must reach their workspace"
            )
