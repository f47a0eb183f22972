"""The intake API's answers to good and bad input (real PostgreSQL, in-process ASGI)."""

import dataclasses
import io
import stat
import struct
import zipfile
from collections.abc import AsyncIterator

import httpx
import pytest

from contracts.api import Problem
from services.intake.adapters.postgres import IntakeRepository
from services.intake.app import limits_from
from services.intake.handlers import create_app
from services.intake.logic import FileLimits
from services.intake.settings import IntakeSettings
from shared.runtime import Runtime
from tests.conftest import demo_files
from tests.integration.test_redelivery import new_submission
from tests.owned_services import own_postgres
from tests.support import Isolation, bearer, eventually, intake_client, issue_token

pytestmark = pytest.mark.integration


@pytest.fixture
def limits() -> FileLimits:
    return limits_from(IntakeSettings())


@pytest.fixture
async def api(isolation: Isolation, limits: FileLimits) -> AsyncIterator[httpx.AsyncClient]:
    headers = bearer(await issue_token("admin"))
    async with intake_client(isolation.settings(), limits=limits, headers=headers) as client:
        yield client


def locations(response: httpx.Response) -> list[list[object]]:
    assert response.headers["content-type"] == "application/problem+json"
    return [error["loc"] for error in response.json()["errors"]]


async def test_health(api: httpx.AsyncClient) -> None:
    assert (await api.get("/health")).json() == {"status": "ok"}


async def test_a_config_is_stored_versioned_and_read_back(
    api: httpx.AsyncClient, demo_config: dict
) -> None:
    first = await api.post("/api/v1/configs", json=demo_config)
    second = await api.post("/api/v1/configs", json=demo_config)
    assert first.status_code == second.status_code == 201
    assert (first.json()["version"], second.json()["version"]) == (1, 2)
    read = (await api.get(f"/api/v1/configs/id/{first.json()['id']}")).json()
    assert read["criteria_config"] == demo_config["criteria_config"]
    assert (await api.get("/api/v1/configs/id/999999")).status_code == 404


async def test_every_config_error_is_reported_with_its_json_path(
    api: httpx.AsyncClient, demo_config: dict
) -> None:
    tests = demo_config["criteria_config"]["base"]["subjects"][0]["tests"]
    tests[0]["name"] = "expect_outptu"
    del tests[1]["expected_output"]
    demo_config["feedback_config"]["general"]["show_scores"] = True
    demo_config["setup_config"]["python"]["required_file"] = ["main.py"]
    response = await api.post("/api/v1/configs", json=demo_config)
    assert response.status_code == 422
    locs = locations(response)
    base = ["body", "criteria_config", "base", "subjects", 0, "tests"]
    assert [*base, 0, "name"] in locs or [*base, 0] in locs
    assert any(loc[: len(base) + 1] == [*base, 1] and "expected_output" in loc for loc in locs)
    assert any(loc[:2] == ["body", "feedback_config"] for loc in locs)
    assert ["body", "setup_config", "python", "required_file"] in locs
    messages = " ".join(e["msg"] for e in response.json()["errors"])
    assert "expect_output" in messages  # the known functions are listed
    assert (await api.get("/api/v1/configs/id/1")).status_code == 404  # nothing half-written


async def test_a_config_missing_a_field_names_it(api: httpx.AsyncClient, demo_config: dict) -> None:
    del demo_config["criteria_config"]
    response = await api.post("/api/v1/configs", json=demo_config)
    assert response.status_code == 422
    assert ["body", "criteria_config"] in locations(response)


