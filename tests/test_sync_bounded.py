"""Under steady load the stream stays bounded: Sync trims below what every group has acknowledged."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as redis

from configtrail import constants, streams
from configtrail.common.v1 import events_pb2
from tests.conftest import Servers
from tests.test_sync_chaos import flush, sync_process, wait_serving

pytestmark = pytest.mark.slow

TOTAL = 1_000_000
CHUNK = 2_000
#: the stream may hold what is appended but not yet committed; far below the million that went through
BOUND = 100_000


def encoded_events(session_id: str, count: int) -> list[bytes]:
    now = events_pb2.InteractionEvent()
    now.client_timestamp.GetCurrentTime()
    payloads = []
    for n in range(count):
        event = events_pb2.InteractionEvent(
            event_id=str(uuid.uuid4()),
            session_id=session_id,
            event_type=events_pb2.EVENT_TYPE_SCROLL,
            category="ausstattung",
            sequence=n + 1,
            client_timestamp=now.client_timestamp,
            server_timestamp=now.client_timestamp,
        )
        payloads.append(streams.encode(events_pb2.StreamRecord(interaction=event)))
    return payloads


@pytest.mark.timeout(400)
async def test_one_million_events_leave_the_stream_small(
    servers: Servers, clean: None, pg_pool: asyncpg.Pool, redis_client: redis.Redis, tmp_path: Path
) -> None:
    stream = constants.event_stream(0)
    lengths: list[int] = []
    with sync_process(servers, "bounded", tmp_path, CONFIGTRAIL_SYNC_BATCH_SIZE="2000") as (_, port):
        await wait_serving(port)
        started = time.monotonic()
        for offset in range(0, TOTAL, CHUNK):
            pipe = redis_client.pipeline(transaction=False)
            for payload in encoded_events(f"bounded-{offset // 50_000}", CHUNK):
                pipe.xadd(stream, {constants.STREAM_FIELD: payload})
            await pipe.execute()
            lengths.append(await redis_client.xlen(stream))
            # steady load: about as fast as Sync commits, never a burst of the whole million
            while lengths[-1] > BOUND // 2:
                await asyncio.sleep(0.05)
                lengths.append(await redis_client.xlen(stream))
        await flush(port, timeout=300)
        await asyncio.sleep(1.5)  # one trim cycle after the last acknowledgement
        final = await redis_client.xlen(stream)
        elapsed = time.monotonic() - started
    assert await pg_pool.fetchval("SELECT count(*) FROM interaction_events") == TOTAL
    assert max(lengths) < BOUND, f"stream reached {max(lengths)} entries"
    assert final < 2 * CHUNK, f"{final} entries left after everything was committed"
    print(f"1,000,000 events through Sync in {elapsed:.1f}s; longest stream {max(lengths)}, final {final}")
