"""Grading glue that has no I/O: the program runner bound to one lease, and messages."""

from dataclasses import dataclass

from contracts.results import ResultTree
from contracts.sandbox import RunRequest, RunResult
from services.grading.ports import SandboxClient


@dataclass(frozen=True)
class LeasedRunner:
    """The grading engine's ProgramRunner, running in one submission's sandbox."""

    sandbox: SandboxClient
    lease_id: str

    async def run(self, request: RunRequest) -> RunResult:
        return await self.sandbox.run(self.lease_id, request)

    async def read_file(self, path: str) -> bytes | None:
        return await self.sandbox.read_file(self.lease_id, path)


def decoded(files: dict[str, bytes]) -> dict[str, str]:
    return {path: content.decode("utf-8", errors="replace") for path, content in files.items()}


def grade_message(tree: ResultTree) -> str:
    return f"Grading completed: {tree.final_score:g}/100"
