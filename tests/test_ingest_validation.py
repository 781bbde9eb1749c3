"""Every Ingest validation rule through the real gRPC server: exact code, exact field path, what is stored.

Bad input answers ``INVALID_ARGUMENT`` with ``google.rpc.BadRequest`` field violations whose paths are
those of the proto message prefixed by where it sits in the request (``event.``, ``snapshot.``,
``session.``; batch items ``interaction.``, ``snapshot.``, ``metric.``). Accepted input is checked
the whole way: after ``Sync.Flush`` exactly the accepted records are rows in Postgres.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
import grpc
import orjson
import pytest
from google.protobuf import struct_pb2, timestamp_pb2

from configtrail.common.v1 import events_pb2
from configtrail.errors import field_violations_from
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc

if TYPE_CHECKING:  # the async stub types exist only in the generated .pyi
    Ingest = ingest_pb2_grpc.IngestAsyncStub
    Sync = sync_pb2_grpc.SyncAsyncStub
KIB = 1024
T = TypeVar("T")

# --- builders -------------------------------------------------------------------------------------------


def new_session() -> str:
    return f"s-{uuid.uuid4().hex}"


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


def timestamp(when: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(when)
    return ts


def good_event(session_id: str, /, **fields: Any) -> events_pb2.InteractionEvent:
    event = events_pb2.InteractionEvent(
        event_id=str(uuid.uuid4()),
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
        additional_data=struct({"step": 2}),
        sequence=1,
    )
    for name, value in fields.items():
        if isinstance(value, struct_pb2.Struct | timestamp_pb2.Timestamp):
            getattr(event, name).CopyFrom(value)
        else:
            setattr(event, name, value)
    return event


def good_snapshot(session_id: str, /, **fields: Any) -> events_pb2.ConfigurationSnapshot:
    snapshot = events_pb2.ConfigurationSnapshot(
        snapshot_id=str(uuid.uuid4()),
        session_id=session_id,
        configuration=struct({"nest": "nest_80", "fassade": "holz"}),
        total_price=events_pb2.Money(amount_minor=12_345_00, currency="EUR"),
        completion_percentage=62.5,
        trigger=events_pb2.SNAPSHOT_TRIGGER_AUTO_SAVE,
    )
    for name, value in fields.items():
        if isinstance(value, struct_pb2.Struct | timestamp_pb2.Timestamp | events_pb2.Money):
            getattr(snapshot, name).CopyFrom(value)
        else:
            setattr(snapshot, name, value)
    return snapshot


def good_metric(session_id: str, /, **fields: Any) -> events_pb2.PerformanceMetric:
    metric = events_pb2.PerformanceMetric(
        metric_id=str(uuid.uuid4()),
        metric_name="api_response_time",
        value_ms=12.5,
        endpoint="/api/price",
        session_id=session_id,
    )
    for name, value in fields.items():
        setattr(metric, name, value)
    return metric


def track(event: events_pb2.InteractionEvent) -> ingest_pb2.TrackInteractionRequest:
    return ingest_pb2.TrackInteractionRequest(event=event)


def save(snapshot: events_pb2.ConfigurationSnapshot) -> ingest_pb2.SaveSnapshotRequest:
    return ingest_pb2.SaveSnapshotRequest(snapshot=snapshot)


# --- assertions -----------------------------------------------------------------------------------------


async def violated_fields(call: Awaitable[object]) -> list[str]:
    """The field paths of a call that must fail with INVALID_ARGUMENT and BadRequest violations."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    violations = field_violations_from(error)
    assert violations, f"INVALID_ARGUMENT without BadRequest field violations: {error.details()}"
    assert all(v.field and v.reason for v in violations), violations
    return [v.field for v in violations]


async def settle(call: Awaitable[T]) -> T | grpc.aio.AioRpcError:
    """The reply, or the error of the failed call, for rules that allow either outcome."""
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        return error


async def flush(sync: Sync) -> None:
    """Sync.Flush, retried when it trips over its own race (exposed by the last test of this module)."""
    for _ in range(5):
        outcome = await settle(sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10)))
        if not isinstance(outcome, grpc.aio.AioRpcError):
            return
        if outcome.code() != grpc.StatusCode.UNKNOWN or "invalid literal for int()" not in str(
            outcome.details()
        ):
            raise outcome
    raise AssertionError("Sync.Flush failed five times in a row")


async def ids_in(pool: asyncpg.Pool, table: str, column: str) -> set[str]:
    return {str(row[column]) for row in await pool.fetch(f"SELECT {column} FROM {table}")}


async def dead_letters(pool: asyncpg.Pool) -> list[str]:
    return [str(row["error"]) for row in await pool.fetch("SELECT error FROM dead_letters")]


