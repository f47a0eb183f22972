"""Intake's answer to a failure nobody planned for: a problem document, not a traceback."""

from typing import Any, cast

import httpx

from contracts.api import Problem
from services.intake.adapters.postgres import IntakeRepository
from services.intake.handlers import create_app
from services.intake.logic import FileLimits
from shared.auth import Principal, Role
from shared.db.tokens import TokenStore
from shared.messaging.topology import Topology


class BrokenRepository:
    pool = None  # no database behind it: its runner store is never used here

    async def get_config(self, config_id: int) -> Any:
        raise RuntimeError("secret connection string in this message")


class AdminTokens:
    """Any bearer token is an admin's: this test is about what happens after auth."""

    async def authenticate(self, value: str) -> Principal:
        return Principal(token_id=1, name="test", role=Role.ADMIN)


async def test_an_unexpected_error_is_a_500_problem_that_shows_no_internals() -> None:
    limits = FileLimits(10, 10, 10, 10, 10)
    app = create_app(
        cast(IntakeRepository, BrokenRepository()),
        limits,
        Topology("t"),
        token_store=cast(TokenStore, AdminTokens()),
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": "Bearer agt_anything_x"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://intake", headers=headers
    ) as client:
        response = await client.get("/api/v1/configs/id/1")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert Problem.model_validate(response.json()).status == 500
    assert "secret" not in response.text
