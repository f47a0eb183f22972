"""File operations inside a workspace directory that never leave it.

Every path is walked one component at a time with O_NOFOLLOW relative to the directory
opened before it, so a symlink planted by a sandboxed program (even one created between
our check and our use) can never redirect a read or a write outside the workspace.
These functions block; the backends call them from a worker thread.
"""

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from services.sandbox.backends.base import SandboxError, UnsafePath

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO a program left behind must not hang us.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def path_parts(path: str) -> list[str]:
    """Split a relative POSIX path into names; "." and "" name the workspace itself."""
    if "\x00" in path:
        raise UnsafePath(f"path {path!r} contains a NUL byte")
    if path.startswith("/"):
        raise UnsafePath(f"path {path!r} is absolute")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafePath(f"path {path!r} escapes the workspace")
    return parts


def file_parts(path: str) -> list[str]:
    parts = path_parts(path)
    if not parts:
        raise UnsafePath(f"path {path!r} names the workspace, not a file")
    return parts


@contextlib.contextmanager
def _opened_directory(
    workspace: Path, names: list[str], path: str, create_as_uid: int | None = None
) -> Iterator[int]:
    """Yield an fd of workspace/names; create missing directories when create_as_uid is set."""
    fd = os.open(workspace, _DIRECTORY_FLAGS)
    try:
        for name in names:
            if create_as_uid is not None:
                _make_directory(fd, name, create_as_uid)
            child = _open_no_follow(name, _DIRECTORY_FLAGS, fd, path)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _make_directory(parent_fd: int, name: str, owner_uid: int) -> None:
    try:
        os.mkdir(name, 0o755, dir_fd=parent_fd)
    except FileExistsError:
        return
    os.chown(name, owner_uid, owner_uid, dir_fd=parent_fd, follow_symlinks=False)


def _open_no_follow(name: str, flags: int, dir_fd: int, path: str) -> int:
    try:
        return os.open(name, flags, 0o644, dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP or _is_symlink(name, dir_fd):
            raise UnsafePath(f"path {path!r} goes through a symlink") from None
        raise


def _is_symlink(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def resolve_directory(workspace: Path, path: str) -> Path:
    """Return workspace/path after checking it is a real directory reached without symlinks."""
    parts = path_parts(path)
    try:
        with _opened_directory(workspace, parts, path):
            return workspace.joinpath(*parts)
    except (FileNotFoundError, NotADirectoryError):
        raise SandboxError(f"directory {path!r} does not exist in the workspace") from None


def write_file(
    workspace: Path, path: str, content: bytes, *, directory_uid: int, file_uid: int, mode: int
) -> None:
    """Replace workspace/path with a new regular file; create missing directories.

    A uid of -1 leaves the owner as it is (the backend's own user).
    """
    parts = file_parts(path)
    try:
        with _opened_directory(workspace, parts[:-1], path, directory_uid) as parent_fd:
            _remove_regular_file(parent_fd, parts[-1], path)
            fd = _open_no_follow(parts[-1], _CREATE_FLAGS, parent_fd, path)
            with open(fd, "wb") as file:
                file.write(content)
                os.fchown(file.fileno(), file_uid, file_uid)
                os.fchmod(file.fileno(), mode)
    except OSError as error:
        raise SandboxError(f"cannot write {path!r}: {error.strerror or error}") from error


def _remove_regular_file(parent_fd: int, name: str, path: str) -> None:
    # Unlinking first drops hard links and old permissions instead of writing through them.
    try:
        info = os.lstat(name, dir_fd=parent_fd)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePath(f"path {path!r} exists and is not a regular file")
    os.unlink(name, dir_fd=parent_fd)


def read_file(workspace: Path, path: str, limit_bytes: int) -> bytes | None:
    """Return the bytes of a regular file, None when missing; refuse files over the limit."""
    parts = file_parts(path)
    try:
        with _opened_directory(workspace, parts[:-1], path) as parent_fd:
            fd = _open_no_follow(parts[-1], _READ_FLAGS, parent_fd, path)
    except (FileNotFoundError, NotADirectoryError):  # a file where a directory would be
        return None
    with open(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePath(f"path {path!r} is not a regular file")
        content = file.read(limit_bytes + 1)
    if len(content) > limit_bytes:
        raise SandboxError(f"file {path!r} is larger than {limit_bytes} bytes")
    return content


def remove_tree(directory: Path) -> None:
    """Delete a workspace even when a program left directories without permissions."""
    try:
        shutil.rmtree(directory)
    except FileNotFoundError:
        return
    except PermissionError:
        _make_directories_writable(directory)
        shutil.rmtree(directory, ignore_errors=True)


def _make_directories_writable(directory: Path) -> None:
    # Only reached when not root: root ignores permission bits.
    os.chmod(directory, 0o700)
    for current, names, _files in os.walk(directory):
        for name in names:
            child = os.path.join(current, name)
            if not os.path.islink(child):
                with contextlib.suppress(OSError):
                    os.chmod(child, 0o700)
