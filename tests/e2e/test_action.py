"""The GitHub Action (`autograder action`) as GitHub runs it: a process with the Actions
environment, a temporary workspace, a fake GitHub API on 127.0.0.1 that records the
calls, and in external mode the real intake (real PostgreSQL) or a scripted server."""

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.action.inputs import INPUTS, InvalidInputs, read_inputs
from tests.conftest import demo_files
from tests.fake_http import FakeHttp, fake_http
from tests.support import bearer, free_port, issue_token

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
REPO = "school/hw1-ada"


@pytest.fixture
def github() -> Iterator[FakeHttp]:
    with fake_http() as fake:
        fake.reply(
            "GET",
            f"/repos/{REPO}/actions/runs/42",
            (200, {"check_suite_url": "https://x/check-suites/5"}),
        )
        fake.reply(
            "GET",
            f"/repos/{REPO}/check-suites/5/check-runs",
            (200, {"check_runs": [{"id": 3, "name": "build"}, {"id": 9, "name": "grading"}]}),
        )
        fake.reply("PATCH", f"/repos/{REPO}/check-runs/9", (200, {}))
        fake.reply("GET", f"/repos/{REPO}/contents/relatorio.md", (404, {"message": "Not Found"}))
        fake.reply("PUT", f"/repos/{REPO}/contents/relatorio.md", (201, {}))
        yield fake


def workspace(tmp_path: Path, example: str, demo: dict[str, Any] | None) -> Path:
    root = tmp_path / "workspace"
    for path, text in demo_files(example).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    if demo is not None:
        config = root / ".github" / "autograder"
        config.mkdir(parents=True)
        (config / "criteria.json").write_text(json.dumps(demo["criteria_config"]))
        (config / "setup.json").write_text(json.dumps(demo["setup_config"]))
    return root


def actions_env(root: Path, github: FakeHttp, **inputs: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("INPUT_")}
    env |= {
        "GITHUB_WORKSPACE": str(root),
        "GITHUB_OUTPUT": str(root.parent / "output.txt"),
        "GITHUB_STEP_SUMMARY": str(root.parent / "summary.md"),
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_SHA": "0123456789abcdef",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_RUN_ID": "42",
        "GITHUB_ACTOR": "ada",
        "INPUT_GITHUB-TOKEN": "ghs_fake",
    }
    return env | {
        f"INPUT_{name.upper().replace('_', '-')}": value for name, value in inputs.items()
    }


def run_action(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "services.cli", "action"]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)


def outputs(root: Path) -> dict[str, str]:
    lines = (root.parent / "output.txt").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_repo_mode_grades_the_workspace_and_reports_where_people_look(
    tmp_path: Path, github: FakeHttp, demo_config: dict[str, Any]
) -> None:
    root = workspace(tmp_path, "python-wrong", demo_config)

    done = run_action(actions_env(root, github, include_feedback="true"))

    assert done.returncode == 0, done.stderr
    written = outputs(root)
    result = json.loads(base64.b64decode(written["result"]))
    assert written["total_score"] == "20.0"
    assert result["status"] == "completed"
    assert result["pipeline_execution"]["status"] == "success"
    summary = (root.parent / "summary.md").read_text()
    assert "## Autograder: 20/100" in summary
    assert "| base/Addition/expect_output" in summary or "| test | verdict" in summary
    patched = github.calls("PATCH", f"/repos/{REPO}/check-runs/9")
    assert patched[0].body["output"]["summary"] == "Points 20/100"
    committed = github.calls("PUT", f"/repos/{REPO}/contents/relatorio.md")
    assert base64.b64decode(committed[0].body["content"]).decode() == result["feedback"]
    assert committed[0].body["branch"] == "main"
    assert patched[0].headers["Authorization"] == "Bearer ghs_fake"


def test_a_failed_grading_fails_the_step_unless_told_otherwise(
    tmp_path: Path, github: FakeHttp, demo_config: dict[str, Any]
) -> None:
    root = workspace(tmp_path, "python-right", demo_config)
    (root / "main.py").rename(root / "solution.py")  # the required main.py is missing

    failing = run_action(actions_env(root, github))
    tolerant = run_action(actions_env(root, github, fail_on_failure="false"))

    assert failing.returncode == 1
    assert tolerant.returncode == 0
    result = json.loads(base64.b64decode(outputs(root)["result"]))
    assert result["status"] == "failed"
    assert result["pipeline_execution"]["failed_at_step"] == "PRE_FLIGHT"


def test_bad_inputs_fail_fast_with_one_line_each(tmp_path: Path, github: FakeHttp) -> None:
    root = workspace(tmp_path, "python-right", None)
    env = actions_env(
        root, github, execution_mode="external", grading_config_id="cfg-123", locale="xx"
    )

    done = run_action(env)

    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("autograder action:")]
    assert "autograder action: grading-config-id must be an integer, not 'cfg-123'" in lines
    assert any("autograder-cloud-url is required" in line for line in lines)
    assert any("locale must be one of" in line for line in lines)


def test_every_input_action_yml_declares_is_read() -> None:
    declared = yaml.safe_load((ROOT / "action.yml").read_text())

    assert set(declared["inputs"]) == set(INPUTS)
    assert set(declared["outputs"]) == {"result", "total_score"}
    for name, spec in declared["inputs"].items():
        if INPUTS[name] and not spec["default"].startswith("${{"):
            assert str(spec["default"]) == INPUTS[name], name


