"""The `autograder` command: serve services, migrate the database, grade in-process.

This is a composition root: it may import every service (services never import each
other). Settings are built here, once, and passed down.
"""

import argparse
import asyncio
import contextlib
import importlib
import importlib.metadata
import json
import os
import signal
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from pydantic import ValidationError

from contracts.config import GradingConfigIn
from services.intake.logic import config_problems
from shared.db import migrate
from shared.logging import configure_logging
from shared.messaging.topology import SERVICE_NAMES
from shared.serve import ServiceEntry, run_until, serve
from shared.settings import CommonSettings, LogSettings, settings_problems

if TYPE_CHECKING:  # imported when grading only: `serve` does not load the in-process mode
    from datetime import datetime

    from services.inprocess import InProcessOptions
    from shared.auth import NewToken, Role

T = TypeVar("T")


def service_entries(names: list[str], port: int | None) -> list[ServiceEntry]:
    """The chosen services with their settings, built here once, in start order."""
    return [_entry(name, port) for name in SERVICE_NAMES if name in names]


def _entry(name: str, port: int | None) -> ServiceEntry:
    # Imported here so `autograder grade` does not load what only `serve` needs.
    app = importlib.import_module(f"services.{name}.app")
    overrides = {"port": port} if name == "intake" and port is not None else {}
    return ServiceEntry(name, app.start, app.Settings(**overrides))


async def run_services(names: list[str], port: int | None, stop: asyncio.Event) -> None:
    """Run the named services in this process until `stop` is set (tests set it)."""
    await run_until(service_entries(names, port), stop)


def _load_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        _fail(f"{what} file not found: {path}")
    except json.JSONDecodeError as error:
        _fail(f"{what} file {path} is not valid JSON: {error}")


def _fail(message: str, code: int = 2) -> NoReturn:
    print(f"autograder: {message}", file=sys.stderr)
    raise SystemExit(code)


def grading_config(args: argparse.Namespace) -> GradingConfigIn:
    if args.config:
        raw = _load_json(args.config, "config")
    elif args.criteria:
        raw = {
            "external_assignment_id": "local",
            "template_name": args.template,
            "criteria_config": _load_json(args.criteria, "criteria"),
            "setup_config": _load_json(args.setup, "setup") if args.setup else {},
            "feedback_config": _load_json(args.feedback, "feedback") if args.feedback else None,
        }
    else:
        return _fail("give --config FILE, or --criteria FILE (with --setup/--feedback/--template)")
    raw.setdefault("external_assignment_id", "local")
    raw["custom_templates"] = [
        *raw.get("custom_templates", []),
        *_custom_template_files(args.custom_template or []),
    ]
    try:
        config = GradingConfigIn.model_validate(raw)
    except ValidationError as error:
        return _fail(
            "invalid config:\n"
            + _problems_text([{"loc": list(e["loc"]), "msg": e["msg"]} for e in error.errors()])
        )
    problems = config_problems(config)
    if problems:
        _fail("invalid config:\n" + _problems_text(problems))
    return config


def _custom_template_files(paths: list[str]) -> list[dict[str, str]]:
    """Each instructor module given by --custom-template, named after its file."""
    try:
        return [{"name": Path(path).stem, "source": Path(path).read_text()} for path in paths]
    except OSError as error:
        return _fail(f"cannot read the custom template: {error}")


def _problems_text(problems: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems)


EXTENSIONS = {
    ".py": "python",
    ".java": "java",
    ".c": "c",
    ".cpp": "cpp",
    ".cc": "cpp",
    ".js": "node",
}


def pick_language(
    args: argparse.Namespace, config: GradingConfigIn, files: dict[str, bytes]
) -> str:
    if args.language:
        if args.language not in config.languages:
            _fail(f"--language {args.language} is not one of the languages {config.languages}")
        return str(args.language)
    if len(config.languages) == 1:
        return config.languages[0]
    found = {EXTENSIONS.get(Path(p).suffix) for p in files} & set(config.languages)
    if len(found) == 1:
        return found.pop()  # type: ignore[return-value]
    return _fail(f"cannot tell the language; give --language (one of {config.languages})")


