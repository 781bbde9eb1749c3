"""Fixtures: real PostgreSQL and Redis-compatible servers, real gRPC servers on port 0.

With ``CONFIGTRAIL_DATABASE_URL`` and ``CONFIGTRAIL_REDIS_URL`` set, the tests use those servers (they
are wiped between tests: point them at throwaway databases); otherwise they start embedded PostgreSQL
and Valkey once per session in a temporary folder.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
import pytest
import redis.asyncio as redis

from configtrail import db
from configtrail.embedded import EmbeddedPostgres, EmbeddedValkey
from configtrail.grpcserver import RunningServer
from configtrail.ingest.v1 import ingest_pb2_grpc
from configtrail.settings import IngestSettings, SyncSettings
from configtrail.sync.v1 import sync_pb2_grpc

TABLES = (
    "erased_sessions",
    "dead_letters",
    "performance_metrics",
    "configuration_snapshots",
    "interaction_events",
    "user_sessions",
)


@dataclass
class Servers:
    """Where the test servers are, and (when embedded) handles to stop, kill and restart them."""

    dsn: str
    redis_url: str
    postgres: EmbeddedPostgres | None
    valkey: EmbeddedValkey | None

    def env(self) -> dict[str, str]:
        return {"CONFIGTRAIL_DATABASE_URL": self.dsn, "CONFIGTRAIL_REDIS_URL": self.redis_url}


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    external_dsn = os.environ.get("CONFIGTRAIL_DATABASE_URL")
    external_redis = os.environ.get("CONFIGTRAIL_REDIS_URL")
    base: Path = tmp_path_factory.mktemp("servers")
    postgres = None if external_dsn else EmbeddedPostgres(base / "postgres" / "data")
    valkey = None if external_redis else EmbeddedValkey(base / "valkey")
    try:
        dsn = external_dsn or postgres.start()  # type: ignore[union-attr]
        url = external_redis or valkey.start()  # type: ignore[union-attr]
        yield Servers(dsn, url, postgres, valkey)
    finally:
        if valkey is not None:
            valkey.stop()
        if postgres is not None:
            postgres.stop()


@pytest.fixture(scope="session")
async def pg_pool(servers: Servers) -> AsyncIterator[asyncpg.Pool]:
    await db.migrate(servers.dsn)
    pool = await db.create_pool(servers.dsn, size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def redis_client(servers: Servers) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(servers.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def clean(pg_pool: asyncpg.Pool, redis_client: redis.Redis) -> None:
    """Each test starts from empty tables and an empty Redis."""
    await pg_pool.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")
    await redis_client.flushdb()


def ingest_settings(servers: Servers, **overrides: object) -> IngestSettings:
    values: dict[str, object] = {
        "redis_url": servers.redis_url,
        "database_url": servers.dsn,
        "ingest_port": 0,
        "ingest_prometheus_port": 0,
        "telemetry_flush_seconds": 0,
    }
    values.update(overrides)
    return IngestSettings(**values)  # type: ignore[arg-type]


def sync_settings(servers: Servers, **overrides: object) -> SyncSettings:
    values: dict[str, object] = {
        "redis_url": servers.redis_url,
        "database_url": servers.dsn,
        "sync_port": 0,
        "sync_prometheus_port": 0,
        "telemetry_flush_seconds": 0,
        "sync_worker_name": f"test-{uuid.uuid4().hex[:8]}",
        "sync_block_ms": 50,
    }
    values.update(overrides)
    return SyncSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def ingest_server(servers: Servers, clean: None) -> AsyncIterator[RunningServer]:
    from services.ingest.server import create_server

    running = await create_server(ingest_settings(servers))
    yield running
    await running.stop()


@pytest.fixture
async def sync_server(servers: Servers, clean: None) -> AsyncIterator[RunningServer]:
    from services.sync.server import create_server

    running = await create_server(sync_settings(servers))
    yield running
    await running.stop()


@pytest.fixture
async def ingest(ingest_server: RunningServer) -> AsyncIterator[ingest_pb2_grpc.IngestAsyncStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{ingest_server.port}") as channel:
        yield ingest_pb2_grpc.IngestStub(channel)


@pytest.fixture
async def sync(sync_server: RunningServer) -> AsyncIterator[sync_pb2_grpc.SyncAsyncStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{sync_server.port}") as channel:
        yield sync_pb2_grpc.SyncStub(channel)


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], *, within: float, every: float = 0.02
) -> bool:
    """Poll ``condition`` until it holds or ``within`` seconds have passed; whether it held.

    For state that announces no event (a server's background work, another process): the caller
    asserts on the answer, or on the state itself, so a condition never met fails the test.
    """
    deadline = time.monotonic() + within
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(every)
