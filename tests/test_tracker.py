"""``/tracker.js`` and ``/demo`` over real HTTP, without a browser: types, caching, the injected write key."""

from __future__ import annotations

import gzip
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Protocol

import asyncpg
import httpx
import orjson
import pytest

from configtrail.grpcserver import RunningServer
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc
from gateway import pages
from gateway.server import RunningGateway, start
from gateway.settings import GatewaySettings

WRITE_KEY = "demo-key-1"
TRACKER_SOURCE = pages.static_text("tracker.js")


class _Servers(Protocol):
    redis_url: str


def gateway_settings(servers: _Servers, ingest_server: RunningServer, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "ingest_address": f"127.0.0.1:{ingest_server.port}",
        "redis_url": servers.redis_url,
        "gateway_port": 0,
        "write_keys": f"{WRITE_KEY},second-key",
        "admin_tokens": "",
        "cors_origins": "",
        "rate_limit_per_second": 0,
        "shutdown_grace_seconds": 2,
        "telemetry_flush_seconds": 0,
    }
    values.update(overrides)
    return GatewaySettings(**values)


@pytest.fixture
async def gateway(servers: _Servers, ingest_server: RunningServer) -> AsyncIterator[RunningGateway]:
    running = await start(gateway_settings(servers, ingest_server))
    yield running
    await running.stop()


