"""Everything the Docker backend asks of the Docker engine, through aiodocker.

The hardened container spec, starting and removing labelled containers, the files of
a container's workspace, and the execs that run or kill commands inside it. The
sandbox service is the only component that talks to Docker, and this module its only
place that does.

A container: no network, read-only root, the workspace a size-bounded tmpfs volume
(a volume, so the engine's archive API can put files into it despite the read-only
root; removed with the container), a small tmpfs /tmp, every capability dropped,
no-new-privileges, uid 10001 for every process, pids, memory (= memory + swap) and
CPU limits, open-file and file-size ulimits, and an environment of its own. PID 1 is a
tiny reaper: as the namespace's init it ignores every signal the sandboxed programs
send it, and it reaps the orphans they leave so they do not use up the pids limit.
"""

import asyncio
import base64
import contextlib
import io
import json
import re
import tarfile
import uuid
from collections.abc import Mapping
from typing import Any

import aiodocker
from aiodocker.containers import DockerContainer
from aiodocker.execs import Exec
from aiodocker.stream import Stream

from services.sandbox.backends.base import SandboxError, UnsafePath
from services.sandbox.settings import SandboxSettings

LABEL_SANDBOX = "org.autograder.sandbox"
LABEL_POOL = "org.autograder.sandbox.pool"
LABEL_LANGUAGE = "org.autograder.sandbox.language"
LABEL_INSTANCE = "org.autograder.sandbox.instance"  # the backend object that started it
SANDBOX_USER = "10001:10001"
WORKSPACE = "/workspace"
MIB = 1024 * 1024
HOW_TO_GET_IMAGES = "build them with `make sandbox-images`"
HOW_TO_GET_ENGINE = "start a Docker engine (`dockerd`) or set DOCKER_HOST"
# A container that does not start within this is counted as a failed start.
START_TIMEOUT_S = 60.0
REMOVE_TIMEOUT_S = 30.0
_STAT_HEADER = "X-Docker-Container-Path-Stat"
# Go's os.FileMode type bits, as the archive API's stat header reports them.
_GO_MODE_DIR = 1 << 31
_GO_MODE_TYPE_BITS = (
    (1 << 31) | (1 << 27) | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)
)

# PID 1 of every sandbox container: reaps orphans. An init only receives the signals it
# handles, and SIGINT is the only one Python handles: reset it, so nothing inside can
# stop the container.
INIT_SOURCE = """
import os, signal
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
while True:
    signal.sigwaitinfo({signal.SIGCHLD})
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
"""


def container_spec(
    settings: SandboxSettings, language: str, namespace: str, instance: str
) -> dict[str, Any]:
    """The create-container body: every hardening flag of a sandbox lives here."""
    labels = {
        LABEL_SANDBOX: "1",
        LABEL_POOL: namespace,
        LABEL_INSTANCE: instance,
        LABEL_LANGUAGE: language,
    }
    return {
        "Image": settings.image_for(language),
        "Cmd": ["python3", "-I", "-S", "-c", INIT_SOURCE],
        "User": SANDBOX_USER,
        "WorkingDir": WORKSPACE,
        "Hostname": "sandbox",
        # Image defaults (PATH, JAVA_HOME, ...) stay; nothing comes from the host.
        "Env": [f"HOME={WORKSPACE}", "LANG=C.UTF-8", "TMPDIR=/tmp"],
        "Labels": labels,
        "NetworkDisabled": True,
        "HostConfig": _host_config(settings, labels),
    }


def _host_config(settings: SandboxSettings, labels: dict[str, str]) -> dict[str, Any]:
    memory = settings.memory_mb * MIB
    file_size = settings.file_size_limit_mb * MIB
    return {
        "NetworkMode": "none",
        "ReadonlyRootfs": True,
        "CapDrop": ["ALL"],
        "SecurityOpt": ["no-new-privileges"],
        "PidsLimit": settings.pids_limit,
        "Memory": memory,
        "MemorySwap": memory,  # equal: no swap on top of the memory limit
        "NanoCpus": int(settings.cpus * 1e9),
        "Ulimits": [
            {"Name": "nofile", "Soft": settings.open_files, "Hard": settings.open_files},
            {"Name": "fsize", "Soft": file_size, "Hard": file_size},
            {"Name": "core", "Soft": 0, "Hard": 0},
        ],
        "Mounts": [_workspace_mount(settings, labels)],
        "Tmpfs": {"/tmp": f"rw,nosuid,nodev,size={settings.tmp_mb}m,mode=1777"},
        "IpcMode": "private",
        "ShmSize": settings.tmp_mb * MIB,
        "LogConfig": {"Type": "none", "Config": {}},
        "RestartPolicy": {"Name": "no"},
    }


