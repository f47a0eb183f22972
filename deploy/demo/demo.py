"""`make demo`: start the whole stack as one `autograder serve all` process, submit the
bundled examples over HTTP, show progress, print the results, and stop cleanly.

It uses its own exchange namespace and database schema (autograder_demo), emptied at
start, so a re-run never sees an earlier run's messages.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from shared.db import drop_schema
from shared.messaging.topology import Topology
from tests.support import delete_topology, free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NAMESPACE = "autograder_demo"
LOG = ROOT / "var" / "demo-services.log"
# (example folder, language, what a correct grader must conclude)
EXAMPLES = [
    ("python-right", "python", "completed with 100"),
    ("python-wrong", "python", "completed below 100"),
    ("java-right", "java", "completed with 100"),
    ("java-compile-error", "java", "failed at PRE_FLIGHT"),
    ("c-right", "c", "completed with 100"),
    ("c-missing-file", "c", "failed at PRE_FLIGHT"),
]


def files_of(example: str) -> dict[str, str]:
    root = HERE / "submissions" / example
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}


AUTOGRADER = str(ROOT / ".venv" / "bin" / "autograder")


def demo_env() -> dict[str, str]:
    return {
        **os.environ,
        "AUTOGRADER_NAMESPACE": NAMESPACE,
        "AUTOGRADER_DB_SCHEMA": NAMESPACE,
        "AUTOGRADER_LOG_FORMAT": "json",
        "AUTOGRADER_ENV": "development",  # the demo exports nowhere: no webhook secret
    }


def start_stack(port: int) -> subprocess.Popen[bytes]:
    LOG.parent.mkdir(exist_ok=True)
    command = [AUTOGRADER, "serve", "all", "--port", str(port)]
    with LOG.open("wb") as log:
        return subprocess.Popen(command, env=demo_env(), stdout=log, stderr=subprocess.STDOUT)


def create_token() -> str:
    """The first admin's token, made as an operator would: `autograder token create`."""
    command = [AUTOGRADER, "token", "create", "--role", "admin", "--name", "demo"]
    made = subprocess.run(
        command, env=demo_env(), capture_output=True, text=True, check=True, timeout=120
    )
    return made.stdout.strip()


def print_how_to_call(port: int, token: str) -> None:
    print("\nthe API needs a token; this run made one with")
    print("  autograder token create --role admin --name demo")
    print("and called it like this while the stack ran:")
    print(f'  curl -H "Authorization: Bearer {token}" http://127.0.0.1:{port}/api/v1/templates')


async def wait_healthy(client: httpx.AsyncClient, stack: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if stack.poll() is not None:
            raise SystemExit(f"the stack exited early; see {LOG}:\n{LOG.read_text()[-3000:]}")
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"the stack did not become healthy in 30 s; see {LOG}")


async def submit_all(client: httpx.AsyncClient) -> dict[int, tuple[str, str, str]]:
    config = json.loads((HERE / "config.json").read_text())
    created = await client.post("/api/v1/configs", json=config)
    created.raise_for_status()
    config_id = created.json()["id"]
    print(f"config {config_id} created for assignment {config['external_assignment_id']!r}")
    submitted = {}
    for example, language, expected in EXAMPLES:
        body = {
            "grading_config_id": config_id,
            "external_user_id": f"demo-{example}",
            "username": example,
            "language": language,
            "submission_files": files_of(example),
        }
        response = await client.post("/api/v1/submissions", json=body)
        response.raise_for_status()
        submitted[response.json()["id"]] = (example, language, expected)
        print(f"  submitted #{response.json()['id']} {example} ({language}): queued")
    return submitted


def sandbox_backend() -> str:
    """Which sandbox the stack chose (Docker, or local processes when Docker is absent)."""
    for line in LOG.read_text().splitlines():
        if "sandbox backend ready" in line:
            return str(json.loads(line).get("backend", "?"))
    return "unknown"