@pytest.fixture
async def http(gateway: RunningGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        yield client


async def test_tracker_is_javascript_cached_and_compressed(http: httpx.AsyncClient) -> None:
    response = await http.get("/tracker.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-encoding"] == "gzip"  # httpx asks for it and decodes it
    assert response.headers["vary"] == "Accept-Encoding"
    max_age = int(re.search(r"max-age=(\d+)", response.headers["cache-control"]).group(1))  # type: ignore[union-attr]
    assert max_age >= 86400
    assert response.text == TRACKER_SOURCE
    assert "window" in response.text
    assert "configtrail" in response.text

    plain = await http.get("/tracker.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == TRACKER_SOURCE.encode()
    assert int(plain.headers["content-length"]) == len(plain.content)
    async with http.stream("GET", "/tracker.js", headers={"Accept-Encoding": "br, gzip;q=0.8"}) as compressed:
        assert compressed.headers["content-encoding"] == "gzip"
        raw = b"".join([chunk async for chunk in compressed.aiter_raw()])
    assert gzip.decompress(raw) == plain.content
    assert int(compressed.headers["content-length"]) == len(raw) < len(plain.content) / 2

    etag = response.headers["etag"]
    unchanged = await http.get("/tracker.js", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag

    head = await http.head("/tracker.js")
    assert head.status_code == 200
    assert head.headers["content-type"] == "text/javascript; charset=utf-8"


async def test_versioned_tracker_url_is_cached_for_good(http: httpx.AsyncClient) -> None:
    version = pages.tracker_asset().version
    response = await http.get("/tracker.js", params={"v": version})
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    stale = await http.get("/tracker.js", params={"v": "not-this-version"})
    assert "immutable" not in stale.headers["cache-control"]


async def test_tracker_needs_no_write_key_and_no_cors_setup(http: httpx.AsyncClient) -> None:
    response = await http.get("/tracker.js", headers={"Origin": "https://shop.example"})
    assert response.status_code == 200
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"


def test_tracker_is_plain_es2017_without_dependencies() -> None:
    source = TRACKER_SOURCE
    assert source.lstrip().startswith("/*!")
    assert "(function () {" in source  # an IIFE
    for later_syntax in ("?.", "??", "import ", "export ", "require("):
        assert later_syntax not in source, later_syntax
    for needed in ("sendBeacon", "localStorage", "sessionStorage", "Retry-After", "keepalive", "pagehide"):
        assert needed in source, needed
    assert "http://" not in source
    assert "https://" not in source


async def test_demo_page_carries_the_first_write_key_and_the_tracker(http: httpx.AsyncClient) -> None:
    response = await http.get("/demo")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert f'<meta name="configtrail-write-key" content="{WRITE_KEY}">' in page
    assert "second-key" not in page
    assert "{{" not in page  # every placeholder filled
    version = pages.tracker_asset().version
    assert f'<script src="/tracker.js?v={version}"></script>' in page
    for category in ("nest", "gebaeudehuelle", "ausstattung", "fenster", "energie"):
        assert f"id: '{category}'" in page
    assert "order-button" in page
    assert "order_attempt" in page


async def test_demo_loads_nothing_from_elsewhere(http: httpx.AsyncClient) -> None:
    response = await http.get("/demo")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "connect-src 'self'" in csp
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", response.text)
    assert urls
    assert all(url.startswith(("/", "#")) for url in urls), urls
    assert "https://" not in response.text
    assert "http://" not in response.text


async def test_demo_escapes_the_write_key(servers: _Servers, ingest_server: RunningServer) -> None:
    running = await start(gateway_settings(servers, ingest_server, write_keys='k"><script>x</script>'))
    try:
        async with httpx.AsyncClient(base_url=running.url) as client:
            page = (await client.get("/demo")).text
    finally:
        await running.stop()
    assert 'content="k&quot;&gt;&lt;script&gt;x&lt;/script&gt;"' in page
    assert "<script>x</script>" not in page


async def test_demo_without_write_keys_sends_none(servers: _Servers, ingest_server: RunningServer) -> None:
    running = await start(gateway_settings(servers, ingest_server, write_keys=""))
    try:
        async with httpx.AsyncClient(base_url=running.url) as client:
            page = (await client.get("/demo")).text
    finally:
        await running.stop()
    assert '<meta name="configtrail-write-key" content="">' in page


async def test_what_the_tracker_sends_is_accepted(
    http: httpx.AsyncClient, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    """The exact shapes tracker.js builds: a session start, then a batch, also as a beacon (text/plain)."""
    session_id = str(uuid.uuid4())
    now_ms = int(time.time() * 1000)
    started = await http.post(
        "/api/sessions",
        headers={"X-Write-Key": WRITE_KEY},
        json={
            "sessionId": session_id,
            "deviceType": "desktop",
            "viewportWidth": 1280,
            "viewportHeight": 800,
            "timestamp": now_ms - 3000,
            "userAgent": "Mozilla/5.0 test",
            "landingPage": "http://127.0.0.1/demo",
            "locale": "de-AT",
        },
    )
    assert started.status_code == 201, started.text
    event = {
        "kind": "interaction",
        "eventId": str(uuid.uuid4()),
        "sessionId": session_id,
        "sequence": 1,
        "eventType": "selection",
        "deviceType": "desktop",
        "viewportWidth": 1280,
        "viewportHeight": 800,
        "timestamp": now_ms - 2000,
        "category": "nest",
        "elementId": "opt-nest_80",
        "selectionValue": "nest_80",
        "timeSpent": 1200,
        "additionalData": {"priceEuros": 149000},
    }
    snap = {
        "kind": "snapshot",
        "snapshotId": str(uuid.uuid4()),
        "sessionId": session_id,
        "configuration": {"nest": "nest_80"},
        "totalPrice": 14_900_000,
        "currency": "EUR",
        "completionPercentage": 20,
        "trigger": "page_exit",
        "timestamp": now_ms - 1000,
    }
    beacon = await http.post(
        f"/api/batch?key={WRITE_KEY}",
        content=orjson.dumps({"sentAt": now_ms, "items": [event, snap]}),
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    assert beacon.status_code == 200, beacon.text
    assert [r["status"] for r in beacon.json()["results"]] == ["accepted", "accepted"]

    await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10), timeout=15)
    row = await pg_pool.fetchrow("SELECT * FROM interaction_events WHERE session_id = $1", session_id)
    assert row is not None
    assert (row["category"], row["sequence"], row["element_id"]) == ("nest", 1, "opt-nest_80")
    trigger = await pg_pool.fetchval(
        "SELECT trigger FROM configuration_snapshots WHERE session_id = $1", session_id
    )
    assert trigger == "page_exit"
