"""Pre-flight handler.

Consumes: step.requested.v1 for PRE_FLIGHT.
Publishes: step.completed.v1 (via the step worker), and the next step's work.
The first failure ends the step with reference-shaped error_details.
"""

from dataclasses import dataclass

from contracts.messages import StepRequest
from contracts.sandbox import RunRequest
from contracts.steps import StepName
from services.preflight.logic import missing_required_file, setup_failure, setup_failure_message
from services.preflight.ports import BlobWriter, SandboxClient
from shared.pipeline import StepOutcome
from shared.setup_config import Asset, SetupCommand, parse_setup_config

SETUP_MEMORY_MB = 1024


@dataclass
class PreflightHandlers:
    sandbox: SandboxClient
    blobs: BlobWriter

    async def preflight_step(self, request: StepRequest, step: StepName) -> StepOutcome:
        setup = parse_setup_config(request.config.setup_config)
        language = setup.for_language(request.submission.language)
        missing = missing_required_file(language.required_files, list(request.submission.manifest))
        if missing is not None:
            return StepOutcome.failure(f"Required file missing: {missing.missing_file}", missing)
        lease = request.context.sandbox
        if lease is None:  # nothing runs for this assignment: files were all to check
            return StepOutcome.success("All preflight checks passed")
        lease_id = lease.lease_id
        await self._copy_assets(lease_id, setup.assets)
        for command in language.setup_commands:
            failed = await self._run_setup(lease_id, command)
            if failed is not None:
                return failed
        return StepOutcome.success("All preflight checks passed")

    async def _copy_assets(self, lease_id: str, assets: list[Asset]) -> None:
        """Assets go in before setup commands, which may compile against them."""
        for read_only in (True, False):
            chosen = {a.path: a.content.encode() for a in assets if a.read_only is read_only}
            if chosen:
                manifest = await self.blobs.put_many(chosen)
                await self.sandbox.put_files(lease_id, manifest, read_only=read_only)

    async def _run_setup(self, lease_id: str, command: SetupCommand) -> StepOutcome | None:
        limit_ms = command.timeout_s * 1000
        run = RunRequest(
            shell=command.command,
            cpu_time_limit_ms=limit_ms,
            wall_time_limit_ms=limit_ms,
            memory_limit_mb=SETUP_MEMORY_MB,
            output_limit_bytes=256 * 1024,
        )
        result = await self.sandbox.run(lease_id, run)
        if result.ok:
            return None
        return StepOutcome.failure(
            setup_failure_message(command, result), setup_failure(command, result)
        )
