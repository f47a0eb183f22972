"""The runner API as the agent calls it (docs/runners.md).

Every call the agent repeats is idempotent on the server, so a call that failed for a
reason that may pass (the server restarting, a 5xx, a 429, a dropped connection) is
tried again with exponential backoff and jitter. A 409 about a job means its claim is
no longer ours: ClaimLost, and the agent stops working on it and reports nothing more.
"""

import asyncio
import io
import random
import tarfile
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from contracts.messages import StepRequest, StepResult
from contracts.runner import ClaimedJob, HeartbeatOut, JobOutcome

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ClaimLost(Exception):
    """The server gave the job to another claim (our lease expired): stop, report nothing."""


class ServerUnavailable(Exception):
    """The server did not answer usefully within the call's retry budget."""


class RunnerRejected(Exception):
    """The server refused the runner itself (401/403): a revoked or wrong token."""


class Backoff:
    """Exponential delays with full jitter, so restarting runners do not arrive together."""

    def __init__(self, base_s: float = 0.5, cap_s: float = 15.0) -> None:
        self.base_s, self.cap_s, self.failures = base_s, cap_s, 0

    def next_delay(self) -> float:
        delay = min(self.cap_s, self.base_s * 2**self.failures)
        self.failures += 1
        return random.uniform(delay / 2, delay)  # jitter, not a secret

    def reset(self) -> None:
        self.failures = 0


class RunnerClient:
    def __init__(self, url: str, token: str, version: str, retry_for_s: float = 120.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/") + "/api/v1/runner",
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"autograder-runner/{version}",
            },
            timeout=httpx.Timeout(30.0, read=90.0),
        )
        self.version = version
        self.retry_for_s = retry_for_s
        self.requests = 0  # sent, retries included: the protocol's cost (make bench)

    async def close(self) -> None:
        await self._http.aclose()

    async def request_job(self, wait_s: float, labels: list[str] | None) -> ClaimedJob | None:
        """One long poll; None when no job came within wait_s."""
        body: dict[str, Any] = {"wait_s": wait_s}
        if labels is not None:
            body["labels"] = labels
        response = await self._call("POST", "/jobs/request", json=body, retry=False)
        return None if response.status_code == 204 else ClaimedJob.model_validate(response.json())

    async def files(self, job: ClaimedJob, what: str = "code") -> dict[str, bytes]:
        response = await self._call("GET", f"/jobs/{job.id}/{what}", job=job)
        return _untar(response.content)

    async def heartbeat(self, job: ClaimedJob | None = None) -> HeartbeatOut:
        body = {"job_id": None if job is None else job.id, "version": self.version}
        response = await self._call("POST", "/heartbeat", json=body, job=job)
        return HeartbeatOut.model_validate(response.json())

    async def append_log(self, job: ClaimedJob, start: int, chunk: bytes) -> int:
        """The stored length after the append; the server's length when `start` was off."""
        headers = {"Content-Range": f"bytes {start}-{start + len(chunk) - 1}"}
        response = await self._call(
            "PATCH", f"/jobs/{job.id}/log", content=chunk, headers=headers, job=job, ok=(416,)
        )
        if response.status_code == 416:
            stored = response.headers.get("Range", "").partition("-")[2]
            if not stored.isdigit():
                raise ServerUnavailable(f"416 without a usable Range header: {stored!r}")
            return int(stored)
        return int(response.json()["length"])

    async def report_step(self, job: ClaimedJob, result: StepResult) -> None:
        body = result.model_dump(mode="json")
        await self._call("POST", f"/jobs/{job.id}/steps", json=body, job=job)

    async def complete(
        self,
        job: ClaimedJob,
        outcome: JobOutcome,
        following: StepRequest | None,
        detail: str = "",
        last: StepResult | None = None,
    ) -> None:
        body = {
            "outcome": outcome,
            "last_result": None if last is None else last.model_dump(mode="json"),
            "next_request": None if following is None else following.model_dump(mode="json"),
            "detail": detail,
        }
        await self._call("PUT", f"/jobs/{job.id}/complete", json=body, job=job)

    async def give_back(self, job: ClaimedJob) -> None:
        await self._call("POST", f"/jobs/{job.id}/release", job=job)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        job: ClaimedJob | None = None,
        retry: bool = True,
        ok: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if job is not None:
            headers["X-Job-Token"] = job.job_token

        async def send() -> httpx.Response:
            self.requests += 1
            return await self._http.request(method, path, headers=headers, **kwargs)

        response = await (self._retrying(send) if retry else _once(send))
        if response.status_code in ok or response.is_success:
            return response
        if response.status_code == 409 and response.headers.get("Claim-Lost") == "true":
            raise ClaimLost(_detail(response))
        if response.status_code in (401, 403):
            raise RunnerRejected(_detail(response))
        raise ServerUnavailable(f"{method} {path}: {response.status_code} {_detail(response)}")

    async def _retrying(self, send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        backoff = Backoff()
        deadline = asyncio.get_running_loop().time() + self.retry_for_s
        while True:
            try:
                response = await send()
                if response.status_code not in RETRY_STATUSES:
                    return response
                problem = f"{response.status_code} {_detail(response)}"
            except httpx.TransportError as error:
                problem = f"{type(error).__name__}: {error}"
            delay = backoff.next_delay()
            if asyncio.get_running_loop().time() + delay > deadline:
                raise ServerUnavailable(problem)
            await asyncio.sleep(delay)


async def _once(send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    try:
        response = await send()
    except httpx.TransportError as error:
        raise ServerUnavailable(f"{type(error).__name__}: {error}") from error
    if response.status_code in RETRY_STATUSES:
        raise ServerUnavailable(f"{response.status_code} {_detail(response)}")
    return response


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))
    except ValueError:
        return response.text[:200]


def _untar(content: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:") as archive:
        for member in archive:
            extracted = archive.extractfile(member) if member.isfile() else None
            if extracted is not None:
                files[member.name] = extracted.read()
    return files
