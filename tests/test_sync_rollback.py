"""A batch rolled back by a deadlock is written again whole: not split, not dead-lettered, not lost."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import asyncpg
import pytest
import redis.asyncio as redis

from configtrail import constants, streams
from configtrail.common.v1 import events_pb2
from services.sync import worker as worker_module
from services.sync import writer
from services.sync.worker import SyncWorker
from tests.conftest import Servers, sync_settings, wait_until


def _payload(n: int) -> bytes:
    event = events_pb2.InteractionEvent(
        event_id=str(uuid.uuid4()),
        session_id=f"rollback-{n % 7}",
        event_type=events_pb2.EVENT_TYPE_CLICK,
        category="nest",
        element_id=f"option-{n}",
    )
    event.client_timestamp.GetCurrentTime()
    event.server_timestamp.CopyFrom(event.client_timestamp)
    return streams.encode(events_pb2.StreamRecord(interaction=event))


async def test_a_deadlocked_batch_is_written_again_whole(
    servers: Servers,
    clean: None,
    pg_pool: asyncpg.Pool,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real_write = writer.write_batch
    calls: list[int] = []

    async def deadlock_once(conn: Any, batch: Any) -> Any:
        calls.append(len(batch))
        if len(calls) == 1:
            raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
        return await real_write(conn, batch)

    monkeypatch.setattr(worker_module, "write_batch", deadlock_once)
    caplog.set_level(logging.INFO, logger=worker_module.__name__)
    settings = sync_settings(servers, sync_writers=1)
    stream = constants.event_streams(settings.stream_shards)[0]
    pipe = redis_client.pipeline(transaction=False)
    for n in range(50):
        pipe.xadd(stream, {constants.STREAM_FIELD: _payload(n)})
    await pipe.execute()

    worker = SyncWorker(redis_client, pg_pool, settings, settings.sync_worker_name)
    await worker.ensure_groups()
    task = asyncio.create_task(worker.run())
    try:
        assert await wait_until(lambda: worker.stats.committed >= 50, within=20)
    finally:
        worker.stop()
        await task

    assert await pg_pool.fetchval("SELECT count(*) FROM interaction_events") == 50
    assert await pg_pool.fetchval("SELECT count(*) FROM dead_letters") == 0
    # the same whole batch twice, not halves of it
    assert calls[:2] == [50, 50]
    assert worker.stats.rolled_back == 1
    assert worker.stats.state == "ok"
    # a rollback is not an outage: no "postgres unavailable" backoff
    assert not [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert any("rolled back" in r.getMessage() for r in caplog.records)
    pending = await redis_client.xpending(stream, constants.SYNC_GROUP)
    assert pending["pending"] == 0
