"""`autograder action`: one grading of the student's repository, as the GitHub Action.

Repo mode reads the config from `.github/autograder/` (criteria.json, setup.json,
feedback.json, an optional custom template module); external mode fetches it from the
Autograder server by id and posts the result back. Either way the student's code runs
in the sandbox (Docker when an engine is reachable, else local processes, said in the
log), and the result goes to the step's outputs, the job summary, GitHub Classroom's
check run and, with include-feedback, a committed file.
"""

import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from contracts.config import GradingConfigIn
from services.action.cloud import CloudClient, CloudError
from services.action.github_api import GitHubApi
from services.action.inputs import ActionInputs, InvalidInputs, read_inputs
from services.action.summary import job_summary
from services.inprocess import read_directory
from services.intake.logic import config_problems

CONFIG_DIR = Path(".github") / "autograder"


class ActionFailed(Exception):
    """A reason to stop, said in one line; `code` is the exit status (2: bad input)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def main(env: dict[str, str] | None = None) -> int:
    import asyncio

    try:
        inputs = read_inputs(os.environ if env is None else env)
    except InvalidInputs as error:
        for problem in error.problems:
            print(f"autograder action: {problem}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(inputs))
    except ActionFailed as error:
        print(f"autograder action: {error}", file=sys.stderr)
        return error.code


async def run(inputs: ActionInputs) -> int:
    files = submission_files(inputs.github.workspace)
    if inputs.openai_key:  # the AI settings the steps read (feedback-type ai, AI tests)
        os.environ.setdefault("AI_BASE_URL", "https://api.openai.com/v1")
        os.environ["AI_API_KEY"] = inputs.openai_key
    if inputs.external:
        return await _external(inputs, files)
    config = repo_config(inputs)
    response = await _grade(files, config, _language(inputs, config))
    return await _deliver(inputs, response)


async def _external(inputs: ActionInputs, files: dict[str, bytes]) -> int:
    cloud = CloudClient(inputs.cloud_url, inputs.cloud_token)
    try:
        assert inputs.grading_config_id is not None  # read_inputs requires it here
        body = await _cloud(cloud.config(inputs.grading_config_id))
        config = cloud_config(body, inputs)
        language = _language(inputs, config)
        began = time.monotonic()
        try:
            response = await _grade(files, config, language)
        except Exception as error:  # the server hears that grading failed, then we stop
            failure = failure_payload(inputs, language, error, began)
            await _cloud(cloud.post_result(failure, _post_key(inputs)))
            raise
        await _cloud(
            cloud.post_result(result_payload(inputs, language, response), _post_key(inputs))
        )
    finally:
        await cloud.close()
    return await _deliver(inputs, response)


async def _cloud(call: Any) -> dict[str, Any]:
    try:
        return dict(await call)
    except CloudError as error:
        raise ActionFailed(f"Autograder server: {error}") from None


def _post_key(inputs: ActionInputs) -> str:
    """One result per workflow run attempt: a retried POST is not a second submission."""
    github = inputs.github
    run = f"{github.repository}/{github.run_id}/{github.run_attempt}/{github.sha}"
    return f"autograder-action:{inputs.grading_config_id}:{run}"[:255]


def submission_files(workspace: Path) -> dict[str, bytes]:
    """The repository as the student pushed it, without .git and .github."""
    files = {p: c for p, c in read_directory(workspace).items() if not p.startswith(".github/")}
    if not files:
        raise ActionFailed(f"no files to grade in {workspace}", code=2)
    return files


def repo_config(inputs: ActionInputs) -> GradingConfigIn:
    folder = inputs.github.workspace / CONFIG_DIR
    criteria = _json_file(folder / "criteria.json", required=True)
    raw: dict[str, Any] = {
        "external_assignment_id": inputs.github.repository or "repository",
        "template_name": inputs.template_preset,
        "criteria_config": criteria,
        "setup_config": _json_file(folder / "setup.json") or {},
        "feedback_config": _json_file(folder / "feedback.json"),
        "include_feedback": True,
        "locale": inputs.locale,
    }
    if inputs.custom_template:
        module = inputs.github.workspace / inputs.custom_template
        if not module.is_file():
            raise ActionFailed(f"custom-template {inputs.custom_template!r} is not a file", 2)
        raw["custom_templates"] = [{"name": module.stem, "source": module.read_text()}]
        raw["template_name"] = [*_names(inputs.template_preset), module.stem]
    return _checked(raw, f"{CONFIG_DIR}/")


def cloud_config(body: dict[str, Any], inputs: ActionInputs) -> GradingConfigIn:
    fields = {k: v for k, v in body.items() if k not in ("id", "version")}
    return _checked(fields, f"config {inputs.grading_config_id} from the server")


def _names(preset: str) -> list[str]:
    return [name for name in preset.split(",") if name and name != "custom"]


def _checked(raw: dict[str, Any], where: str) -> GradingConfigIn:
    try:
        config = GradingConfigIn.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        raise ActionFailed(
            f"{where}: {'.'.join(map(str, first['loc']))}: {first['msg']}", 2
        ) from None
    problems = config_problems(config)
    if problems:
        raise ActionFailed(
            f"{where}: {'.'.join(map(str, problems[0]['loc']))}: {problems[0]['msg']}", 2
        )
    return config


def _json_file(path: Path, required: bool = False) -> Any:
    if not path.is_file():
        if required:
            raise ActionFailed(f"{path.name} is missing from {CONFIG_DIR}/", 2)
        return None
    try:
        return json.loads(path.read_text() or "null")
    except json.JSONDecodeError as error:
        raise ActionFailed(f"{CONFIG_DIR}/{path.name} is not valid JSON: {error}", 2) from None


def _language(inputs: ActionInputs, config: GradingConfigIn) -> str:
    if not inputs.submission_language:
        return config.languages[0]
    if inputs.submission_language not in config.languages:
        raise ActionFailed(
            f"submission-language {inputs.submission_language} is not one of the config's"
            f" languages {config.languages}",
            2,
        )
    return inputs.submission_language


async def _grade(files: dict[str, bytes], config: GradingConfigIn, language: str) -> dict[str, Any]:
    from services.cli import grade_and_close

    try:
        return await grade_and_close(files, config, language)
    except SystemExit:  # no sandbox could be opened (said on stderr): not an input error
        raise ActionFailed("grading could not start: no sandbox to run the code in") from None


def result_payload(inputs: ActionInputs, language: str, response: dict[str, Any]) -> dict[str, Any]:
    execution = response["pipeline_execution"]
    return {
        **_who(inputs, language),
        "status": response["status"],
        "final_score": response["final_score"],
        "feedback": response["feedback"],
        "result_tree": response["result_tree"],
        "pipeline_execution": execution,
        "execution_time_ms": execution["execution_time_ms"],
    }


def failure_payload(
    inputs: ActionInputs, language: str, error: BaseException, began: float
) -> dict[str, Any]:
    return {
        **_who(inputs, language),
        "status": "failed",
        "final_score": 0.0,
        "execution_time_ms": int((time.monotonic() - began) * 1000),
        "error_message": f"{type(error).__name__}: {error}"[:2000],
    }


def _who(inputs: ActionInputs, language: str) -> dict[str, Any]:
    github = inputs.github
    return {
        "grading_config_id": inputs.grading_config_id,
        "external_user_id": github.actor,
        "username": github.actor,
        "language": language,
        "submission_metadata": {
            "repository": github.repository,
            "commit_sha": github.sha,
            "run_id": github.run_id,
            "actor": github.actor,
            "ref": github.ref,
        },
    }


async def _deliver(inputs: ActionInputs, response: dict[str, Any]) -> int:
    """Outputs, job summary, Classroom points, feedback file; the exit status."""
    _write_outputs(inputs, response)
    github = inputs.github
    if inputs.github_token and github.repository and github.run_id:
        await _tell_github(inputs, response)
    failed = response["status"] != "completed"
    return 1 if failed and inputs.fail_on_failure else 0


async def _tell_github(inputs: ActionInputs, response: dict[str, Any]) -> None:
    """Classroom points and the feedback file: the grade stands whatever GitHub answers,
    so a refusal (a read-only token, a pull request's ref) is a warning, not a failure."""
    api = GitHubApi(inputs.github, inputs.github_token)
    try:
        await api.report_points(float(response["final_score"] or 0))
        if inputs.include_feedback and response["feedback"]:
            await api.commit_feedback(response["feedback"])
    except (httpx.HTTPError, KeyError, ValueError) as error:
        print(f"autograder action: warning: GitHub's API: {error}", file=sys.stderr)
    finally:
        await api.close()


def _write_outputs(inputs: ActionInputs, response: dict[str, Any]) -> None:
    github = inputs.github
    encoded = base64.b64encode(json.dumps(response).encode()).decode()
    if github.output is not None:
        with github.output.open("a") as output:
            output.write(f"result={encoded}\ntotal_score={response['final_score'] or 0}\n")
    if github.step_summary is not None:
        with github.step_summary.open("a") as summary:
            summary.write(job_summary(response))
