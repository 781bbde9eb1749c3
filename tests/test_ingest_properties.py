"""Property tests: random and malformed records, batches and bytes against Ingest and its validators.

Against the real server the contract is: no call ever ends in INTERNAL or UNKNOWN; a call either
succeeds or answers INVALID_ARGUMENT with field violations naming real fields of the request; every
batch item is either accepted with an id or rejected with a field and a reason; and nothing is
half-written: after ``Sync.Flush`` exactly the accepted ids are rows in Postgres. The validators alone
are held to the same contract, faster and with more examples.

Record ids are drawn as placeholders (``@fresh``, ``@FRESH``, ...) and replaced by new UUIDs when an
example runs, so examples never share ids and each example's rows can be checked on their own.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
import grpc
import orjson
import pytest
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from configtrail.common.v1 import events_pb2
from configtrail.errors import ValidationError, field_violations_from
from configtrail.grpcserver import RunningServer
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc
from services.ingest.validation import (
    SESSION_ID_PATTERN,
    Clock,
    Limits,
    check_interaction,
    check_metric,
    check_snapshot,
)

if TYPE_CHECKING:  # the async stub types exist only in the generated .pyi
    Ingest = ingest_pb2_grpc.IngestAsyncStub
    Sync = sync_pb2_grpc.SyncAsyncStub

T = TypeVar("T")
Record = events_pb2.InteractionEvent | events_pb2.ConfigurationSnapshot | events_pb2.PerformanceMetric

LIMITS = Limits()
NOW = int(datetime.now(UTC).timestamp())
INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)

# Against the server each example is a round trip and a flush, so failures are not shrunk (that takes
# minutes); the rule tests and the validator properties give the minimal cases.
SERVER_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
UNIT_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def canonical(record_id: str) -> str | None:
    try:
        return str(uuid.UUID(record_id))
    except ValueError:
        return None


# --- strategies -----------------------------------------------------------------------------------------

#: replaced by a new UUID (in various spellings) or by the previous id of the same example when run
PLACEHOLDER_IDS = ("@fresh", "@FRESH", "@{fresh}", "@urn", "@hex", "@previous")

any_text = st.text(st.characters(codec="utf-8"), max_size=40)  # unicode, control characters, NUL
clean_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
long_text = st.sampled_from([1023, 1024, 1025, 2049, 9000]).map(lambda n: "x" * n) | st.just("€" * 342)
nul_text = st.builds(lambda head, tail: f"{head}\x00{tail}", clean_text, clean_text)
wild_text = any_text | long_text | nul_text

valid_ids = st.sampled_from(("", *PLACEHOLDER_IDS))
# never a UUID: examples must not share ids (the shrinker loves 32 zeros, a valid UUID)
wild_ids = (
    wild_text | st.sampled_from(["x" * 129, "not-a-uuid", str(uuid.UUID(int=1)) + "x", "@fresh" * 30])
).filter(lambda value: canonical(value) is None and value not in PLACEHOLDER_IDS)

valid_session_ids = st.from_regex(r"[A-Za-z0-9._:\-]{1,40}", fullmatch=True) | st.just("s" * 128)
wild_session_ids = wild_text | st.sampled_from(["", "s" * 129, "has space", "ümlaut"])


def enum_values(enum: Any) -> st.SearchStrategy[int]:
    return st.sampled_from([number for _, number in enum.items() if number != 0])


wild_enums = INT32 | st.just(0)


def to_struct(value: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


def _json(
    leaves: st.SearchStrategy[Any], keys: st.SearchStrategy[str]
) -> st.SearchStrategy[struct_pb2.Struct]:
    values = st.recursive(
        leaves,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
        max_leaves=12,
    )
    return st.dictionaries(keys, values, max_size=5).map(to_struct)


valid_structs = _json(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | clean_text,
    clean_text,
)
big_strings = st.sampled_from([8180, 8200, 65_520, 65_540, 70_000]).map(lambda n: "x" * n)
wild_structs = _json(
    st.none() | st.booleans() | st.floats() | INT64.map(float) | any_text | nul_text | big_strings,
    any_text | nul_text,
)

#: JSON, but odd: control characters, NULs, unicode keys, numbers beyond 2**53
odd_structs = _json(
    st.none() | st.floats(allow_nan=False, allow_infinity=False) | INT64.map(float) | any_text | nul_text,
    any_text | nul_text,
)
#: free-form data is often odd even when the rest of a record is fine
free_form = st.none() | valid_structs | odd_structs | wild_structs

near_now = st.integers(-3 * 86_400, 3 * 86_400).map(
    lambda offset: timestamp_pb2.Timestamp(seconds=NOW + offset)
)
valid_times = st.none() | st.integers(-86_400 * 400, 60).map(
    lambda o: timestamp_pb2.Timestamp(seconds=NOW + o)
)
wild_times = near_now | st.builds(timestamp_pb2.Timestamp, seconds=INT64, nanos=INT32)


@st.composite
def interactions(draw: st.DrawFn) -> events_pb2.InteractionEvent:
    """An interaction with up to three fields drawn from the wild, the others plausible."""
    fields = [f.name for f in events_pb2.InteractionEvent.DESCRIPTOR.fields]
    wild = draw(st.sets(st.sampled_from(fields), max_size=3))

    def pick(name: str, valid: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> Any:
        return draw(bad if name in wild else valid)

    event = events_pb2.InteractionEvent()
    event.event_id = pick("event_id", valid_ids, wild_ids)
    event.session_id = pick("session_id", valid_session_ids, wild_session_ids)
    event_type = pick("event_type", enum_values(events_pb2.EventType), wild_enums)
    event.event_type = event_type
    custom = st.from_regex(r"[a-z0-9_.\-]{1,64}", fullmatch=True) if event_type == 5 else st.just("")
    event.custom_event_type = pick("custom_event_type", custom, wild_text)
    for name in ("category", "element_id", "selection_value", "previous_value"):
        setattr(event, name, pick(name, clean_text, wild_text))
    event.time_spent_ms = pick("time_spent_ms", st.integers(0, LIMITS.max_time_spent_ms), INT64)
    event.device_type = pick("device_type", st.sampled_from(range(5)), wild_enums)
    for name in ("viewport_width", "viewport_height"):
        setattr(event, name, pick(name, st.integers(0, LIMITS.max_viewport_pixels), INT32))
    data = pick("additional_data", free_form, wild_structs)
    if data is not None:
        event.additional_data.CopyFrom(data)
    when = pick("client_timestamp", valid_times, wild_times)
    if when is not None:
        event.client_timestamp.CopyFrom(when)
    event.sequence = pick("sequence", st.integers(0, 2**63 - 1), INT64)
    server_time = pick("server_timestamp", st.none(), wild_times)  # ignored on input
    if server_time is not None:
        event.server_timestamp.CopyFrom(server_time)
    return event


@st.composite
def snapshots(draw: st.DrawFn) -> events_pb2.ConfigurationSnapshot:
    fields = [f.name for f in events_pb2.ConfigurationSnapshot.DESCRIPTOR.fields]
    wild = draw(st.sets(st.sampled_from(fields), max_size=3))

    def pick(name: str, valid: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> Any:
        return draw(bad if name in wild else valid)

    snapshot = events_pb2.ConfigurationSnapshot()
    snapshot.snapshot_id = pick("snapshot_id", valid_ids, wild_ids)
    snapshot.session_id = pick("session_id", valid_session_ids, wild_session_ids)
    configuration = pick("configuration", valid_structs | odd_structs, st.none() | wild_structs)
    if configuration is not None:
        snapshot.configuration.CopyFrom(configuration)
    money = st.builds(
        events_pb2.Money,
        amount_minor=st.integers(0, 2**63 - 1),
        currency=st.sampled_from(["EUR", "CHF", "USD"]),
    )
    wild_money = st.none() | st.builds(events_pb2.Money, amount_minor=INT64, currency=wild_text)
    price = pick("total_price", money, wild_money)
    if price is not None:
        snapshot.total_price.CopyFrom(price)
    snapshot.completion_percentage = pick(
        "completion_percentage", st.floats(0, 100), st.floats() | st.sampled_from([-0.0, 100.0000001])
    )
    snapshot.trigger = pick("trigger", enum_values(events_pb2.SnapshotTrigger), wild_enums)
    data = pick("additional_data", free_form, wild_structs)
    if data is not None:
        snapshot.additional_data.CopyFrom(data)
    when = pick("client_timestamp", valid_times, wild_times)
    if when is not None:
        snapshot.client_timestamp.CopyFrom(when)
    return snapshot


@st.composite
def metrics(draw: st.DrawFn) -> events_pb2.PerformanceMetric:
    fields = [f.name for f in events_pb2.PerformanceMetric.DESCRIPTOR.fields]
    wild = draw(st.sets(st.sampled_from(fields), max_size=3))

    def pick(name: str, valid: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> Any:
        return draw(bad if name in wild else valid)

    metric = events_pb2.PerformanceMetric()
    metric.metric_id = pick("metric_id", valid_ids, wild_ids)
    metric.metric_name = pick(
        "metric_name", st.sampled_from(["lcp", "inp", "cls", "api_response_time"]), wild_text
    )
    metric.value_ms = pick("value_ms", st.floats(0, 1e9), st.floats())
    metric.endpoint = pick("endpoint", clean_text, wild_text)
    metric.user_agent = pick("user_agent", clean_text, wild_text)
    metric.session_id = pick("session_id", st.just("") | valid_session_ids, wild_session_ids)
    data = pick("additional_data", free_form, wild_structs)
    if data is not None:
        metric.additional_data.CopyFrom(data)
    when = pick("timestamp", valid_times, wild_times)
    if when is not None:
        metric.timestamp.CopyFrom(when)
    return metric


batch_items = (
    interactions().map(lambda e: ingest_pb2.BatchItem(interaction=e))
    | snapshots().map(lambda s: ingest_pb2.BatchItem(snapshot=s))
    | metrics().map(lambda m: ingest_pb2.BatchItem(metric=m))
    | st.just(ingest_pb2.BatchItem())
)


@st.composite
def batches(draw: st.DrawFn) -> ingest_pb2.TrackBatchRequest:
    request = ingest_pb2.TrackBatchRequest(items=draw(st.lists(batch_items, max_size=8)))
    if draw(st.integers(0, 9)) == 0:  # now and then one over the limit (padded with small items)
        request.items.extend([ingest_pb2.BatchItem()] * (LIMITS.max_batch_items + 1 - len(request.items)))
    sent_at = draw(st.none() | near_now | wild_times)
    if sent_at is not None:
        request.sent_at.CopyFrom(sent_at)
    return request


# --- running an example ---------------------------------------------------------------------------------

ID_FIELD = {"interaction": "event_id", "snapshot": "snapshot_id", "metric": "metric_id"}
TABLE = {
    "interaction": ("interaction_events", "event_id"),
    "snapshot": ("configuration_snapshots", "snapshot_id"),
    "metric": ("performance_metrics", "metric_id"),
}


def kind_of(record: Record) -> str:
    if isinstance(record, events_pb2.InteractionEvent):
        return "interaction"
    return "snapshot" if isinstance(record, events_pb2.ConfigurationSnapshot) else "metric"


def materialize(record: Record, previous: list[str]) -> str:
    """Replace a placeholder id by a new UUID spelling (or the example's previous id); return the id sent."""
    name = ID_FIELD[kind_of(record)]
    value: str = getattr(record, name)
    new = uuid.uuid4()
    spelled = {
        "@fresh": str(new),
        "@FRESH": str(new).upper(),
        "@{fresh}": "{" + str(new) + "}",
        "@urn": new.urn,
        "@hex": new.hex,
        "@previous": previous[-1] if previous else str(new),
    }.get(value, value)
    setattr(record, name, spelled)
    if canonical(spelled):
        previous.append(spelled)
    return spelled


@dataclass
class Ledger:
    """What one test (all its examples) had accepted, per kind, to compare with every row in Postgres."""

    accepted: dict[str, set[str]] = field(default_factory=lambda: {kind: set() for kind in TABLE})


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


def names_a_field(message: Any, path: str) -> bool:
    """Whether ``path`` (``event.total_price.currency``) names a field, or a oneof, of ``message``."""
    current: Any = message
    for part in path.split("."):
        if current is None:
            return False
        if part in current.oneofs_by_name:
            current = None
            continue
        found = current.fields_by_name.get(part)
        if found is None:
            return False
        current = found.message_type
    return True


async def settle(call: Awaitable[T]) -> T | grpc.aio.AioRpcError:
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        return error


def assert_invalid_argument(error: grpc.aio.AioRpcError, request: Any) -> None:
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    violations = field_violations_from(error)
    assert violations, f"INVALID_ARGUMENT without field violations: {error.details()}"
    for violation in violations:
        assert violation.reason, violation
        assert names_a_field(request, violation.field), violation


async def flush(sync: Sync) -> None:
    """Sync.Flush, retried when it trips over its own race (see test_ingest_validation: the flush test)."""
    for _ in range(5):
        outcome = await settle(sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10)))
        if not isinstance(outcome, grpc.aio.AioRpcError):
            return
        if outcome.code() != grpc.StatusCode.UNKNOWN or "invalid literal for int()" not in str(
            outcome.details()
        ):
            raise outcome
    raise AssertionError("Sync.Flush failed five times in a row")


