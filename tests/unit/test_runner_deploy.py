"""deploy/runner/: the Dockerfile, systemd unit and env example still match the CLI."""

import argparse
import json
import re
import shlex
from pathlib import Path

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from services.cli import parser
from services.sandbox.settings import SandboxSettings
from shared.settings import LogSettings

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "deploy" / "runner"
IMAGE = "autograder/runner"


def unit_settings() -> dict[str, str]:
    text = (RUNNER / "autograder-runner.service").read_text().replace("\\\n", " ")
    lines = [line for line in text.splitlines() if "=" in line and line[0] not in "#;"]
    pairs = [line.split("=", 1) for line in lines]
    return {key.strip(): value.strip() for key, value in pairs}


def unit_args() -> list[str]:
    return shlex.split(unit_settings()["ExecStart"])[1:]  # without the binary's path


def docker_run_words() -> list[str]:
    lines = (RUNNER / "Dockerfile").read_text().splitlines()
    comments = [line[1:] for line in lines if line.startswith("#")]
    command = re.search(r"docker run (?:.*\\\n)*.*", "\n".join(comments))
    assert command, "the Dockerfile's comments show no `docker run` example"
    return shlex.split(command.group().replace("\\\n", " "))


def parsed(args: list[str]) -> argparse.Namespace:
    return parser().parse_args(["runner", *args])


def test_the_unit_starts_a_runner_the_cli_accepts() -> None:
    args = parser().parse_args(unit_args())
    assert args.command == "runner"
    assert args.url.startswith("https://")
    assert args.token is None, "the token belongs in the EnvironmentFile, not the process list"


def test_systemd_waits_out_the_shutdown_grace_before_killing() -> None:
    timeout_s = float(unit_settings()["TimeoutStopSec"].removesuffix("s"))
    assert timeout_s > parser().parse_args(unit_args()).shutdown_grace  # default 60 if unset


def test_the_image_runs_the_runner_command() -> None:
    lines = (RUNNER / "Dockerfile").read_text().splitlines()
    entrypoint = next(line for line in lines if line.startswith("ENTRYPOINT "))
    assert json.loads(entrypoint.removeprefix("ENTRYPOINT ")) == ["autograder", "runner"]


def test_the_documented_docker_run_is_accepted_by_the_cli() -> None:
    words = docker_run_words()
    args = parsed(words[words.index(IMAGE) + 1 :])
    assert args.url.startswith("https://")
    assert args.token is None


def test_docker_stop_waits_out_the_shutdown_grace() -> None:
    words = docker_run_words()
    stop_timeout_s = float(words[words.index("--stop-timeout") + 1])
    assert stop_timeout_s > parsed(words[words.index(IMAGE) + 1 :]).shutdown_grace


def test_the_container_finds_the_host_cgroups_where_the_image_looks() -> None:
    dockerfile = (RUNNER / "Dockerfile").read_text()
    cgroup_root = re.search(r"SANDBOX_CGROUP_ROOT=(\S+)", dockerfile)
    assert cgroup_root
    assert f"/sys/fs/cgroup:{cgroup_root.group(1)}" in docker_run_words()


def env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {str(choice).upper() for choice in alias.choices}
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def test_every_variable_in_the_env_example_is_read_by_the_runner() -> None:
    text = (RUNNER / "runner.env.example").read_text()
    names = re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE)
    cli = (ROOT / "services" / "cli.py").read_text()
    known = env_names(SandboxSettings) | env_names(LogSettings)
    unknown = [name for name in names if name not in known and f'"{name}"' not in cli]
    assert "AUTOGRADER_RUNNER_TOKEN" in names
    assert not unknown
