"""Comparing two attempts of a submission: the score, and each test that moved."""

from typing import Any

from contracts.api import AttemptDiff, TestChange


def tests_of(tree: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Every test of a result tree, by path."""
    found: dict[str, dict[str, Any]] = {}
    nodes = list((tree or {}).get("children", {}).values())
    while nodes:
        node = nodes.pop()
        found |= {test["path"]: test for test in node.get("tests", [])}
        nodes += node.get("subjects", [])
    return found


def attempt_diff(after: dict[str, Any], before: dict[str, Any]) -> AttemptDiff:
    new, old = tests_of(after["result_tree"]), tests_of(before["result_tree"])
    changes = [
        _change(path, old.get(path), new.get(path))
        for path in sorted(old.keys() | new.keys())
        if _moved(old.get(path), new.get(path))
    ]
    score_after, score_before = after["final_score"], before["final_score"]
    both = score_after is not None and score_before is not None
    return AttemptDiff(
        attempt=after["attempt"],
        against=before["attempt"],
        final_score_before=score_before,
        final_score_after=score_after,
        score_change=round(score_after - score_before, 2) if both else None,
        tests=changes,
    )


def _moved(old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    if old is None or new is None:
        return True
    return bool(old["verdict"] != new["verdict"] or old["score"] != new["score"])


def _change(path: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> TestChange:
    return TestChange(
        path=path,
        verdict_before=None if old is None else old["verdict"],
        verdict_after=None if new is None else new["verdict"],
        score_before=None if old is None else old["score"],
        score_after=None if new is None else new["score"],
    )
