"""Pure intake logic: checking configs and uploaded files, and the first steps of a
run (LOAD_TEMPLATE and BUILD_TREE), done here so a bad config fails before any
sandbox is used."""

import io
import posixpath
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from contracts import failures
from contracts.config import GradingConfig, GradingConfigIn
from contracts.steps import StepName
from shared.errors import AutograderError
from shared.feedback_config import parse_feedback_config
from shared.grading.criteria import CriteriaTree, config_tree
from shared.grading.errors import GradingError, InvalidCriteria
from shared.grading.templates.ai import AI_CHECK
from shared.grading.templates.custom import custom_templates
from shared.grading.templates.registry import get_template
from shared.grading.templates.static_analysis import STATIC_ANALYSIS
from shared.pipeline import PlanFlags, StepOutcome, build_plan
from shared.setup_config import parse_setup_config
from shared.webhook_urls import Unresolved, resolved_problem

Problem = dict[str, Any]
# Deeper than any real config or submission; the JSON parser's own limit is far deeper.
MAX_JSON_DEPTH = 64
# Unrolled, and an unclosed string ends the match: linear, even on '"\\"\\"\\"...'.
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def json_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in a JSON text: strings are cut out first (in C,
    by the regex engine), so a large submission costs only its brackets."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub(b"", raw)):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


class IntakeError(AutograderError):
    """Root of intake's domain errors; handlers.py maps each kind to one HTTP status."""


class InvalidInput(IntakeError, ValueError):
    """Input that cannot be accepted; `problems` name each field by its path in the body
    (`{"loc": ["language"], "msg": ...}`), or from the request's root with `at_root`
    (`["header", "Idempotency-Key"]`)."""

    def __init__(self, problems: list[Problem], *, at_root: bool = False) -> None:
        super().__init__("; ".join(p["msg"] for p in problems))
        self.problems = problems
        self.at_root = at_root


class InvalidSubmission(InvalidInput):
    """Uploaded files that cannot be accepted (paths, sizes, archive contents)."""


class NotFound(IntakeError, LookupError):
    """The config, submission or template asked for does not exist."""


class Conflict(IntakeError):
    """The request does not fit the resource's state (a delivery of an unfinished run)."""


class ClaimNoLongerHeld(Conflict):
    """Fencing: a runner's call about a job its claim no longer holds (409, with the
    `Claim-Lost` header so a runner tells it from other conflicts)."""


class RangeNotSatisfiable(IntakeError):
    """A runner's log chunk that does not start where the stored log ends (416)."""

    def __init__(self, length: int) -> None:
        super().__init__(f"the log holds {length} bytes: send the chunk from byte {length}")
        self.length = length


class RequestTooLarge(IntakeError):
    """The request body is over the limit; refused before it is all read."""


class LengthRequired(IntakeError):
    """A body whose size must be known before reading (multipart) came without one."""


class MalformedRequest(IntakeError, ValueError):
    """A request that cannot be read at all (a bad header)."""


class BadWebhookPayload(InvalidInput):
    """A signed webhook whose body does not fit (400, naming each field)."""


class Unauthenticated(IntakeError):
    """No token, or one that is unknown, revoked or expired (401)."""


class Forbidden(IntakeError, PermissionError):
    """A valid token that may not do this: its role lacks the scope, the assignment is
    not granted to it, or the submission is not its own (403)."""


async def webhook_problems(config: GradingConfigIn, development: bool) -> list[Problem]:
    """The export webhook must be a public https address outside development."""
    if config.export_webhook_url is None:
        return []
    try:
        problem = await resolved_problem(config.export_webhook_url, development=development)
    except Unresolved as error:
        problem = str(error)
    return [] if problem is None else [{"loc": ["export_webhook_url"], "msg": problem}]


def config_problems(config: GradingConfigIn) -> list[Problem]:
    """Every problem in a config, each with its JSON path, or [] when it is usable."""
    problems = _template_problems(config)
    if not problems:  # with a template unknown, every test of it would be reported too
        problems = _criteria_problems(config)
    problems += _section_problems("setup_config", parse_setup_config, config.setup_config)
    problems += _language_problems(config)
    problems += _section_problems("feedback_config", parse_feedback_config, config.feedback_config)
    return problems


def _template_problems(config: GradingConfigIn) -> list[Problem]:
    """One problem per misspelled template, naming the known ones."""
    custom = {source.name for source in config.custom_templates}
    problems = []
    for name in config.template_names:
        if name in custom:
            continue
        try:
            get_template(name)
        except GradingError as error:
            problems.append({"loc": ["template_name"], "msg": str(error)})
    return problems


def _criteria_problems(config: GradingConfigIn) -> list[Problem]:
    try:
        config_tree(config)
    except InvalidCriteria as error:
        return [{"loc": list(p["loc"]), "msg": p["msg"]} for p in error.errors]
    except GradingError as error:
        return [{"loc": ["template_name"], "msg": str(error)}]
    return []