def _workspace_mount(settings: SandboxSettings, labels: dict[str, str]) -> dict[str, Any]:
    options = f"size={settings.workspace_mb}m,uid=10001,gid=10001,mode=0755,nosuid,nodev"
    return {
        "Type": "volume",  # anonymous: `delete(v=True)` removes it with the container
        "Target": WORKSPACE,
        "VolumeOptions": {
            "NoCopy": True,
            "Labels": labels,
            "DriverConfig": {
                "Name": "local",
                "Options": {"type": "tmpfs", "device": "tmpfs", "o": options},
            },
        },
    }


class ExecSession:
    """The attached stdin, stdout and stderr of one exec."""

    def __init__(self, execution: Exec, stream: Stream) -> None:
        self._execution = execution
        self._stream = stream

    async def read(self) -> tuple[int, bytes] | None:
        """The next chunk as (1 for stdout or 2 for stderr, bytes); None at the end."""
        message = await self._stream.read_out()
        return None if message is None else (message.stream, message.data)

    async def send(self, data: bytes) -> None:
        await self._stream.write_in(data)

    def end_input(self) -> None:
        """Half-close the connection: the command reads EOF on stdin, output still flows."""
        # aiodocker only closes both directions at once; its transport can close one.
        response = self._stream._resp
        if response is not None and response.connection is not None:
            transport = response.connection.transport
            if transport is not None and transport.can_write_eof():
                transport.write_eof()

    async def exit_code(self) -> int | None:
        """The command's exit code once it has ended, else None."""
        try:
            state = await self._execution.inspect()
        except aiodocker.DockerError:
            return None
        return None if state["Running"] else state["ExitCode"]

    async def close(self) -> None:
        await self._stream.close()