def grade(args: argparse.Namespace) -> int:
    from services.inprocess import read_directory

    root = Path(args.directory)
    if not root.is_dir():
        _fail(f"not a directory: {root}")
    config = grading_config(args)
    files = read_directory(root)
    if not files:
        _fail(f"no files in {root}")
    language = pick_language(args, config, files)
    response = asyncio.run(grade_and_close(files, config, language, args.sandbox))
    print(json.dumps(response, indent=2) if args.json else human_report(response))
    return 0 if response["status"] == "completed" else 1


async def grade_and_close(
    files: dict[str, bytes], config: GradingConfigIn, language: str, sandbox: str = "auto"
) -> dict[str, Any]:
    from services.inprocess import grade_files
    from services.sandbox.backends.base import SandboxError
    from services.sandbox.backends.choose import open_backend
    from services.sandbox.settings import SandboxSettings

    options = in_process_options()

    # One warm container, of the language graded, is all one submission needs; a
    # namespace of its own keeps concurrent runs from taking each other for leftovers.
    settings = SandboxSettings(
        backend=sandbox,
        pool_sizes={language: 1},
        metrics_log_interval_s=0,
        namespace=f"grade-{uuid.uuid4().hex[:12]}",
    )
    try:
        backend = await open_backend(settings, on_fallback=_say_local_sandbox)
    except SandboxError as error:
        return _fail(str(error))
    try:
        return await grade_files(files, config, language, backend, options)
    finally:
        await backend.close()


def in_process_options() -> "InProcessOptions":
    """The settings the steps read, from the environment, checked before grading."""
    from services.grading.settings import GradingSettings
    from services.inprocess import InProcessOptions
    from shared.ai.client import chat_client_from

    grading = _settings(GradingSettings)
    return InProcessOptions(chat_client_from(grading.ai), grading)


def _say_local_sandbox(reason: str) -> None:
    print(f"autograder: {reason}; grading with local processes (weaker isolation)", file=sys.stderr)


def human_report(response: dict[str, Any]) -> str:
    execution = response["pipeline_execution"]
    lines = [
        f"status: {response['status']}",
        f"final score: {response['final_score']}",
        "",
        "pipeline:",
    ]
    for step in execution["steps"]:
        mark = "ok  " if step["status"] == "success" else "FAIL"
        lines.append(f"  {mark} {step['name']}: {step['message']}")
    lines += ["", response["feedback"] or "(no feedback)"]
    return "\n".join(lines)


def dead_letter_command(args: argparse.Namespace, settings: CommonSettings) -> int:
    from shared.messaging.dead_letters import dead_letters, known_services, redrive
    from shared.messaging.topology import Topology

    try:
        services = known_services(args.service)
    except ValueError as error:
        return _fail(str(error))
    url, topology = str(settings.amqp_url), Topology(settings.namespace)
    if args.action == "redrive":
        sent = asyncio.run(redrive(url, topology, services))
        print(f"sent {sent} message(s) back to their queues")
        return 0
    found = asyncio.run(dead_letters(url, topology, services))
    for letter in found:
        ids = f"submission {letter.submission_id} attempt {letter.attempt} step {letter.step}"
        print(f"{letter.service}\t{letter.message_type}\t{ids}\t{letter.reason}")
    print(f"{len(found)} dead message(s)")
    return 0


def token_command(args: argparse.Namespace, settings: CommonSettings) -> int:
    """Create a token straight in the database (the first admin's, before any API call
    can be authenticated); prints its value once, on stdout, and nothing else there."""
    from datetime import UTC, datetime

    from shared.auth import Role, parse_duration

    try:
        expires_at = (
            None if args.expires is None else datetime.now(UTC) + parse_duration(args.expires)
        )
    except ValueError as error:
        return _fail(str(error))
    if args.assignment and args.role != "instructor":
        return _fail("--assignment grants an instructor token assignments; this role has none")
    row, token = asyncio.run(
        _create_token(settings, Role(args.role), args.name, expires_at, args.assignment)
    )
    until = f", expires {row['expires_at']:%Y-%m-%d %H:%M} UTC" if expires_at else ""
    print(f"token {row['id']} ({args.role}, {args.name!r}{until}); shown once:", file=sys.stderr)
    print(token.value)
    return 0