# --- interactions: one rule at a time --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("event_type", events_pb2.EVENT_TYPE_UNSPECIFIED, "event.event_type"),
        ("event_type", 99, "event.event_type"),
        ("event_type", -1, "event.event_type"),
        ("session_id", "", "event.session_id"),
        ("session_id", "has space", "event.session_id"),
        ("session_id", "slash/ed", "event.session_id"),
        ("session_id", "ümlaut", "event.session_id"),
        ("session_id", "nul\x00", "event.session_id"),
        ("session_id", "s" * 129, "event.session_id"),
        ("event_id", "not-a-uuid", "event.event_id"),
        ("event_id", "12345678-1234-5678-1234-56781234567", "event.event_id"),
        ("event_id", "e" * 129, "event.event_id"),
        ("time_spent_ms", -1, "event.time_spent_ms"),
        ("time_spent_ms", -(2**63), "event.time_spent_ms"),
        ("time_spent_ms", 86_400_001, "event.time_spent_ms"),
        ("viewport_width", -1, "event.viewport_width"),
        ("viewport_width", 16_385, "event.viewport_width"),
        ("viewport_width", 2**31 - 1, "event.viewport_width"),
        ("viewport_height", -1, "event.viewport_height"),
        ("viewport_height", 16_385, "event.viewport_height"),
        ("selection_value", "x" * (KIB + 1), "event.selection_value"),
        ("selection_value", "€" * 342, "event.selection_value"),  # 1026 bytes of UTF-8
        ("selection_value", "a\x00b", "event.selection_value"),
        ("previous_value", "x" * (KIB + 1), "event.previous_value"),
        ("category", "x" * (KIB + 1), "event.category"),
        ("element_id", "x" * 129, "event.element_id"),
        ("device_type", 99, "event.device_type"),
        ("sequence", -1, "event.sequence"),
    ],
)
async def test_interaction_rule_names_the_field(ingest: Ingest, field: str, value: object, path: str) -> None:
    fields = await violated_fields(
        ingest.TrackInteraction(track(good_event(new_session(), **{field: value})))
    )
    assert fields == [path]


@pytest.mark.parametrize(
    ("field", "value", "stored_column", "stored"),
    [
        ("session_id", "s" * 128, "session_id", "s" * 128),
        ("session_id", "Aa0._:-", "session_id", "Aa0._:-"),
        ("time_spent_ms", 0, "time_spent_ms", 0),
        ("time_spent_ms", 86_400_000, "time_spent_ms", 86_400_000),
        ("viewport_width", 16_384, "viewport_width", 16_384),
        ("viewport_height", 0, "viewport_height", None),
        ("selection_value", "x" * KIB, "selection_value", "x" * KIB),
        ("selection_value", "€" * 341, "selection_value", "€" * 341),  # 1023 bytes
        ("element_id", "x" * 128, "element_id", "x" * 128),
        ("device_type", events_pb2.DEVICE_TYPE_UNSPECIFIED, "device_type", "unspecified"),
    ],
)
async def test_interaction_at_the_limit_is_accepted_and_stored(
    ingest: Ingest,
    sync: Sync,
    pg_pool: asyncpg.Pool,
    field: str,
    value: object,
    stored_column: str,
    stored: object,
) -> None:
    event = good_event(new_session(), **{field: value})
    reply = await ingest.TrackInteraction(track(event))
    assert reply.event_id == event.event_id
    await flush(sync)
    row = await pg_pool.fetchrow(
        "SELECT * FROM interaction_events WHERE event_id = $1", uuid.UUID(reply.event_id)
    )
    assert row is not None
    assert row[stored_column] == stored


@pytest.mark.parametrize(
    ("event_type", "custom", "accepted"),
    [
        (events_pb2.EVENT_TYPE_CUSTOM, "", False),
        (events_pb2.EVENT_TYPE_CUSTOM, "Has Upper", False),
        (events_pb2.EVENT_TYPE_CUSTOM, "space in it", False),
        (events_pb2.EVENT_TYPE_CUSTOM, "x" * 65, False),
        (events_pb2.EVENT_TYPE_CLICK, "ar.rotate", False),
        (events_pb2.EVENT_TYPE_CUSTOM, "ar.rotate", True),
        (events_pb2.EVENT_TYPE_CUSTOM, "x" * 64, True),
    ],
)
async def test_custom_event_type_rules(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool, event_type: int, custom: str, accepted: bool
) -> None:
    event = good_event(new_session(), event_type=event_type, custom_event_type=custom)
    if not accepted:
        assert await violated_fields(ingest.TrackInteraction(track(event))) == ["event.custom_event_type"]
        return
    reply = await ingest.TrackInteraction(track(event))
    await flush(sync)
    row = await pg_pool.fetchrow(
        "SELECT event_type, custom_event_type FROM interaction_events WHERE event_id = $1",
        uuid.UUID(reply.event_id),
    )
    assert row is not None
    assert (row["event_type"], row["custom_event_type"]) == ("custom", custom)


# --- free-form data: JSON only, size limits ---------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"k": math.nan},
        {"k": math.inf},
        {"k": -math.inf},
        {"list": [1, 2, math.nan]},
        {"deep": {"er": {"est": math.inf}}},
    ],
    ids=["nan", "inf", "-inf", "nan-in-list", "inf-nested"],
)
async def test_additional_data_with_non_finite_numbers_is_rejected(
    ingest: Ingest, data: dict[str, Any]
) -> None:
    event = good_event(new_session(), additional_data=struct(data))
    assert await violated_fields(ingest.TrackInteraction(track(event))) == ["event.additional_data"]


def _json_size(data: dict[str, Any]) -> int:
    return len(orjson.dumps(data))


