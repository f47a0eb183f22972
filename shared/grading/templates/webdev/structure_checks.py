"""Checks of the submission's layout: expected files and folders.

As in the reference, a path names a file, and a test's `file` (other than "all") limits
what the check sees to that one file. Beyond it: a path ending in "/" names a folder,
which exists when it holds at least one file (a submission keeps no empty folders), and
a `*` matches any characters within one path segment ("images/*.png").
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
    expected_structure: Annotated[list[RelativePath], BeforeValidator(one_or_many)] = Field(
        min_length=1,
        validation_alias=AliasChoices("expected_structure", "structure"),
        description="Paths of files that must exist (one or a list); a trailing '/' means a "
        "folder.",
    )


class DirParams(WebdevParams):
    dir_path: RelativePath = Field(validation_alias=AliasChoices("dir_path", "directory"))


def _folders(files: dict[str, str]) -> set[str]:
    return {str(folder) for path in files for folder in PurePosixPath(path).parents} - {"."}


def _files(ctx: GradeContext, params: WebdevParams) -> dict[str, str]:
    """The files the check sees: the reference gives a test only the file it names."""
    files = submission_files(ctx)
    if params.file is None:
        return files
    return {path: text for path, text in files.items() if path == params.file}


def _exists(entry: str, files: dict[str, str], folders: set[str]) -> bool:
    # Without a trailing "/" a path is a file, as in the reference ("css" is no folder).
    pattern = wildcard(entry.rstrip("/"), "[^/]*")
    candidates = folders if entry.endswith("/") else files.keys()
    return any(pattern.fullmatch(candidate) for candidate in candidates)


def check_project_structure(ctx: GradeContext, params: StructureParams) -> TestOutcome:
    files = _files(ctx, params)
    folders = _folders(files)
    expected_paths = params.expected_structure
    missing = [entry for entry in expected_paths if not _exists(entry, files, folders)]
    if not missing:
        paths = listed(ctx, expected_paths)
        return passed(say(ctx, "webdev.structure.complete", paths=paths))
    expected, found = len(expected_paths), len(expected_paths) - len(missing)
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
    files = _files(ctx, params)
    folder = params.dir_path.rstrip("/") + "/"
    if _exists(folder, files, _folders(files)):
        return passed(say(ctx, "webdev.structure.folder_found", folder=folder))
    message = say(ctx, "webdev.structure.folder_missing", folder=folder)
    return failed(f"{message} {say(ctx, 'webdev.structure.empty_folder_note')}")


STRUCTURE_FUNCTIONS: tuple[TestFunction[Any], ...] = (
    webdev_function(
        "check_project_structure",
        "Passes when the expected file is in the submission; with a list of paths (or "
        "folders, 'css/'), scores the share present.",
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