class DockerEngine:
    """The sandbox's view of one Docker engine, for one pool namespace.

    One sandbox service owns a namespace: what it finds there at start was left by a
    crashed predecessor. Closing removes only what this engine object started.
    """

    def __init__(
        self, settings: SandboxSettings, namespace: str, docker: aiodocker.Docker | None = None
    ) -> None:
        self._settings = settings
        self._namespace = namespace
        self._instance = uuid.uuid4().hex
        self._docker = docker or aiodocker.Docker()

    async def close(self) -> None:
        await self._docker.close()

    # --- containers (the pool's ContainerLauncher) ---------------------------------

    async def start_container(self, language: str) -> str:
        spec = container_spec(self._settings, language, self._namespace, self._instance)
        name = _container_name(self._namespace, language)
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                container = await self._docker.containers.create(spec, name=name)
        except aiodocker.DockerError as error:
            raise _start_error(spec["Image"], error) from error
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                await container.start()
        except BaseException:
            with contextlib.suppress(Exception):  # the start's own failure matters more
                await asyncio.shield(self.remove_container(container.id))
            raise
        return container.id

    async def remove_container(self, container_id: str) -> None:
        try:
            async with asyncio.timeout(REMOVE_TIMEOUT_S):
                await self._container(container_id).delete(force=True, v=True)
        except aiodocker.DockerError as error:
            if error.status not in (404, 409):  # gone, or its removal is under way
                raise

    async def remove_leftovers(self) -> int:
        """Remove the namespace's containers that another (crashed) engine started,
        and workspaces whose container was removed without them."""
        label = f"{LABEL_POOL}={self._namespace}"
        containers = await self._labelled(label)
        leftovers = [c.id for c in containers if c["Labels"].get(LABEL_INSTANCE) != self._instance]
        await asyncio.gather(*(self.remove_container(container_id) for container_id in leftovers))
        await self._docker.volumes.prune(filters={"label": [label]})  # unused ones only
        return len(leftovers)

    async def remove_own(self) -> None:
        """Remove every container this engine started, whatever the pool knows of them."""
        containers = await self._labelled(f"{LABEL_INSTANCE}={self._instance}")
        await asyncio.gather(*(self.remove_container(c.id) for c in containers))

    async def _labelled(self, label: str) -> list[DockerContainer]:
        filters = json.dumps({"label": [label]})
        return await self._docker.containers.list(all=True, filters=filters)

    # --- workspace files ---------------------------------------------------------------

    async def put_archive(self, container_id: str, archive: bytes) -> None:
        try:
            container = self._container(container_id)
            await container.put_archive(WORKSPACE, archive)  # type: ignore[no-untyped-call]
        except aiodocker.DockerError as error:
            raise _lease_error(error, "cannot put files") from error

    async def read_file(self, container_id: str, path: str, limit_bytes: int) -> bytes | None:
        """A workspace file's bytes; None when missing; refuse links, directories, big files."""
        if not await self._parents_are_directories(container_id, path):
            return None
        try:
            # aiodocker's get_archive reads any size into memory: look at the stat first.
            async with self._docker._query(
                f"containers/{container_id}/archive", params={"path": f"{WORKSPACE}/{path}"}
            ) as response:
                _check_readable(response.headers.get(_STAT_HEADER, ""), path, limit_bytes)
                archive = await response.read()
        except aiodocker.DockerError as error:
            if error.status == 404:
                return None
            raise _lease_error(error, "cannot read files") from error
        return _only_file_in(archive, path)

    async def _parents_are_directories(self, container_id: str, path: str) -> bool:
        """The engine resolves links in the middle of a path: refuse a path through one
        (`etc -> /etc` would read the image's files as root). False when one is missing
        or not a directory."""
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            parent = "/".join(parts[:depth])
            try:
                async with self._docker._query(
                    f"containers/{container_id}/archive",
                    method="HEAD",
                    params={"path": f"{WORKSPACE}/{parent}"},
                ) as response:
                    stat = _stat(response.headers.get(_STAT_HEADER, ""), parent)
            except aiodocker.DockerError as error:
                if error.status == 404:
                    return False
                raise _lease_error(error, "cannot read files") from error
            if stat.get("linkTarget"):
                raise UnsafePath(f"path {path!r} goes through a link")
            if not int(stat["mode"]) & _GO_MODE_DIR:
                return False
        return True

    # --- execs ---------------------------------------------------------------------------

    async def open_exec(
        self, container_id: str, argv: list[str], env: Mapping[str, str]
    ) -> ExecSession:
        """Start argv as the sandbox user in the workspace, stdin and output attached."""
        try:
            execution = await self._container(container_id).exec(
                argv, stdin=True, user=SANDBOX_USER, environment=env, workdir=WORKSPACE
            )
            stream = execution.start()
            await stream.__aenter__()
        except aiodocker.DockerError as error:
            raise _lease_error(error, "cannot run commands") from error
        return ExecSession(execution, stream)

    async def run_quietly(self, container_id: str, argv: list[str], timeout_s: float) -> None:
        """Run a short command as the sandbox user (e.g. a kill) and wait for it to end."""
        session = await self.open_exec(container_id, argv, {})
        try:
            session.end_input()
            async with asyncio.timeout(timeout_s):
                while await session.read() is not None:
                    pass
        finally:
            await session.close()

    async def set_memory(self, container_id: str, limit_bytes: int) -> None:
        """The container's memory cgroup limit (memory + swap alike: no swap)."""
        body = {"Memory": limit_bytes, "MemorySwap": limit_bytes}
        try:
            await self._docker._query_json(
                f"containers/{container_id}/update", method="POST", data=body
            )
        except aiodocker.DockerError as error:
            raise _lease_error(error, "cannot set its memory limit") from error

    async def kill_container(self, container_id: str) -> None:
        """SIGKILL PID 1 from outside, which ends every process of the container."""
        try:
            await self._container(container_id).kill(signal="SIGKILL")
        except aiodocker.DockerError as error:
            if error.status not in (404, 409):  # else: gone, or not running already
                raise _lease_error(error, "cannot kill the container") from error

    def _container(self, container_id: str) -> DockerContainer:
        return self._docker.containers.container(container_id)