def progress_label(body: dict[str, Any]) -> str:
    steps = body["pipeline_execution"]["steps"]
    last = steps[-1]["name"] if steps else "-"
    return f"{body['status']} (after {last})"


async def follow(client: httpx.AsyncClient, ids: dict[int, tuple[str, str, str]]) -> dict[int, Any]:
    started, seen, final = time.monotonic(), {}, {}
    while len(final) < len(ids):
        if time.monotonic() - started > 180:
            raise SystemExit(f"still waiting after 180 s for {sorted(set(ids) - set(final))}")
        for sid in ids.keys() - final.keys():
            body = (await client.get(f"/api/v1/submissions/{sid}")).json()
            label = progress_label(body)
            if seen.get(sid) != label:
                seen[sid] = label
                print(f"  [{time.monotonic() - started:5.1f}s] #{sid} {ids[sid][0]}: {label}")
            if body["status"] in ("completed", "failed"):
                final[sid] = body
        await asyncio.sleep(0.2)
    return final


def concluded(body: dict[str, Any]) -> str:
    if body["status"] == "completed":
        return "completed with 100" if body["final_score"] == 100 else "completed below 100"
    return f"failed at {body['pipeline_execution']['failed_at_step']}"


ROW = "{:>2}  {:<20}  {:<6}  {:<9}  {:>5}  {:<10}  {:<21}  {}"


def print_table(ids: dict[int, tuple[str, str, str]], final: dict[int, Any]) -> bool:
    header = ("id", "example", "lang", "status", "score", "failed at", "error type", "ok")
    print("\n  " + ROW.format(*header))
    all_ok = True
    for sid, (example, language, expected) in sorted(ids.items()):
        body = final[sid]
        execution = body["pipeline_execution"]
        failing = [s for s in execution["steps"] if s["status"] == "fail"]
        error_type = failing[0]["error_details"]["error_type"] if failing else ""
        ok = concluded(body) == expected
        all_ok &= ok
        cells = (
            sid,
            example,
            language,
            body["status"],
            body["final_score"],
            execution["failed_at_step"] or "",
            error_type,
            "yes" if ok else "NO",
        )
        print("  " + ROW.format(*cells))
    return all_ok


def print_details(ids: dict[int, tuple[str, str, str]], final: dict[int, Any]) -> None:
    by_name = {ids[sid][0]: final[sid] for sid in ids}
    failed = by_name["java-compile-error"]
    print("\n== GET /api/v1/submissions/{id} -> pipeline_execution of java-compile-error")
    print(json.dumps(failed["pipeline_execution"], indent=2))
    print("\n== feedback of java-compile-error")
    print(failed["feedback"])
    print("== feedback of python-wrong")
    print(by_name["python-wrong"]["feedback"])


def stop_stack(stack: subprocess.Popen[bytes]) -> None:
    stack.send_signal(signal.SIGTERM)
    try:
        stack.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stack.kill()
        stack.wait()
    print(f"stack stopped (exit code {stack.returncode}); its log is {LOG}")


async def reset() -> None:
    database_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    await delete_topology(Topology(NAMESPACE))
    await drop_schema(database_url, NAMESPACE)


async def main() -> int:
    await reset()
    port = free_port()
    print(f"starting `autograder serve all` on port {port} (every service in one process)")
    stack = start_stack(port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            await wait_healthy(client, stack)
            token = await asyncio.to_thread(create_token)
            client.headers["Authorization"] = f"Bearer {token}"
            print(f"sandbox backend: {sandbox_backend()}")
            ids = await submit_all(client)
            print("grading:")
            final = await follow(client, ids)
        ok = print_table(ids, final)
        print_details(ids, final)
        print_how_to_call(port, token)
    finally:
        stop_stack(stack)
    print("demo: every example was graded as expected" if ok else "demo: SOME RESULTS WERE WRONG")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
