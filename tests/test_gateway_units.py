"""Gateway pieces on their own: JSON ↔ proto, field names, gzip limits, client hashing, coalescing."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest

from configtrail.common.v1 import events_pb2
from configtrail.ingest.v1 import ingest_pb2
from gateway import convert
from gateway.body import gunzip
from gateway.coalesce import Coalescer
from gateway.errors import ApiError, json_name
from gateway.ratelimit import ClientHasher, RateLimiter, address_part, bucket_key
from gateway.server import client_address_secret
from gateway.settings import GatewaySettings
from tests.conftest import wait_until


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("event.time_spent_ms", "timeSpent"),
        ("interaction.event_type", "eventType"),
        ("snapshot.total_price.amount_minor", "totalPrice"),
        ("snapshot.total_price.currency", "currency"),
        ("snapshot.total_price", "totalPrice"),
        ("interaction.client_timestamp", "timestamp"),
        ("metric.value_ms", "valueMs"),
        ("session.landing_page", "landingPage"),
        ("session.started_at", "timestamp"),
        ("session_id", "sessionId"),
        ("page_token", "pageToken"),
        ("reason", "reason"),
        ("item", "kind"),
        ("event.some_future_field", "someFutureField"),
    ],
)
def test_proto_paths_become_json_names(path: str, name: str) -> None:
    assert json_name(path) == name


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01T12:00:00.250Z", datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)),
        ("2026-03-01T13:00:00+01:00", datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
        ("2026-03-01T12:00:00", datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
        (1_772_366_400_250, datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)),
        (1_772_366_400_250.0, datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)),
        (-1000, datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_timestamps_are_iso_8601_or_epoch_milliseconds(value: Any, expected: datetime) -> None:
    event = events_pb2.InteractionEvent()
    assert convert.set_timestamp(event.client_timestamp, value)
    assert event.client_timestamp.ToDatetime(tzinfo=UTC) == expected


@pytest.mark.parametrize("value", [True, "yesterday", "", 1e20, -1e20, [2026], {"t": 1}, "9" * 100])
def test_other_timestamps_are_refused(value: Any) -> None:
    assert not convert.set_timestamp(events_pb2.InteractionEvent().client_timestamp, value)


def test_interaction_converts_both_ways() -> None:
    posted = {
        "sessionId": "s-1",
        "eventId": "0b5d3c8e-8d1c-4c38-9d0e-0c9b1c1f4c2a",
        "eventType": "custom",
        "customEventType": "zoom",
        "category": "nest",
        "elementId": "e",
        "selectionValue": "a",
        "previousValue": "b",
        "timeSpent": 12.0,
        "deviceType": "Mobile",
        "viewportWidth": 390,
        "viewportHeight": 844,
        "additionalData": {"n": 2, "x": [1.5, None, True, {"deep": "yes"}]},
        "timestamp": "2026-03-01T12:00:00.250Z",
        "sequence": 7,
        "unknownFieldsAreIgnored": True,
    }
    event = convert.interaction(posted)
    assert event.event_type == events_pb2.EVENT_TYPE_CUSTOM
    assert event.device_type == events_pb2.DEVICE_TYPE_MOBILE
    assert event.time_spent_ms == 12
    back = convert.interaction_json(event)
    expected = {k: v for k, v in posted.items() if k != "unknownFieldsAreIgnored"}
    expected["deviceType"] = "mobile"
    assert {k: back[k] for k in expected} == expected
    assert back["serverTimestamp"] is None


def test_shape_errors_name_every_field() -> None:
    with pytest.raises(ApiError) as caught:
        convert.interaction(
            {
                "sessionId": 7,
                "eventType": "wave",
                "timeSpent": 1.5,
                "viewportWidth": 2**31,
                "sequence": True,
                "additionalData": "x",
                "timestamp": False,
            }
        )
    error = caught.value
    assert (error.status, error.code) == (400, "INVALID_ARGUMENT")
    fields = {v.field: v.reason for v in error.fields}
    assert set(fields) == {
        "sessionId", "eventType", "timeSpent", "viewportWidth", "sequence", "additionalData", "timestamp",
    }  # fmt: skip
    assert "click, hover" in fields["eventType"]


def test_json_nested_too_deep_is_refused_before_grpc_would_fail() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(convert.MAX_JSON_DEPTH + 1):
        node["d"] = {}
        node = node["d"]
    with pytest.raises(ApiError) as caught:
        convert.interaction({"sessionId": "s", "eventType": "click", "additionalData": deep})
    assert [v.field for v in caught.value.fields] == ["additionalData"]


def test_batch_items_by_kind_are_added_in_place_and_a_bad_one_leaves_the_list_as_it_was() -> None:
    items = ingest_pb2.TrackBatchRequest().items
    convert.add_batch_item({"kind": "metric", "metricName": "lcp", "valueMs": 1}, items, "UA")
    convert.add_batch_item({"kind": "snapshot", "sessionId": "s", "totalPrice": 5, "timestamp": 1000}, items)
    convert.add_batch_item(
        {"kind": "interaction", "sessionId": "s", "eventType": "click", "additionalData": {"a": 1}}, items
    )
    assert [item.WhichOneof("item") for item in items] == ["metric", "snapshot", "interaction"]
    assert items[0].metric.user_agent == "UA"
    assert items[1].snapshot.total_price.amount_minor == 5
    assert items[1].snapshot.client_timestamp.seconds == 1
    assert items[2].interaction.additional_data["a"] == 1
    for raw, fields in [
        ({"kind": "nope"}, ["kind"]),
        ({}, ["kind"]),
        ([], ["item"]),
        (None, ["item"]),
        (
            {"kind": "interaction", "eventType": "teleport", "additionalData": []},
            ["eventType", "additionalData"],
        ),
        ({"kind": "snapshot", "totalPrice": 1.5}, ["totalPrice"]),
    ]:
        with pytest.raises(ApiError) as caught:
            convert.add_batch_item(raw, items)
        assert [v.field for v in caught.value.fields] == fields
        assert len(items) == 3
    with pytest.raises(ApiError) as caught:
        convert.add_metric_item({"metricName": "lcp", "valueMs": "slow"}, items)
    assert [v.field for v in caught.value.fields] == ["valueMs"]
    convert.add_metric_item({"metricName": "lcp", "valueMs": 2}, items, "UA")
    assert (len(items), items[3].metric.value_ms, items[3].metric.user_agent) == (4, 2.0, "UA")


def test_gunzip_stops_at_the_limit() -> None:
    assert gunzip(gzip.compress(b"x" * 1000), 1000) == b"x" * 1000
    with pytest.raises(ApiError) as too_big:
        gunzip(gzip.compress(b"x" * 1001), 1000)
    assert too_big.value.status == 413
    with pytest.raises(ApiError) as truncated:
        gunzip(gzip.compress(b"x" * 100)[:-12], 1000)
    assert truncated.value.status == 400


def test_client_addresses_are_hashed_and_ipv6_cut_to_64_bits() -> None:
    assert address_part("203.0.113.7") == bytes([203, 0, 113, 7])
    assert address_part("::ffff:203.0.113.7") == bytes([203, 0, 113, 7])
    assert address_part("2001:db8:1:2::1") == address_part("2001:db8:1:2:ffff::9")
    assert address_part("2001:db8:1:2::1") != address_part("2001:db8:1:3::1")
    hasher = ClientHasher(b"secret")
    bucket = hasher("key", "203.0.113.7")
    assert bucket == ClientHasher(b"secret")("key", "203.0.113.7")
    assert bucket != ClientHasher(b"other")("key", "203.0.113.7")
    assert bucket != hasher("other-key", "203.0.113.7")
    assert len(bucket) == 32
    assert "203" not in bucket_key(bucket).removeprefix("configtrail:gateway:rate:")


def test_client_address_key_is_configured_or_derived_from_secrets_never_from_write_keys(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def secret(**values: str) -> bytes:
        unset: dict[str, Any] = {
            "client_address_key": "",
            "admin_tokens": "",
            "erase_tokens": "",
            "write_keys": "",
        }
        return client_address_secret(GatewaySettings(**{**unset, **values}))

    assert secret(client_address_key="k-1", admin_tokens="a") == b"k-1"
    derived = secret(admin_tokens="admin-1,admin-2", erase_tokens="erase-1", write_keys="site-1")
    # the same on every replica, whatever the order the tokens are listed in
    assert derived == secret(admin_tokens="erase-1,admin-2", erase_tokens="admin-1")
    # browsers carry the write keys: they must not be what the key is made of
    assert derived == secret(admin_tokens="admin-1,admin-2", erase_tokens="erase-1", write_keys="site-2")
    assert derived != secret(admin_tokens="admin-1", erase_tokens="erase-1", write_keys="site-1")
    assert secret(write_keys="site-1") != secret(write_keys="site-1")  # random, per process
    assert "random key" in caplog.text


def test_client_hasher_remembers_recent_clients_and_forgets_them_past_its_bound() -> None:
    fresh = ClientHasher(b"secret")
    hasher = ClientHasher(b"secret", remember=3)
    clients = [("key", f"203.0.113.{n}") for n in range(7)]
    # the same names whether computed, remembered, or computed again after being forgotten
    for _ in range(2):
        assert [hasher(*client) for client in clients] == [fresh(*client) for client in clients]
        assert hasher.remembered <= 3
    assert hasher(*clients[-1]) == fresh(*clients[-1])


async def test_rate_limiter_without_redis_lets_everything_through() -> None:
    limiter = RateLimiter(None, rate=1, burst=1, timeout=0.05, retry_seconds=1)
    await limiter.start()
    assert not limiter.enabled
    assert [await limiter.check("b") for _ in range(3)] == [None, None, None]
    await limiter.close()


class FakeIngest:
    """TrackBatch that records its calls and rejects items whose session id is "bad"."""

    def __init__(self, fail: grpc.StatusCode | None = None, gate: asyncio.Event | None = None) -> None:
        self.calls: list[int] = []
        self.fail = fail
        self.gate = gate  # when given, every call waits for it: a slow Ingest

    async def __call__(self, request: ingest_pb2.TrackBatchRequest) -> ingest_pb2.TrackBatchResponse:
        self.calls.append(len(request.items))
        await asyncio.sleep(0)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise grpc.aio.AioRpcError(self.fail, grpc.aio.Metadata(), grpc.aio.Metadata(), "down")
        results = []
        for index, item in enumerate(request.items):
            if item.interaction.session_id == "bad":
                errors = [ingest_pb2.FieldError(field="interaction.session_id", reason="bad")]
                results.append(ingest_pb2.ItemResult(index=index, accepted=False, errors=errors))
            else:
                results.append(
                    ingest_pb2.ItemResult(index=index, accepted=True, id=f"id-{item.interaction.sequence}")
                )
        return ingest_pb2.TrackBatchResponse(results=results)


def item(sequence: int, session_id: str = "s") -> ingest_pb2.BatchItem:
    return ingest_pb2.BatchItem(
        interaction=events_pb2.InteractionEvent(session_id=session_id, sequence=sequence)
    )


async def test_coalescer_sends_one_call_per_window_and_routes_each_result() -> None:
    ingest = FakeIngest()
    coalescer = Coalescer(ingest, window=0.01, max_items=500)
    results = await asyncio.gather(
        *(coalescer.submit(item(n, "bad" if n == 3 else "s")) for n in range(1, 11))
    )
    assert ingest.calls == [10]
    assert [r.id for r in results if r.accepted] == [f"id-{n}" for n in range(1, 11) if n != 3]
    assert [e.field for e in results[2].errors] == ["interaction.session_id"]
    assert (coalescer.calls, coalescer.items) == (1, 10)
    await coalescer.close()


async def test_coalescer_sends_full_batches_at_once() -> None:
    ingest = FakeIngest()
    # a long window and no call sent early: only fullness sends
    coalescer = Coalescer(ingest, window=10.0, max_items=4, max_calls_in_flight=0)
    submitted = [asyncio.ensure_future(coalescer.submit(item(n))) for n in range(8)]
    results = await asyncio.wait_for(asyncio.gather(*submitted), 2)
    assert ingest.calls == [4, 4]
    assert all(r.accepted for r in results)
    pending = asyncio.ensure_future(coalescer.submit(item(9)))
    await asyncio.sleep(0)
    await coalescer.close()  # sends what is gathered without waiting for the window
    assert (await pending).id == "id-9"
    with pytest.raises(ApiError) as closed:
        await coalescer.submit(item(10))
    assert closed.value.status == 503


async def test_coalescer_sends_at_once_while_no_call_is_out() -> None:
    ingest = FakeIngest()
    coalescer = Coalescer(ingest, window=10.0, max_items=500)  # the window would hold it for 10 s
    result = await asyncio.wait_for(coalescer.submit(item(1)), 2)
    assert result.id == "id-1"
    assert ingest.calls == [1]
    await coalescer.close()


async def one_call_out(
    window: float,
) -> tuple[Coalescer, FakeIngest, asyncio.Event, asyncio.Future[ingest_pb2.ItemResult]]:
    """A coalescer whose first call (item 1) is out at a slow Ingest that answers once the gate opens."""
    gate = asyncio.Event()
    ingest = FakeIngest(gate=gate)
    coalescer = Coalescer(ingest, window=window, max_items=500)
    first = asyncio.ensure_future(coalescer.submit(item(1)))
    assert await wait_until(lambda: ingest.calls == [1], within=2)
    return coalescer, ingest, gate, first


async def test_coalescer_gathers_while_a_call_is_out_and_sends_when_it_returns() -> None:
    coalescer, ingest, gate, first = await one_call_out(window=10.0)
    later = [asyncio.ensure_future(coalescer.submit(item(n))) for n in range(2, 7)]
    await asyncio.sleep(0.05)
    assert ingest.calls == [1]  # the five wait for the call out, not for the 10 s window
    gate.set()
    results = await asyncio.wait_for(asyncio.gather(first, *later), 2)
    assert ingest.calls == [1, 5]
    assert [r.id for r in results] == [f"id-{n}" for n in range(1, 7)]
    await coalescer.close()


async def test_coalescer_window_bounds_the_wait_for_a_slow_call() -> None:
    coalescer, ingest, gate, first = await one_call_out(window=0.02)
    later = [asyncio.ensure_future(coalescer.submit(item(n))) for n in (2, 3)]
    # the two go once the window passed, while the first call is still out
    assert await wait_until(lambda: ingest.calls == [1, 2], within=2)
    gate.set()
    results = await asyncio.wait_for(asyncio.gather(first, *later), 2)
    assert [r.id for r in results] == ["id-1", "id-2", "id-3"]
    await coalescer.close()


async def test_coalescer_failed_call_fails_each_request_with_the_mapped_status() -> None:
    coalescer = Coalescer(FakeIngest(fail=grpc.StatusCode.UNAVAILABLE), window=0, max_items=500)
    outcomes = await asyncio.gather(*(coalescer.submit(item(n)) for n in range(3)), return_exceptions=True)
    assert all(isinstance(o, ApiError) and o.status == 503 and o.retry_after == 1.0 for o in outcomes)
    await coalescer.close()