def _language_problems(config: GradingConfigIn) -> list[Problem]:
    """The languages and setup_config's language keys must name the same languages, when
    setup_config names any (a config of one language may need no setup at all)."""
    named = [key for key in config.setup_config if key != "assets"]
    if not named:
        return []
    unset = [
        {"loc": ["setup_config", key], "msg": f"{key!r} is not one of languages {config.languages}"}
        for key in named
        if key not in config.languages
    ]
    missing = [lang for lang in config.languages if lang not in named]
    if missing:
        msg = f"{missing} have no entry in setup_config, which names {named}"
        unset.append({"loc": ["languages"], "msg": msg})
    return unset


def _section_problems(section: str, parse: Any, raw: Any) -> list[Problem]:
    try:
        parse(raw or {})
    except ValidationError as error:
        return _located(section, error)
    except ValueError as error:
        if isinstance(error.__cause__, ValidationError):
            return _located(section, error.__cause__)
        return [{"loc": [section], "msg": str(error)}]
    return []


def _located(section: str, error: ValidationError) -> list[Problem]:
    """pydantic's errors with paths relative to the config body."""
    return [
        {"loc": [section, *[p for p in e["loc"] if p != "languages"]], "msg": e["msg"]}
        for e in error.errors()
    ]


def plan_for(config: GradingConfig, tree: CriteriaTree) -> list[StepName]:
    return build_plan(
        PlanFlags(
            requires_sandbox=tree.requires_sandbox or _runs_setup(config),
            has_ai_tests=any(test.function is AI_CHECK for test in tree.tests()),
            has_static_analysis=any(test.template is STATIC_ANALYSIS for test in tree.tests()),
            include_feedback=config.include_feedback,
        )
    )


def _runs_setup(config: GradingConfig) -> bool:
    """Setup commands or assets need a sandbox even when no test runs the program."""
    setup = parse_setup_config(config.setup_config)
    commands = any(lang.setup_commands for lang in setup.languages.values())
    return commands or bool(setup.assets)


@dataclass(frozen=True)
class FirstSteps:
    """The outcomes of LOAD_TEMPLATE and BUILD_TREE, and the plan when both passed."""

    load_template: StepOutcome
    build_tree: StepOutcome | None
    plan: list[StepName]


def first_steps(config: GradingConfig) -> FirstSteps:
    failed = _unloadable_templates(config)
    if failed is not None:
        return FirstSteps(failed, None, [StepName.LOAD_TEMPLATE])
    loaded = StepOutcome.success("Template loaded successfully")
    try:
        tree = config_tree(config)
    except InvalidCriteria as error:
        problems = [failures.ConfigProblem(**p) for p in error.errors]
        details = failures.InvalidCriteria(problems=problems)
        failed = StepOutcome.failure("Criteria tree could not be built", details)
        return FirstSteps(loaded, failed, [StepName.LOAD_TEMPLATE, StepName.BUILD_TREE])
    built = StepOutcome.success("Criteria tree built successfully")
    return FirstSteps(loaded, built, plan_for(config, tree))


def _unloadable_templates(config: GradingConfig) -> StepOutcome | None:
    """LOAD_TEMPLATE's failure, or None when every named template loads."""
    custom = custom_templates(config.custom_templates)
    if custom.problems:
        problems = [failures.ConfigProblem(**p) for p in custom.problems]
        details = failures.InvalidCustomTemplate(problems=problems)
        return StepOutcome.failure("A custom template could not be loaded", details)
    try:
        for name in config.template_names:
            if name not in custom.templates:
                get_template(name)
    except GradingError as error:
        return StepOutcome.failure(str(error), failures.TemplateNotFound())
    return None


def safe_relative_path(path: str) -> str:
    """A normalised relative POSIX path, or ValueError saying what is wrong with it."""
    if not path or "\x00" in path or "\\" in path:
        raise ValueError(f"invalid file path {path!r}")
    if path.startswith("/"):
        raise ValueError(f"absolute path {path!r} is not allowed")
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../") or normal == ".":
        raise ValueError(f"path {path!r} leaves the submission folder")
    return normal


@dataclass(frozen=True)
class FileLimits:
    max_files: int
    max_file_bytes: int
    max_total_bytes: int
    max_compression_ratio: int
    max_request_bytes: int
    # A config body: custom templates (8 x 64 KiB at most) and the criteria fit well.
    max_config_bytes: int = 1024 * 1024


# A path part longer than this cannot be created on common file systems.
MAX_NAME_BYTES = 255
# Archive entries are inflated this much at a time, so a lying header cannot make one
# read expand without bound.
READ_CHUNK = 64 * 1024
# zipfile inflates bzip2 and LZMA data without an output bound, whatever size is read.
SAFE_COMPRESSION = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
UNSAFE_METHOD = "only stored or deflated files are accepted (others risk a zip bomb)"
BOMB = "archive expands too much (zip bomb?)"


