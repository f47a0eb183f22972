"""Servers a test owns, so it may stop and start them: a PostgreSQL cluster and a
RabbitMQ node of its own, each in a temporary directory on free ports. The machine's
shared servers are never touched (tests that take a dependency down use these)."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
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


RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


@dataclass
class OwnRabbitMQ:
    """A RabbitMQ node of our own. Its data directory outlives a stop, so durable queues
    and persistent messages are there again after `start` (a real broker restart)."""

    directory: Path
    port: int
    node: str = field(default_factory=lambda: f"autograder-test-{uuid.uuid4().hex[:8]}@localhost")
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _environment(self) -> dict[str, str]:
        # The server started directly (the /usr/sbin wrapper switches user and drops
        # the environment); HOME holds this node's own Erlang cookie.
        return {
            **os.environ,
            "HOME": str(self.directory),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.directory / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.directory / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.directory / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.directory / "pid"),
        }

    def start(self, timeout_s: float = 90) -> None:
        with (self.directory / "server.log").open("ab") as log:  # the child keeps its copy
            self.process = subprocess.Popen(
                [str(RABBITMQ_SERVER)],
                env=self._environment(),
                cwd=self.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group, stopped as one
            )
        self._wait_listening(timeout_s)

    def _wait_listening(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"RabbitMQ exited; see {self.directory / 'server.log'}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.2)  # polling a port: there is no event to wait for
        raise TimeoutError(f"RabbitMQ did not listen on {self.port} in {timeout_s} s")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): queues and persistent messages are kept."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """As abrupt as a crash."""
        self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=60)
        self.process = None


@contextlib.contextmanager
def own_rabbitmq() -> Iterator[OwnRabbitMQ]:
    """A fresh node (guest may connect over TCP), started; killed and deleted afterwards."""
    if not RABBITMQ_SERVER.exists():
        raise RuntimeError("rabbitmq-server is not installed (apt install rabbitmq-server)")
    directory = Path(tempfile.mkdtemp(prefix="autograder-rabbitmq-"))
    (directory / "rabbitmq.conf").write_text("loopback_users = none\n")
    (directory / "enabled_plugins").write_text("[].\n")
    server = OwnRabbitMQ(directory, free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()
        shutil.rmtree(directory, ignore_errors=True)
