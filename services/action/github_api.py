"""What the Action tells GitHub: GitHub Classroom's `grading` check run gets the points,
and (with include-feedback) the feedback is committed as a file, as the reference does."""

import base64
from typing import Any

import httpx
import structlog

from services.action.inputs import GitHubContext

log = structlog.get_logger()
FEEDBACK_FILE = "relatorio.md"  # the reference Action's name for it


class GitHubApi:
    def __init__(self, context: GitHubContext, token: str) -> None:
        self.context = context
        self._http = httpx.AsyncClient(
            base_url=context.api_url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            timeout=30.0,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def report_points(self, score: float) -> bool:
        """GitHub Classroom's convention: its `grading` check run says `Points X/100`.
        False (and a notice in the log) when this run has no such check run."""
        repo = self.context.repository
        run = await self._get(f"/repos/{repo}/actions/runs/{self.context.run_id}")
        suite_id = str(run["check_suite_url"]).rstrip("/").rsplit("/", 1)[-1]
        runs = await self._get(f"/repos/{repo}/check-suites/{suite_id}/check-runs")
        grading = next((r for r in runs["check_runs"] if r["name"] == "grading"), None)
        if grading is None:
            log.info("no `grading` check run in this workflow run: points not reported")
            return False
        points = f"{score:.2f}".rstrip("0").rstrip(".")
        output = {
            "title": "Autograding Result",
            "summary": f"Points {points}/100",
            "text": f'{{"totalPoints": {score:.2f}, "maxPoints": 100}}',
        }
        response = await self._http.patch(
            f"/repos/{repo}/check-runs/{grading['id']}", json={"output": output}
        )
        response.raise_for_status()
        return True

    async def commit_feedback(self, feedback: str) -> None:
        """The feedback as relatorio.md on the pushed branch (created or updated)."""
        repo, path = (
            self.context.repository,
            f"/repos/{self.context.repository}/contents/{FEEDBACK_FILE}",
        )
        if not self.context.ref.startswith("refs/heads/"):  # a pull request, a tag
            raise ValueError(f"feedback is committed to branches only, not {self.context.ref}")
        branch = self.context.ref.removeprefix("refs/heads/")
        existing = await self._http.get(path, params={"ref": branch})
        body: dict[str, Any] = {
            "message": f"Autograder feedback for {self.context.sha[:7] or repo}",
            "content": base64.b64encode(feedback.encode()).decode(),
            "branch": branch,
        }
        if existing.status_code == 200:
            body["sha"] = existing.json()["sha"]
        response = await self._http.put(path, json=body)
        response.raise_for_status()

    async def _get(self, path: str) -> dict[str, Any]:
        response = await self._http.get(path)
        response.raise_for_status()
        return dict(response.json())
