"""Sync through crashes, outages and poison: every acknowledged event in Postgres exactly once.

Real processes and real servers: Sync workers run as `configtrail serve sync` children and are killed
with SIGKILL; PostgreSQL is stopped under load.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
import grpc
import pytest
import redis.asyncio as redis

from configtrail import constants, db, streams
from configtrail.common.v1 import events_pb2
from configtrail.embedded import EmbeddedPostgres, free_port
from configtrail.grpcserver import RunningServer
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from configtrail.supervisor import grpc_health_check
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc
from services.ingest.server import create_server as create_ingest
from services.sync.server import create_server as create_sync
from tests.conftest import Servers, ingest_settings, sync_settings

pytestmark = pytest.mark.slow


def interaction(session_id: str) -> events_pb2.InteractionEvent:
    return events_pb2.InteractionEvent(
        event_id=str(uuid.uuid4()),
        session_id=session_id,
        event_type=events_pb2.EVENT_TYPE_SELECTION,
        category="nest",
        element_id="size",
        selection_value="nest_80",
    )


class Load:
    """Concurrent TrackBatch calls through a real Ingest; remembers exactly what was acknowledged."""

    def __init__(self, stub: ingest_pb2_grpc.IngestAsyncStub, sessions: int = 50) -> None:
        self.stub = stub
        self.sessions = [f"chaos-{uuid.uuid4().hex[:10]}-{n}" for n in range(sessions)]
        self.acknowledged: set[str] = set()
        self.stopped = asyncio.Event()
        self.sent = 0

    async def run(self, *, batch: int = 50, concurrency: int = 4, total: int | None = None) -> None:
        async def producer(k: int) -> None:
            n = 0
            while not self.stopped.is_set() and (total is None or self.sent < total):
                items = [
                    ingest_pb2.BatchItem(
                        interaction=interaction(self.sessions[(k + n + i) % len(self.sessions)])
                    )
                    for i in range(batch)
                ]
                n += 1
                self.sent += batch
                try:
                    reply = await self.stub.TrackBatch(ingest_pb2.TrackBatchRequest(items=items), timeout=10)
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.01)
                    continue
                self.acknowledged |= {r.id for r in reply.results if r.accepted}
                await asyncio.sleep(0)

        await asyncio.gather(*(producer(k) for k in range(concurrency)))


@asynccontextmanager
async def ingest_for(servers: Servers, **overrides: object) -> AsyncIterator[ingest_pb2_grpc.IngestAsyncStub]:
    running: RunningServer = await create_ingest(ingest_settings(servers, **overrides))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield ingest_pb2_grpc.IngestStub(channel)
    finally:
        await running.stop()


@contextmanager
def sync_process(
    servers: Servers, name: str, tmp_path: Path, **env: str
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CONFIGTRAIL_")}
    environment.update(servers.env())
    environment.update(
        {
            "CONFIGTRAIL_SYNC_PORT": str(port),
            "CONFIGTRAIL_SYNC_WORKER_NAME": name,
            "CONFIGTRAIL_SYNC_BLOCK_MS": "50",
            "CONFIGTRAIL_SYNC_CLAIM_IDLE_MS": "1000",
            "CONFIGTRAIL_SYNC_PROMETHEUS_PORT": "0",
            "CONFIGTRAIL_TELEMETRY_FLUSH_SECONDS": "0",
        }
    )
    environment.update(env)
    log = (tmp_path / f"{name}.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "configtrail", "serve", "sync"],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


async def wait_serving(port: int, within: float = 20.0) -> None:
    check = grpc_health_check(f"127.0.0.1:{port}")
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"sync on {port} never became SERVING"
        await asyncio.sleep(0.05)


async def flush(port: int, timeout: float = 60.0) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        await sync_pb2_grpc.SyncStub(channel).Flush(
            sync_pb2.FlushRequest(timeout_seconds=timeout), timeout=timeout + 5
        )


async def assert_exactly(pool: asyncpg.Pool, load: Load) -> None:
    rows = await pool.fetch(
        "SELECT event_id::text AS id FROM interaction_events WHERE session_id = ANY($1)",
        load.sessions,
    )
    stored = {row["id"] for row in rows}
    missing = load.acknowledged - stored
    assert not missing, f"{len(missing)} acknowledged events missing"
    # nothing doubled: the rollups count each stored event exactly once
    counted = await pool.fetchval(
        "SELECT coalesce(sum(interaction_count), 0) FROM user_sessions WHERE session_id = ANY($1)",
        load.sessions,
    )
    assert counted == len(stored)


async def test_sigkill_of_a_sync_worker_mid_batch_loses_and_doubles_nothing(
    servers: Servers, clean: None, pg_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    async with ingest_for(servers) as stub:
        load = Load(stub)
        with sync_process(servers, "chaos-a", tmp_path) as (process, port):
            await wait_serving(port)
            producing = asyncio.ensure_future(load.run())
            while len(load.acknowledged) < 5000:
                await asyncio.sleep(0.01)
            process.kill()  # SIGKILL, mid-batch under load
            process.wait()
            await asyncio.sleep(0.5)
            load.stopped.set()
            await producing
        # the same worker name comes back: it re-reads its own pending entries first
        with sync_process(servers, "chaos-a", tmp_path) as (_, port):
            await wait_serving(port)
            await flush(port)
    assert len(load.acknowledged) >= 5000
    await assert_exactly(pg_pool, load)


async def test_postgres_stopped_for_five_seconds_under_load(
    servers: Servers, clean: None, tmp_path: Path
) -> None:
    postgres = EmbeddedPostgres(tmp_path / "pg" / "data")
    dsn = postgres.start()
    await db.migrate(dsn)
    own = Servers(dsn, servers.redis_url, postgres, None)
    sync: RunningServer = await create_sync(sync_settings(own, sync_retry_max_seconds=0.5))
    states: list[str] = []
    try:
        async with ingest_for(own) as stub, grpc.aio.insecure_channel(f"127.0.0.1:{sync.port}") as channel:
            status_stub = sync_pb2_grpc.SyncStub(channel)
            load = Load(stub)
            producing = asyncio.ensure_future(load.run(concurrency=2))
            while len(load.acknowledged) < 2000:
                await asyncio.sleep(0.01)
            postgres.stop()
            outage_end = time.monotonic() + 5
            while time.monotonic() < outage_end:
                states += [w.state for w in (await status_stub.Status(sync_pb2.StatusRequest())).workers]
                await asyncio.sleep(0.25)
            postgres.start()
            await asyncio.sleep(1.0)
            load.stopped.set()
            await producing
            await status_stub.Flush(sync_pb2.FlushRequest(timeout_seconds=60), timeout=65)
            final = await status_stub.Status(sync_pb2.StatusRequest())
        assert any(state.startswith("postgres unavailable") for state in states), states
        assert final.workers[0].state == "ok"
        pool = await db.create_pool(dsn, size=1)
        try:
            await assert_exactly(pool, load)
        finally:
            await pool.close()
    finally:
        await sync.stop()
        postgres.stop()


async def test_one_poison_entry_among_ten_thousand(
    servers: Servers, clean: None, pg_pool: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    stream = constants.event_stream(0)
    good: list[str] = []
    pipe = redis_client.pipeline(transaction=False)
    for n in range(10_000):
        event = interaction(f"poison-{n % 20}")
        event.client_timestamp.GetCurrentTime()
        event.server_timestamp.GetCurrentTime()
        good.append(event.event_id)
        pipe.xadd(
            stream, {constants.STREAM_FIELD: streams.encode(events_pb2.StreamRecord(interaction=event))}
        )
        if n == 4321:
            pipe.xadd(stream, {constants.STREAM_FIELD: b"\xff\x00 not a record"})
    await pipe.execute()

    sync: RunningServer = await create_sync(sync_settings(servers))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{sync.port}") as channel:
            stub = sync_pb2_grpc.SyncStub(channel)
            await stub.Flush(sync_pb2.FlushRequest(timeout_seconds=60))
            letters = await stub.ListDeadLetters(sync_pb2.ListDeadLettersRequest())
            status = await stub.Status(sync_pb2.StatusRequest())
    finally:
        await sync.stop()
    assert await pg_pool.fetchval("SELECT count(*) FROM interaction_events") == 10_000
    assert {
        str(r["event_id"]) for r in await pg_pool.fetch("SELECT event_id FROM interaction_events")
    } == set(good)
    assert len(letters.dead_letters) == 1
    assert letters.dead_letters[0].payload == b"\xff\x00 not a record"
    assert "undecodable" in letters.dead_letters[0].error
    assert status.dead_letters == 1
    assert status.streams[0].pending == 0


async def test_constraint_violation_is_retried_then_dead_lettered_and_can_be_replayed(
    servers: Servers, clean: None, pg_pool: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    stream = constants.event_stream(0)
    bad = events_pb2.ConfigurationSnapshot(
        snapshot_id=str(uuid.uuid4()),
        session_id="violator",
        completion_percentage=250.0,
        trigger=events_pb2.SNAPSHOT_TRIGGER_MANUAL,
        total_price=events_pb2.Money(amount_minor=1, currency="EUR"),
    )
    bad.configuration.update({"nest": "x"})
    good = [interaction("neighbour") for _ in range(30)]
    pipe = redis_client.pipeline(transaction=False)
    for n, event in enumerate(good):
        pipe.xadd(
            stream, {constants.STREAM_FIELD: streams.encode(events_pb2.StreamRecord(interaction=event))}
        )
        if n == 10:
            pipe.xadd(stream, {constants.STREAM_FIELD: streams.encode(events_pb2.StreamRecord(snapshot=bad))})
    await pipe.execute()

    sync: RunningServer = await create_sync(sync_settings(servers, sync_max_deliveries=3))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{sync.port}") as channel:
            stub = sync_pb2_grpc.SyncStub(channel)
            await stub.Flush(sync_pb2.FlushRequest(timeout_seconds=30))
            letters = (await stub.ListDeadLetters(sync_pb2.ListDeadLettersRequest())).dead_letters
            assert len(letters) == 1
            assert letters[0].attempts == 3
            assert letters[0].session_id == "violator"
            assert "CheckViolation" in letters[0].error
            assert await pg_pool.fetchval("SELECT count(*) FROM interaction_events") == 30

            replayed = await stub.ReplayDeadLetters(sync_pb2.ReplayDeadLettersRequest(ids=[letters[0].id]))
            assert replayed.replayed == 1
            await stub.Flush(sync_pb2.FlushRequest(timeout_seconds=30))
            # still poison: it comes back as a new dead letter, the replayed one is marked
            again = (await stub.ListDeadLetters(sync_pb2.ListDeadLettersRequest())).dead_letters
            assert len(again) == 1
            assert again[0].id != letters[0].id
            assert await pg_pool.fetchval(
                "SELECT replayed_at IS NOT NULL FROM dead_letters WHERE dead_letter_id = $1", letters[0].id
            )
    finally:
        await sync.stop()


async def test_three_workers_one_killed_survivors_claim_its_pending_entries(
    servers: Servers, clean: None, pg_pool: asyncpg.Pool, redis_client: redis.Redis, tmp_path: Path
) -> None:
    async with ingest_for(servers) as stub:
        load = Load(stub)
        with (
            sync_process(servers, "trio-1", tmp_path) as (victim, _),
            sync_process(servers, "trio-2", tmp_path) as (_, port2),
            sync_process(servers, "trio-3", tmp_path) as (_, port3),
        ):
            for port in (port2, port3):
                await wait_serving(port)
            producing = asyncio.ensure_future(load.run(concurrency=4))
            while len(load.acknowledged) < 6000:
                await asyncio.sleep(0.01)
            victim.kill()
            victim.wait()
            load.stopped.set()
            await producing
            await flush(port2)
            pending = await redis_client.xpending_range(
                constants.event_stream(0),
                constants.SYNC_GROUP,
                min="-",
                max="+",
                count=100,
                consumername="trio-1",
            )
            assert pending == [], "the dead worker's entries were not claimed"
    await assert_exactly(pg_pool, load)


async def test_four_shards_three_workers(
    servers: Servers, clean: None, pg_pool: asyncpg.Pool, redis_client: redis.Redis, tmp_path: Path
) -> None:
    shards = {"CONFIGTRAIL_STREAM_SHARDS": "4"}
    async with ingest_for(servers, stream_shards=4) as stub:
        load = Load(stub, sessions=40)
        with (
            sync_process(servers, "shard-1", tmp_path, **shards) as (_, port1),
            sync_process(servers, "shard-2", tmp_path, **shards) as (_, port2),
            sync_process(servers, "shard-3", tmp_path, **shards) as (_, port3),
        ):
            for port in (port1, port2, port3):
                await wait_serving(port)
            await load.run(concurrency=3, total=6000)
            await flush(port1)
            lengths = [await redis_client.xlen(stream) for stream in constants.event_streams(4)]
    assert len(load.acknowledged) == 6000
    await assert_exactly(pg_pool, load)
    assert all(length < 6000 for length in lengths)
    # a session's events stay on one shard, in order
    for session in load.sessions[:5]:
        assert streams.shard_for(session, 4) == streams.shard_for(session, 4)