@pytest.mark.parametrize(("extra", "accepted"), [(0, True), (1, False)])
async def test_additional_data_limit_is_8_kib_of_json(ingest: Ingest, extra: int, accepted: bool) -> None:
    data = {"k": "x" * (8 * KIB - len('{"k":""}') + extra)}
    assert _json_size(data) == 8 * KIB + extra
    event = good_event(new_session(), additional_data=struct(data))
    if accepted:
        assert (await ingest.TrackInteraction(track(event))).event_id == event.event_id
    else:
        assert await violated_fields(ingest.TrackInteraction(track(event))) == ["event.additional_data"]


async def test_additional_data_limit_counts_utf8_bytes_like_value_strings(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool
) -> None:
    """8 KiB of JSON is 8 KiB of UTF-8, as for the 1 KiB value strings: non-ASCII text is not tripled."""
    data = {"k": "€" * ((8 * KIB - len('{"k":""}')) // 3)}  # 8192 bytes as UTF-8 JSON
    assert _json_size(data) <= 8 * KIB
    event = good_event(new_session(), additional_data=struct(data))
    reply = await ingest.TrackInteraction(track(event))
    await flush(sync)
    stored = await pg_pool.fetchval(
        "SELECT additional_data FROM interaction_events WHERE event_id = $1", uuid.UUID(reply.event_id)
    )
    assert orjson.loads(stored) == data


async def test_snapshot_and_metric_additional_data_limits_name_their_field(ingest: Ingest) -> None:
    big = struct({"k": "x" * (8 * KIB)})
    snapshot = good_snapshot(new_session(), additional_data=big)
    assert await violated_fields(ingest.SaveSnapshot(save(snapshot))) == ["snapshot.additional_data"]
    metric = good_metric(new_session())
    metric.additional_data.CopyFrom(struct({"k": math.nan}))
    reply = await ingest.TrackBatch(ingest_pb2.TrackBatchRequest(items=[ingest_pb2.BatchItem(metric=metric)]))
    assert [e.field for e in reply.results[0].errors] == ["metric.additional_data"]


@pytest.mark.parametrize(
    ("field", "data"),
    [
        ("additional_data", {"note": "a\x00b"}),
        ("additional_data", {"a\x00b": 1}),
        ("configuration", {"n": "\x00"}),
    ],
    ids=["nul-in-value", "nul-in-key", "nul-in-configuration"],
)
async def test_free_form_data_accepted_is_data_sync_can_store(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool, field: str, data: dict[str, Any]
) -> None:
    """Whatever Ingest acknowledges reaches Postgres; what Postgres cannot store (jsonb rejects \\u0000)
    is rejected up front with the field named, never acknowledged and then dead-lettered."""
    if field == "configuration":
        call: Awaitable[object] = ingest.SaveSnapshot(
            save(good_snapshot(new_session(), configuration=struct(data)))
        )
        table, column, path = "configuration_snapshots", "snapshot_id", "snapshot.configuration"
    else:
        call = ingest.TrackInteraction(track(good_event(new_session(), additional_data=struct(data))))
        table, column, path = "interaction_events", "event_id", "event.additional_data"
    outcome = await settle(call)
    if isinstance(outcome, grpc.aio.AioRpcError):
        assert outcome.code() == grpc.StatusCode.INVALID_ARGUMENT, outcome.details()
        assert [v.field for v in field_violations_from(outcome)] == [path]
        return
    await flush(sync)
    record_id = getattr(outcome, column)
    assert await ids_in(pg_pool, table, column) == {record_id}, (
        f"{path} with a NUL was acknowledged as {record_id} but never stored; "
        f"dead letters: {await dead_letters(pg_pool)}"
    )


async def test_additional_data_nested_deeper_than_the_parser_allows_is_invalid_argument(
    ingest: Ingest,
) -> None:
    """A Struct nested ~35 levels deep is a client mistake (INVALID_ARGUMENT), not a fault (UNKNOWN)."""
    request = track(good_event(new_session()))
    level = request.event.additional_data
    for _ in range(40):
        level = level.fields["a"].struct_value
    level.fields["leaf"].number_value = 1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ingest.TrackInteraction(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (
        caught.value.code(),
        caught.value.details(),
    )


# --- snapshots ------------------------------------------------------------------------------------------


def _without_price(snapshot: events_pb2.ConfigurationSnapshot) -> None:
    snapshot.ClearField("total_price")


def _without_configuration(snapshot: events_pb2.ConfigurationSnapshot) -> None:
    snapshot.ClearField("configuration")


def _set(name: str, value: object) -> Callable[[events_pb2.ConfigurationSnapshot], None]:
    def apply(snapshot: events_pb2.ConfigurationSnapshot) -> None:
        target: Any = snapshot
        *parents, leaf = name.split(".")
        for parent in parents:
            target = getattr(target, parent)
        setattr(target, leaf, value)

    return apply


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (_set("trigger", events_pb2.SNAPSHOT_TRIGGER_UNSPECIFIED), "snapshot.trigger"),
        (_set("trigger", 99), "snapshot.trigger"),
        (_set("total_price.currency", "eur"), "snapshot.total_price.currency"),
        (_set("total_price.currency", "EURO"), "snapshot.total_price.currency"),
        (_set("total_price.currency", ""), "snapshot.total_price.currency"),
        (_set("total_price.currency", "E1R"), "snapshot.total_price.currency"),
        (_set("total_price.amount_minor", -1), "snapshot.total_price.amount_minor"),
        (_without_price, "snapshot.total_price"),
        (_without_configuration, "snapshot.configuration"),
        (_set("completion_percentage", -0.01), "snapshot.completion_percentage"),
        (_set("completion_percentage", 100.01), "snapshot.completion_percentage"),
        (_set("completion_percentage", math.nan), "snapshot.completion_percentage"),
        (_set("completion_percentage", math.inf), "snapshot.completion_percentage"),
        (_set("session_id", ""), "snapshot.session_id"),
        (_set("session_id", "x" * 129), "snapshot.session_id"),
        (_set("snapshot_id", "nope"), "snapshot.snapshot_id"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
async def test_snapshot_rule_names_the_field(
    ingest: Ingest, change: Callable[[events_pb2.ConfigurationSnapshot], None], path: str
) -> None:
    snapshot = good_snapshot(new_session())
    change(snapshot)
    assert await violated_fields(ingest.SaveSnapshot(save(snapshot))) == [path]


@pytest.mark.parametrize(("extra", "accepted"), [(0, True), (1, False)])
async def test_snapshot_configuration_limit_is_64_kib_of_json(
    ingest: Ingest, extra: int, accepted: bool
) -> None:
    data = {"k": "x" * (64 * KIB - len('{"k":""}') + extra)}
    assert _json_size(data) == 64 * KIB + extra
    snapshot = good_snapshot(new_session(), configuration=struct(data))
    if accepted:
        assert (await ingest.SaveSnapshot(save(snapshot))).snapshot_id == snapshot.snapshot_id
    else:
        assert await violated_fields(ingest.SaveSnapshot(save(snapshot))) == ["snapshot.configuration"]


@pytest.mark.parametrize("completion", [0.0, 100.0])
async def test_completion_at_its_bounds_is_accepted(ingest: Ingest, completion: float) -> None:
    snapshot = good_snapshot(new_session(), completion_percentage=completion)
    assert (await ingest.SaveSnapshot(save(snapshot))).snapshot_id == snapshot.snapshot_id


async def test_saved_snapshot_is_stored_with_exact_money(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool
) -> None:
    session_id = new_session()
    snapshot = good_snapshot(
        session_id,
        total_price=events_pb2.Money(amount_minor=9_007_199_254_740_993, currency="CHF"),  # 2**53 + 1
        completion_percentage=87.5,
        trigger=events_pb2.SNAPSHOT_TRIGGER_MANUAL,
        configuration=struct({"nest": "nest_100", "extras": ["pv", "sauna"]}),
    )
    reply = await ingest.SaveSnapshot(save(snapshot))
    assert reply.snapshot_id == snapshot.snapshot_id
    assert reply.server_timestamp.seconds > 0
    await flush(sync)
    row = await pg_pool.fetchrow(
        "SELECT * FROM configuration_snapshots WHERE snapshot_id = $1", uuid.UUID(reply.snapshot_id)
    )
    assert row is not None
    assert row["session_id"] == session_id
    assert row["total_price_minor"] == 9_007_199_254_740_993
    assert row["currency"] == "CHF"
    assert row["completion_percentage"] == 87.5
    assert row["trigger"] == "manual"
    assert orjson.loads(row["configuration"]) == {"nest": "nest_100", "extras": ["pv", "sauna"]}
    assert row["received_at"] == reply.server_timestamp.ToDatetime(tzinfo=UTC)
    session = await pg_pool.fetchrow("SELECT * FROM user_sessions WHERE session_id = $1", session_id)
    assert session is not None
    assert session["status"] == "active"
    assert session["latest_total_price_minor"] == 9_007_199_254_740_993
    assert session["latest_currency"] == "CHF"


async def test_order_attempt_snapshot_marks_the_session_ordered(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool
) -> None:
    session_id = new_session()
    await ingest.SaveSnapshot(save(good_snapshot(session_id)))
    await ingest.SaveSnapshot(
        save(good_snapshot(session_id, trigger=events_pb2.SNAPSHOT_TRIGGER_ORDER_ATTEMPT))
    )
    await flush(sync)
    status = await pg_pool.fetchval("SELECT status FROM user_sessions WHERE session_id = $1", session_id)
    assert status == "ordered"
    triggers = await pg_pool.fetch(
        "SELECT trigger FROM configuration_snapshots WHERE session_id = $1 ORDER BY trigger", session_id
    )
    assert [r["trigger"] for r in triggers] == ["auto_save", "order_attempt"]


# --- time -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["interaction", "snapshot"])
async def test_client_timestamp_more_than_a_day_ahead_is_rejected(ingest: Ingest, kind: str) -> None:
    ahead = timestamp(datetime.now(UTC) + timedelta(days=1, minutes=5))
    if kind == "interaction":
        call: Awaitable[object] = ingest.TrackInteraction(
            track(good_event(new_session(), client_timestamp=ahead))
        )
    else:
        call = ingest.SaveSnapshot(save(good_snapshot(new_session(), client_timestamp=ahead)))
    prefix = "event" if kind == "interaction" else "snapshot"
    assert await violated_fields(call) == [f"{prefix}.client_timestamp"]


@pytest.mark.parametrize(
    "ts",
    [
        timestamp_pb2.Timestamp(seconds=10**12),
        timestamp_pb2.Timestamp(seconds=-(10**12)),
        timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=-1),
        timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=1_000_000_000),
        timestamp_pb2.Timestamp(seconds=-62_135_596_800),  # datetime.min: stored as -infinity
        timestamp_pb2.Timestamp(seconds=253_402_300_799, nanos=999_999_000),  # datetime.max: infinity
    ],
    ids=["year-31690", "before-year-1", "negative-nanos", "nanos-overflow", "first-instant", "last-instant"],
)
async def test_unrepresentable_client_timestamp_is_rejected(
    ingest: Ingest, ts: timestamp_pb2.Timestamp
) -> None:
    event = good_event(new_session(), client_timestamp=ts)
    assert await violated_fields(ingest.TrackInteraction(track(event))) == ["event.client_timestamp"]


async def test_client_timestamp_minutes_ahead_is_accepted_and_stored_as_server_time(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool
) -> None:
    ahead = timestamp(datetime.now(UTC) + timedelta(minutes=5))
    event_reply = await ingest.TrackInteraction(track(good_event(new_session(), client_timestamp=ahead)))
    snapshot_reply = await ingest.SaveSnapshot(save(good_snapshot(new_session(), client_timestamp=ahead)))
    await flush(sync)
    for table, column, reply_id, server_time in [
        ("interaction_events", "event_id", event_reply.event_id, event_reply.server_timestamp),
        (
            "configuration_snapshots",
            "snapshot_id",
            snapshot_reply.snapshot_id,
            snapshot_reply.server_timestamp,
        ),
    ]:
        row = await pg_pool.fetchrow(
            f"SELECT occurred_at, received_at FROM {table} WHERE {column} = $1", uuid.UUID(reply_id)
        )
        assert row is not None
        assert row["received_at"] == server_time.ToDatetime(tzinfo=UTC)
        assert row["occurred_at"] == row["received_at"], (
            "a client clock ahead never dates an event in the future"
        )


async def test_client_timestamp_a_microsecond_after_the_first_instant_is_kept(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool
) -> None:
    first = timestamp_pb2.Timestamp(seconds=-62_135_596_800, nanos=1_000)
    reply = await ingest.TrackInteraction(track(good_event(new_session(), client_timestamp=first)))
    await flush(sync)
    occurred = await pg_pool.fetchval(
        "SELECT occurred_at FROM interaction_events WHERE event_id = $1", uuid.UUID(reply.event_id)
    )
    assert occurred == datetime.min.replace(microsecond=1, tzinfo=UTC)


async def test_client_timestamp_in_the_past_is_kept(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool
) -> None:
    when = datetime.now(UTC).replace(microsecond=123456) - timedelta(hours=3)
    reply = await ingest.TrackInteraction(track(good_event(new_session(), client_timestamp=timestamp(when))))
    await flush(sync)
    occurred = await pg_pool.fetchval(
        "SELECT occurred_at FROM interaction_events WHERE event_id = $1", uuid.UUID(reply.event_id)
    )
    assert occurred == when


@pytest.mark.parametrize(
    "skew",
    [timedelta(hours=1), -timedelta(hours=1), timedelta(days=3)],
    ids=["client-1h-ahead", "client-1h-behind", "client-3d-ahead"],
)
async def test_batch_sent_at_corrects_client_clock_skew(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool, skew: timedelta
) -> None:
    now = datetime.now(UTC)
    session_id = new_session()
    acted = timedelta(seconds=30)  # the visitor acted 30 s before the batch was sent
    event = good_event(session_id, client_timestamp=timestamp(now + skew - acted))
    snapshot = good_snapshot(session_id, client_timestamp=timestamp(now + skew - acted))
    reply = await ingest.TrackBatch(
        ingest_pb2.TrackBatchRequest(
            items=[ingest_pb2.BatchItem(interaction=event), ingest_pb2.BatchItem(snapshot=snapshot)],
            sent_at=timestamp(now + skew),
        )
    )
    assert [r.accepted for r in reply.results] == [True, True], reply
    await flush(sync)
    for table, column, record_id in [
        ("interaction_events", "event_id", event.event_id),
        ("configuration_snapshots", "snapshot_id", snapshot.snapshot_id),
    ]:
        row = await pg_pool.fetchrow(
            f"SELECT occurred_at, received_at FROM {table} WHERE {column} = $1", uuid.UUID(record_id)
        )
        assert row is not None
        assert abs(row["occurred_at"] - (now - acted)) < timedelta(seconds=1)
        # exactly: the skew measured against the server time the batch was stamped with
        measured = (now + skew) - row["received_at"]
        expected = (now + skew - acted) - measured
        assert abs(row["occurred_at"] - expected) <= timedelta(milliseconds=1)


@pytest.mark.parametrize("skew", [timedelta(seconds=1.5), -timedelta(seconds=1.5)], ids=["ahead", "behind"])
async def test_batch_skew_inside_the_dead_band_is_not_corrected(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool, skew: timedelta
) -> None:
    now = datetime.now(UTC)
    when = now - timedelta(seconds=30)
    event = good_event(new_session(), client_timestamp=timestamp(when))
    reply = await ingest.TrackBatch(
        ingest_pb2.TrackBatchRequest(
            items=[ingest_pb2.BatchItem(interaction=event)], sent_at=timestamp(now + skew)
        )
    )
    assert reply.results[0].accepted, reply
    await flush(sync)
    occurred = await pg_pool.fetchval(
        "SELECT occurred_at FROM interaction_events WHERE event_id = $1", uuid.UUID(event.event_id)
    )
    assert occurred == when


@pytest.mark.parametrize(
    "sent_at",
    [
        timestamp_pb2.Timestamp(seconds=10**12),
        timestamp_pb2.Timestamp(seconds=-(10**12)),
        timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=-1),
    ],
    ids=["year-31690", "before-year-1", "negative-nanos"],
)
async def test_batch_with_unrepresentable_sent_at_is_invalid_argument(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool, sent_at: timestamp_pb2.Timestamp
) -> None:
    event = good_event(new_session())
    request = ingest_pb2.TrackBatchRequest(items=[ingest_pb2.BatchItem(interaction=event)], sent_at=sent_at)
    outcome = await settle(ingest.TrackBatch(request))
    if isinstance(outcome, grpc.aio.AioRpcError):
        assert outcome.code() == grpc.StatusCode.INVALID_ARGUMENT, (outcome.code(), outcome.details())
        assert [v.field for v in field_violations_from(outcome)] == ["sent_at"]
        return
    # answering per item is as good, as long as nothing is stamped with a nonsense clock
    assert [e.field for e in outcome.results[0].errors] == ["sent_at"]
    await flush(sync)
    assert await ids_in(pg_pool, "interaction_events", "event_id") == set()


async def test_stream_with_unrepresentable_sent_at_is_not_a_server_error(
    ingest: Ingest,
) -> None:
    async def messages() -> AsyncIterator[ingest_pb2.StreamEventsRequest]:
        yield ingest_pb2.StreamEventsRequest(
            message_id=1,
            items=[ingest_pb2.BatchItem(interaction=good_event(new_session()))],
            sent_at=timestamp_pb2.Timestamp(seconds=10**12),
        )

    async def acknowledgements() -> list[ingest_pb2.StreamEventsResponse]:
        return [ack async for ack in ingest.StreamEvents(messages())]

    outcome = await settle(acknowledgements())
    if isinstance(outcome, grpc.aio.AioRpcError):
        assert outcome.code() == grpc.StatusCode.INVALID_ARGUMENT, (outcome.code(), outcome.details())
        return
    assert [ack.message_id for ack in outcome] == [1]
    assert [e.field for e in outcome[0].results[0].errors] == ["sent_at"]


# --- several problems at once ---------------------------------------------------------------------------


async def test_every_bad_field_is_reported_at_once(ingest: Ingest) -> None:
    event = good_event(
        "",
        event_id="nope",
        event_type=events_pb2.EVENT_TYPE_UNSPECIFIED,
        time_spent_ms=-5,
        viewport_width=-1,
        viewport_height=99_999,
        selection_value="a\x00",
        additional_data=struct({"k": math.nan}),
        client_timestamp=timestamp(datetime.now(UTC) + timedelta(days=2)),
    )
    fields = await violated_fields(ingest.TrackInteraction(track(event)))
    assert sorted(fields) == sorted(
        [
            "event.event_id",
            "event.session_id",
            "event.event_type",
            "event.time_spent_ms",
            "event.viewport_width",
            "event.viewport_height",
            "event.selection_value",
            "event.additional_data",
            "event.client_timestamp",
        ]
    )

    snapshot = good_snapshot("bad id", trigger=77, completion_percentage=101.0)
    snapshot.total_price.currency = "xx"
    snapshot.ClearField("configuration")
    fields = await violated_fields(ingest.SaveSnapshot(save(snapshot)))
    assert sorted(fields) == sorted(
        [
            "snapshot.session_id",
            "snapshot.trigger",
            "snapshot.completion_percentage",
            "snapshot.total_price.currency",
            "snapshot.configuration",
        ]
    )


# --- batches --------------------------------------------------------------------------------------------


async def test_batch_over_500_items_is_rejected_whole(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool
) -> None:
    session_id = new_session()
    items = [ingest_pb2.BatchItem(interaction=good_event(session_id)) for _ in range(501)]
    fields = await violated_fields(ingest.TrackBatch(ingest_pb2.TrackBatchRequest(items=items)))
    assert fields == ["items"]
    await flush(sync)
    assert await ids_in(pg_pool, "interaction_events", "event_id") == set()


async def test_batch_of_exactly_500_items_is_accepted(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool
) -> None:
    session_id = new_session()
    items = [ingest_pb2.BatchItem(interaction=good_event(session_id, sequence=n + 1)) for n in range(500)]
    reply = await ingest.TrackBatch(ingest_pb2.TrackBatchRequest(items=items))
    assert (reply.accepted, reply.rejected) == (500, 0)
    await flush(sync)
    assert await ids_in(pg_pool, "interaction_events", "event_id") == {i.interaction.event_id for i in items}


async def test_batch_rejects_each_bad_item_and_stores_exactly_the_good_ones(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool
) -> None:
    session_id = new_session()
    unnamed = good_event(session_id, event_id="")
    unnamed_snapshot = good_snapshot(session_id, snapshot_id="")
    items = [
        ingest_pb2.BatchItem(interaction=good_event(session_id)),  # 0 good
        ingest_pb2.BatchItem(interaction=good_event(session_id, time_spent_ms=-5)),  # 1 bad
        ingest_pb2.BatchItem(snapshot=good_snapshot(session_id)),  # 2 good
        ingest_pb2.BatchItem(snapshot=good_snapshot(session_id, trigger=0)),  # 3 bad
        ingest_pb2.BatchItem(metric=good_metric(session_id)),  # 4 good
        ingest_pb2.BatchItem(metric=good_metric(session_id, value_ms=-1.0)),  # 5 bad
        ingest_pb2.BatchItem(),  # 6 bad: empty
        ingest_pb2.BatchItem(interaction=unnamed),  # 7 good, id assigned
        ingest_pb2.BatchItem(interaction=good_event("not valid!")),  # 8 bad
        ingest_pb2.BatchItem(metric=good_metric("", metric_name="Bad Name")),  # 9 bad
        ingest_pb2.BatchItem(snapshot=unnamed_snapshot),  # 10 good, id assigned
        ingest_pb2.BatchItem(metric=good_metric("")),  # 11 good: a metric needs no session
    ]
    reply = await ingest.TrackBatch(ingest_pb2.TrackBatchRequest(items=items))

    assert [r.index for r in reply.results] == list(range(len(items)))
    expected_errors = {
        1: ["interaction.time_spent_ms"],
        3: ["snapshot.trigger"],
        5: ["metric.value_ms"],
        6: ["item"],
        8: ["interaction.session_id"],
        9: ["metric.metric_name"],
    }
    for result in reply.results:
        if result.index in expected_errors:
            assert not result.accepted
            assert not result.id
            assert [e.field for e in result.errors] == expected_errors[result.index]
            assert all(e.reason for e in result.errors)
        else:
            assert result.accepted, result
            assert not result.errors
            assert str(uuid.UUID(result.id)) == result.id
    assert (reply.accepted, reply.rejected) == (6, 6)
    ids = {r.index: r.id for r in reply.results if r.accepted}
    assert ids[0] == items[0].interaction.event_id
    assert ids[2] == items[2].snapshot.snapshot_id
    assert ids[4] == items[4].metric.metric_id
    assert uuid.UUID(ids[7]).version == 4
    assert uuid.UUID(ids[10]).version == 4

    await flush(sync)
    assert await ids_in(pg_pool, "interaction_events", "event_id") == {ids[0], ids[7]}
    assert await ids_in(pg_pool, "configuration_snapshots", "snapshot_id") == {ids[2], ids[10]}
    assert await ids_in(pg_pool, "performance_metrics", "metric_id") == {ids[4], ids[11]}
    assert await dead_letters(pg_pool) == []


# --- ids ------------------------------------------------------------------------------------------------


async def test_event_without_id_gets_a_uuid(ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool) -> None:
    first = await ingest.TrackInteraction(track(good_event(new_session(), event_id="")))
    second = await ingest.TrackInteraction(track(good_event(new_session(), event_id="")))
    assert uuid.UUID(first.event_id).version == 4
    assert first.event_id != second.event_id
    await flush(sync)
    assert await ids_in(pg_pool, "interaction_events", "event_id") == {first.event_id, second.event_id}


async def test_retried_event_id_is_stored_once(ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool) -> None:
    session_id = new_session()
    event_id = uuid.uuid4()
    event = good_event(session_id, event_id=str(event_id))
    replies = [
        await ingest.TrackInteraction(track(event)),
        await ingest.TrackInteraction(track(good_event(session_id, event_id=str(event_id).upper()))),
    ]
    batch = await ingest.TrackBatch(
        ingest_pb2.TrackBatchRequest(items=[ingest_pb2.BatchItem(interaction=event)] * 3)
    )
    assert {r.event_id for r in replies} | {r.id for r in batch.results} == {str(event_id)}
    snapshot = good_snapshot(session_id)
    await ingest.SaveSnapshot(save(snapshot))
    await ingest.SaveSnapshot(save(snapshot))
    await flush(sync)
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM interaction_events WHERE event_id = $1", event_id) == 1
    )
    assert (
        await pg_pool.fetchval(
            "SELECT count(*) FROM configuration_snapshots WHERE snapshot_id = $1",
            uuid.UUID(snapshot.snapshot_id),
        )
        == 1
    )
    counts = await pg_pool.fetchrow(
        "SELECT interaction_count, snapshot_count FROM user_sessions WHERE session_id = $1", session_id
    )
    assert counts is not None
    assert (counts["interaction_count"], counts["snapshot_count"]) == (1, 1)