async def engine_problem(settings: SandboxSettings, timeout_s: float = 5.0) -> str | None:
    """Why the Docker backend cannot run here (no engine, missing images), or None."""
    try:
        docker = aiodocker.Docker()
    except (ValueError, OSError, AssertionError) as error:  # aiodocker asserts it found a socket
        return f"no Docker engine ({error!r}); {HOW_TO_GET_ENGINE}"
    try:
        async with asyncio.timeout(timeout_s):
            await docker.version()
            missing = [image for image in _pool_images(settings) if not await _has(docker, image)]
    except (aiodocker.DockerError, OSError, TimeoutError) as error:
        return f"the Docker engine does not answer ({error!r}); {HOW_TO_GET_ENGINE}"
    finally:
        await docker.close()
    if missing:
        return f"sandbox images missing: {', '.join(missing)}; {HOW_TO_GET_IMAGES}"
    return None


def _pool_images(settings: SandboxSettings) -> list[str]:
    return [settings.image_for(lang) for lang, size in settings.pool_sizes.items() if size > 0]


async def _has(docker: aiodocker.Docker, image: str) -> bool:
    try:
        await docker.images.inspect(image)
    except aiodocker.DockerError as error:
        if error.status == 404:
            return False
        raise
    return True


def _container_name(namespace: str, language: str) -> str:
    safe_namespace = re.sub(r"[^a-zA-Z0-9_.-]", "-", namespace)
    return f"ag-sandbox-{safe_namespace}-{language}-{uuid.uuid4().hex[:10]}"


def _start_error(image: str, error: aiodocker.DockerError) -> SandboxError:
    if error.status == 404 and "image" in str(error.message).lower():
        return SandboxError(f"sandbox image {image} is missing; {HOW_TO_GET_IMAGES}")
    return SandboxError(f"cannot create a sandbox container from {image}: {error.message}")


def _lease_error(error: aiodocker.DockerError, what: str) -> SandboxError:
    if error.status in (404, 409):  # removed, or stopped: e.g. killed from outside
        return SandboxError(f"{what}: the sandbox container is gone ({error.message})")
    return SandboxError(f"{what} in the sandbox: {error.message}")


def _stat(stat_header: str, path: str) -> dict[str, Any]:
    if not stat_header:
        raise SandboxError(f"the Docker engine did not say what {path!r} is")
    return dict(json.loads(base64.b64decode(stat_header)))


def _check_readable(stat_header: str, path: str, limit_bytes: int) -> None:
    stat = _stat(stat_header, path)
    # The archive API stats the path itself: a final symlink shows as one.
    if stat.get("linkTarget") or int(stat["mode"]) & _GO_MODE_TYPE_BITS:
        raise UnsafePath(f"path {path!r} is not a regular file")
    if int(stat["size"]) > limit_bytes:
        raise SandboxError(f"file {path!r} is larger than {limit_bytes} bytes")


def _only_file_in(archive_bytes: bytes, path: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(archive_bytes), mode="r:") as archive:
        member = archive.next()
        if member is None or not member.isfile():
            raise UnsafePath(f"path {path!r} is not a regular file")
        extracted = archive.extractfile(member)
        if extracted is None:
            raise UnsafePath(f"path {path!r} is not a regular file")
        return extracted.read()


def workspace_archive(files: Mapping[str, bytes], read_only: bool, mtime: float) -> bytes:
    """An uncompressed tar of files (already checked relative paths) for put_archive.

    Directories and writable files belong to the sandbox user; a read-only file belongs
    to root with mode 0444, so the program cannot make it writable again.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for directory in _parent_directories(files):
            archive.addfile(_entry(directory, tarfile.DIRTYPE, 10001, 0o755, mtime))
        for path, content in files.items():
            owner, mode = (0, 0o444) if read_only else (10001, 0o644)
            entry = _entry(path, tarfile.REGTYPE, owner, mode, mtime)
            entry.size = len(content)
            archive.addfile(entry, io.BytesIO(content))
    return buffer.getvalue()


def _parent_directories(files: Mapping[str, bytes]) -> list[str]:
    directories: set[str] = set()
    for path in files:
        parts = path.split("/")[:-1]
        directories.update("/".join(parts[: depth + 1]) for depth in range(len(parts)))
    return sorted(directories)


def _entry(name: str, kind: bytes, owner: int, mode: int, mtime: float) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type = kind
    entry.uid = entry.gid = owner
    entry.mode = mode
    entry.mtime = int(mtime)
    return entry