async def test_bad_submissions_are_refused_with_the_field_named(
    api: httpx.AsyncClient, demo_config: dict
) -> None:
    config_id = (await api.post("/api/v1/configs", json=demo_config)).json()["id"]
    good = {
        "grading_config_id": config_id,
        "external_user_id": "u-1",
        "username": "ada",
        "language": "python",
        "submission_files": demo_files("python-right"),
    }
    cases = [
        ({**good, "grading_config_id": 424242}, ["body", "grading_config_id"]),
        ({**good, "language": "cobol"}, ["body", "language"]),
        # The reference requires both; an LMS needs them to file the grade.
        ({k: v for k, v in good.items() if k != "external_user_id"}, ["body", "external_user_id"]),
        ({**good, "username": ""}, ["body", "username"]),
        ({**good, "locale": "fr"}, ["body", "locale"]),
        (
            {**good, "submission_files": {"../escape.py": "x"}},
            ["body", "submission_files", "../escape.py"],
        ),
        (
            {**good, "submission_files": {"/etc/passwd": "x"}},
            ["body", "submission_files", "/etc/passwd"],
        ),
        ({**good, "submission_files": {}}, ["body", "submission_files"]),
        (
            {**good, "submission_files": {"a/b.py": "1", "./a/b.py": "2"}},
            ["body", "submission_files", "./a/b.py"],
        ),
        (
            {**good, "submission_files": {"a": "1", "a/b.py": "2"}},
            ["body", "submission_files", "a"],
        ),
        (
            {**good, "submission_files": {"x" * 256: "1"}},
            ["body", "submission_files", "x" * 256],
        ),
        ({k: v for k, v in good.items() if k != "language"}, ["body", "language"]),
    ]
    for body, loc in cases:
        response = await api.post("/api/v1/submissions", json=body)
        assert response.status_code == 422, (body, response.text)
        assert loc in locations(response), response.text
    assert (await api.get("/api/v1/submissions/1")).status_code == 404  # nothing accepted


