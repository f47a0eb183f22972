"""Fixtures shared by integration and end-to-end tests."""

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support import HOW_TO_START, Isolation, missing_services, running_stack

DEMO = Path(__file__).resolve().parent.parent / "deploy" / "demo"


@pytest.fixture(scope="session")
def real_services() -> None:
    missing = missing_services()
    if missing:
        hints = "; ".join(f"{name}: {HOW_TO_START[name]}" for name in missing)
        pytest.fail(f"integration tests need {', '.join(missing)} running ({hints})")


@pytest.fixture
async def isolation(
    real_services: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Isolation]:
    isolated = Isolation.fresh()
    for key, value in isolated.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AUTOGRADER_LOG_FORMAT", "json")
    monkeypatch.setenv("AUTOGRADER_LOG_LEVEL", "WARNING")
    yield isolated
    await isolated.cleanup()


@pytest.fixture
async def stack(
    isolation: Isolation, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    """Every service in this process (as `autograder serve all`), and an HTTP client.
    Student code runs in Docker: without it the stack fails to start, never falls back."""
    monkeypatch.setenv("SANDBOX_BACKEND", "docker")
    async with running_stack() as client:
        yield client


@pytest.fixture
def demo_config() -> dict:
    return json.loads((DEMO / "config.json").read_text())


def demo_files(name: str) -> dict[str, str]:
    root = DEMO / "submissions" / name
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}