async def assert_stored_exactly(
    pool: asyncpg.Pool, sync: Sync, ledger: Ledger, sent: dict[str, set[str]], accepted: dict[str, set[str]]
) -> None:
    """After a flush: of the ids this example sent, exactly the accepted ones are rows; no row anywhere
    was never accepted (by any example of this test)."""
    await flush(sync)
    for kind, (table, column) in TABLE.items():
        candidates = [uuid.UUID(i) for i in sent[kind] | accepted[kind]]
        rows = await pool.fetch(f"SELECT {column} FROM {table} WHERE {column} = ANY($1::uuid[])", candidates)
        stored = {str(row[column]) for row in rows}
        if stored != accepted[kind]:
            errors = [r["error"] for r in await pool.fetch("SELECT error FROM dead_letters")]
            raise AssertionError(
                f"{table}: accepted {sorted(accepted[kind])}, stored {sorted(stored)}; dead letters: {errors}"
            )
        everything = {str(row[column]) for row in await pool.fetch(f"SELECT {column} FROM {table}")}
        assert everything <= ledger.accepted[kind], f"{table} holds rows never accepted"


# --- against the server ---------------------------------------------------------------------------------


@SERVER_SETTINGS
@given(record=interactions() | snapshots())
async def test_any_single_record_is_accepted_whole_or_rejected_naming_real_fields(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool, ledger: Ledger, record: Record
) -> None:
    kind = kind_of(record)
    sent_id = materialize(record, [])
    if isinstance(record, events_pb2.InteractionEvent):
        request: Any = ingest_pb2.TrackInteractionRequest(event=record)
        outcome: Any = await settle(ingest.TrackInteraction(request))
    else:
        assert isinstance(record, events_pb2.ConfigurationSnapshot)
        request = ingest_pb2.SaveSnapshotRequest(snapshot=record)
        outcome = await settle(ingest.SaveSnapshot(request))
    accepted: dict[str, set[str]] = {k: set() for k in TABLE}
    if isinstance(outcome, grpc.aio.AioRpcError):
        assert_invalid_argument(outcome, request.DESCRIPTOR)
    else:
        reply_id: str = getattr(outcome, ID_FIELD[kind])
        ledger.accepted[kind].add(reply_id)  # first, so later examples know the row whatever fails here
        assert canonical(reply_id) == reply_id, reply_id
        assert reply_id == (canonical(sent_id) or reply_id), (sent_id, reply_id)
        assert sent_id or uuid.UUID(reply_id).version == 4
        assert outcome.server_timestamp.seconds > 0
        accepted[kind].add(reply_id)
    sent: dict[str, set[str]] = {k: set() for k in TABLE}
    sent[kind] = {c for c in [canonical(sent_id)] if c}
    await assert_stored_exactly(pg_pool, sync, ledger, sent, accepted)