# --- sessions -------------------------------------------------------------------------------------------


def a_session(session_id: str = "") -> events_pb2.UserSession:
    return events_pb2.UserSession(
        session_id=session_id,
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
        device_type=events_pb2.DEVICE_TYPE_MOBILE,
        viewport_width=390,
        viewport_height=844,
        referrer="https://www.google.com/",
        landing_page="/konfigurator?modell=nest",
        locale="de-AT",
    )


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("session_id", "bad id!", "session.session_id"),
        ("session_id", "s" * 129, "session.session_id"),
        ("device_type", 99, "session.device_type"),
        ("viewport_width", 16_385, "session.viewport_width"),
        ("viewport_height", -1, "session.viewport_height"),
        ("user_agent", "x" * (KIB + 1), "session.user_agent"),
        ("user_agent", "a\x00", "session.user_agent"),
        ("referrer", "x" * (2 * KIB + 1), "session.referrer"),
        ("landing_page", "x" * (2 * KIB + 1), "session.landing_page"),
        ("locale", "x" * 36, "session.locale"),
    ],
)
async def test_start_session_rule_names_the_field(
    ingest: Ingest, field: str, value: object, path: str
) -> None:
    session = a_session(new_session())
    setattr(session, field, value)
    request = ingest_pb2.StartSessionRequest(session=session)
    assert await violated_fields(ingest.StartSession(request)) == [path]


