"""The worked examples in docs/guide grade to the scores the guide states."""

import json
from pathlib import Path

import pytest

from services.cli import main

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide"


@pytest.mark.parametrize(
    ("example", "score"),
    [
        ("input_output", 70.0),
        ("static_analysis", 80.0),
        ("webdev", 50.0),
        ("api", 75.0),
        ("custom_template", 90.0),
    ],
)
def test_the_guide_example_scores_what_the_guide_says(
    example: str, score: float, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = GUIDE / example
    # A custom template's module sits beside the config, as the guide's command passes it.
    modules = [
        arg for path in sorted(folder.glob("*.py")) for arg in ("--custom-template", str(path))
    ]
    config = ["--config", str(folder / "config.json"), *modules]
    main(["grade", str(folder / "submission"), *config, "--json"])
    body = json.loads(capsys.readouterr().out)
    assert body["final_score"] == score
    assert f"**{score:g}**" in (GUIDE / "README.md").read_text()
