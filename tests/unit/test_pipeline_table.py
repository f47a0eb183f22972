"""The pipeline's shape is declared once: service names, step tables, the chain."""

import tomllib
from pathlib import Path
from typing import Any, cast

from contracts.steps import EXECUTION_ORDER, StepName
from services.feedback import app as feedback_app
from services.grading import app as grading_app
from services.grading.settings import GradingSettings
from services.inprocess import InProcessOptions, step_table
from services.preflight import app as preflight_app
from services.sandbox import app as sandbox_app
from services.sandbox.backends.base import SandboxBackend
from shared.db.blobs import MemoryBlobStore
from shared.messaging.topology import SERVICE_NAMES, STEP_SERVICE
from shared.pipeline import PlanFlags, build_plan, first_work_step, next_step

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contract_lists_exactly_the_services() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = config["tool"]["importlinter"]["contracts"][0]

    assert sorted(contract["modules"]) == sorted(f"services.{name}" for name in SERVICE_NAMES)


def test_every_service_has_its_own_folder() -> None:
    folders = {p.parent.name for p in (ROOT / "services").glob("*/app.py")}

    assert folders == set(SERVICE_NAMES)


def test_the_in_process_table_runs_every_step_a_service_runs() -> None:
    unused_backend = cast(SandboxBackend, object())  # the table only keeps it for later
    table = step_table(unused_backend, MemoryBlobStore(), InProcessOptions())

    assert set(table) == set(STEP_SERVICE)
    assert set(table) == set(EXECUTION_ORDER) - {StepName.LOAD_TEMPLATE, StepName.BUILD_TREE}


def test_the_first_work_step_follows_build_tree_whatever_is_skipped() -> None:
    full = build_plan(PlanFlags(has_ai_tests=True, has_static_analysis=True))
    no_sandbox = build_plan(PlanFlags(requires_sandbox=False))

    assert first_work_step(full) is StepName.SANDBOX
    assert first_work_step(no_sandbox) is StepName.PRE_FLIGHT
    assert next_step(no_sandbox, no_sandbox[-1]) is None


def test_each_service_runs_exactly_the_steps_the_topology_routes_to_it() -> None:
    unused: Any = object()  # the tables only keep their ports for later
    tables = {
        "sandbox": sandbox_app.step_table(unused, unused),
        "preflight": preflight_app.step_table(unused, unused),
        "grading": grading_app.step_table(unused, unused, None, GradingSettings.model_construct()),
        "feedback": feedback_app.step_table(None, unused),
    }

    for service, table in tables.items():
        routed = {step for step, owner in STEP_SERVICE.items() if owner == service}
        assert set(table) == routed, service


def test_export_is_no_step_of_any_plan() -> None:
    """The result is delivered after the run, completed or failed (issue 9)."""
    everything = build_plan(PlanFlags(has_ai_tests=True, has_static_analysis=True))

    assert StepName.EXPORT not in everything
    assert "export" not in STEP_SERVICE.values()
