"""The in-process mode: the same step functions the services run, chained directly,
with no broker and no database (`autograder grade`, and the GitHub Action).

This module is a composition root, like the CLI: it may import every service.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.config import GradingConfig, GradingConfigIn
from contracts.messages import StepRequest, StepResult, SubmissionInfo, utcnow
from contracts.sandbox import Manifest, RunRequest, RunResult
from contracts.steps import PipelineStatus, StepName, StepStatus
from services.feedback import app as feedback_app
from services.feedback.logic import render_failure
from services.grading import app as grading_app
from services.grading.settings import GradingSettings
from services.intake.logic import first_steps
from services.preflight import app as preflight_app
from services.sandbox import app as sandbox_app
from services.sandbox.backends.base import SandboxBackend
from services.sandbox.handlers import owner_of
from services.tracker.logic import AttemptState, final_record
from shared.ai.client import ChatClient
from shared.db.blobs import MemoryBlobStore
from shared.pipeline import StepFunction, StepTable, first_work_step, run_pipeline, to_result

SKIPPED_DIRS = {".git", "__pycache__", "node_modules", ".venv"}


@dataclass
class DirectSandboxClient:
    """The sandbox client of the in-process mode: calls the backend itself."""

    backend: SandboxBackend
    blobs: MemoryBlobStore

    async def run(self, lease_id: str, request: RunRequest) -> RunResult:
        return await self.backend.run(lease_id, request)

    async def put_files(self, lease_id: str, manifest: Manifest, read_only: bool = False) -> None:
        files = await self.blobs.read_manifest(manifest)
        await self.backend.put_files(lease_id, files, read_only=read_only)

    async def read_file(self, lease_id: str, path: str) -> bytes | None:
        return await self.backend.read_file(lease_id, path)


def read_directory(root: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not SKIPPED_DIRS & set(relative.parts):
            files[relative.as_posix()] = path.read_bytes()
    return files


@dataclass(frozen=True)
class InProcessOptions:
    """What the services read from their settings, given by the caller (the CLI builds
    them from the environment; a library caller gets the defaults)."""

    ai: ChatClient | None = None
    grading: GradingSettings = field(default_factory=GradingSettings.model_construct)


def step_table(
    backend: SandboxBackend, blobs: MemoryBlobStore, options: InProcessOptions
) -> StepTable:
    """Every service's own step table, on in-process ports; each step from one service."""
    sandbox = DirectSandboxClient(backend, blobs)
    tables = [
        sandbox_app.step_table(backend, blobs),
        preflight_app.step_table(sandbox, blobs),
        grading_app.step_table(sandbox, blobs, options.ai, options.grading),
        feedback_app.step_table(options.ai, blobs),
    ]
    merged: dict[StepName, StepFunction] = {}
    for table in tables:
        if overlap := merged.keys() & table.keys():
            raise ValueError(f"steps declared by two services: {sorted(overlap)}")
        merged |= table
    return merged


async def grade_files(
    files: dict[str, bytes],
    config_in: GradingConfigIn,
    language: str,
    backend: SandboxBackend,
    options: InProcessOptions | None = None,
) -> dict[str, Any]:
    """Grade one submission; returns the shape of GET /api/v1/submissions/{id}."""
    config = GradingConfig(**config_in.model_dump(), id=0)
    blobs = MemoryBlobStore()
    manifest = await blobs.put_many(files)
    info = SubmissionInfo(
        id=0, attempt=1, language=language, locale=config.locale, manifest=manifest
    )
    first = first_steps(config)
    now = utcnow()
    results = [to_result(StepName.LOAD_TEMPLATE, first.load_template, first.plan, now)]
    if first.build_tree is not None:
        results.append(to_result(StepName.BUILD_TREE, first.build_tree, first.plan, now))
    request = StepRequest(plan=first.plan, config=config, submission=info)
    try:
        if results[-1].status is StepStatus.SUCCESS:
            table = step_table(backend, blobs, options or InProcessOptions())
            results += await run_pipeline(table, request, first_work_step(first.plan))
    finally:
        await backend.release_owner(owner_of(0, 1))
    return _response(first.plan, results, language, config.locale)


def _response(
    plan: list[StepName], results: list[StepResult], language: str, locale: str
) -> dict[str, Any]:
    state = AttemptState(
        plan=plan, results=results, finished=True, language=language, locale=locale
    )
    failed = next((r for r in results if r.status is StepStatus.FAIL), None)
    if failed is None:
        record = final_record(state, PipelineStatus.SUCCESS)
    else:
        feedback = render_failure(failed, language, locale)
        record = final_record(state, PipelineStatus.FAILED, feedback=feedback)
    return {
        "id": None,
        "status": record.status.value,
        "final_score": record.final_score,
        "feedback": record.feedback,
        "result_tree": record.result_tree,
        "pipeline_execution": record.pipeline_execution,
    }
