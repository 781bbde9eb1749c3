"""Ingest RPCs beyond single events: streams of batches, reading a session back, live state."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
import redis.asyncio as redis
from google.protobuf import struct_pb2

from configtrail import constants, live
from configtrail.common.v1 import events_pb2
from configtrail.errors import field_violations_from
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc


def event_at(session_id: str, when: datetime, n: int) -> events_pb2.InteractionEvent:
    event = events_pb2.InteractionEvent(
        event_id=str(uuid.uuid4()),
        session_id=session_id,
        event_type=events_pb2.EVENT_TYPE_SELECTION,
        category="nest",
        element_id=f"option-{n}",
        selection_value=f"value-{n}",
        sequence=n,
    )
    event.client_timestamp.FromDatetime(when)
    return event


def snapshot(session_id: str, price: int, completion: float) -> events_pb2.ConfigurationSnapshot:
    configuration = struct_pb2.Struct()
    configuration.update({"nest": "nest_80", "gebaeudehuelle": "holz"})
    return events_pb2.ConfigurationSnapshot(
        session_id=session_id,
        configuration=configuration,
        total_price=events_pb2.Money(amount_minor=price, currency="EUR"),
        completion_percentage=completion,
        trigger=events_pb2.SNAPSHOT_TRIGGER_AUTO_SAVE,
    )


async def test_stream_events_acknowledges_each_message_with_exact_results(
    ingest: ingest_pb2_grpc.IngestAsyncStub, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    now = datetime.now(UTC)
    session_id = f"s-{uuid.uuid4().hex}"
    messages = []
    good_ids: set[str] = set()
    for m in range(20):
        items = [ingest_pb2.BatchItem(interaction=event_at(session_id, now, m * 10 + i)) for i in range(10)]
        good_ids |= {item.interaction.event_id for item in items}
        if m == 7:  # one bad item in one message: only it is rejected
            items.append(ingest_pb2.BatchItem(interaction=events_pb2.InteractionEvent(session_id=session_id)))
        messages.append(ingest_pb2.StreamEventsRequest(message_id=1000 + m, items=items))

    async def produce() -> AsyncIterator[ingest_pb2.StreamEventsRequest]:
        for message in messages:
            yield message

    acks = [ack async for ack in ingest.StreamEvents(produce())]
    assert [ack.message_id for ack in acks] == [1000 + m for m in range(20)]
    accepted = {r.id for ack in acks for r in ack.results if r.accepted}
    rejected = [(ack.message_id, r) for ack in acks for r in ack.results if not r.accepted]
    assert accepted == good_ids
    assert len(rejected) == 1
    assert rejected[0][0] == 1007
    assert rejected[0][1].index == 10
    assert {e.field for e in rejected[0][1].errors} == {"interaction.event_type"}

    await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10))
    stored = {
        str(r["event_id"])
        for r in await pg_pool.fetch(
            "SELECT event_id FROM interaction_events WHERE session_id = $1", session_id
        )
    }
    assert stored == good_ids


async def test_session_interactions_read_your_writes_in_time_order_with_paging(
    ingest: ingest_pb2_grpc.IngestAsyncStub,
) -> None:
    # no Sync runs here: everything is only in the stream, and must be visible anyway
    session_id = f"s-{uuid.uuid4().hex}"
    base = datetime.now(UTC) - timedelta(minutes=10)
    order = [4, 0, 3, 1, 2, 6, 5]
    for n in order:
        await ingest.TrackInteraction(
            ingest_pb2.TrackInteractionRequest(event=event_at(session_id, base + timedelta(seconds=n), n))
        )
    await ingest.TrackInteraction(
        ingest_pb2.TrackInteractionRequest(event=event_at("someone-else", base, 99))
    )
    seen: list[int] = []
    token = ""
    pages = 0
    while True:
        page = await ingest.GetSessionInteractions(
            ingest_pb2.GetSessionInteractionsRequest(session_id=session_id, page_size=3, page_token=token)
        )
        pages += 1
        assert len(page.interactions) <= 3
        seen += [event.sequence for event in page.interactions]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(order)
    assert pages == 3


async def test_session_interactions_merge_postgres_and_stream_without_duplicates(
    ingest: ingest_pb2_grpc.IngestAsyncStub, sync: sync_pb2_grpc.SyncAsyncStub
) -> None:
    session_id = f"s-{uuid.uuid4().hex}"
    base = datetime.now(UTC) - timedelta(minutes=5)
    for n in range(5):
        await ingest.TrackInteraction(
            ingest_pb2.TrackInteractionRequest(event=event_at(session_id, base + timedelta(seconds=n), n))
        )
    await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10))
    page = await ingest.GetSessionInteractions(
        ingest_pb2.GetSessionInteractionsRequest(session_id=session_id, page_size=100)
    )
    assert [e.sequence for e in page.interactions] == [0, 1, 2, 3, 4]
    assert page.next_page_token == ""
    assert all(e.category == "nest" and e.server_timestamp.seconds > 0 for e in page.interactions)


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"session_id": ""}, "session_id"),
        ({"session_id": "s 1"}, "session_id"),
        ({"session_id": "s1", "page_size": 5000}, "page_size"),
        ({"session_id": "s1", "page_token": "garbage!"}, "page_token"),
    ],
)
async def test_session_interactions_bad_requests_name_the_field(
    ingest: ingest_pb2_grpc.IngestAsyncStub, request_fields: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ingest.GetSessionInteractions(ingest_pb2.GetSessionInteractionsRequest(**request_fields))  # type: ignore[arg-type]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations_from(caught.value)] == [field]


async def test_live_state_follows_each_session_without_postgres(
    ingest: ingest_pb2_grpc.IngestAsyncStub, redis_client: redis.Redis
) -> None:
    session_id = f"s-{uuid.uuid4().hex}"
    await ingest.StartSession(
        ingest_pb2.StartSessionRequest(
            session=events_pb2.UserSession(session_id=session_id, device_type=events_pb2.DEVICE_TYPE_TABLET)
        )
    )
    now = datetime.now(UTC)
    for n in range(3):
        await ingest.TrackInteraction(ingest_pb2.TrackInteractionRequest(event=event_at(session_id, now, n)))
    await ingest.SaveSnapshot(ingest_pb2.SaveSnapshotRequest(snapshot=snapshot(session_id, 18_990_000, 62.5)))

    state = live.decode_state(await redis_client.hgetall(constants.session_state_key(session_id)))
    assert state["interactions"] == 3
    assert state["snapshots"] == 1
    assert state["total_price_minor"] == 18_990_000
    assert state["currency"] == "EUR"
    assert state["completion_percentage"] == 62.5
    assert state["configuration"] == {"nest": "nest_80", "gebaeudehuelle": "holz"}
    assert state["device_type"] == "tablet"
    assert state["last_element_id"] == "option-2"
    ttl = await redis_client.ttl(constants.session_state_key(session_id))
    assert 0 < ttl <= 1800
    assert await redis_client.zscore(constants.ACTIVE_SESSIONS, session_id) is not None

    await ingest.EndSession(
        ingest_pb2.EndSessionRequest(session_id=session_id, reason=events_pb2.END_REASON_ORDER)
    )
    assert await redis_client.zscore(constants.ACTIVE_SESSIONS, session_id) is None
