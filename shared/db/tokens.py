"""API tokens in PostgreSQL: created (shown once), found by their public prefix and
checked against the stored hash, listed, revoked."""

from datetime import datetime, timedelta
from typing import Any

import asyncpg

from shared.auth import NewToken, Principal, Role, matches, new_token, prefix_of

# last_used_at is written at most this often per token: a busy integration's every
# request must not become a write.
LAST_USED_EVERY = timedelta(seconds=60)
_COLUMNS = "id, name, role, prefix, assignments, created_at, expires_at, last_used_at, revoked_at"


class TokenStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(
        self,
        role: Role,
        name: str,
        *,
        expires_at: datetime | None = None,
        assignments: list[str] | None = None,
    ) -> tuple[dict[str, Any], NewToken]:
        token = new_token()
        row = await self.pool.fetchrow(
            "INSERT INTO api_tokens (name, role, prefix, token_hash, expires_at, assignments)"
            f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
            name,
            role.value,
            token.prefix,
            token.digest,
            expires_at,
            assignments,
        )
        assert row is not None  # INSERT ... RETURNING always returns its row
        return dict(row), token

    async def authenticate(self, value: str) -> Principal | None:
        """The principal of a live token (not revoked, not expired), else None."""
        prefix = prefix_of(value)
        if prefix is None:
            return None
        row = await self.pool.fetchrow(
            "SELECT id, name, role, token_hash, assignments, last_used_at FROM api_tokens"
            " WHERE prefix = $1 AND revoked_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > now())",
            prefix,
        )
        if row is None or not matches(value, row["token_hash"]):
            return None
        await self._touch(row["id"])
        grants = row["assignments"]
        return Principal(
            token_id=row["id"],
            name=row["name"],
            role=Role(row["role"]),
            assignments=None if grants is None else frozenset(grants),
        )

    async def _touch(self, token_id: int) -> None:
        await self.pool.execute(
            "UPDATE api_tokens SET last_used_at = now() WHERE id = $1"
            " AND (last_used_at IS NULL OR last_used_at < now() - $2::interval)",
            token_id,
            LAST_USED_EVERY,
        )

    async def list(self) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(f"SELECT {_COLUMNS} FROM api_tokens ORDER BY id")
        return [dict(row) for row in rows]

    async def revoke(self, token_id: int) -> dict[str, Any] | None:
        """The token revoked now; None when there is no live token with this id."""
        row = await self.pool.fetchrow(
            "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL"
            f" RETURNING {_COLUMNS}",
            token_id,
        )
        return None if row is None else dict(row)
