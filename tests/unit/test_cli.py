"""`autograder grade`: the in-process mode a student or the GitHub Action runs."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.cli import main
from services.export.settings import ExportSettings

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo"
CONFIG = str(DEMO / "config.json")


def example(name: str) -> str:
    return str(DEMO / "submissions" / name)


def test_a_right_program_scores_100_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grade", example("python-right"), "--config", CONFIG, "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["status"] == "completed"
    assert body["final_score"] == 100.0
    assert body["pipeline_execution"]["status"] == "success"
    assert body["result_tree"]["children"]["base"]["score"] == 100.0


def test_the_language_is_inferred_from_the_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grade", example("c-right"), "--config", CONFIG, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["final_score"] == 100.0


def test_a_failed_pipeline_exits_1_and_explains(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grade", example("c-missing-file"), "--config", CONFIG, "--language", "c"]) == 1
    out = capsys.readouterr().out
    assert "FAIL PRE_FLIGHT: Required file missing: main.c" in out
    assert "Preflight Check Failed" in out


def test_separate_reference_files_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = json.loads(Path(CONFIG).read_text())
    for name in ("criteria", "setup", "feedback"):
        (tmp_path / f"{name}.json").write_text(json.dumps(config[f"{name}_config"]))
    args = [
        "grade",
        example("python-wrong"),
        "--criteria",
        str(tmp_path / "criteria.json"),
        "--setup",
        str(tmp_path / "setup.json"),
        "--feedback",
        str(tmp_path / "feedback.json"),
        "--template",
        "input_output",
        "--json",
    ]
    assert main(args) == 0
    # wrong program: base 0, bonus 0+0 passes (+20), penalty not violated -> 20
    assert json.loads(capsys.readouterr().out)["final_score"] == 20.0


def test_an_invalid_config_is_a_clear_error_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = json.loads(Path(CONFIG).read_text())
    config["criteria_config"]["base"]["subjects"][0]["tests"][0]["name"] = "nope"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(SystemExit) as exit_info:
        main(["grade", example("python-right"), "--config", str(tmp_path / "config.json")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "criteria_config.base.subjects.0.tests.0" in err
    assert "expect_output" in err  # the known functions are listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["grade", "/no/such/dir", "--config", CONFIG], "not a directory"),
        (
            ["grade", example("python-right"), "--config", "/no/config.json"],
            "config file not found",
        ),
        (["grade", example("python-right")], "give --config FILE"),
        (
            ["grade", example("python-right"), "--config", CONFIG, "--language", "node"],
            "not one of",
        ),
    ],
)
def test_bad_invocations_say_what_is_wrong(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_custom_template_file_joins_the_built_in_templates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checks = tmp_path / "my_checks.py"
    lines = "len(submission.files['main.py'].splitlines())"
    checks.write_text(f"@test\ndef short(submission, most: int):\n    return {lines} <= most\n")
    tests = [{"name": "expect_output", "inputs": [1, 2], "expected_output": "3"}]
    criteria = tmp_path / "criteria.json"
    criteria.write_text(json.dumps({"base": {"tests": [*tests, {"name": "short", "most": 2}]}}))
    args = ["grade", example("python-right"), "--criteria", str(criteria), "--json"]
    args += ["--template", "input_output", "my_checks", "--custom-template", str(checks)]
    assert main(args) == 0
    base = json.loads(capsys.readouterr().out)["result_tree"]["children"]["base"]
    assert [(t["name"], t["verdict"]) for t in base["tests"]] == [
        ("expect_output", "passed"),
        ("short", "failed"),
    ]
    checks.write_text("@test\ndef short(submission, most: int):\n    return (\n")
    with pytest.raises(SystemExit):
        main(args)
    assert "custom_templates.0.source: line 3" in capsys.readouterr().err


def test_version_is_printed_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])

    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("autograder ")


def test_serve_refuses_an_unset_webhook_secret_and_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EXPORT_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("AUTOGRADER_ENV", raising=False)

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "export"])

    assert exit_info.value.code == 2
    assert "EXPORT_WEBHOOK_SECRET" in capsys.readouterr().err


@pytest.mark.parametrize("secret", ["", "change-me"])
def test_a_placeholder_secret_is_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("EXPORT_WEBHOOK_SECRET", secret)
    monkeypatch.delenv("AUTOGRADER_ENV", raising=False)
    with pytest.raises(ValidationError, match="EXPORT_WEBHOOK_SECRET"):
        ExportSettings()

    monkeypatch.setenv("AUTOGRADER_ENV", "development")
    assert ExportSettings().webhook_secret.get_secret_value() == secret


def test_a_malformed_database_url_stops_serve_and_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://127.0.0.1/test")

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "tracker"])

    assert exit_info.value.code == 2
    assert "DATABASE_URL" in capsys.readouterr().err


def test_grade_with_a_bad_setting_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRADING_DEFAULT_TIME_LIMIT_MS", "-1")

    with pytest.raises(SystemExit) as exit_info:
        main(["grade", example("python-right"), "--config", CONFIG, "--json"])

    assert exit_info.value.code == 2
    assert "GRADING_DEFAULT_TIME_LIMIT_MS" in capsys.readouterr().err


def separate_files(tmp_path: Path, setup: dict) -> list[str]:
    config = json.loads(Path(CONFIG).read_text())
    (tmp_path / "criteria.json").write_text(json.dumps(config["criteria_config"]))
    (tmp_path / "setup.json").write_text(json.dumps(setup))
    return [
        "--criteria",
        str(tmp_path / "criteria.json"),
        "--setup",
        str(tmp_path / "setup.json"),
        "--template",
        "input_output",
        "--json",
    ]


@pytest.mark.parametrize("language_flag", [["--language", "c"], []])
def test_separate_files_take_their_languages_from_the_setup_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], language_flag: list[str]
) -> None:
    """Issue 9: `--language c` was refused ('not one of the languages [python]') and,
    without it, a C submission was graded as Python (score 0)."""
    setup = json.loads(Path(CONFIG).read_text())["setup_config"]
    args = ["grade", example("c-right"), *separate_files(tmp_path, {"c": setup["c"]})]

    assert main([*args, *language_flag]) == 0

    body = json.loads(capsys.readouterr().out)
    assert body["final_score"] == 100.0
    steps = [step["name"] for step in body["pipeline_execution"]["steps"]]
    assert "PRE_FLIGHT" in steps
