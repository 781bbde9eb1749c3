"""Postgres: the connection pool and the versioned schema migrations."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources

import asyncpg
from asyncpg.pool import PoolConnectionProxy

logger = logging.getLogger(__name__)

#: A connection, whether taken from a pool or opened on its own.
Connection = asyncpg.Connection | PoolConnectionProxy

#: Arbitrary constant: the advisory lock that serialises concurrent `migrate` runs.
_MIGRATION_LOCK_ID = 0x636F6E66


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    """The migrations shipped in ``configtrail/migrations``, ordered by version."""
    found: list[Migration] = []
    for entry in resources.files("configtrail.migrations").iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


#: Where PostgreSQL counts its timestamps from.
POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_POSTGRES_EPOCH_UNIX_SECONDS = 946_684_800
_MICROSECOND = timedelta(microseconds=1)


class PostgresMicroseconds(int):
    """A ``timestamptz`` parameter already in Postgres' own form: microseconds since
    :data:`POSTGRES_EPOCH`. Its own type so that a plain number is never taken for a time."""

    __slots__ = ()


def postgres_microseconds(seconds: int, nanos: int = 0) -> PostgresMicroseconds:
    """A Unix time (a protobuf Timestamp's two fields) as a ``timestamptz`` parameter, without building
    a datetime on the way."""
    return PostgresMicroseconds((seconds - _POSTGRES_EPOCH_UNIX_SECONDS) * 1_000_000 + nanos // 1000)


#: How Postgres stores ``'infinity'`` and ``'-infinity'``; read as the largest and smallest datetime,
#: which are written back as infinity (as asyncpg's own codec does): 9999-12-31 23:59:59.999999 stands for it.
_PG_INFINITY = 2**63 - 1
_PG_NEGATIVE_INFINITY = -(2**63)
_LATEST = datetime.max.replace(tzinfo=UTC)
_EARLIEST = datetime.min.replace(tzinfo=UTC)


def _encode_timestamptz(value: datetime | PostgresMicroseconds) -> tuple[int]:
    if isinstance(value, PostgresMicroseconds):
        return (int(value),)
    if not isinstance(value, datetime):
        raise TypeError(
            f"a timestamptz parameter must be a datetime or PostgresMicroseconds, not {type(value).__name__}"
        )
    if value == _LATEST:
        return (_PG_INFINITY,)
    if value == _EARLIEST:
        return (_PG_NEGATIVE_INFINITY,)
    return ((value.astimezone(UTC) - POSTGRES_EPOCH) // _MICROSECOND,)


def _decode_timestamptz(value: tuple[int]) -> datetime:
    microseconds = value[0]
    if microseconds == _PG_INFINITY:
        return _LATEST
    if microseconds == _PG_NEGATIVE_INFINITY:
        return _EARLIEST
    try:
        return POSTGRES_EPOCH + timedelta(microseconds=microseconds)
    except OverflowError:
        raise ValueError(
            f"timestamptz {microseconds} µs after 2000-01-01 is outside Python's years 1-9999"
        ) from None


async def register_codecs(conn: asyncpg.Connection) -> None:
    """``timestamptz`` parameters may be datetimes or :func:`postgres_microseconds` (the cheap form the
    Sync writer sends thousands of per batch); results are aware UTC datetimes either way."""
    await conn.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=_encode_timestamptz,
        decoder=_decode_timestamptz,
        format="tuple",
    )


async def create_pool(dsn: str, *, size: int = 4) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=size, command_timeout=60, init=register_codecs)
    assert pool is not None
    return pool


async def applied_versions(conn: asyncpg.Connection) -> list[int]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return []
    rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    return [row["version"] for row in rows]


async def pending_migrations(conn: asyncpg.Connection) -> list[Migration]:
    done = set(await applied_versions(conn))
    return [m for m in available_migrations() if m.version not in done]


async def migrate(dsn: str) -> list[Migration]:
    """Apply every pending migration, each in its own transaction; return what was applied."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version    integer PRIMARY KEY,
                       name       text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            applied: list[Migration] = []
            for migration in await pending_migrations(conn):
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.version,
                        migration.name,
                    )
                logger.info("applied migration %04d_%s", migration.version, migration.name)
                applied.append(migration)
            return applied
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_ID)
    finally:
        await conn.close()
