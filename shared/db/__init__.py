"""PostgreSQL access through asyncpg: a pool bound to one schema, and migrations.

Every table lives in the schema named by settings (`AUTOGRADER_DB_SCHEMA`), so tests
can run against their own schema in the same database.
"""

import json
import re
from pathlib import Path

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

log = structlog.get_logger()
# A connection of our own, or one borrowed from the pool: both run the same queries.
Connection = asyncpg.Connection | PoolConnectionProxy
MIGRATIONS = Path(__file__).parent / "migrations"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Any constant works; it only has to be the same for every migrating process.
_MIGRATION_LOCK = 7_314_159


def _check_schema(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


async def _init_connection(connection: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def create_pool(
    dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10
) -> asyncpg.Pool:
    _check_schema(schema)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": schema},
        init=_init_connection,
    )
    if pool is None:  # only None when created lazily, which this call never does
        raise RuntimeError("pool was not created")
    return pool


def migration_files() -> list[tuple[int, Path]]:
    files = sorted(MIGRATIONS.glob("*.sql"))
    return [(int(path.name.split("_", 1)[0]), path) for path in files]


async def migrate(dsn: str, schema: str) -> list[int]:
    """Apply pending migrations in order, once, even with several services starting."""
    _check_schema(schema)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            return await _apply_pending(connection, schema)
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    finally:
        await connection.close()


async def _apply_pending(connection: asyncpg.Connection, schema: str) -> list[int]:
    await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await connection.execute(f'SET search_path TO "{schema}"')
    await connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz DEFAULT now())"
    )
    done = {
        row["version"] for row in await connection.fetch("SELECT version FROM schema_migrations")
    }
    applied = []
    for version, path in migration_files():
        if version in done:
            continue
        async with connection.transaction():
            await connection.execute(path.read_text())
            await connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, path.name
            )
        log.info("migration applied", version=version, name=path.name)
        applied.append(version)
    return applied


async def drop_schema(dsn: str, schema: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{_check_schema(schema)}" CASCADE')
    finally:
        await connection.close()