def zip_with(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, content in entries:
            archive.writestr(info, content)
    return buffer.getvalue()


def patched(data: bytes, local: int, central: int, fmt: str, value: int) -> bytes:
    """A one-entry zip with a field rewritten in its local and central headers."""
    out = bytearray(data)
    struct.pack_into(fmt, out, local, value)
    struct.pack_into(fmt, out, data.index(b"PK\x01\x02") + central, value)
    return bytes(out)


def lying_bzip2_bomb() -> bytes:
    """50 MB of zeros in bzip2 (a few hundred bytes) whose headers say 10 bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_BZIP2) as archive:
        archive.writestr("main.py", b"0" * 50_000_000)
    return patched(buffer.getvalue(), 22, 24, "<I", 10)


def broken(local: int, central: int, fmt: str, value: int) -> bytes:
    return patched(zip_with([("main.py", b"print('hi')\n" * 50)]), local, central, fmt, value)


def symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


@pytest.mark.parametrize(
    ("entries", "why"),
    [
        ([symlink("main.py", "/etc/passwd")], "symbolic links"),
        ([("../main.py", b"print(1)")], "leaves the submission folder"),
        ([("/main.py", b"print(1)")], "absolute path"),
        ([("main.py", b"0" * 50_000_000)], "zip bomb"),
        (lying_bzip2_bomb(), "zip bomb"),
        (broken(14, 16, "<I", 0xDEADBEEF), "Bad CRC"),
        (broken(6, 8, "<H", 1), "encrypted"),
        ([("a/b.py", b"1"), ("./a/b.py", b"2")], "more than once"),
        ([("a", b"1"), ("a/b.py", b"2")], "both a file and a folder"),
        ([("x" * 256, b"1")], "longer than 255 bytes"),
    ],
)
async def test_hostile_archives_are_rejected(
    api: httpx.AsyncClient, demo_config: dict, entries: list | bytes, why: str
) -> None:
    config_id = (await api.post("/api/v1/configs", json=demo_config)).json()["id"]
    data = entries if isinstance(entries, bytes) else zip_with(entries)
    response = await api.post(
        "/api/v1/submissions",
        data={
            "grading_config_id": str(config_id),
            "language": "python",
            "external_user_id": "u-1",
            "username": "ada",
        },
        files={"archive": ("code.zip", data, "application/zip")},
    )
    assert response.status_code == 422, response.text
    assert why in response.text
    assert response.json()["errors"][0]["loc"][:2] == ["body", "archive"]
    assert (await api.get("/api/v1/submissions/1")).status_code == 404


async def test_a_submission_in_progress_already_shows_its_pipeline_execution(
    api: httpx.AsyncClient, demo_config: dict
) -> None:
    config_id = (await api.post("/api/v1/configs", json=demo_config)).json()["id"]
    body = {
        "grading_config_id": config_id,
        "external_user_id": "u-1",
        "username": "ada",
        "language": "python",
        "submission_files": demo_files("python-right"),
    }
    accepted = await api.post("/api/v1/submissions", json=body)
    assert accepted.status_code == 202
    view = (await api.get(f"/api/v1/submissions/{accepted.json()['id']}")).json()
    assert view["status"] == "queued"
    assert view["pipeline_execution"]["total_steps_planned"] == 7
    assert view["pipeline_execution"]["status"] == "running"
    assert view["result_tree"] is None

    # While it runs, execution_time_ms is the time so far: it grows (issue 9).
    async def later_view_shows_more_time() -> bool:
        again = await api.get(f"/api/v1/submissions/{accepted.json()['id']}")
        so_far = again.json()["pipeline_execution"]["execution_time_ms"]
        return bool(so_far > view["pipeline_execution"]["execution_time_ms"])

    await eventually(later_view_shows_more_time)


async def test_the_template_catalogue_lists_functions_with_parameter_schemas(
    api: httpx.AsyncClient,
) -> None:
    listed = (await api.get("/api/v1/templates")).json()
    assert "input_output" in [t["name"] for t in listed]
    detail = (await api.get("/api/v1/templates/input_output")).json()
    functions = {f["name"]: f for f in detail["test_functions"]}
    assert detail["requires_sandbox"] is True
    assert "expected_output" in functions["expect_output"]["parameters"]["properties"]
    assert "expected_output" in functions["expect_output"]["parameters"]["required"]
    missing = await api.get("/api/v1/templates/nope")
    assert missing.status_code == 404
    assert "input_output" in missing.json()["detail"]


CUSTOM_CHECKS = """
@test
def has_comment(submission, file: str = "main.py"):
    return "#" in submission.files.get(file, "")
"""


def with_custom_checks(config: dict, source: str) -> dict:
    config["template_name"] = ["input_output", "my_checks"]
    config["custom_templates"] = [{"name": "my_checks", "source": source}]
    config["criteria_config"]["base"]["subjects"][0]["tests"].append({"name": "has_comment"})
    return config


async def test_a_config_with_a_custom_template_is_stored_with_its_source(
    api: httpx.AsyncClient, demo_config: dict
) -> None:
    response = await api.post(
        "/api/v1/configs", json=with_custom_checks(demo_config, CUSTOM_CHECKS)
    )
    assert response.status_code == 201, response.json()
    read = (await api.get(f"/api/v1/configs/id/{response.json()['id']}")).json()
    assert read["custom_templates"] == [{"name": "my_checks", "source": CUSTOM_CHECKS}]


async def test_a_custom_template_with_a_syntax_error_is_refused_at_its_source(
    api: httpx.AsyncClient, demo_config: dict
) -> None:
    broken = CUSTOM_CHECKS + "\ndef oops(:\n    pass\n"
    response = await api.post("/api/v1/configs", json=with_custom_checks(demo_config, broken))
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["loc"] == ["body", "custom_templates", 0, "source"]
    assert error["msg"].startswith("line 6")


@pytest.mark.parametrize(
    "limits", [dataclasses.replace(limits_from(IntakeSettings()), max_request_bytes=2000)]
)
async def test_a_request_body_over_the_limit_is_refused_unread(
    api: httpx.AsyncClient, demo_config: dict
) -> None:
    config_id = (await api.post("/api/v1/configs", json=demo_config)).json()["id"]
    body = {
        "grading_config_id": config_id,
        "external_user_id": "u-1",
        "username": "ada",
        "language": "python",
        "submission_files": {"main.py": "print(1)\n" * 300},
    }
    response = await api.post("/api/v1/submissions", json=body)
    assert response.status_code == 413
    assert response.json()["detail"] == "request body larger than 2000 bytes"
    assert response.json()["status"] == 413

    async def chunked(data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), 500):
            yield data[start : start + 500]

    raw = httpx.Request("POST", "http://intake", json=body).content
    streamed = await api.post(
        "/api/v1/submissions", content=chunked(raw), headers={"content-type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413
    assert streamed.json()["detail"] == "request body larger than 2000 bytes"

    multipart = await api.post(
        "/api/v1/submissions",
        content=chunked(b"--x--\r\n"),
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert multipart.status_code == 411
    assert "Content-Length" in multipart.json()["detail"]

    small = {**body, "submission_files": {"main.py": "print(1)\n"}}
    assert (await api.post("/api/v1/submissions", json=small)).status_code == 202
    streamed_small = await api.post(
        "/api/v1/submissions",
        content=chunked(httpx.Request("POST", "http://intake", json=small).content),
        headers={"content-type": "application/json"},
    )
    assert streamed_small.status_code == 202


async def test_errors_are_problem_documents_that_name_the_field(api: httpx.AsyncClient) -> None:
    missing = await api.get("/api/v1/submissions/424242")
    wrong_type = await api.get("/api/v1/configs/id/not-a-number")
    no_route = await api.get("/api/v1/nowhere")

    for response, status in ((missing, 404), (wrong_type, 422), (no_route, 404)):
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        Problem.model_validate(response.json())
    assert missing.json()["detail"] == "no submission with id 424242"
    assert wrong_type.json()["errors"][0]["loc"] == ["path", "config_id"]


async def test_a_unit_of_work_that_fails_leaves_nothing_behind(
    isolation: Isolation, demo_config: dict
) -> None:
    runtime = await Runtime.open(isolation.settings())
    try:
        repo, new = await new_submission(runtime, demo_config, [])

        async def write_then_fail() -> None:
            async with repo.unit_of_work() as unit:
                await unit.add_submission(new, await unit.put_files(new.files))
                raise RuntimeError("the outbox rows could not be built")

        with pytest.raises(RuntimeError):
            await write_then_fail()
        counts = [
            await runtime.pool.fetchval(f"SELECT count(*) FROM {table}")
            for table in ("submissions", "attempts", "blobs", "outbox")
        ]
        assert counts == [0, 0, 0, 0]
    finally:
        await runtime.close()


async def test_a_config_without_languages_takes_them_from_setup_config(
    api: httpx.AsyncClient, demo_config: dict
) -> None:
    del demo_config["languages"]
    demo_config["setup_config"] = {"c": demo_config["setup_config"]["c"]}

    response = await api.post("/api/v1/configs", json=demo_config)

    assert response.status_code == 201, response.text
    assert response.json()["languages"] == ["c"]


async def test_languages_and_setup_config_must_name_the_same_languages(
    api: httpx.AsyncClient, demo_config: dict
) -> None:
    demo_config["languages"] = ["python", "c", "cpp"]
    demo_config["setup_config"]["node"] = {"required_files": ["main.js"]}

    response = await api.post("/api/v1/configs", json=demo_config)

    assert response.status_code == 422
    problems = {tuple(e["loc"]): e["msg"] for e in response.json()["errors"]}
    assert ("body", "setup_config", "java") in problems
    assert ("body", "setup_config", "node") in problems
    assert "cpp" in problems[("body", "languages")]


@pytest.mark.parametrize(("limit", "value"), [("time_limit_ms", 90_000), ("memory_limit_mb", 8192)])
async def test_a_tests_own_limit_above_the_maximum_is_refused_at_its_path(
    api: httpx.AsyncClient, demo_config: dict, limit: str, value: int
) -> None:
    """Issue 9: a per-test time_limit_ms of 90000 was accepted and run."""
    demo_config["criteria_config"]["bonus"]["tests"][0][limit] = value

    response = await api.post("/api/v1/configs", json=demo_config)

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["loc"][:4] == ["body", "criteria_config", "bonus", "tests"]
    assert limit in error["loc"]


@pytest.mark.parametrize("spelling", ["pt-BR", "pt_BR", "pt_br", "pt"])
async def test_every_spelling_of_brazilian_portuguese_is_one_locale(
    api: httpx.AsyncClient, demo_config: dict, spelling: str
) -> None:
    demo_config["locale"] = spelling

    response = await api.post("/api/v1/configs", json=demo_config)

    assert response.status_code == 201, response.text
    assert response.json()["locale"] == "pt-BR"


async def test_an_unknown_locale_is_refused_listing_the_supported_ones(
    api: httpx.AsyncClient, demo_config: dict
) -> None:
    demo_config["locale"] = "klingon"

    response = await api.post("/api/v1/configs", json=demo_config)

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "locale"]
    assert "'en', 'pt-BR'" in error["msg"]


async def test_a_misspelled_template_is_one_error_naming_the_known_ones(
    api: httpx.AsyncClient, demo_config: dict
) -> None:
    """Issue 9: it also gave one 'unknown test function' error per test."""
    demo_config["template_name"] = "input_ouput"

    response = await api.post("/api/v1/configs", json=demo_config)

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "template_name"]
    assert "'input_ouput'" in error["msg"]
    assert "input_output" in error["msg"].split("known templates:")[1]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/v1/configs/id/{2**63}"),
        ("GET", f"/api/v1/submissions/{2**63}"),
        ("POST", f"/api/v1/submissions/{2**64}/export"),
    ],
)
async def test_an_id_beyond_the_databases_range_is_a_422_naming_it(
    api: httpx.AsyncClient, method: str, path: str
) -> None:
    """Issue 10: these answered 500."""
    response = await api.request(method, path)

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][0] == "path"


async def test_a_grading_config_id_beyond_the_range_is_a_422_at_its_field(
    api: httpx.AsyncClient,
) -> None:
    body = {
        "grading_config_id": 2**63,
        "external_user_id": "u",
        "username": "a",
        "language": "python",
        "submission_files": {"main.py": "print(1)"},
    }
    response = await api.post("/api/v1/submissions", json=body)

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "grading_config_id"]


@pytest.mark.parametrize(
    "limits", [dataclasses.replace(limits_from(IntakeSettings()), max_config_bytes=4096)]
)
async def test_a_config_body_over_its_limit_is_refused_and_nothing_is_stored(
    api: httpx.AsyncClient, demo_config: dict
) -> None:
    """Issue 10: a 30 MiB config was accepted and stored."""
    demo_config["feedback_config"]["general"]["report_title"] = "x" * 5000

    response = await api.post("/api/v1/configs", json=demo_config)

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert (await api.get("/api/v1/configs/id/1")).status_code == 404


@pytest.mark.parametrize("route", ["/api/v1/configs", "/api/v1/submissions"])
async def test_json_nested_absurdly_deep_is_a_422_that_names_the_body(
    api: httpx.AsyncClient, route: str
) -> None:
    """Issue 10: 5000 levels gave a 400 that named nothing."""
    deep = b'{"criteria_config": ' + b"[" * 5000 + b"]" * 5000 + b"}"

    response = await api.post(route, content=deep, headers={"content-type": "application/json"})

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["loc"] == ["body"]
    assert "nested deeper than 64 levels" in error["msg"]


async def test_with_the_database_down_intake_answers_503_and_recovers_by_itself(
    isolation: Isolation, limits: FileLimits, demo_config: dict
) -> None:
    """Issue 10: during a PostgreSQL outage intake answered 500. A cluster of the
    test's own is stopped and started; the shared one is never touched."""
    with own_postgres() as postgres:
        settings = isolation.settings().model_copy(update={"database_url": postgres.dsn})
        runtime = await Runtime.open(settings)
        app = create_app(IntakeRepository(runtime.pool), limits, runtime.bus.topology)
        transport = httpx.ASGITransport(app=app)
        token = await issue_token(dsn=postgres.dsn, schema=isolation.schema)
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://intake", headers=bearer(token)
            ) as api:
                assert (await api.get("/ready")).json()["ready"] is True
                postgres.stop("immediate")

                down = await api.post("/api/v1/configs", json=demo_config)
                not_ready = await api.get("/ready")
                assert down.status_code == 503
                assert down.headers["Retry-After"] == "5"
                assert down.headers["content-type"] == "application/problem+json"
                assert not_ready.status_code == 503
                assert not_ready.json()["detail"] == "not ready: database unavailable"

                postgres.start()

                async def served_again() -> bool:
                    return (await api.post("/api/v1/configs", json=demo_config)).status_code == 201

                await eventually(served_again)
                assert (await api.get("/ready")).status_code == 200
        finally:
            await runtime.close()


