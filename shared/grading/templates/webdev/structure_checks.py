"""Checks of the submission's layout: expected files and folders.

A folder exists when it holds at least one file (a submission keeps no empty folders).
A `*` in a path matches any characters within one path segment ("images/*.png").
"""

from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import AliasChoices, BeforeValidator, Field

from shared.grading.messages import say
from shared.grading.ports import GradeContext
from shared.grading.templates.base import TestFunction, TestOutcome
from shared.grading.templates.webdev.common import (
    RelativePath,
    WebdevParams,
    failed,
    listed,
    one_or_many,
    outcome,
    passed,
    share_score,
    webdev_function,
    wildcard,
)
from shared.grading.templates.webdev.files import submission_files


class StructureParams(WebdevParams):
    structure: Annotated[list[RelativePath], BeforeValidator(one_or_many)] = Field(
        min_length=1,
        validation_alias=AliasChoices("structure", "expected_structure"),
        description="Paths that must exist; a trailing '/' means a folder.",
    )


class DirParams(WebdevParams):
    dir_path: RelativePath = Field(validation_alias=AliasChoices("dir_path", "directory"))


def _folders(files: dict[str, str]) -> set[str]:
    return {str(folder) for path in files for folder in PurePosixPath(path).parents} - {"."}


def _exists(entry: str, files: dict[str, str], folders: set[str]) -> bool:
    pattern = wildcard(entry.rstrip("/"), "[^/]*")
    candidates = folders if entry.endswith("/") else folders | files.keys()
    return any(pattern.fullmatch(candidate) for candidate in candidates)


def check_project_structure(ctx: GradeContext, params: StructureParams) -> TestOutcome:
    files = submission_files(ctx)
    folders = _folders(files)
    missing = [entry for entry in params.structure if not _exists(entry, files, folders)]
    if not missing:
        paths = listed(ctx, params.structure)
        return passed(say(ctx, "webdev.structure.complete", paths=paths))
    expected, found = len(params.structure), len(params.structure) - len(missing)
    message = say(
        ctx,
        "webdev.structure.incomplete",
        found=found,
        expected=expected,
        missing=listed(ctx, missing),
    )
    if any(entry.endswith("/") for entry in missing):
        message += " " + say(ctx, "webdev.structure.empty_folder_note")
    return outcome(share_score(found, expected), message)


def check_dir_exists(ctx: GradeContext, params: DirParams) -> TestOutcome:
    files = submission_files(ctx)
    folder = params.dir_path.rstrip("/") + "/"
    if _exists(folder, files, _folders(files)):
        return passed(say(ctx, "webdev.structure.folder_found", folder=folder))
    message = say(ctx, "webdev.structure.folder_missing", folder=folder)
    return failed(f"{message} {say(ctx, 'webdev.structure.empty_folder_note')}")


STRUCTURE_FUNCTIONS: tuple[TestFunction[Any], ...] = (
    webdev_function(
        "check_project_structure",
        "Scores the share of expected files and folders present in the submission.",
        StructureParams,
        check_project_structure,
    ),
    webdev_function(
        "check_dir_exists",
        "Passes when the submission has the folder (with at least one file in it).",
        DirParams,
        check_dir_exists,
    ),
)