@SERVER_SETTINGS
@given(request=batches())
async def test_any_batch_settles_every_item_and_stores_exactly_the_accepted_ones(
    ingest: Ingest, sync: Sync, pg_pool: asyncpg.Pool, ledger: Ledger, request: ingest_pb2.TrackBatchRequest
) -> None:
    previous: list[str] = []
    sent: dict[str, set[str]] = {k: set() for k in TABLE}
    sent_ids: list[str | None] = []
    for item in request.items:
        kind = item.WhichOneof("item")
        if kind is None:
            sent_ids.append(None)
            continue
        record: Record = getattr(item, kind)
        sent_id = materialize(record, previous)
        sent_ids.append(sent_id)
        if canonical(sent_id):
            sent[kind].add(str(canonical(sent_id)))

    outcome = await settle(ingest.TrackBatch(request))
    accepted: dict[str, set[str]] = {k: set() for k in TABLE}
    if isinstance(outcome, grpc.aio.AioRpcError):
        assert_invalid_argument(outcome, ingest_pb2.TrackBatchRequest.DESCRIPTOR)
    else:
        for item, result in zip(request.items, outcome.results, strict=False):
            accepted_kind = item.WhichOneof("item")
            if result.accepted and accepted_kind:  # first, so later examples know the rows whatever fails
                ledger.accepted[accepted_kind].add(result.id)
        assert len(request.items) <= LIMITS.max_batch_items, "an oversized batch is rejected whole"
        assert [r.index for r in outcome.results] == list(range(len(request.items)))
        assert (outcome.accepted, outcome.rejected) == (
            sum(r.accepted for r in outcome.results),
            sum(not r.accepted for r in outcome.results),
        )
        for item, item_sent_id, result in zip(request.items, sent_ids, outcome.results, strict=True):
            kind = item.WhichOneof("item")
            if result.accepted:
                assert kind is not None
                assert item_sent_id is not None
                assert not result.errors
                assert canonical(result.id) == result.id, result
                assert result.id == (canonical(item_sent_id) or result.id), (item_sent_id, result.id)
                accepted[kind].add(result.id)
            else:
                assert not result.id
                assert result.errors, result
                for error in result.errors:
                    assert error.field, result
                    assert error.reason, result
                    assert names_a_field(ingest_pb2.BatchItem.DESCRIPTOR, error.field), error
                    assert error.field.startswith(kind or "item"), (kind, error.field)
    await assert_stored_exactly(pg_pool, sync, ledger, sent, accepted)