def checked_files(
    files: dict[str, bytes], limits: FileLimits, section: str = "submission_files"
) -> dict[str, bytes]:
    problems: list[Problem] = []
    clean: dict[str, bytes] = {}
    if not files:
        problems.append({"loc": [section], "msg": "no files were submitted"})
    if len(files) > limits.max_files:
        problems.append({"loc": [section], "msg": f"more than {limits.max_files} files"})
    for path, content in files.items():
        try:
            normal = safe_relative_path(path)
        except ValueError as error:
            problems.append({"loc": [section, path], "msg": str(error)})
            continue
        msg = _collision(normal, clean)
        if msg is not None:
            problems.append({"loc": [section, path], "msg": msg})
            continue
        clean[normal] = content
        if len(content) > limits.max_file_bytes:
            msg = f"file is larger than {limits.max_file_bytes} bytes"
            problems.append({"loc": [section, path], "msg": msg})
    problems += _prefix_problems(clean, files, section)
    if sum(len(c) for c in files.values()) > limits.max_total_bytes:
        msg = f"files add up to more than {limits.max_total_bytes} bytes"
        problems.append({"loc": [section], "msg": msg})
    if problems:
        raise InvalidSubmission(problems)
    return clean


def _collision(normal: str, seen: dict[str, bytes]) -> str | None:
    """Why a normalised path cannot be added to `seen`, or None when it can."""
    long = [part for part in normal.split("/") if len(part.encode()) > MAX_NAME_BYTES]
    if long:
        return f"a file or folder name is longer than {MAX_NAME_BYTES} bytes"
    if normal in seen:
        return f"path {normal!r} is given more than once"
    return None


def _prefix_problems(
    clean: dict[str, bytes], original: dict[str, bytes], section: str
) -> list[Problem]:
    """A file whose path is also a folder of another file cannot be written."""
    folders = {posixpath.dirname(p) for p in clean}
    folders |= {f for d in folders for f in _parents(d)}
    named = {safe_relative_path(p): p for p in original if _is_safe(p)}
    return [
        {"loc": [section, named[p]], "msg": f"{p!r} is both a file and a folder"}
        for p in clean
        if p in folders
    ]


def _parents(folder: str) -> list[str]:
    parts = folder.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _is_safe(path: str) -> bool:
    try:
        safe_relative_path(path)
    except ValueError:
        return False
    return True


def files_from_archive(data: bytes, limits: FileLimits) -> dict[str, bytes]:
    """Unpack a zip safely: no links, no escapes, no bombs. Directories are skipped.

    Blocking (it inflates the archive): call it off the event loop."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, EOFError, ValueError) as error:
        raise InvalidSubmission([{"loc": ["archive"], "msg": "not a zip archive"}]) from error
    with archive:
        entries = [info for info in archive.infolist() if not info.is_dir()]
        _check_entries(entries, len(data), limits)
        budget = _Budget(
            limits, min(limits.max_total_bytes, len(data) * limits.max_compression_ratio)
        )
        files = {info.filename: _read_entry(archive, info, budget) for info in entries}
    return checked_files(files, limits, section="archive")


class _Budget:
    """What may still be inflated: the whole archive, bounded however its headers lie."""

    def __init__(self, limits: FileLimits, total: int) -> None:
        self.per_file = limits.max_file_bytes
        self.left = total

    def spend(self, file_bytes: int, chunk: int) -> None:
        self.left -= chunk
        if file_bytes > self.per_file or self.left < 0:
            raise InvalidSubmission([{"loc": ["archive"], "msg": BOMB}])


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(READ_CHUNK):
                size += len(chunk)
                budget.spend(size, len(chunk))
                chunks.append(chunk)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, zlib.error) as error:
        msg = f"this file in the archive cannot be read: {error}"
        raise InvalidSubmission([{"loc": ["archive", info.filename], "msg": msg}]) from error
    return b"".join(chunks)


def _check_entries(entries: list[zipfile.ZipInfo], size: int, limits: FileLimits) -> None:
    declared = sum(info.file_size for info in entries)
    problems: list[Problem] = []
    names = [info.filename for info in entries]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append({"loc": ["archive", name], "msg": f"path {name!r} is given more than once"})
    if declared > limits.max_total_bytes or declared > max(size, 1) * limits.max_compression_ratio:
        problems.append({"loc": ["archive"], "msg": BOMB})
    for info in entries:
        if stat.S_ISLNK(info.external_attr >> 16):
            problems.append(
                {"loc": ["archive", info.filename], "msg": "symbolic links are not allowed"}
            )
        elif info.compress_type not in SAFE_COMPRESSION:
            msg = f"this file in the archive cannot be read: {UNSAFE_METHOD}"
            problems.append({"loc": ["archive", info.filename], "msg": msg})
    if problems:
        raise InvalidSubmission(problems)
