"""The gateway over real HTTP: uvicorn in this loop → real Ingest on port 0 → Redis → Sync → Postgres."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

import asyncpg
import httpx
import orjson
import pytest
import redis.asyncio as redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from configtrail.grpcserver import RunningServer
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc
from gateway import ratelimit
from gateway.ratelimit import RateLimiter, bucket_key
from gateway.server import RunningGateway, start
from gateway.settings import GatewaySettings
from services.ingest.server import create_server as create_ingest
from tests.conftest import Servers, ingest_settings, wait_until

WRITE_KEY = "site-key-1"
StartGateway = Callable[..., Awaitable[RunningGateway]]


class _Servers(Protocol):
    dsn: str
    redis_url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


@pytest.fixture
async def start_gateway(servers: _Servers, ingest_server: RunningServer) -> AsyncIterator[StartGateway]:
    """Start gateways against the test Ingest (rate limit off unless asked); stopped after the test."""
    running: list[RunningGateway] = []

    async def start_one(**overrides: Any) -> RunningGateway:
        values: dict[str, Any] = {
            "ingest_address": f"127.0.0.1:{ingest_server.port}",
            "redis_url": servers.redis_url,
            "gateway_port": 0,
            "write_keys": "",
            "admin_tokens": "",
            "cors_origins": "",
            "rate_limit_per_second": 0,
            "shutdown_grace_seconds": 2,
            "telemetry_flush_seconds": 0,
        }
        values.update(overrides)
        gateway = await start(GatewaySettings(**values))
        running.append(gateway)
        return gateway

    yield start_one
    for gateway in running:
        await gateway.stop()


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    return await start_gateway(write_keys=f"{WRITE_KEY},other-key")


@pytest.fixture
async def http(gateway: RunningGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"X-Write-Key": WRITE_KEY}, timeout=10
    ) as client:
        yield client


async def flush(sync: sync_pb2_grpc.SyncAsyncStub) -> None:
    await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10), timeout=15)


def interaction(session_id: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sessionId": session_id,
        "eventType": "selection",
        "category": "nest",
        "elementId": "nest-size-80",
        "selectionValue": "nest_80",
        "previousValue": "nest_60",
        "timeSpent": 1500,
        "deviceType": "desktop",
        "viewportWidth": 1440,
        "viewportHeight": 900,
        "additionalData": {"step": 2, "source": "test"},
        "sequence": 1,
    }
    body.update(fields)
    return body


def snapshot(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "configuration": {"nest": "nest_80", "gebaeudehuelle": "wood"},
        "totalPrice": 24_990_000,
        "currency": "EUR",
        "completionPercentage": 60.5,
        "trigger": "auto_save",
        "additionalData": {"source": "test"},
    }
    body.update(fields)
    return body


def error_fields(response: httpx.Response) -> dict[str, str]:
    """The fields of an error answer, checking its shape on the way."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return {field["field"]: field["reason"] for field in body["error"]["fields"]}


# --- happy paths, down to Postgres -----------------------------------------------------------------


