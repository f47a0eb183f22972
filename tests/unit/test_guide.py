"""The worked examples in docs/guide grade to the scores the guide states."""

import json
from pathlib import Path

import pytest

from services.cli import main

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide"


@pytest.mark.parametrize(
    ("example", "score"), [("input_output", 70.0), ("static_analysis", 80.0), ("webdev", 50.0)]
)
def test_the_guide_example_scores_what_the_guide_says(
    example: str, score: float, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = GUIDE / example
    main(["grade", str(folder / "submission"), "--config", str(folder / "config.json"), "--json"])
    body = json.loads(capsys.readouterr().out)
    assert body["final_score"] == score
    assert f"**{score:g}**" in (GUIDE / "README.md").read_text()