def test_inputs_come_from_input_or_plain_names(tmp_path: Path) -> None:
    env = {"GITHUB_WORKSPACE": str(tmp_path), "GITHUB_ACTOR": "ada"}
    env |= {"INPUT_EXECUTION-MODE": "external", "GRADING_CONFIG_ID": "7"}
    env |= {
        "AUTOGRADER_CLOUD_URL": "https://grader.example.edu/",
        "INPUT_AUTOGRADER_CLOUD_TOKEN": "t",
    }

    inputs = read_inputs(env)

    assert (inputs.grading_config_id, inputs.cloud_url) == (7, "https://grader.example.edu")
    with pytest.raises(InvalidInputs, match="GITHUB_ACTOR"):
        read_inputs({"GITHUB_WORKSPACE": str(tmp_path)})


# --- external mode ---------------------------------------------------------------------


async def test_external_mode_posts_the_result_to_the_real_intake(
    tmp_path: Path, github: FakeHttp, stack: httpx.AsyncClient, demo_config: dict[str, Any]
) -> None:
    made = await stack.post("/api/v1/configs", json=demo_config)
    integration = await issue_token("integration")
    root = workspace(tmp_path, "python-right", None)
    env = actions_env(
        root,
        github,
        execution_mode="external",
        grading_config_id=str(made.json()["id"]),
        autograder_cloud_url=str(stack.base_url),
        autograder_cloud_token=integration,
        submission_language="python",
    )

    done = await asyncio.to_thread(run_action, env)

    assert done.returncode == 0, done.stderr
    listed = (await stack.get("/api/v1/submissions/user/ada", headers=bearer(integration))).json()
    posted = (await stack.get(f"/api/v1/submissions/{listed[0]['id']}")).json()
    assert posted["final_score"] == 100.0
    assert posted["pipeline_execution"]["status"] == "success"
    assert posted["submission_metadata"]["commit_sha"] == "0123456789abcdef"
    assert posted["submission_metadata"]["actor"] == "ada"


@pytest.fixture
def cloud() -> Iterator[FakeHttp]:
    with fake_http() as fake:
        fake.reply("POST", "/api/v1/submissions/external-results", (201, {"id": 1}))
        yield fake


def external_env(root: Path, github: FakeHttp, url: str, **more: str) -> dict[str, str]:
    fields = {"execution_mode": "external", "grading_config_id": "7", "autograder_cloud_url": url}
    return actions_env(root, github, autograder_cloud_token="agt_cloud", **fields, **more)


def test_a_restarting_server_is_waited_out(
    tmp_path: Path, github: FakeHttp, cloud: FakeHttp, demo_config: dict[str, Any]
) -> None:
    cloud.reply(
        "GET",
        "/api/v1/configs/id/7",
        (503, {"detail": "restarting"}),
        (200, {**demo_config, "id": 7}),
    )

    done = run_action(external_env(workspace(tmp_path, "python-right", None), github, cloud.url))

    assert done.returncode == 0, done.stderr
    assert len(cloud.calls("GET", "/api/v1/configs/id/7")) == 2
    posted = cloud.calls("POST", "/api/v1/submissions/external-results")[0].body
    assert (posted["grading_config_id"], posted["status"], posted["final_score"]) == (
        7,
        "completed",
        100.0,
    )
    assert posted["submission_metadata"]["repository"] == REPO
    assert cloud.seen[0].headers["Authorization"] == "Bearer agt_cloud"
    key = cloud.calls("POST", "/api/v1/submissions/external-results")[0].headers["Idempotency-Key"]
    assert key == f"autograder-action:7:{REPO}/42/1/0123456789abcdef"


@pytest.mark.parametrize(
    ("status", "detail"), [(401, "the token is unknown"), (404, "no grading config")]
)
def test_a_refusal_is_not_retried_and_says_what_the_server_answered(
    tmp_path: Path, github: FakeHttp, cloud: FakeHttp, status: int, detail: str
) -> None:
    cloud.reply("GET", "/api/v1/configs/id/7", (status, {"detail": detail}))

    done = run_action(external_env(workspace(tmp_path, "python-right", None), github, cloud.url))

    assert done.returncode == 1
    assert f"the server answered {status} {detail}" in done.stderr
    assert len(cloud.seen) == 1


def test_an_unreachable_server_is_tried_a_bounded_number_of_times(
    tmp_path: Path, github: FakeHttp
) -> None:
    done = run_action(
        external_env(
            workspace(tmp_path, "python-right", None), github, f"http://127.0.0.1:{free_port()}"
        )
    )

    assert done.returncode == 1
    assert "ConnectError" in done.stderr
    assert "(after 4 attempts)" in done.stderr


def test_a_language_the_config_does_not_have_is_refused(
    tmp_path: Path, github: FakeHttp, cloud: FakeHttp, demo_config: dict[str, Any]
) -> None:
    cloud.reply("GET", "/api/v1/configs/id/7", (200, {**demo_config, "id": 7}))

    env = external_env(
        workspace(tmp_path, "python-right", None), github, cloud.url, submission_language="node"
    )
    done = run_action(env)

    assert done.returncode == 2
    assert "submission-language node is not one of the config's languages" in done.stderr
    assert cloud.calls("POST", "/api/v1/submissions/external-results") == []
