"""Sandbox settings (env prefix SANDBOX_)."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings

LANGUAGES = ("python", "java", "c", "cpp", "node")


class SandboxSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_", extra="ignore")

    # auto: Docker when the engine answers and has every pool's image, else local processes.
    backend: Literal["local", "docker", "auto"] = "auto"
    work_root: Path | None = None

    # Docker backend. Pool size = containers per language, idle and leased together:
    # a lease takes an idle one, its release destroys it and a fresh one is started.
    # SANDBOX_POOL_SIZES='{"python": 4, "java": 2}' (JSON; languages left out get none).
    pool_sizes: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(LANGUAGES, 2))
    image_pattern: str = "autograder/sandbox-{language}:bookworm"
    acquire_timeout_s: float = Field(default=60.0, gt=0)
    lease_ttl_s: float = Field(default=1800.0, gt=0)
    # Per container: the most a lease may use, whatever its commands ask for.
    memory_mb: int = Field(default=1024, ge=64)
    cpus: float = Field(default=1.0, gt=0)
    pids_limit: int = Field(default=128, ge=16)
    workspace_mb: int = Field(default=128, ge=1)
    tmp_mb: int = Field(default=16, ge=1)
    file_size_limit_mb: int = Field(default=16, ge=1)
    open_files: int = Field(default=256, ge=32)
    # The host's cgroup filesystem, where a run's peak memory is read (a container running
    # the service mounts the host's /sys/fs/cgroup here; unreachable: rusage alone).
    cgroup_root: Path = Path("/sys/fs/cgroup")
    # Every this many seconds the service logs the pool metrics (0: never).
    metrics_log_interval_s: float = Field(default=60.0, ge=0)

    def image_for(self, language: str) -> str:
        return self.image_pattern.format(language=language)