async def test_the_references_config_routes_read_and_version_configs(
    api: httpx.AsyncClient, demo_config: dict
) -> None:
    """GET by integer id and by assignment (its newest version), the list, the versions,
    and PUT by id or by assignment: each PUT makes a new version; none is edited."""
    first = (await api.post("/api/v1/configs", json=demo_config)).json()
    other = {**demo_config, "external_assignment_id": "another"}
    assert (await api.post("/api/v1/configs", json=other)).status_code == 201

    changed = await api.put(f"/api/v1/configs/{first['id']}", json={"include_feedback": False})
    assert changed.status_code == 200
    assert (changed.json()["version"], changed.json()["include_feedback"]) == (2, False)
    assert changed.json()["criteria_config"] == demo_config["criteria_config"]  # kept

    by_name = await api.put("/api/v1/configs/external/sum-two-numbers", json={"locale": "pt-BR"})
    assert (by_name.json()["version"], by_name.json()["locale"]) == (3, "pt-BR")
    assert by_name.json()["include_feedback"] is False  # from version 2, the newest

    latest = (await api.get("/api/v1/configs/sum-two-numbers")).json()
    assert (latest["id"], latest["version"]) == (by_name.json()["id"], 3)
    old = (await api.get(f"/api/v1/configs/id/{first['id']}")).json()
    assert (old["version"], old["include_feedback"]) == (1, True)  # never edited in place
    versions = (await api.get("/api/v1/configs/sum-two-numbers/versions")).json()
    assert [v["version"] for v in versions] == [1, 2, 3]
    listed = (await api.get("/api/v1/configs")).json()
    assert [(c["external_assignment_id"], c["version"]) for c in listed] == [
        ("another", 1),
        ("sum-two-numbers", 3),
    ]
    page = (await api.get("/api/v1/configs?limit=1&offset=1")).json()
    assert [c["external_assignment_id"] for c in page] == ["sum-two-numbers"]


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"languages": ["cobol"]}, ["body", "languages"]),
        ({"template_nme": "webdev"}, ["body", "template_nme"]),
        ({"external_assignment_id": "elsewhere"}, ["body", "external_assignment_id"]),
    ],
)
async def test_a_bad_config_update_names_the_field_and_makes_no_version(
    api: httpx.AsyncClient, demo_config: dict, update: dict, field: list[str]
) -> None:
    first = (await api.post("/api/v1/configs", json=demo_config)).json()
    response = await api.put(f"/api/v1/configs/{first['id']}", json=update)
    assert response.status_code == 422
    assert field in locations(response)
    versions = (await api.get("/api/v1/configs/sum-two-numbers/versions")).json()
    assert len(versions) == 1


async def test_config_routes_answer_404_for_what_does_not_exist(api: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/api/v1/configs/nothing-here"),
        ("GET", "/api/v1/configs/nothing-here/versions"),
        ("PUT", "/api/v1/configs/external/nothing-here"),
        ("PUT", "/api/v1/configs/424242"),
    ):
        response = await api.request(method, path, json={"include_feedback": False})
        assert response.status_code == 404, (method, path)