async def _create_token(
    settings: CommonSettings,
    role: "Role",
    name: str,
    expires_at: "datetime | None",
    assignments: list[str] | None,
) -> tuple[dict[str, Any], "NewToken"]:
    from shared.db import create_pool
    from shared.db.tokens import TokenStore

    await migrate(str(settings.database_url), settings.db_schema)
    pool = await create_pool(str(settings.database_url), settings.db_schema, max_size=1)
    try:
        return await TokenStore(pool).create(
            role, name, expires_at=expires_at, assignments=assignments
        )
    finally:
        await pool.close()


def db_upgrade(settings: CommonSettings) -> int:
    applied = asyncio.run(migrate(str(settings.database_url), settings.db_schema))
    print(f"schema {settings.db_schema}: applied {applied or 'nothing (up to date)'}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="autograder", description=__doc__)
    root.add_argument("--version", action="version", version=f"autograder {_version()}")
    commands = root.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run one service, or all in one process")
    serve_cmd.add_argument("service", choices=[*SERVICE_NAMES, "all"])
    serve_cmd.add_argument("--port", type=int, help="HTTP port of intake (default 8000)")
    db = commands.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"])
    dead = commands.add_parser(
        "dead-letters", help="show the messages in the dead queues, or send them back"
    )
    dead.add_argument("action", choices=["list", "redrive"])
    dead.add_argument("--service", help="one service's dead queue (default: all)")
    token = commands.add_parser(
        "token", help="create an API token in the database (the first admin's, say)"
    )
    token.add_argument("action", choices=["create"])
    token.add_argument(
        "--role", required=True, choices=["admin", "instructor", "integration", "runner"]
    )
    token.add_argument("--name", default="cli", help="what the token is for (default: cli)")
    token.add_argument("--expires", help="lifetime such as 30d, 12h or 45m (default: never)")
    token.add_argument(
        "--assignment",
        action="append",
        metavar="EXTERNAL_ASSIGNMENT_ID",
        help="an instructor token's assignment (repeat; default: every assignment)",
    )
    _add_grade_command(commands)
    _add_runner_command(commands)
    commands.add_parser(
        "action", help="grade this repository as the GitHub Action (reads INPUT_* and GITHUB_*)"
    )
    return root


def _add_runner_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    runner = commands.add_parser(
        "runner", help="pull and grade runner-mode jobs from a server (docs/runners.md)"
    )
    runner.add_argument("--url", required=True, help="the server, e.g. https://grader.school.edu")
    runner.add_argument(
        "--token",
        help="the runner token from POST /api/v1/runners (default: $AUTOGRADER_RUNNER_TOKEN,"
        " which keeps it out of the process list)",
    )
    runner.add_argument(
        "--labels", help="serve only jobs these labels cover (comma-separated; default: all)"
    )
    runner.add_argument("--concurrency", type=int, default=1, help="jobs at once (default 1)")
    runner.add_argument(
        "--sandbox",
        choices=["docker", "local"],
        default="docker",
        help="where student code runs: docker containers (default) or local processes",
    )
    runner.add_argument(
        "--shutdown-grace",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="on SIGTERM, how long running jobs may finish before they are given back",
    )


def _add_grade_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    grade_cmd = commands.add_parser(
        "grade", help="grade a directory in-process (no broker, no database)"
    )
    grade_cmd.add_argument("directory")
    grade_cmd.add_argument("--config", help="JSON with the fields of POST /api/v1/configs")
    grade_cmd.add_argument("--criteria", help="criteria JSON (reference format)")
    grade_cmd.add_argument("--setup", help="setup JSON")
    grade_cmd.add_argument("--feedback", help="feedback JSON")
    grade_cmd.add_argument(
        "--template", nargs="+", default=["input_output"], help="one or more template names"
    )
    grade_cmd.add_argument(
        "--custom-template",
        action="append",
        metavar="FILE",
        help="an instructor's module of @test functions, used as template <file name>",
    )
    grade_cmd.add_argument("--language")
    grade_cmd.add_argument(
        "--sandbox",
        choices=["auto", "docker", "local"],
        default="auto",
        help="docker containers, local processes, or auto: docker when usable (default)",
    )
    grade_cmd.add_argument(
        "--json", action="store_true", help="print the GET /api/v1/submissions/{id} shape"
    )


def _settings(build: Callable[[], T]) -> T:
    """Settings built from the environment, or exit 2 naming each wrong variable."""
    try:
        return build()
    except ValidationError as error:
        return _fail(f"invalid settings:\n{settings_problems(error)}")


def _version() -> str:
    try:
        return importlib.metadata.version("autograder")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout never installed
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Logs go to stderr, always: stdout is the report (one JSON document with --json).
    logs = _settings(LogSettings)
    configure_logging(f"autograder-{args.command}", logs.log_format, logs.log_level)
    if args.command == "serve":
        names = list(SERVICE_NAMES) if args.service == "all" else [args.service]
        entries = _settings(lambda: service_entries(names, args.port))
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(entries))
        return 0
    if args.command == "db":
        return db_upgrade(_settings(CommonSettings))
    if args.command == "dead-letters":
        return dead_letter_command(args, _settings(CommonSettings))
    if args.command == "token":
        return token_command(args, _settings(CommonSettings))
    if args.command == "runner":
        return runner_command(args)
    if args.command == "action":
        from services.action.run import main as action_main

        return action_main()
    return grade(args)


