"""Ingest under failure: backlog over its limit, Redis unreachable, Redis killed with SIGKILL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest

from configtrail.common.v1 import events_pb2
from configtrail.embedded import EmbeddedValkey, free_port
from configtrail.errors import retry_delay_from
from configtrail.grpcserver import RunningServer
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc
from services.ingest.server import create_server as create_ingest
from services.sync.server import create_server as create_sync
from tests.conftest import Servers, ingest_settings, sync_settings


def click(session_id: str) -> ingest_pb2.TrackInteractionRequest:
    return ingest_pb2.TrackInteractionRequest(
        event=events_pb2.InteractionEvent(
            event_id=str(uuid.uuid4()),
            session_id=session_id,
            event_type=events_pb2.EVENT_TYPE_CLICK,
            category="ausstattung",
        )
    )


@pytest.fixture
async def own_valkey(tmp_path: Path) -> AsyncIterator[EmbeddedValkey]:
    """A Valkey of this test's own, so it can be killed without disturbing the others."""
    valkey = EmbeddedValkey(tmp_path / "valkey")
    valkey.start()
    yield valkey
    valkey.stop()


async def test_backlog_over_limit_answers_resource_exhausted_with_retry_info(
    servers: Servers, clean: None
) -> None:
    running = await create_ingest(ingest_settings(servers, max_backlog=5, backlog_retry_seconds=2.5))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = ingest_pb2_grpc.IngestStub(channel)
            for _ in range(5):  # no Sync runs: the stream only grows
                await stub.TrackInteraction(click("s-backlog"))
            deadline = time.monotonic() + 5
            while True:
                try:
                    await stub.TrackInteraction(click("s-backlog"))
                except grpc.aio.AioRpcError as error:
                    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                    assert retry_delay_from(error) == 2.5
                    assert "limit 5" in (error.details() or "")
                    break
                assert time.monotonic() < deadline, "backlog limit never enforced"
                await asyncio.sleep(0.05)
    finally:
        await running.stop()


async def test_redis_unreachable_answers_unavailable_within_100_ms(servers: Servers, clean: None) -> None:
    nothing_listens = f"redis://127.0.0.1:{free_port()}/0"
    running = await create_ingest(ingest_settings(servers, redis_url=nothing_listens))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = ingest_pb2_grpc.IngestStub(channel)
            for _ in range(3):
                started = time.perf_counter()
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await stub.TrackInteraction(click("s-down"), timeout=5)
                elapsed = time.perf_counter() - started
                assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
                assert retry_delay_from(caught.value) is not None
                assert elapsed < 0.1, f"took {elapsed * 1000:.0f} ms"
    finally:
        await running.stop()


async def test_acknowledged_events_survive_sigkill_of_redis(
    servers: Servers, clean: None, own_valkey: EmbeddedValkey, pg_pool: asyncpg.Pool
) -> None:
    url = own_valkey.url
    ingest: RunningServer = await create_ingest(ingest_settings(servers, redis_url=url))
    acknowledged: list[str] = []
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ingest.port}") as channel:
            stub = ingest_pb2_grpc.IngestStub(channel)

            async def send(n: int) -> None:
                request = click(f"s-kill-{n % 7}")
                try:
                    reply = await stub.TrackInteraction(request, timeout=5)
                except grpc.aio.AioRpcError as error:
                    assert error.code() == grpc.StatusCode.UNAVAILABLE
                    return
                acknowledged.append(reply.event_id)

            burst = [asyncio.ensure_future(send(n)) for n in range(600)]
            # kill the server while the burst is in flight, right after some events were acknowledged
            while len(acknowledged) < 200:
                await asyncio.sleep(0.001)
            own_valkey.kill()
            await asyncio.gather(*burst)
    finally:
        await ingest.stop()
    assert len(acknowledged) >= 200

    own_valkey.start()  # same port and data folder: it replays its append-only file
    sync = await create_sync(sync_settings(servers, redis_url=url))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{sync.port}") as channel:
            await sync_pb2_grpc.SyncStub(channel).Flush(sync_pb2.FlushRequest(timeout_seconds=20))
    finally:
        await sync.stop()
    stored = {
        str(row["event_id"])
        for row in await pg_pool.fetch(
            "SELECT event_id FROM interaction_events WHERE session_id LIKE 's-kill-%'"
        )
    }
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged events lost"