async def test_interaction_is_accepted_and_reaches_postgres(
    http: httpx.AsyncClient, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    session_id = f"s-{uuid.uuid4().hex}"
    event_id = str(uuid.uuid4())
    occurred = datetime.now(UTC).replace(microsecond=123000) - timedelta(minutes=5)
    response = await http.post(
        "/api/sessions/track-interaction",
        json=interaction(session_id, eventId=event_id, timestamp=occurred.isoformat().replace("+00:00", "Z")),
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"eventId": event_id}
    assert response.headers["content-type"] == "application/json"

    await flush(sync)
    row = await pg_pool.fetchrow("SELECT * FROM interaction_events WHERE event_id = $1", uuid.UUID(event_id))
    assert row is not None
    assert row["session_id"] == session_id
    assert (row["event_type"], row["category"], row["element_id"]) == ("selection", "nest", "nest-size-80")
    assert (row["selection_value"], row["previous_value"]) == ("nest_80", "nest_60")
    assert (row["time_spent_ms"], row["device_type"], row["sequence"]) == (1500, "desktop", 1)
    assert (row["viewport_width"], row["viewport_height"]) == (1440, 900)
    assert orjson.loads(row["additional_data"]) == {"step": 2, "source": "test"}
    assert row["occurred_at"] == occurred


async def test_session_start_snapshot_and_end_reach_postgres(
    http: httpx.AsyncClient, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    session_id = f"s-{uuid.uuid4().hex}"
    started = await http.post(
        "/api/sessions",
        json={
            "sessionId": session_id,
            "deviceType": "tablet",
            "viewportWidth": 1024,
            "viewportHeight": 768,
            "referrer": "https://example.org/",
            "landingPage": "/configurator",
            "locale": "de-AT",
        },
        headers={"User-Agent": FIREFOX},
    )
    assert started.status_code == 201, started.text
    assert started.json() == {"sessionId": session_id}

    fresh = await http.post("/api/sessions", json={"locale": "en"})
    assert fresh.status_code == 201
    assert uuid.UUID(fresh.json()["sessionId"])

    occurred_ms = int((datetime.now(UTC) - timedelta(seconds=30)).timestamp() * 1000)
    saved = await http.post(f"/api/sessions/{session_id}/snapshots", json=snapshot(timestamp=occurred_ms))
    assert saved.status_code == 202, saved.text
    snapshot_id = saved.json()["snapshotId"]

    ended = await http.post(f"/api/sessions/{session_id}/end", json={"reason": "page_exit"})
    assert ended.status_code == 202, ended.text
    assert ended.json() == {"sessionId": session_id}

    await flush(sync)
    session = await pg_pool.fetchrow("SELECT * FROM user_sessions WHERE session_id = $1", session_id)
    assert session is not None
    assert (session["user_agent"], session["device_type"], session["locale"]) == (
        "Firefox 133 / Linux",  # reduced to what analytics use
        "tablet",
        "de-AT",
    )
    assert (session["referrer"], session["landing_page"]) == ("https://example.org/", "/configurator")
    assert session["end_reason"] == "page_exit"
    assert session["ended_at"] is not None
    row = await pg_pool.fetchrow(
        "SELECT * FROM configuration_snapshots WHERE snapshot_id = $1", uuid.UUID(snapshot_id)
    )
    assert row is not None
    assert row["session_id"] == session_id
    assert (row["total_price_minor"], row["currency"], row["trigger"]) == (24_990_000, "EUR", "auto_save")
    assert row["completion_percentage"] == 60.5
    assert orjson.loads(row["configuration"]) == {"nest": "nest_80", "gebaeudehuelle": "wood"}
    assert int(row["occurred_at"].timestamp() * 1000) == occurred_ms
    assert (
        await pg_pool.fetchval(
            "SELECT count(*) FROM user_sessions WHERE session_id = $1", fresh.json()["sessionId"]
        )
        == 1
    )


async def test_metrics_one_or_a_list_reach_postgres(
    http: httpx.AsyncClient, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    single = await http.post(
        "/api/metrics",
        json={"metricName": "lcp", "valueMs": 812.5, "endpoint": "/demo"},
        headers={"User-Agent": FIREFOX},
    )
    assert single.status_code == 200, single.text
    [result] = single.json()["results"]
    assert result["status"] == "accepted"
    assert result["index"] == 0

    listed = await http.post(
        "/api/metrics",
        json={
            "sentAt": datetime.now(UTC).isoformat(),
            "metrics": [
                {
                    "metricName": "ttfb",
                    "valueMs": 41,
                    "endpoint": "/api/batch",
                    "additionalData": {"rating": "good"},
                },
                {"metricName": "Not A Name", "valueMs": -1},
            ],
        },
    )
    assert listed.status_code == 200
    first, second = listed.json()["results"]
    assert first["status"] == "accepted"
    assert second["status"] == "rejected"
    assert {f["field"] for f in second["error"]["fields"]} == {"metricName", "valueMs"}

    await flush(sync)
    rows = await pg_pool.fetch(
        "SELECT metric_name, value_ms, endpoint, user_agent FROM performance_metrics ORDER BY 1"
    )
    assert [tuple(row) for row in rows] == [
        ("lcp", 812.5, "/demo", "Firefox 133 / Linux"),
        ("ttfb", 41.0, "/api/batch", "other / other"),  # python-httpx: no known browser, no system
    ]


async def test_batch_accepts_good_items_and_rejects_bad_ones_each_on_its_own(
    http: httpx.AsyncClient, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    session_id = f"s-{uuid.uuid4().hex}"
    good_event = str(uuid.uuid4())
    items: list[Any] = [
        {"kind": "interaction", **interaction(session_id, eventId=good_event)},
        {"kind": "interaction", **interaction(session_id, eventType="teleport")},
        {"kind": "gesture", "sessionId": session_id},
        "not an object",
        {"kind": "snapshot", "sessionId": session_id, **snapshot(trigger="order_attempt")},
        {"kind": "metric", "metricName": "inp", "valueMs": 120, "sessionId": session_id},
        {"kind": "interaction", **interaction(session_id, timeSpent=-5)},
        {"kind": "snapshot", "sessionId": session_id, **snapshot(totalPrice=-1, currency="euro")},
    ]
    response = await http.post("/api/batch", json={"sentAt": datetime.now(UTC).isoformat(), "items": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert [r["status"] for r in results] == [
        "accepted", "rejected", "rejected", "rejected", "accepted", "accepted", "rejected", "rejected",
    ]  # fmt: skip
    assert results[0]["id"] == good_event

    def fields(index: int) -> dict[str, str]:
        error = results[index]["error"]
        assert error["code"] == "INVALID_ARGUMENT"
        return {f["field"]: f["reason"] for f in error["fields"]}

    assert "click, hover, selection, scroll, custom" in fields(1)["eventType"]
    assert "gesture" in fields(2)["kind"]
    assert set(fields(3)) == {"item"}
    assert set(fields(6)) == {"timeSpent"}
    assert set(fields(7)) == {"totalPrice", "currency"}

    await flush(sync)
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM interaction_events WHERE session_id = $1", session_id)
        == 1
    )
    assert (
        await pg_pool.fetchval(
            "SELECT count(*) FROM configuration_snapshots WHERE session_id = $1", session_id
        )
        == 1
    )
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM performance_metrics WHERE session_id = $1", session_id)
        == 1
    )


async def test_interactions_of_a_session_come_back_in_time_order_and_paged(http: httpx.AsyncClient) -> None:
    session_id = f"s-{uuid.uuid4().hex}"
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    # posted out of order: the answer is in time order
    for minute, element in [(3, "c"), (1, "a"), (2, "b")]:
        when = (base + timedelta(minutes=minute)).isoformat()
        response = await http.post(
            "/api/sessions/track-interaction",
            json=interaction(session_id, elementId=element, timestamp=when, sequence=minute),
        )
        assert response.status_code == 202

    first = await http.get("/api/sessions/track-interaction", params={"sessionId": session_id, "pageSize": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert set(page) == {"sessionId", "interactions", "nextPageToken"}
    assert page["sessionId"] == session_id
    assert [i["elementId"] for i in page["interactions"]] == ["a", "b"]
    assert page["nextPageToken"]
    event = page["interactions"][0]
    assert event["eventType"] == "selection"
    assert event["deviceType"] == "desktop"
    assert event["timeSpent"] == 1500
    assert event["additionalData"] == {"step": 2, "source": "test"}
    assert event["timestamp"] == (base + timedelta(minutes=1)).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )
    assert set(interaction(session_id)) <= set(event)

    second = await http.get(
        "/api/sessions/track-interaction",
        params={"sessionId": session_id, "pageSize": 2, "pageToken": page["nextPageToken"]},
    )
    assert second.status_code == 200
    assert [i["elementId"] for i in second.json()["interactions"]] == ["c"]
    assert second.json()["nextPageToken"] == ""

    missing = await http.get("/api/sessions/track-interaction")
    assert missing.status_code == 400
    assert set(error_fields(missing)) == {"sessionId"}
    bad_token = await http.get(
        "/api/sessions/track-interaction", params={"sessionId": session_id, "pageToken": "x"}
    )
    assert bad_token.status_code == 400
    assert set(error_fields(bad_token)) == {"pageToken"}


def page_token(*parts: object) -> str:
    """A page token shaped as the reader's own, holding ``parts``."""
    return base64.urlsafe_b64encode(orjson.dumps(list(parts))).decode().rstrip("=")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("pageSize", "²"),  # a digit to str.isdigit, not to int()
        ("pageSize", "٣"),
        ("pageSize", "0"),
        ("pageToken", page_token("2026-03-08T12:01:30+00:00", True)),
        ("pageToken", page_token("2026-03-08T12:01:30+00:00", -1)),
        ("pageToken", page_token(1.5, str(uuid.uuid4()))),
        ("pageToken", page_token("2026-03-08T12:01:30", str(uuid.uuid4()))),  # no offset
        ("pageToken", page_token("0001-01-01T00:00:00+14:00", str(uuid.uuid4()))),  # before year 1 in UTC
        ("pageToken", page_token("9999-12-31T23:59:59-14:00", str(uuid.uuid4()))),  # after 9999 in UTC
        ("pageToken", page_token("2026-03-08T12:01:30+00:00", "\u0000")),
    ],
)
async def test_a_bad_page_size_or_token_is_a_400_naming_it(
    http: httpx.AsyncClient, name: str, value: str
) -> None:
    answer = await http.get("/api/sessions/track-interaction", params={"sessionId": "s-pages", name: value})
    assert answer.status_code == 400, answer.text
    assert set(error_fields(answer)) == {name}


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/api/sessions/track-interaction", {"sessionId": "s-1", "eventType": "teleport"}, {"eventType"}),
        ("/api/sessions/track-interaction", {"eventType": "click"}, {"sessionId"}),
        (
            "/api/sessions/track-interaction",
            {"sessionId": "s-1", "eventType": "click", "timeSpent": -5},
            {"timeSpent"},
        ),
        (
            "/api/sessions/track-interaction",
            {"sessionId": "s-1", "eventType": "click", "viewportWidth": "wide", "timestamp": "yesterday"},
            {"viewportWidth", "timestamp"},
        ),
        (
            "/api/sessions/track-interaction",
            {"sessionId": "s 1", "eventType": "custom"},
            {"sessionId", "customEventType"},
        ),
        (
            "/api/sessions/track-interaction",
            {"sessionId": "s-1", "eventType": "click", "additionalData": [1]},
            {"additionalData"},
        ),
        ("/api/sessions/s-1/snapshots", snapshot(totalPrice=-1, currency="euro"), {"totalPrice", "currency"}),
        (
            "/api/sessions/s-1/snapshots",
            snapshot(totalPrice=12.5, trigger="whenever"),
            {"totalPrice", "trigger"},
        ),
        (
            "/api/sessions/s-1/snapshots",
            {"totalPrice": 1, "currency": "EUR", "trigger": "manual"},
            {"configuration"},
        ),
        ("/api/sessions/s-1/snapshots", snapshot(completionPercentage=101), {"completionPercentage"}),
        ("/api/sessions/s-1/end", {"reason": "bored"}, {"reason"}),
        ("/api/sessions/s-1/end", {}, {"reason"}),
        ("/api/sessions", {"viewportWidth": 99_999, "deviceType": "fridge"}, {"deviceType"}),
        ("/api/sessions", {"viewportWidth": 99_999}, {"viewportWidth"}),
        ("/api/batch", {"items": "all of them"}, {"items"}),
        ("/api/batch", {"items": [{"kind": "metric"}] * 501}, {"items"}),
        ("/api/batch", {"items": [], "sentAt": True}, {"sentAt"}),
        ("/api/metrics", {"metrics": {"lcp": 1}}, {"metrics"}),
    ],
)
async def test_bad_input_is_a_400_naming_the_json_fields(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], expected: set[str]
) -> None:
    response = await http.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "INVALID_ARGUMENT"
    fields = error_fields(response)
    assert set(fields) == expected, fields
    assert all(reason for reason in fields.values())
    assert "_" not in "".join(fields), "proto field paths must not leak"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"", "empty"),
        (b'{"a": NaN}', "not valid JSON"),
    ],
)
async def test_malformed_body_is_a_400_naming_the_body(
    http: httpx.AsyncClient, content: bytes, reason: str
) -> None:
    response = await http.post(
        "/api/sessions/track-interaction", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert reason in error_fields(response)["body"]


async def test_text_plain_and_gzip_bodies_are_accepted(
    http: httpx.AsyncClient, gateway: RunningGateway
) -> None:
    session_id = f"s-{uuid.uuid4().hex}"
    body = orjson.dumps(interaction(session_id))
    # what navigator.sendBeacon sends: a text/plain string, the key in the query
    beacon = await http.post(
        f"/api/sessions/track-interaction?key={WRITE_KEY}",
        content=body,
        headers={"Content-Type": "text/plain;charset=UTF-8", "X-Write-Key": ""},
    )
    assert beacon.status_code == 202, beacon.text
    zipped = await http.post(
        "/api/batch",
        content=gzip.compress(
            orjson.dumps({"items": [{"kind": "interaction", **interaction(session_id)}] * 3})
        ),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert zipped.status_code == 200, zipped.text
    assert [r["status"] for r in zipped.json()["results"]] == ["accepted"] * 3

    broken = await http.post(
        "/api/batch", content=b"\x1f\x8bnot gzip at all", headers={"Content-Encoding": "gzip"}
    )
    assert broken.status_code == 400
    assert "gzip" in error_fields(broken)["body"]
    brotli = await http.post("/api/batch", content=body, headers={"Content-Encoding": "br"})
    assert brotli.status_code == 415
    assert brotli.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_bodies_over_the_limit_are_413_also_after_gzip(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(max_body_bytes=4096)
    padding = "x" * 5000
    big = orjson.dumps(interaction("s-1", additionalData={"padding": padding}))
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        plain = await client.post("/api/sessions/track-interaction", content=big)
        assert plain.status_code == 413
        assert plain.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while reading
            for start in range(0, len(big), 1000):
                yield big[start : start + 1000]

        chunked = await client.post("/api/sessions/track-interaction", content=chunks())
        assert chunked.status_code == 413

        # a zip bomb: 3 MB of zeros inflate from 3 KB
        bomb = gzip.compress(b'{"a":"' + b"0" * 3_000_000 + b'"}')
        assert len(bomb) < 4096
        inflated = await client.post("/api/batch", content=bomb, headers={"Content-Encoding": "gzip"})
        assert inflated.status_code == 413

        small = await client.post(
            "/api/sessions/track-interaction",
            content=gzip.compress(orjson.dumps(interaction("s-1"))),
            headers={"Content-Encoding": "gzip"},
        )
        assert small.status_code == 202


async def test_write_key_missing_is_401_and_wrong_is_403(gateway: RunningGateway) -> None:
    body = interaction("s-1")
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        missing = await client.post("/api/sessions/track-interaction", json=body)
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "UNAUTHENTICATED"
        wrong = await client.post(
            "/api/sessions/track-interaction", json=body, headers={"X-Write-Key": "guess"}
        )
        assert wrong.status_code == 403
        assert wrong.json()["error"]["code"] == "PERMISSION_DENIED"
        wrong_query = await client.post("/api/batch?key=guess", json={"items": []})
        assert wrong_query.status_code == 403
        other = await client.post(
            "/api/sessions/track-interaction", json=body, headers={"X-Write-Key": "other-key"}
        )
        assert other.status_code == 202
        read = await client.get("/api/sessions/track-interaction", params={"sessionId": "s-1"})
        assert read.status_code == 401
        bearer = await client.get(
            "/api/sessions/track-interaction",
            params={"sessionId": "s-1"},
            headers={"Authorization": "Bearer nope"},
        )
        assert bearer.status_code == 403
        # probes and the description need no key
        for path in ("/healthz", "/readyz", "/openapi.json", "/metrics"):
            assert (await client.get(path)).status_code == 200, path


async def test_admin_token_reads_interactions(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(write_keys=WRITE_KEY, admin_tokens="admin-1")
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        read = await client.get(
            "/api/sessions/track-interaction",
            params={"sessionId": "s-1"},
            headers={"Authorization": "Bearer admin-1"},
        )
        assert read.status_code == 200, read.text
        assert read.json() == {"sessionId": "s-1", "interactions": [], "nextPageToken": ""}


async def test_cors_preflight_and_allow_list(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(cors_origins="https://shop.example, https://www.shop.example")
    preflight_headers = {
        "Origin": "https://shop.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "X-Write-Key, Content-Type, Content-Encoding",
    }
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        allowed = await client.options("/api/sessions/track-interaction", headers=preflight_headers)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
        allow_headers = allowed.headers["access-control-allow-headers"].lower()
        for header in ("x-write-key", "content-type", "content-encoding", "authorization"):
            assert header in allow_headers
        assert "POST" in allowed.headers["access-control-allow-methods"]

        denied = await client.options(
            "/api/sessions/track-interaction", headers={**preflight_headers, "Origin": "https://evil.example"}
        )
        assert denied.status_code == 400
        assert "access-control-allow-origin" not in denied.headers

        simple = await client.post(
            "/api/sessions/track-interaction",
            json=interaction("s-1"),
            headers={"Origin": "https://www.shop.example"},
        )
        assert simple.status_code == 202
        assert simple.headers["access-control-allow-origin"] == "https://www.shop.example"

    anyone = await start_gateway(cors_origins="*")
    async with httpx.AsyncClient(base_url=anyone.url) as client:
        response = await client.options(
            "/api/batch", headers={**preflight_headers, "Origin": "https://anywhere.example"}
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] in ("*", "https://anywhere.example")


# --- operations ------------------------------------------------------------------------------------


async def test_readyz_follows_ingest_and_unavailable_ingest_is_503_with_retry_after(
    http: httpx.AsyncClient, start_gateway: StartGateway
) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}

    orphan = await start_gateway(ingest_address=f"127.0.0.1:{free_port()}", ingest_timeout_seconds=2)
    async with httpx.AsyncClient(base_url=orphan.url) as client:
        assert (await client.get("/healthz")).status_code == 200
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["status"] == "not ready"
        for path, body in [
            ("/api/sessions/track-interaction", interaction("s-1")),
            ("/api/sessions", {}),
            ("/api/batch", {"items": [{"kind": "metric", "metricName": "lcp", "valueMs": 1}]}),
        ]:
            response = await client.post(path, json=body)
            assert response.status_code == 503, (path, response.text)
            assert response.json()["error"]["code"] == "UNAVAILABLE"
            assert int(response.headers["retry-after"]) >= 1


async def test_metrics_count_requests_per_route_template_and_status(http: httpx.AsyncClient) -> None:
    for _ in range(3):
        assert (await http.post("/api/sessions/s-9/end", json={"reason": "order"})).status_code == 202
    assert (await http.post("/api/sessions/s-9/end", json={"reason": "nope"})).status_code == 400
    assert (await http.get("/no/such/path")).status_code == 404
    text = (await http.get("/metrics")).text
    end_route = 'method="POST",route="/api/sessions/{session_id}/end"'
    assert f'configtrail_gateway_requests_total{{{end_route},status="202"}} 3.0' in text
    assert 'route="/api/sessions/{session_id}/end",status="400"} 1.0' in text
    assert 'route="unmatched",status="404"} 1.0' in text
    assert "configtrail_gateway_request_duration_seconds_bucket" in text
    assert "configtrail_gateway_ingest_batch_calls_total" in text
    assert "s-9" not in text


async def test_not_found_and_wrong_method_answer_the_error_shape(http: httpx.AsyncClient) -> None:
    missing = await http.get("/api/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    wrong = await http.put("/api/batch", json={})
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in wrong.headers["allow"]


async def test_openapi_describes_every_route_with_schemas(
    http: httpx.AsyncClient, gateway: RunningGateway
) -> None:
    spec = (await http.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"]
    assert spec["info"]["version"]
    served: set[tuple[str, str]] = set()
    for route in gateway.app.routes:
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                served.add((getattr(route, "path", ""), method.lower()))
    described = {(path, method) for path, operations in spec["paths"].items() for method in operations}
    assert served == described

    def resolve(ref: str) -> Any:
        assert ref.startswith("#/"), ref
        node: Any = spec
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    operation_ids = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            operation_ids.append(operation["operationId"])
            assert operation["responses"], (path, method)
            if method == "post":
                content = operation["requestBody"]["content"]
                assert {"application/json", "text/plain"} <= set(content)
                assert "$ref" in content["application/json"]["schema"]
            for status, response in operation["responses"].items():
                assert status.isdigit()
                assert "description" in (resolve(response["$ref"]) if "$ref" in response else response)
    assert len(operation_ids) == len(set(operation_ids))
    interaction_schema = resolve("#/components/schemas/InteractionInput")
    assert set(interaction("s")) <= set(interaction_schema["properties"])


# --- limits: rate, coalescing ----------------------------------------------------------------------


async def test_ingest_over_its_backlog_answers_429_with_its_retry_after(
    servers: Servers, start_gateway: StartGateway
) -> None:
    backlogged = await create_ingest(ingest_settings(servers, max_backlog=3, backlog_retry_seconds=2.5))
    try:
        gateway = await start_gateway(write_keys=WRITE_KEY, ingest_address=f"127.0.0.1:{backlogged.port}")
        path = "/api/sessions/track-interaction"
        async with httpx.AsyncClient(base_url=gateway.url, headers={"X-Write-Key": WRITE_KEY}) as client:
            answers: list[httpx.Response] = []

            async def refused() -> bool:  # no Sync runs: the stream only grows past the limit
                answers.append(await client.post(path, json=interaction("s-backlog")))
                return answers[-1].status_code == 429

            assert await wait_until(refused, within=10)
            assert {answer.status_code for answer in answers[:-1]} == {202}
            limited = answers[-1]
            assert limited.json()["error"]["code"] == "RESOURCE_EXHAUSTED"
            assert "unsynced entries (limit 3)" in limited.json()["error"]["message"]
            assert limited.headers["retry-after"] == "3"  # Ingest's RetryInfo of 2.5 s, in whole seconds
    finally:
        await backlogged.stop()


async def test_rate_limit_answers_429_with_retry_after_per_client(
    start_gateway: StartGateway, redis_client: redis.Redis
) -> None:
    gateway = await start_gateway(write_keys=WRITE_KEY, rate_limit_per_second=0.5, rate_limit_burst=3)
    headers = {"X-Write-Key": WRITE_KEY, "X-Forwarded-For": "203.0.113.7"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as client:
        statuses = [
            (await client.post("/api/sessions/track-interaction", json=interaction("s-1"))).status_code
            for _ in range(3)
        ]
        assert statuses == [202, 202, 202]
        limited = await client.post("/api/sessions/track-interaction", json=interaction("s-1"))
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "RESOURCE_EXHAUSTED"
        assert 1 <= int(limited.headers["retry-after"]) <= 2
        batch = await client.post("/api/batch", json={"items": []})
        assert batch.status_code == 429

        other_client = await client.post(
            "/api/sessions/track-interaction",
            json=interaction("s-1"),
            headers={"X-Forwarded-For": "2001:db8::1"},
        )
        assert other_client.status_code == 202
        assert (await client.get("/healthz")).status_code == 200

    keys = [key.decode() async for key in redis_client.scan_iter(match="configtrail:gateway:*")]
    assert len(keys) == 2
    stored = "".join(keys).encode()
    for key in keys:
        values = await redis_client.hvals(key)
        stored += b"".join(v.encode() if isinstance(v, str) else v for v in values)
        assert 0 < await redis_client.pttl(key) <= 7000, "a bucket expires once it would be full again"
    for raw in (b"203.0.113.7", b"2001:db8", WRITE_KEY.encode()):
        assert raw not in stored
    assert gateway.gateway.limiter.limited == 2


async def test_rate_limit_checks_a_clients_concurrent_requests_in_one_script_call(
    redis_client: redis.Redis,
) -> None:
    limiter = RateLimiter(redis_client, rate=0.5, burst=3, timeout=1.0, retry_seconds=1)
    await limiter.start()
    await redis_client.config_resetstat()
    busy, quiet = f"busy-{uuid.uuid4().hex}", f"quiet-{uuid.uuid4().hex}"
    try:
        answers = await asyncio.gather(*(limiter.check(busy) for _ in range(5)), limiter.check(quiet))
        assert answers[:3] == [None, None, None]  # the burst, in arrival order
        assert all(wait is not None and 1.0 <= wait <= 2.0 for wait in answers[3:5]), answers
        assert answers[5] is None  # another client has its own bucket
        assert (limiter.checks, limiter.limited, limiter.round_trips) == (6, 2, 1)
        stats = await redis_client.info("commandstats")
        assert stats["cmdstat_evalsha"]["calls"] == 2  # one per client, not one per request
        assert await limiter.check(busy) is not None  # the bucket stays empty afterwards
    finally:
        await limiter.close()
        await redis_client.delete(bucket_key(busy), bucket_key(quiet))


@contextlib.asynccontextmanager
async def limiters(
    redis_client: redis.Redis, *, replicas: int = 1, through: object = None, **options: Any
) -> AsyncIterator[tuple[list[RateLimiter], str]]:
    """Started limiters on the test Redis (one per gateway; ``through`` stands in front of it when
    given) and a fresh client's bucket name."""
    talk_to = cast(redis.Redis, through or redis_client)
    started = [RateLimiter(talk_to, timeout=5.0, retry_seconds=1, **options) for _ in range(replicas)]
    for limiter in started:
        await limiter.start()
    client = f"client-{uuid.uuid4().hex}"
    try:
        yield started, client
    finally:
        for limiter in started:
            await limiter.close()
        await redis_client.delete(bucket_key(client))


class GatedRedis:
    """The test Redis with a gate before every pipeline's round trip: :meth:`hold` closes it,
    :meth:`release` opens it, :meth:`arrivals` waits until that many round trips have reached it."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._open = asyncio.Event()
        self._open.set()
        self._arrived = asyncio.Condition()
        self.arrived = 0

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def arrivals(self, count: int) -> None:
        async with asyncio.timeout(5), self._arrived:
            await self._arrived.wait_for(lambda: self.arrived >= count)

    async def script_load(self, script: str) -> Any:
        return await self._client.script_load(script)

    def pipeline(self, **options: Any) -> GatedPipeline:
        return GatedPipeline(self, self._client.pipeline(**options))

    async def _pass(self) -> None:
        async with self._arrived:
            self.arrived += 1
            self._arrived.notify_all()
        await self._open.wait()


class GatedPipeline:
    def __init__(self, gate: GatedRedis, pipe: Any) -> None:
        self._gate = gate
        self._pipe = pipe

    def evalsha(self, *args: Any) -> None:
        self._pipe.evalsha(*args)

    async def execute(self, **options: Any) -> Any:
        await self._gate._pass()
        return await self._pipe.execute(**options)


class ManualClock:
    """A clock that moves only when told (the limiter's ``clock``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


#: a refill of one token a day: a bucket's burst is all there is
NO_REFILL = 1 / 86400


async def test_rate_limit_spends_tokens_taken_ahead_without_round_trips(redis_client: redis.Redis) -> None:
    async with limiters(redis_client, rate=NO_REFILL, burst=100, local_tokens=10) as ([limiter], client):
        answers = [await limiter.check(client) for _ in range(130)]
        assert answers[:100] == [None] * 100, "every token of the bucket is spent, none lost"
        assert all(wait is not None and wait > 1000 for wait in answers[100:]), answers[100:]
        assert limiter.local >= 80, "most requests were let through on tokens held by the gateway"
        assert limiter.round_trips <= 20 + 30, (limiter.local, limiter.round_trips)
        assert (limiter.checks, limiter.limited) == (130, 30)
        state = await redis_client.hget(bucket_key(client), "n")
        assert state is not None
        assert float(state) < 1, "what was let through came out of Redis"


async def test_rate_limit_takes_ahead_once_while_a_refill_is_out(redis_client: redis.Redis) -> None:
    gate = GatedRedis(redis_client)
    options: dict[str, Any] = {"rate": NO_REFILL, "burst": 100, "local_tokens": 10}
    async with limiters(redis_client, through=gate, **options) as ([limiter], client):
        assert await limiter.check(client) is None  # a round trip: 1, and 10 ahead
        gate.hold()
        for _ in range(6):
            assert await limiter.check(client) is None  # on held tokens; at 5 left a refill goes out
        await gate.arrivals(2)  # the refill's round trip waits at the gate
        for _ in range(4):
            assert await limiter.check(client) is None  # the last held tokens
        last = asyncio.create_task(limiter.check(client))
        await gate.arrivals(3)  # a round trip of its own while the refill is out
        gate.release()
        assert await last is None
        state = await redis_client.hget(bucket_key(client), "n")
        assert state is not None
        # 12 let through, 10 held: the two round trips out at once took the allowance once between them
        assert float(state) == pytest.approx(100 - 12 - 10, abs=0.01)
        assert (limiter.local, limiter.round_trips) == (10, 3)


async def test_rate_limit_with_tokens_taken_ahead_holds_across_gateways(redis_client: redis.Redis) -> None:
    options: dict[str, Any] = {"rate": NO_REFILL, "burst": 50, "local_tokens": 10}
    async with limiters(redis_client, replicas=2, **options) as (replicas, client):
        let_through = 0
        for round_ in range(60):  # the client's requests alternate between the two gateways
            for limiter in replicas:
                if await limiter.check(client) is None:
                    let_through += 1
            if round_ % 7 == 0:  # and some arrive at once
                answers = await asyncio.gather(*(limiter.check(client) for limiter in replicas))
                let_through += answers.count(None)
        assert let_through == 50, "the bucket's tokens, no more, and none lost once both are spent"
        assert all(limiter.local > 0 for limiter in replicas)


async def test_rate_limit_with_tokens_taken_ahead_never_lets_through_more_than_the_bucket_gives(
    redis_client: redis.Redis,
) -> None:
    rate, burst, local = 50.0, 20, 5
    let_through = 0

    async def sender(limiter: RateLimiter, client: str, until: float) -> None:
        nonlocal let_through
        while time.monotonic() < until:
            # spent held tokens answer at once; every round trip lets the other senders in
            if await limiter.check(client) is None:
                let_through += 1

    options: dict[str, Any] = {"rate": rate, "burst": burst, "local_tokens": local}
    async with limiters(redis_client, replicas=2, **options) as (replicas, client):
        started = time.monotonic()
        await asyncio.gather(
            *(sender(limiter, client, started + 1.0) for limiter in replicas for _ in range(8))
        )
        elapsed = time.monotonic() - started
        earned = burst + rate * elapsed
        assert let_through <= earned + 2 * local, (let_through, earned)
        assert let_through >= 0.8 * earned - 2 * local, "tokens were lost beyond what the gateways hold"
        assert sum(limiter.local for limiter in replicas) > 0, "tokens were taken ahead and spent"
        assert all(limiter.limited > 0 for limiter in replicas)


async def test_rate_limit_without_tokens_taken_ahead_asks_redis_for_every_request(
    redis_client: redis.Redis,
) -> None:
    async with limiters(redis_client, rate=NO_REFILL, burst=3, local_tokens=0) as ([limiter], client):
        answers = [await limiter.check(client) for _ in range(5)]
        assert answers[:3] == [None, None, None]
        assert None not in answers[3:]
        assert (limiter.round_trips, limiter.local, limiter.limited) == (5, 0, 2)


async def test_rate_limit_reloads_its_script_without_counting_tokens_twice(redis_client: redis.Redis) -> None:
    async with limiters(redis_client, rate=NO_REFILL, burst=30, local_tokens=10) as ([limiter], client):
        answers = []
        for number in range(36):
            if number == 5:
                await redis_client.script_flush()  # as after a Redis restart
            answers.append(await limiter.check(client))
        assert answers[:30] == [None] * 30
        assert None not in answers[30:]
        assert limiter.failed_open == 0


async def test_rate_limit_through_the_gateway_spends_tokens_taken_ahead(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(
        write_keys=WRITE_KEY, rate_limit_per_second=0.01, rate_limit_burst=20, rate_limit_local_share=0.5
    )
    headers = {"X-Write-Key": WRITE_KEY, "X-Forwarded-For": "198.51.100.23"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as client:
        statuses = [
            (await client.post("/api/sessions/track-interaction", json=interaction("s-1"))).status_code
            for _ in range(21)
        ]
    assert statuses == [202] * 20 + [429]
    limiter = gateway.gateway.limiter
    assert limiter.local >= 10, "requests went through on tokens the gateway held"
    assert limiter.round_trips < 15


async def test_rate_limit_drops_tokens_held_too_long(redis_client: redis.Redis) -> None:
    clock = ManualClock()
    options: dict[str, Any] = {"rate": NO_REFILL, "burst": 40, "local_tokens": 10, "clock": clock}
    async with limiters(redis_client, **options) as ([limiter], client):
        assert await limiter.check(client) is None
        assert await limiter.check(client) is None
        assert (limiter.round_trips, limiter.local) == (1, 1)
        clock.now += ratelimit.LOCAL_TOKENS_SECONDS
        assert await limiter.check(client) is None
        assert (limiter.round_trips, limiter.local) == (2, 1), "the held tokens were dropped: Redis asked"
        state = await redis_client.hget(bucket_key(client), "n")
        assert state is not None
        assert float(state) == pytest.approx(40 - 22, abs=0.01), "two takes of 1 + 10 tokens, none given back"


async def test_rate_limit_fails_open_when_redis_is_unreachable(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(
        redis_url=f"redis://127.0.0.1:{free_port()}/0", rate_limit_per_second=0.5, rate_limit_burst=1
    )
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        for _ in range(3):
            response = await client.post("/api/sessions/track-interaction", json=interaction("s-1"))
            assert response.status_code == 202
    assert gateway.gateway.limiter.failed_open >= 1
    assert gateway.gateway.limiter.limited == 0


class RawConnections:
    """Open HTTP/1.1 connections written to directly: many requests leave at once, as from many browsers.

    (httpx schedules a couple of hundred concurrent requests over seconds, which would measure the
    client, not the gateway.)
    """

    def __init__(self, connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]) -> None:
        self.connections = connections

    @classmethod
    async def open(cls, port: int, count: int) -> RawConnections:
        return cls(
            list(await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(count))))
        )

    @staticmethod
    async def post(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) != b"\r\n":
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, orjson.loads(await reader.readexactly(length))

    async def post_all(self, path: str, bodies: list[bytes]) -> list[tuple[int, dict[str, Any]]]:
        return list(
            await asyncio.gather(
                *(
                    self.post(reader, writer, path, body)
                    for (reader, writer), body in zip(self.connections, bodies, strict=True)
                )
            )
        )

    async def close(self) -> None:
        for _, writer in self.connections:
            writer.close()
            await writer.wait_closed()


async def test_concurrent_single_interactions_share_track_batch_calls(
    start_gateway: StartGateway, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    gateway = await start_gateway(coalesce_window_ms=5)
    session_id = f"s-{uuid.uuid4().hex}"
    requests = 200
    bodies = [interaction(session_id, sequence=n + 1) for n in range(requests)]
    bodies[17] = interaction(session_id, eventType="teleport")
    bodies[42] = interaction(session_id, timeSpent=-1)
    connections = await RawConnections.open(gateway.port, requests)
    try:
        answers = await connections.post_all(
            "/api/sessions/track-interaction", [orjson.dumps(b) for b in bodies]
        )
    finally:
        await connections.close()

    statuses = [status for status, _ in answers]
    assert statuses.count(202) == requests - 2
    assert (statuses[17], statuses[42]) == (400, 400)
    assert [f["field"] for f in answers[17][1]["error"]["fields"]] == ["eventType"]
    assert [f["field"] for f in answers[42][1]["error"]["fields"]] == ["timeSpent"]
    ids = {body["eventId"] for status, body in answers if status == 202}
    assert len(ids) == requests - 2

    coalescer = gateway.gateway.coalescer
    assert coalescer.items == requests - 1  # the unknown eventType never left the gateway
    assert coalescer.calls < requests / 10, coalescer.calls

    await flush(sync)
    stored = await pg_pool.fetchval(
        "SELECT count(*) FROM interaction_events WHERE session_id = $1", session_id
    )
    assert stored == requests - 2


async def test_stopping_delivers_requests_in_flight(start_gateway: StartGateway) -> None:
    # every request waits the window (none is sent early), so all five are in the gateway at the stop
    gateway = await start_gateway(coalesce_window_ms=50, coalesce_calls_in_flight=0)
    session_id = f"s-{uuid.uuid4().hex}"
    connections = await RawConnections.open(gateway.port, 5)
    try:
        posting = asyncio.ensure_future(
            connections.post_all(
                "/api/sessions/track-interaction", [orjson.dumps(interaction(session_id))] * 5
            )
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while gateway.server.server_state.total_requests < 5:  # all five arrived, none answered yet
            assert loop.time() < deadline
            await asyncio.sleep(0.005)
        stopping = asyncio.ensure_future(gateway.stop())
        answers = await posting
        await stopping
    finally:
        await connections.close()
    assert [status for status, _ in answers] == [202] * 5
    assert gateway.task.done()


# --- property: no input makes a 5xx ----------------------------------------------------------------

_FIELDS = sorted(
    {
        *interaction("s"),
        *snapshot(),
        "kind",
        "items",
        "metrics",
        "metricName",
        "valueMs",
        "reason",
        "sentAt",
        "timestamp",
        "sessionId",
        "eventId",
        "snapshotId",
    }
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_json = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=5), children, max_size=6)
    ),
    max_leaves=25,
)
_objects = st.dictionaries(st.sampled_from(_FIELDS), _json, max_size=8)
_item_objects = st.fixed_dictionaries(
    {"kind": st.sampled_from(["interaction", "snapshot", "metric", "x"])},
    optional={k: _json for k in _FIELDS if k != "kind"},
)
_bodies = (
    _objects.map(orjson.dumps)
    | st.fixed_dictionaries({"items": st.lists(_item_objects, max_size=5)}).map(orjson.dumps)
    | _json.map(orjson.dumps)
    | st.binary(max_size=64)
)
_PATHS = [
    "/api/sessions",
    "/api/sessions/track-interaction",
    "/api/sessions/s-1/snapshots",
    "/api/sessions/s-1/end",
    "/api/batch",
    "/api/metrics",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(_PATHS), body=_bodies, zipped=st.booleans())
async def test_no_input_makes_a_server_error(
    http: httpx.AsyncClient, path: str, body: bytes, zipped: bool
) -> None:
    headers = {"Content-Type": "text/plain"}
    if zipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    response = await http.post(path, content=body, headers=headers)
    assert response.status_code < 500, response.text
    assert response.status_code in (200, 201, 202, 400), response.text
    if response.status_code == 400:
        error_fields(response)