def runner_command(args: argparse.Namespace) -> int:
    """Serve jobs until SIGTERM or SIGINT; exit 2 on bad arguments."""
    token = args.token or os.environ.get("AUTOGRADER_RUNNER_TOKEN", "")
    if not token:
        _fail("a runner token is needed: --token or AUTOGRADER_RUNNER_TOKEN")
    if not args.url.startswith(("http://", "https://")):
        _fail(f"--url must start with http:// or https://, not {args.url!r}")
    if args.concurrency < 1:
        _fail("--concurrency must be at least 1")
    if args.shutdown_grace < 0:
        _fail("--shutdown-grace must not be negative")
    labels = [label.strip() for label in args.labels.split(",")] if args.labels else None
    if labels is not None and not all(labels):
        _fail("--labels has an empty label")
    with contextlib.suppress(KeyboardInterrupt):
        if not asyncio.run(_serve_jobs(args, token, labels)):
            print("autograder runner: the server refused this runner's token", file=sys.stderr)
            return 1
    return 0


def _agent_namespace() -> str:
    """Its own, so two agents on one engine never take each other's for leftovers."""
    shared = os.environ.get("AUTOGRADER_NAMESPACE", "autograder")
    return f"{shared}-runner-{uuid.uuid4().hex[:8]}"


async def _serve_jobs(args: argparse.Namespace, token: str, labels: list[str] | None) -> bool:
    """Serve until stopped; False when the server refused the runner's token."""
    from services.runner.agent import Agent, AgentOptions
    from services.runner.client import RunnerClient
    from services.sandbox.backends.base import SandboxError
    from services.sandbox.backends.choose import open_backend
    from services.sandbox.settings import LANGUAGES, SandboxSettings

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # A container of each language per job at once, unless SANDBOX_POOL_SIZES says otherwise.
    pools = dict.fromkeys(LANGUAGES, args.concurrency)
    if "SANDBOX_POOL_SIZES" in os.environ:
        pools = SandboxSettings().pool_sizes
    settings = SandboxSettings(
        backend=args.sandbox,
        namespace=_agent_namespace(),
        metrics_log_interval_s=0,
        pool_sizes=pools,
    )
    try:
        backend = await open_backend(settings)
    except SandboxError as error:
        _fail(str(error))
    client = RunnerClient(args.url, token, _version())
    options = AgentOptions(
        labels=labels, concurrency=args.concurrency, shutdown_grace_s=args.shutdown_grace
    )
    agent = Agent(client, backend, options, in_process_options())
    try:
        await agent.run(stop)
        return not agent.rejected
    finally:
        await client.close()
        await backend.close()


if __name__ == "__main__":
    sys.exit(main())
