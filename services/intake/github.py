"""GitHub pushes as submissions: the push event's signature, which assignment takes
it, and the pushed commit's files read through the GitHub REST API (its base URL is
a setting, so tests use a fake GitHub on 127.0.0.1)."""

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from contracts.config import GradingConfig
from services.intake.logic import FileLimits, InvalidSubmission
from shared.errors import TransientError


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature-256`: sha256=HMAC-SHA256(secret, body), compared in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


class _Named(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = None
    login: str | None = None
    full_name: str | None = None


class PushEvent(BaseModel):
    """The fields of a `push` event this uses."""

    model_config = ConfigDict(extra="ignore")
    ref: str
    after: str
    deleted: bool = False
    repository: _Named
    pusher: _Named
    sender: _Named | None = None

    @property
    def branch(self) -> str | None:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None

    @property
    def student(self) -> str:
        return self.pusher.name or (self.sender.login if self.sender else None) or "unknown"

    def metadata(self) -> dict[str, Any]:
        return {"repository": self.repository.full_name, "commit_sha": self.after, "ref": self.ref}


def assignment_for(configs: list[GradingConfig], push: PushEvent) -> GradingConfig | None:
    """The assignment taking pushes from this repository and branch (the longest prefix
    wins when two could)."""
    name = push.repository.full_name or ""
    taking = [
        c
        for c in configs
        if c.github is not None
        and name.startswith(c.github.repository_prefix)
        and push.branch == c.github.branch
    ]
    return max(taking, key=lambda c: len(c.github.repository_prefix), default=None)  # type: ignore[union-attr]


class GitHubFiles:
    """Reads a commit's files: its tree, then each blob."""

    def __init__(self, api_url: str, token: str | None, timeout_s: float = 20) -> None:
        self.api_url = api_url.rstrip("/")
        self.headers = {"Accept": "application/vnd.github+json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.timeout_s = timeout_s

    async def of_commit(self, repository: str, sha: str, limits: FileLimits) -> dict[str, bytes]:
        async with httpx.AsyncClient(
            base_url=self.api_url, headers=self.headers, timeout=self.timeout_s
        ) as client:
            tree = await self._json(client, f"/repos/{repository}/git/trees/{sha}?recursive=1")
            blobs = [e for e in tree.get("tree", []) if e.get("type") == "blob"]
            if len(blobs) > limits.max_files:
                raise InvalidSubmission([{"loc": ["repository"], "msg": "too many files"}])
            return {e["path"]: await self._blob(client, repository, e["sha"]) for e in blobs}

    async def _blob(self, client: httpx.AsyncClient, repository: str, sha: str) -> bytes:
        blob = await self._json(client, f"/repos/{repository}/git/blobs/{sha}")
        return base64.b64decode(blob.get("content", ""))

    async def _json(self, client: httpx.AsyncClient, path: str) -> dict[str, Any]:
        try:
            response = await client.get(path)
        except httpx.HTTPError as error:
            raise TransientError(f"GitHub did not answer: {type(error).__name__}") from error
        if response.status_code != 200:
            raise TransientError(f"GitHub answered {response.status_code} for {path}")
        found: dict[str, Any] = response.json()
        return found


@dataclass(frozen=True)
class GitHubHook:
    """GitHub pushes: the webhook's secret, and a reader of the pushed files."""

    secret: str
    files: GitHubFiles