@pytest.fixture
async def raw_track_interaction(ingest_server: RunningServer) -> AsyncIterator[Any]:
    """TrackInteraction taking and returning raw bytes, to send what no protobuf library would."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{ingest_server.port}") as channel:
        yield channel.unary_unary("/configtrail.ingest.v1.Ingest/TrackInteraction")


def _with_bad_utf8(prefix: bytes) -> bytes:
    """A TrackInteractionRequest whose event.session_id is not UTF-8."""
    event = b"\x12" + bytes([len(prefix) + 1]) + prefix + b"\xff"
    return b"\x0a" + bytes([len(event)]) + event


@SERVER_SETTINGS
@given(
    payload=st.binary(max_size=64)
    | st.binary(min_size=1, max_size=20).map(_with_bad_utf8)
    | interactions().map(lambda e: ingest_pb2.TrackInteractionRequest(event=e).SerializeToString()[:-1])
)
async def test_undecodable_request_bytes_are_invalid_argument_not_unknown(
    raw_track_interaction: Any, payload: bytes
) -> None:
    outcome = await settle(raw_track_interaction(payload))
    if isinstance(outcome, grpc.aio.AioRpcError):
        assert outcome.code() == grpc.StatusCode.INVALID_ARGUMENT, (outcome.code(), outcome.details())
    else:
        reply = ingest_pb2.TrackInteractionResponse.FromString(outcome)
        assert canonical(reply.event_id) == reply.event_id


# --- the validators alone -------------------------------------------------------------------------------


def storable_json(value: struct_pb2.Struct) -> bytes:
    """The JSON Sync writes to a jsonb column; Postgres refuses \\u0000 in jsonb."""
    encoded = orjson.dumps(json_format.MessageToDict(value))
    assert b"\\u0000" not in encoded, "Postgres jsonb cannot store \\u0000"
    json.dumps(json_format.MessageToDict(value), allow_nan=False)
    return encoded


def check_accepted(original: Record, out: Record, clock: Clock) -> None:
    """What every accepted record satisfies, whatever came in."""
    kind = kind_of(out)
    record_id = getattr(out, ID_FIELD[kind])
    assert canonical(record_id) == record_id
    given_id = getattr(original, ID_FIELD[kind])
    assert record_id == (canonical(given_id) if given_id else record_id)
    assert out.server_timestamp.ToDatetime(tzinfo=UTC) == clock.now
    when = out.timestamp if isinstance(out, events_pb2.PerformanceMetric) else out.client_timestamp
    assert when.ToDatetime(tzinfo=UTC) <= clock.now, "never later than server time"
    if out.session_id or kind != "metric":
        assert SESSION_ID_PATTERN.fullmatch(out.session_id)
        assert len(out.session_id) <= LIMITS.max_id_length
    for name in ("additional_data", "configuration"):
        if name in out.DESCRIPTOR.fields_by_name and out.HasField(name):
            limit = (
                LIMITS.max_configuration_bytes
                if name == "configuration"
                else LIMITS.max_additional_data_bytes
            )
            assert len(storable_json(getattr(out, name))) <= limit
    if isinstance(out, events_pb2.InteractionEvent):
        assert out.event_type in events_pb2.EventType.values()
        assert out.event_type != 0
        assert (out.event_type == events_pb2.EVENT_TYPE_CUSTOM) == bool(out.custom_event_type)
        assert 0 <= out.time_spent_ms <= LIMITS.max_time_spent_ms
        assert out.sequence >= 0
        assert out.device_type in events_pb2.DeviceType.values()
        assert 0 <= out.viewport_width <= LIMITS.max_viewport_pixels
        assert 0 <= out.viewport_height <= LIMITS.max_viewport_pixels
        for text in (out.category, out.element_id, out.selection_value, out.previous_value):
            assert "\x00" not in text
            assert len(text.encode()) <= LIMITS.max_value_bytes
    elif isinstance(out, events_pb2.ConfigurationSnapshot):
        assert out.HasField("configuration")
        assert out.HasField("total_price")
        assert out.total_price.amount_minor >= 0
        assert len(out.total_price.currency) == 3
        assert 0 <= out.completion_percentage <= 100
        assert out.trigger in events_pb2.SnapshotTrigger.values()
        assert out.trigger != 0
    else:
        assert math.isfinite(out.value_ms)
        assert out.value_ms >= 0
        for text in (out.endpoint, out.user_agent):
            assert "\x00" not in text
            assert len(text.encode()) <= LIMITS.max_value_bytes


skews = st.just(timedelta(0)) | st.integers(-3 * 86_400, 3 * 86_400).map(lambda s: timedelta(seconds=s))


@UNIT_SETTINGS
@given(record=interactions() | snapshots() | metrics(), skew=skews)
def test_validators_accept_only_storable_records_or_name_real_fields(record: Record, skew: timedelta) -> None:
    materialize(record, [])
    clock = Clock(datetime.now(UTC).replace(microsecond=0), skew)
    check = {"interaction": check_interaction, "snapshot": check_snapshot, "metric": check_metric}[
        kind_of(record)
    ]
    prefix = f"{kind_of(record)}."
    try:
        out: Any = check(record, clock, LIMITS, prefix)  # type: ignore[operator]
    except ValidationError as error:
        assert error.violations
        for violation in error.violations:
            assert violation.reason
            assert violation.field.startswith(prefix)
            assert names_a_field(ingest_pb2.BatchItem.DESCRIPTOR, violation.field), violation
        return
    check_accepted(record, out, clock)
    when = out.timestamp if isinstance(out, events_pb2.PerformanceMetric) else out.client_timestamp
    # (a time under 1 µs after the epoch is stored as the epoch, which reads back as "not given")
    if not skew and (when.seconds or when.nanos):
        again = check(out, clock, LIMITS, prefix)  # type: ignore[operator]
        assert again == out, "an accepted record is a fixed point: validating it again changes nothing"


@UNIT_SETTINGS
@given(sent_at=st.none() | near_now | wild_times)
def test_request_clock_from_any_sent_at_is_a_clock_or_a_validation_error(
    sent_at: timestamp_pb2.Timestamp | None,
) -> None:
    now = datetime.now(UTC)
    try:
        clock = Clock.for_request(now, sent_at, LIMITS)
    except ValidationError as error:
        assert error.violations
        assert all(v.field and v.reason for v in error.violations)
        return
    assert clock.now == now
    assert clock.skew == timedelta(0) or abs(clock.skew) > LIMITS.clock_skew_dead_band
    if sent_at is not None and clock.skew:
        assert clock.skew == sent_at.ToDatetime(tzinfo=UTC) - now
