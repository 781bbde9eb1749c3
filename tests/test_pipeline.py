"""One interaction the whole way: Ingest over gRPC → Redis stream → Sync → a row in Postgres."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest
import redis.asyncio as redis
from google.protobuf import struct_pb2

from configtrail import streams
from configtrail.common.v1 import events_pb2
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from configtrail.live import Argument
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc


def interaction(session_id: str, **fields: object) -> events_pb2.InteractionEvent:
    data = struct_pb2.Struct()
    data.update({"step": 2, "source": "test"})
    event = events_pb2.InteractionEvent(
        session_id=session_id,
        event_type=events_pb2.EVENT_TYPE_SELECTION,
        category="nest",
        element_id="nest-size-80",
        selection_value="nest_80",
        previous_value="nest_60",
        time_spent_ms=1500,
        device_type=events_pb2.DEVICE_TYPE_DESKTOP,
        viewport_width=1440,
        viewport_height=900,
        additional_data=data,
        sequence=1,
    )
    for name, value in fields.items():
        setattr(event, name, value)
    return event


async def wait_for_rows(pool: asyncpg.Pool, query: str, *args: object, expect: int, within: float) -> float:
    """Poll until ``query`` counts ``expect`` rows; return the seconds it took."""
    start = time.monotonic()
    while True:
        count = await pool.fetchval(query, *args)
        if count == expect:
            return time.monotonic() - start
        if time.monotonic() - start > within:
            raise AssertionError(f"{count} rows after {within}s, expected {expect}")
        await asyncio.sleep(0.02)


async def test_tracked_interaction_reaches_postgres_within_two_seconds(
    ingest: ingest_pb2_grpc.IngestAsyncStub, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    session_id = f"s-{uuid.uuid4().hex}"
    event_id = str(uuid.uuid4())
    reply = await ingest.TrackInteraction(
        ingest_pb2.TrackInteractionRequest(event=interaction(session_id, event_id=event_id))
    )
    assert reply.event_id == event_id
    assert reply.server_timestamp.seconds > 0

    await wait_for_rows(
        pg_pool,
        "SELECT count(*) FROM interaction_events WHERE event_id = $1",
        uuid.UUID(event_id),
        expect=1,
        within=2.0,
    )
    row = await pg_pool.fetchrow("SELECT * FROM interaction_events WHERE event_id = $1", uuid.UUID(event_id))
    assert row is not None
    assert row["session_id"] == session_id
    assert row["event_type"] == "selection"
    assert row["category"] == "nest"
    assert row["selection_value"] == "nest_80"
    assert row["previous_value"] == "nest_60"
    assert row["time_spent_ms"] == 1500
    assert row["device_type"] == "desktop"
    assert (row["viewport_width"], row["viewport_height"]) == (1440, 900)
    assert row["sequence"] == 1
    assert '"source": "test"' in row["additional_data"]
    assert row["received_at"] >= row["occurred_at"]
    session = await pg_pool.fetchrow("SELECT * FROM user_sessions WHERE session_id = $1", session_id)
    assert session is not None, "a session first seen through an event is created, not rejected"
    assert session["interaction_count"] == 1
    assert session["last_category"] == "nest"
    assert session["device_type"] == "desktop"


async def test_same_event_sent_twice_is_stored_once(
    ingest: ingest_pb2_grpc.IngestAsyncStub, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    session_id = f"s-{uuid.uuid4().hex}"
    event = interaction(session_id, event_id=str(uuid.uuid4()))
    first = await ingest.TrackInteraction(ingest_pb2.TrackInteractionRequest(event=event))
    second = await ingest.TrackInteraction(ingest_pb2.TrackInteractionRequest(event=event))
    assert first.event_id == second.event_id
    await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10))

    assert (
        await pg_pool.fetchval("SELECT count(*) FROM interaction_events WHERE session_id = $1", session_id)
        == 1
    )
    assert (
        await pg_pool.fetchval(
            "SELECT interaction_count FROM user_sessions WHERE session_id = $1", session_id
        )
        == 1
    ), "the rollup counts the event once"


async def test_flush_returns_after_everything_appended_is_committed(
    ingest: ingest_pb2_grpc.IngestAsyncStub, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    session_id = f"s-{uuid.uuid4().hex}"
    await asyncio.gather(
        *(
            ingest.TrackInteraction(
                ingest_pb2.TrackInteractionRequest(event=interaction(session_id, sequence=n + 1))
            )
            for n in range(50)
        )
    )
    await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10))
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM interaction_events WHERE session_id = $1", session_id)
        == 50
    )


async def test_status_reports_the_stream_and_the_worker(
    ingest: ingest_pb2_grpc.IngestAsyncStub, sync: sync_pb2_grpc.SyncAsyncStub
) -> None:
    await ingest.TrackInteraction(ingest_pb2.TrackInteractionRequest(event=interaction("s-status")))
    await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10))
    status = await sync.Status(sync_pb2.StatusRequest())
    assert [s.stream for s in status.streams] == ["configtrail:events:{s0}"]
    assert status.streams[0].pending == 0
    assert status.streams[0].consumers >= 1
    assert status.workers[0].entries_committed >= 1
    assert status.workers[0].state == "ok"
    assert status.dead_letters == 0


@pytest.mark.parametrize("shards", [4])
async def test_events_of_one_session_land_on_one_shard(shards: int) -> None:
    from configtrail.streams import shard_for

    assert {shard_for("session-abc", shards) for _ in range(10)} == {shard_for("session-abc", shards)}
    assert len({shard_for(f"session-{n}", shards) for n in range(200)}) == shards


async def test_rollups_follow_snapshots_orders_and_abandonment(
    ingest: ingest_pb2_grpc.IngestAsyncStub, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    from services.sync.worker import mark_abandoned

    quiet, buyer = f"s-quiet-{uuid.uuid4().hex[:8]}", f"s-buyer-{uuid.uuid4().hex[:8]}"
    for session_id in (quiet, buyer):
        await ingest.TrackInteraction(ingest_pb2.TrackInteractionRequest(event=interaction(session_id)))
    configuration = struct_pb2.Struct()
    configuration.update({"nest": "nest_120", "ausstattung": "premium"})
    for trigger, price, completion in (
        (events_pb2.SNAPSHOT_TRIGGER_AUTO_SAVE, 15_000_000, 50.0),
        (events_pb2.SNAPSHOT_TRIGGER_ORDER_ATTEMPT, 21_500_000, 100.0),
    ):
        await ingest.SaveSnapshot(
            ingest_pb2.SaveSnapshotRequest(
                snapshot=events_pb2.ConfigurationSnapshot(
                    session_id=buyer,
                    configuration=configuration,
                    total_price=events_pb2.Money(amount_minor=price, currency="EUR"),
                    completion_percentage=completion,
                    trigger=trigger,
                )
            )
        )
    await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10))
    row = await pg_pool.fetchrow("SELECT * FROM user_sessions WHERE session_id = $1", buyer)
    assert row is not None
    assert row["status"] == "ordered"
    assert row["snapshot_count"] == 2
    assert row["latest_total_price_minor"] == 21_500_000
    assert row["latest_currency"] == "EUR"
    assert row["completion_percentage"] == 100.0

    # an hour of silence: the session that did not order is abandoned, the order stays an order
    await pg_pool.execute(
        "UPDATE user_sessions SET last_seen_at = now() - interval '1 hour' WHERE session_id = ANY($1)",
        [quiet, buyer],
    )
    assert await mark_abandoned(pg_pool, idle_seconds=1800) == 1
    rows = await pg_pool.fetch(
        "SELECT session_id, status FROM user_sessions WHERE session_id = ANY($1)", [quiet, buyer]
    )
    statuses = {row["session_id"]: row["status"] for row in rows}
    assert statuses == {quiet: "abandoned", buyer: "ordered"}

    # the visitor comes back: active again
    await ingest.TrackInteraction(ingest_pb2.TrackInteractionRequest(event=interaction(quiet)))
    await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10))
    assert await pg_pool.fetchval("SELECT status FROM user_sessions WHERE session_id = $1", quiet) == "active"


@pytest.mark.parametrize(
    "args",
    [
        ["HSET", "configtrail:session:s-1", "device", "desktop", "price", 129_900],
        ["HINCRBY", "configtrail:session:s-1", "interactions", -3],
        ["ZADD", "configtrail:sessions:active", 1795881907.123456, "s-1", 0.1, "ß-ünïcode"],
        ["ZREMRANGEBYSCORE", "configtrail:sessions:active", "-inf", 1e-7],
        ["HSET", "k", "configuration", b'{"nest":"nest_80"}\r\n', "empty", ""],
        ["WAITAOF", 1, 0, 2000],
    ],
)
def test_hand_built_commands_are_the_bytes_the_redis_client_sends(args: list[Argument]) -> None:
    client_packed = b"".join(redis.Connection().pack_command(*args))
    assert streams.resp_command(args) == client_packed