async def test_start_session_generates_or_keeps_the_id_and_stores_the_fields(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool
) -> None:
    generated = await ingest.StartSession(ingest_pb2.StartSessionRequest(session=a_session()))
    assert uuid.UUID(generated.session_id).version == 4
    given_id = new_session()
    given = await ingest.StartSession(ingest_pb2.StartSessionRequest(session=a_session(given_id)))
    assert given.session_id == given_id
    await flush(sync)
    rows = {
        r["session_id"]: r
        for r in await pg_pool.fetch(
            "SELECT * FROM user_sessions WHERE session_id = ANY($1)", [generated.session_id, given_id]
        )
    }
    assert set(rows) == {generated.session_id, given_id}
    for row in rows.values():
        # reduced to what analytics use (CONFIGTRAIL_REDUCE_USER_AGENTS, on by default)
        assert row["user_agent"] == "other / iOS"
        assert row["device_type"] == "mobile"
        assert (row["viewport_width"], row["viewport_height"]) == (390, 844)
        assert row["referrer"] == "https://www.google.com/"
        assert row["landing_page"] == "/konfigurator?modell=nest"
        assert row["locale"] == "de-AT"
        assert row["status"] == "active"
        assert row["ended_at"] is None
        assert row["end_reason"] is None
        assert abs(row["started_at"] - datetime.now(UTC)) < timedelta(seconds=30)


