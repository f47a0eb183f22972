"""The Autograder server as the Action's external mode calls it: the config by id, and
the result posted back. Network errors and 5xx are retried with backoff and jitter, a
bounded number of times; a 4xx is not (asking again cannot help), and every error says
what the server answered."""

import asyncio
import random
from typing import Any

import httpx

RETRY_STATUSES = frozenset({500, 502, 503, 504})
ATTEMPTS = 4


class CloudError(Exception):
    """The server refused, or could not be reached after the retries."""


class CloudClient:
    def __init__(self, url: str, token: str, base_delay_s: float = 1.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=30.0,
        )
        self.base_delay_s = base_delay_s

    async def close(self) -> None:
        await self._http.aclose()

    async def config(self, config_id: int) -> dict[str, Any]:
        return await self._call("GET", f"/api/v1/configs/id/{config_id}")

    async def post_result(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        """Posted once however often it is retried: the server keeps one per key."""
        headers = {"Idempotency-Key": key}
        path = "/api/v1/submissions/external-results"
        return await self._call("POST", path, json=body, headers=headers)

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as error:
                problem = f"{method} {path} failed: {type(error).__name__} {error}".strip()
            else:
                if response.is_success:
                    return dict(response.json())
                answer = f"{response.status_code} {_detail(response)}".strip()
                problem = f"{method} {path}: the server answered {answer}"
                if response.status_code not in RETRY_STATUSES:
                    raise CloudError(problem)
            if attempt < ATTEMPTS:
                delay = self.base_delay_s * 2 ** (attempt - 1)
                await asyncio.sleep(random.uniform(delay / 2, delay))  # jitter
        raise CloudError(f"{problem} (after {ATTEMPTS} attempts)")


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))
    except ValueError:
        return response.text[:200]
