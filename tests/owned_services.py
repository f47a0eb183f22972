"""Servers a test owns, so it may stop and start them: a PostgreSQL cluster of its own
in a temporary directory, on a free port. The machine's shared servers are never
touched (tests that take a dependency down use these)."""

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support import free_port

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), Path("/nonexistent"))


@dataclass
class OwnPostgres:
    directory: Path
    port: int

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        command = [str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "data"), *args]
        subprocess.run(_as_postgres(command), check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._pg_ctl("-o", options, "-l", str(self.directory / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` is a clean shutdown; `immediate` is as abrupt as a crash."""
        self._pg_ctl("-m", mode, "-w", "stop")


@contextlib.contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    """A fresh cluster (trust auth), started; stopped and deleted afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="autograder-pg-"))
    shutil.chown(directory, "postgres", "postgres")
    initdb = [
        str(PG_BIN / "initdb"),
        "-D",
        str(directory / "data"),
        "--auth=trust",
        "-U",
        "postgres",
    ]
    subprocess.run(_as_postgres(initdb), check=True, capture_output=True, timeout=120)
    server = OwnPostgres(directory, free_port())
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the postgres user when we are root."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]