@pytest.mark.parametrize(
    ("session_id", "reason", "path"),
    [
        ("", events_pb2.END_REASON_ORDER, "session_id"),
        ("bad id!", events_pb2.END_REASON_ORDER, "session_id"),
        ("s" * 129, events_pb2.END_REASON_ORDER, "session_id"),
        ("s-fine", events_pb2.END_REASON_UNSPECIFIED, "reason"),
        ("s-fine", 42, "reason"),
    ],
)
async def test_end_session_rule_names_the_field(
    ingest: Ingest, session_id: str, reason: int, path: str
) -> None:
    request = ingest_pb2.EndSessionRequest(session_id=session_id, reason=reason)  # type: ignore[arg-type]
    assert await violated_fields(ingest.EndSession(request)) == [path]


@pytest.mark.parametrize(
    ("reason", "word", "status"),
    [
        (events_pb2.END_REASON_ORDER, "order", "ordered"),
        (events_pb2.END_REASON_PAGE_EXIT, "page_exit", "active"),
        (events_pb2.END_REASON_TIMEOUT, "timeout", "active"),
    ],
)
async def test_end_session_sets_end_time_reason_and_status(
    ingest: Ingest,
    sync: Sync,
    pg_pool: asyncpg.Pool,
    reason: events_pb2.EndReason,
    word: str,
    status: str,
) -> None:
    session_id = (
        await ingest.StartSession(ingest_pb2.StartSessionRequest(session=a_session(new_session())))
    ).session_id
    before = datetime.now(UTC)
    await ingest.EndSession(ingest_pb2.EndSessionRequest(session_id=session_id, reason=reason))
    await flush(sync)
    row = await pg_pool.fetchrow("SELECT * FROM user_sessions WHERE session_id = $1", session_id)
    assert row is not None
    assert row["end_reason"] == word
    assert row["status"] == status
    assert row["ended_at"] is not None
    assert abs(row["ended_at"] - before) < timedelta(seconds=5)
    assert row["ended_at"] >= row["started_at"]


# --- the flush every test here relies on ----------------------------------------------------------------


async def test_flush_right_after_acknowledged_events_never_fails(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool
) -> None:
    """Flush answers once everything appended is in Postgres; it must not fail while the worker acks."""
    session_id = new_session()
    failures: list[tuple[grpc.StatusCode, str | None]] = []
    for n in range(100):
        await ingest.TrackInteraction(track(good_event(session_id, sequence=n + 1)))
        outcome = await settle(sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10)))
        if isinstance(outcome, grpc.aio.AioRpcError):
            failures.append((outcome.code(), outcome.details()))
    assert failures == []
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM interaction_events WHERE session_id = $1", session_id)
        == 100
    )
