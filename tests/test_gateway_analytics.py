"""The admin's analytics over HTTP: gateway → real Metrics (clock fixed at ``NOW``) → Postgres.

Each endpoint is checked twice: against the Metrics gRPC reply for the same request (converted here by
protobuf's own int64 unquoting, independently of the gateway's converter, and parsed back into the reply
type), and against numbers worked out by hand on a small dataset written straight into the tables.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

from configtrail.embedded import free_port
from configtrail.grpcserver import RunningServer
from configtrail.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc
from gateway import analytics
from gateway.analytics import ANALYTICS_ROUTES, reply_json
from gateway.server import RunningGateway, start
from gateway.settings import GatewaySettings
from tests.conftest import Servers
from tests.test_analytics_support import (
    NOW,
    add_event,
    add_metric,
    add_session,
    add_snapshot,
    at,
    metrics_stub,
    running_metrics_server,
    ts,
)

WRITE, ADMIN, ERASE = "write-key-1", "admin-token-1", "erase-token-1"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
#: The range of the dataset: 03-09, UTC
RANGE = {"from": "2026-03-09T00:00:00Z", "to": "2026-03-10T00:00:00Z"}
StartGateway = Callable[..., Awaitable[RunningGateway]]


def _token(*cursor: object) -> str:
    """A page token as ListSessions makes them (base64url of JSON), of any content."""
    return base64.urlsafe_b64encode(json.dumps(list(cursor)).encode()).decode().rstrip("=")


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


@pytest.fixture
async def metrics_server(servers: Servers, clean: None) -> AsyncIterator[RunningServer]:
    async with running_metrics_server(servers) as running:
        yield running


@pytest.fixture
async def metrics(metrics_server: RunningServer) -> AsyncIterator[metrics_pb2_grpc.MetricsAsyncStub]:
    async with metrics_stub(metrics_server) as stub:
        yield stub


@pytest.fixture
async def start_gateway(servers: Servers, metrics_server: RunningServer) -> AsyncIterator[StartGateway]:
    """Start gateways against the test Metrics server (overridable); stopped after the test."""
    running: list[RunningGateway] = []

    async def start_one(**overrides: Any) -> RunningGateway:
        values: dict[str, Any] = {
            "ingest_address": f"127.0.0.1:{free_port()}",
            "sync_address": f"127.0.0.1:{free_port()}",
            "metrics_address": f"127.0.0.1:{metrics_server.port}",
            "redis_url": servers.redis_url,
            "gateway_port": 0,
            "write_keys": WRITE,
            "admin_tokens": ADMIN,
            "erase_tokens": ERASE,
            "rate_limit_per_second": 0,
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
async def http(start_gateway: StartGateway) -> AsyncIterator[httpx.AsyncClient]:
    gateway = await start_gateway()
    async with httpx.AsyncClient(base_url=gateway.url, headers=AS_ADMIN, timeout=30) as client:
        yield client


@pytest.fixture
async def dataset(pg_pool: asyncpg.Pool, clean: None) -> None:
    """Three sessions on 03-09 and one long before; rollup columns as Sync would have written them."""
    pool = pg_pool
    # gw-1, desktop: nest 10:01 (60 s), gebaeudehuelle 10:02 (60 s), order attempt 10:05 (180 s); ordered
    await add_session(
        pool,
        "gw-1",
        at(9, 10),
        last_seen_at=at(9, 10, 10),
        device_type="desktop",
        status="ordered",
        ended_at=at(9, 10, 10),
        end_reason="order",
        interaction_count=2,
        snapshot_count=1,
        last_category="gebaeudehuelle",
        last_element_id="huelle",
        configuration={"nest": "nest_80"},
        price=5000,
        completion=100,
    )
    await add_event(pool, "gw-1", at(9, 10, 1), "selection", "nest", "nest_80", sequence=1)
    await add_event(pool, "gw-1", at(9, 10, 2), "selection", "gebaeudehuelle", "holz", sequence=2)
    await add_snapshot(
        pool,
        "gw-1",
        at(9, 10, 5),
        5000,
        configuration={"nest": "nest_80"},
        completion=100,
        trigger="order_attempt",
    )
    # gw-2, mobile: nest 11:01 (60 s), a snapshot at 40 %; still "active" but idle since 03-09
    await add_session(
        pool,
        "gw-2",
        at(9, 11),
        last_seen_at=at(9, 11, 2),
        device_type="mobile",
        interaction_count=1,
        snapshot_count=1,
        last_category="nest",
        last_element_id="nest-size",
        configuration={"nest": "nest_60"},
        price=3000,
        completion=40,
    )
    await add_event(pool, "gw-2", at(9, 11, 1), "selection", "nest", "nest_60")
    await add_snapshot(pool, "gw-2", at(9, 11, 2), 3000, configuration={"nest": "nest_60"}, completion=40)
    # gw-3, mobile: a click only, no snapshot; abandoned
    await add_session(
        pool,
        "gw-3",
        at(9, 12),
        device_type="mobile",
        status="abandoned",
        interaction_count=1,
        last_category="nest",
        last_element_id="nest-size",
    )
    await add_event(pool, "gw-3", at(9, 12, 1), "click", "nest")
    # 49 days before NOW: outside every default range
    await add_session(
        pool, "gw-old", datetime(2026, 1, 20, tzinfo=UTC), device_type="tablet", interaction_count=5
    )


def grpc_json(reply: Message) -> dict[str, Any]:
    """The reply as the HTTP API should answer it, converted without the gateway's code."""
    expected: dict[str, Any] = json_format.MessageToDict(
        reply, always_print_fields_with_no_presence=True, unquote_int64_if_possible=True
    )
    return expected


def assert_same(body: dict[str, Any], reply: Message) -> None:
    """The HTTP JSON is the gRPC reply: equal to its JSON form, and parsing back to the same message."""
    assert body == grpc_json(reply)
    assert json_format.ParseDict(body, type(reply)()) == reply


async def get(http: httpx.AsyncClient, path: str, **params: str | float) -> dict[str, Any]:
    answer = await http.get(path, params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    body: dict[str, Any] = answer.json()
    return body


def bad_fields(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert error["message"]
    return [f["field"] for f in error["fields"]]


# ---- who may read ----

REQUESTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/admin/overview", None),
    ("GET", "/api/admin/sessions", None),
    ("GET", "/api/admin/sessions/gw-1/journey", None),
    ("GET", "/api/admin/popular-configurations", None),
    ("POST", "/api/admin/funnel", {"steps": [{"eventType": "selection"}]}),
    ("GET", "/api/admin/price-evolution", None),
    ("GET", "/api/admin/abandonment", None),
    ("GET", "/api/admin/performance", None),
]


def test_the_auth_test_covers_every_analytics_route() -> None:
    served = {
        (method, route.path)
        for route in ANALYTICS_ROUTES
        for method in route.methods or ()
        if method != "HEAD"
    }
    tried = {(method, path.replace("gw-1", "{session_id}")) for method, path, _ in REQUESTS}
    assert served == tried


async def test_only_admin_tokens_read_analytics(start_gateway: StartGateway, dataset: None) -> None:
    gateway = await start_gateway()
    refused = [
        ({}, 401),
        ({"X-Write-Key": WRITE}, 401),  # write keys never grant admin reads
        ({"Authorization": f"Bearer {WRITE}"}, 403),
        ({"Authorization": f"Bearer {ERASE}"}, 403),  # nor do erase tokens
        ({"Authorization": "Bearer admin-token-2"}, 403),
        ({"Authorization": f"Basic {ADMIN}"}, 401),
    ]
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        for method, path, body in REQUESTS:
            for headers, status in refused:
                answer = await client.request(method, path, json=body, headers=headers)
                assert answer.status_code == status, (method, path, headers, answer.text)
                assert answer.json()["error"]["code"] in ("UNAUTHENTICATED", "PERMISSION_DENIED")
            # the key check comes before the input is read: a bad query is still a 401 without a token
            assert (
                await client.request(method, path, params={"from": "never"}, json=body)
            ).status_code == 401
            allowed = await client.request(method, path, json=body, headers=AS_ADMIN)
            assert allowed.status_code == 200, (method, path, allowed.text)


async def test_reads_are_refused_for_other_methods(http: httpx.AsyncClient) -> None:
    assert (await http.post("/api/admin/overview", json={})).status_code == 405
    assert (await http.get("/api/admin/funnel")).status_code == 405


# ---- each endpoint: the gRPC reply, and numbers known by hand ----


async def test_overview(
    http: httpx.AsyncClient, metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    body = await get(http, "/api/admin/overview", **RANGE)

    assert_same(
        body,
        await metrics.Overview(metrics_pb2.OverviewRequest(from_time=ts(at(9, 0)), to_time=ts(at(10, 0)))),
    )
    assert (body["from"], body["to"]) == (RANGE["from"], RANGE["to"])
    assert body["sessions"] == 3  # gw-old is outside
    assert body["interactions"] == 4  # 2 + 1 + 1
    assert body["completedSessions"] == 1
    assert body["orderAttemptSessions"] == 1
    assert body["orderConversionRate"] == pytest.approx(1 / 3)
    assert [(d["deviceType"], d["sessions"]) for d in body["devices"]] == [("mobile", 2), ("desktop", 1)]
    for name in ("sessions", "interactions", "activeNow", "completedSessions", "orderAttemptSessions"):
        assert type(body[name]) is int, name  # int64: a JSON number, not a string
    assert type(body["averageFinalPrices"][0]["averagePrice"]["amountMinor"]) is int
    assert body["series"] == []  # none asked for


async def test_overview_series(
    http: httpx.AsyncClient, metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    body = await get(http, "/api/admin/overview", bucketSeconds=86400, **RANGE)

    request = metrics_pb2.OverviewRequest(from_time=ts(at(9, 0)), to_time=ts(at(10, 0)), bucket_seconds=86400)
    assert_same(body, await metrics.Overview(request))
    assert body["series"] == [{"start": "2026-03-09T00:00:00Z", "sessions": 3, "interactions": 4}]

    hourly = await get(http, "/api/admin/overview", bucketSeconds=3600, **RANGE)
    assert len(hourly["series"]) == 24
    # gw-1 10:00 (events 10:01 10:02), gw-2 11:00 (11:01), gw-3 12:00 (12:01)
    busy = [(b["start"][11:13], b["sessions"], b["interactions"]) for b in hourly["series"] if b["sessions"]]
    assert busy == [("10", 1, 2), ("11", 1, 1), ("12", 1, 1)]


async def test_ranges_default_to_the_30_days_before_now(
    http: httpx.AsyncClient, metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    body = await get(http, "/api/admin/overview")

    assert body["to"] == iso(NOW)
    assert body["from"] == iso(NOW - timedelta(days=30))
    assert body["sessions"] == 3  # not gw-old, 49 days back
    assert_same(body, await metrics.Overview(metrics_pb2.OverviewRequest()))
    # empty values are unset too (a form's empty fields), and only "to" given: 30 days before it
    assert (await get(http, "/api/admin/overview", **{"from": "", "to": ""}))["from"] == iso(
        NOW - timedelta(days=30)
    )
    only_to = await get(http, "/api/admin/abandonment", to="2026-03-09T12:00:00Z")
    assert only_to["from"] == "2026-02-07T12:00:00Z"
    sessions = await get(http, "/api/admin/sessions")
    assert [s["sessionId"] for s in sessions["sessions"]] == ["gw-3", "gw-2", "gw-1"]


async def test_list_sessions_filters_and_pages(
    http: httpx.AsyncClient, metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    async def ids(**params: str | float) -> list[str]:
        body = await get(http, "/api/admin/sessions", **RANGE, **params)
        return [s["sessionId"] for s in body["sessions"]]

    assert await ids() == ["gw-3", "gw-2", "gw-1"]
    assert await ids(deviceType="mobile") == ["gw-3", "gw-2"]
    assert await ids(status="ordered") == ["gw-1"]
    assert await ids(minPriceMinor=4000) == ["gw-1"]
    assert await ids(maxPriceMinor=4000) == ["gw-2"]
    assert await ids(minCompletion=30, maxCompletion=50) == ["gw-2"]
    assert await ids(minCompletion="40.0", deviceType="mobile", status="active") == ["gw-2"]

    first = await get(http, "/api/admin/sessions", **RANGE, pageSize=2)
    request = metrics_pb2.ListSessionsRequest(from_time=ts(at(9, 0)), to_time=ts(at(10, 0)), page_size=2)
    assert_same(first, await metrics.ListSessions(request))
    assert [s["sessionId"] for s in first["sessions"]] == ["gw-3", "gw-2"]
    assert first["nextPageToken"]
    second = await get(http, "/api/admin/sessions", **RANGE, pageSize=2, pageToken=first["nextPageToken"])
    request.page_token = first["nextPageToken"]
    assert_same(second, await metrics.ListSessions(request))
    assert [s["sessionId"] for s in second["sessions"]] == ["gw-1"]
    assert second["nextPageToken"] == ""

    ordered = second["sessions"][0]
    assert (ordered["interactionCount"], ordered["snapshotCount"]) == (2, 1)
    assert ordered["latestPrice"] == {"amountMinor": 5000, "currency": "EUR"}
    assert (ordered["startedAt"], ordered["endedAt"]) == ("2026-03-09T10:00:00Z", "2026-03-09T10:10:00Z")
    assert ordered["durationSeconds"] == 600.0
    abandoned = first["sessions"][0]
    # fields with presence are left out when unset; the others are always there
    assert "latestPrice" not in abandoned
    assert "completionPercentage" not in abandoned
    assert "endedAt" not in abandoned
    assert (abandoned["endReason"], abandoned["snapshotCount"]) == ("", 0)


async def test_session_journey(
    http: httpx.AsyncClient, metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    body = await get(http, "/api/admin/sessions/gw-1/journey")

    assert_same(body, await metrics.SessionJourney(metrics_pb2.SessionJourneyRequest(session_id="gw-1")))
    assert body["session"]["sessionId"] == "gw-1"
    assert body["truncated"] is False
    steps = [
        (
            s["index"],
            "interaction" if "interaction" in s else "snapshot",
            s["secondsSincePrevious"],
            s.get("price"),
        )
        for s in body["steps"]
    ]
    assert steps == [
        (1, "interaction", 60.0, None),
        (2, "interaction", 60.0, None),
        (3, "snapshot", 180.0, {"amountMinor": 5000, "currency": "EUR"}),
    ]
    assert body["steps"][0]["interaction"]["selectionValue"] == "nest_80"
    assert body["steps"][0]["interaction"]["timeSpentMs"] == 0
    assert body["steps"][2]["snapshot"]["configuration"] == {"nest": "nest_80"}
    assert body["steps"][2]["snapshot"]["trigger"] == "order_attempt"


async def test_journey_of_an_unknown_session_is_404(http: httpx.AsyncClient, dataset: None) -> None:
    answer = await http.get("/api/admin/sessions/nobody/journey")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NOT_FOUND"
    # an id that cannot be one: Metrics' field violation under the JSON name
    assert bad_fields(await http.get("/api/admin/sessions/not%20an%20id/journey")) == ["sessionId"]


async def test_popular_configurations(
    http: httpx.AsyncClient, metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    body = await get(http, "/api/admin/popular-configurations", **RANGE, category="nest")

    request = metrics_pb2.PopularConfigurationsRequest(
        from_time=ts(at(9, 0)), to_time=ts(at(10, 0)), category="nest"
    )
    assert_same(body, await metrics.PopularConfigurations(request))
    assert [(c["category"], c["selections"]) for c in body["selections"]] == [("nest", 2)]
    assert {(o["option"], o["selections"]) for o in body["selections"][0]["options"]} == {
        ("nest_80", 1),
        ("nest_60", 1),
    }
    configurations = {
        (c["configuration"]["nest"], c["sessions"], c["averagePrice"]["amountMinor"])
        for c in body["configurations"]
    }
    assert configurations == {("nest_80", 1, 5000), ("nest_60", 1, 3000)}
    limited = await get(http, "/api/admin/popular-configurations", **RANGE, limit=1)
    assert len(limited["configurations"]) == 1
    assert {c["category"] for c in limited["selections"]} == {"nest", "gebaeudehuelle"}


FUNNEL = {
    "steps": [
        {"eventType": "selection", "category": "nest"},
        {"eventType": "selection", "category": "gebaeudehuelle"},
        {"snapshotTrigger": "order_attempt"},
    ],
    "windowSeconds": 3600,
    **RANGE,
}


async def test_funnel(
    http: httpx.AsyncClient, metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    answer = await http.post("/api/admin/funnel", json={**FUNNEL, "breakdown": "deviceType"})
    assert answer.status_code == 200, answer.text
    body = answer.json()

    request = metrics_pb2.FunnelRequest(
        steps=[
            metrics_pb2.FunnelStep(event_type="selection", category="nest"),
            metrics_pb2.FunnelStep(event_type="selection", category="gebaeudehuelle"),
            metrics_pb2.FunnelStep(snapshot_trigger="order_attempt"),
        ],
        window_seconds=3600,
        from_time=ts(at(9, 0)),
        to_time=ts(at(10, 0)),
        breakdown="deviceType",
    )
    assert_same(body, await metrics.Funnel(request))
    assert body["sessions"] == 3
    assert body["windowSeconds"] == 3600.0
    table = [
        (
            s["count"],
            round(s["conversionFromStart"], 6),
            round(s["conversionFromPrevious"], 6),
            s["dropOff"],
            s["medianSecondsFromPrevious"],
        )
        for s in body["steps"]
    ]
    assert table == [
        (2, 0.666667, 0.666667, 1, 60.0),  # gw-1 and gw-2, 60 s after their start each
        (1, 0.333333, 0.5, 1, 60.0),
        (1, 0.333333, 1.0, 0, 180.0),
    ]
    assert body["steps"][2]["step"] == {"eventType": "", "category": "", "snapshotTrigger": "order_attempt"}
    by_device = {
        b["deviceType"]: (b["sessions"], [s["count"] for s in b["steps"]]) for b in body["breakdown"]
    }
    assert by_device == {"mobile": (2, [1, 0, 0]), "desktop": (1, [1, 1, 1])}
    for step in body["steps"]:
        assert type(step["count"]) is int
        assert type(step["dropOff"]) is int

    plain = (await http.post("/api/admin/funnel", json={"steps": FUNNEL["steps"], **RANGE})).json()
    assert plain["breakdown"] == []
    assert plain["windowSeconds"] == 0.0


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**FUNNEL, "steps": []}, ["steps"]),  # Metrics' check
        ({"windowSeconds": 60}, ["steps"]),
        ({**FUNNEL, "breakdown": "country"}, ["breakdown"]),
        ({**FUNNEL, "windowSeconds": "an hour"}, ["windowSeconds"]),
        ({**FUNNEL, "windowSeconds": -1}, ["windowSeconds"]),  # Metrics' check, renamed
        ({**FUNNEL, "windowSeconds": 365 * 86_400 + 1}, ["windowSeconds"]),  # at most a year
        ({**FUNNEL, "windowSeconds": 2**63}, ["windowSeconds"]),
        ({**FUNNEL, "windowSeconds": 2**64}, ["windowSeconds"]),
        ({**FUNNEL, "windowSeconds": 1e30}, ["windowSeconds"]),
        ({**FUNNEL, "windowSeconds": 1e308}, ["windowSeconds"]),
        ({**FUNNEL, "windowSeconds": 253_402_300_800_000}, ["windowSeconds"]),
        ({**FUNNEL, "steps": [{"eventType": "selection", "category": "\x00"}]}, ["steps[0].category"]),
        ({**FUNNEL, "steps": [{"snapshotTrigger": "order_attempt\x00"}]}, ["steps[0].snapshotTrigger"]),
        ({**FUNNEL, "from": "last tuesday"}, ["from"]),
        ({**FUNNEL, "from": "2026-03-10T00:00:00Z", "to": "2026-03-09T00:00:00Z"}, ["from"]),
        ({**FUNNEL, "stepz": []}, ["stepz"]),
        ({**FUNNEL, "steps": [{"eventType": "selection", "categroy": "nest"}]}, ["steps[0].categroy"]),
        (
            {**FUNNEL, "steps": [{"eventType": "selection"}, {"snapshotTrigger": "checkout"}]},
            ["steps[1].snapshotTrigger"],
        ),
        ({**FUNNEL, "steps": [{"eventType": "teleport"}]}, ["steps[0].eventType"]),
        ({**FUNNEL, "steps": [{"eventType": 3}]}, ["steps[0].eventType"]),
        ({**FUNNEL, "steps": ["selection"]}, ["steps[0]"]),
        ({**FUNNEL, "steps": {"eventType": "selection"}}, ["steps"]),
    ],
)
async def test_funnel_errors_name_the_field(
    http: httpx.AsyncClient, body: dict[str, Any], fields: list[str]
) -> None:
    assert bad_fields(await http.post("/api/admin/funnel", json=body)) == fields


async def test_funnel_body_must_be_a_json_object(http: httpx.AsyncClient) -> None:
    assert bad_fields(await http.post("/api/admin/funnel", content=b"[1, 2]")) == ["body"]
    assert bad_fields(await http.post("/api/admin/funnel", content=b"{not json")) == ["body"]
    assert bad_fields(await http.post("/api/admin/funnel")) == ["body"]


async def test_price_evolution(
    http: httpx.AsyncClient, metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    body = await get(http, "/api/admin/price-evolution", **RANGE, maxSteps=5)

    request = metrics_pb2.PriceEvolutionRequest(from_time=ts(at(9, 0)), to_time=ts(at(10, 0)), max_steps=5)
    assert_same(body, await metrics.PriceEvolution(request))
    # one snapshot each in gw-1 (5000) and gw-2 (3000): step 1 only
    assert [(s["step"], s["currency"], s["sessions"]) for s in body["steps"]] == [(1, "EUR", 2)]
    assert body["steps"][0]["averagePrice"] == {"amountMinor": 4000, "currency": "EUR"}


async def test_abandonment(
    http: httpx.AsyncClient, metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    body = await get(http, "/api/admin/abandonment", **RANGE)

    request = metrics_pb2.AbandonmentRequest(from_time=ts(at(9, 0)), to_time=ts(at(10, 0)))
    assert_same(body, await metrics.Abandonment(request))
    # gw-3 (abandoned) and gw-2 (idle for a day); gw-1 ordered
    assert body["sessions"] == 2
    assert body["withoutSnapshot"] == 1  # gw-3
    assert [(c["category"], c["sessions"]) for c in body["byLastCategory"]] == [("nest", 2)]
    assert [(e["elementId"], e["sessions"]) for e in body["byLastElement"]] == [("nest-size", 2)]
    buckets = {(b["fromPercent"], b["toPercent"]): b["sessions"] for b in body["completion"]}
    assert len(buckets) == 10
    assert buckets[(40.0, 50.0)] == 1
    assert sum(buckets.values()) == 1


async def test_performance(
    http: httpx.AsyncClient, metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool, clean: None
) -> None:
    for value in (10, 20, 30, 40):
        await add_metric(pg_pool, "lcp", "/configurator", value, NOW - timedelta(seconds=60))
    await add_metric(pg_pool, "ttfb", "/api/sessions", 500, NOW - timedelta(seconds=120))
    await add_metric(pg_pool, "lcp", "/configurator", 9000, NOW - timedelta(seconds=1000))  # outside 600 s

    body = await get(http, "/api/admin/performance", window=600, metricName="lcp")

    request = metrics_pb2.GetPerformanceSummaryRequest(window_seconds=600, metric_name="lcp")
    assert_same(body, await metrics.GetPerformanceSummary(request))
    assert (body["from"], body["to"]) == (iso(NOW - timedelta(seconds=600)), iso(NOW))
    [lcp] = body["endpoints"]
    assert (lcp["metricName"], lcp["endpoint"], lcp["count"], lcp["samples"]) == (
        "lcp",
        "/configurator",
        4,
        4,
    )
    assert lcp["p50Ms"] == 25.0
    assert lcp["maxMs"] == 40.0
    assert lcp["rating"] == "RATING_EXCELLENT"  # enums by name
    assert body["thresholds"]["excellentBelowMs"] > 0

    default = await get(http, "/api/admin/performance")
    assert default["from"] == iso(NOW - timedelta(seconds=300))  # Metrics' default window
    assert {(e["metricName"], e["count"]) for e in default["endpoints"]} == {("lcp", 4), ("ttfb", 1)}
    only_api = await get(http, "/api/admin/performance", window="1e3", endpoint="/api/sessions")
    assert [(e["metricName"], e["count"]) for e in only_api["endpoints"]] == [("ttfb", 1)]
    assert only_api["series"] == []

    # per minute: the four lcp samples at 11:59:30 and the ttfb one at 11:58:30
    series = await get(http, "/api/admin/performance", window=600, bucketSeconds=60)
    request = metrics_pb2.GetPerformanceSummaryRequest(window_seconds=600, bucket_seconds=60)
    assert_same(series, await metrics.GetPerformanceSummary(request))
    assert [(b["metricName"], b["start"], b["count"], b["p50Ms"]) for b in series["series"]] == [
        ("lcp", "2026-03-10T11:59:00Z", 4, 25.0),
        ("ttfb", "2026-03-10T11:58:00Z", 1, 500.0),
    ]


# ---- query parameters ----


@pytest.mark.parametrize(
    ("path", "params", "fields"),
    [
        ("/api/admin/overview", {"from": "yesterday"}, ["from"]),
        ("/api/admin/overview", {"to": "2026-13-01T00:00:00Z"}, ["to"]),
        ("/api/admin/overview", {"from": "2026-03-10", "to": "2026-03-09"}, ["from"]),  # Metrics' check
        ("/api/admin/overview", {"form": "2026-03-09"}, ["form"]),
        ("/api/admin/sessions", {"pageSize": "ten"}, ["pageSize"]),
        ("/api/admin/sessions", {"pageSize": "501"}, ["pageSize"]),  # Metrics' check
        ("/api/admin/sessions", {"pageSize": str(2**31)}, ["pageSize"]),
        ("/api/admin/sessions", {"minPriceMinor": "1.5"}, ["minPriceMinor"]),
        ("/api/admin/sessions", {"minCompletion": "nan"}, ["minCompletion"]),
        ("/api/admin/sessions", {"minPriceMinor": "9", "maxPriceMinor": "1"}, ["minPriceMinor"]),
        ("/api/admin/sessions", {"deviceType": "fridge"}, ["deviceType"]),
        ("/api/admin/sessions", {"pageToken": "not-a-token"}, ["pageToken"]),
        ("/api/admin/popular-configurations", {"limit": "1000"}, ["limit"]),
        ("/api/admin/price-evolution", {"maxSteps": "-1"}, ["maxSteps"]),
        ("/api/admin/performance", {"window": "a while"}, ["window"]),
        ("/api/admin/performance", {"window": str(31 * 86400)}, ["window"]),  # Metrics' check, renamed
        ("/api/admin/performance", {"windowSeconds": "60"}, ["windowSeconds"]),
        ("/api/admin/performance", {"bucketSeconds": "90"}, ["bucketSeconds"]),  # Metrics' check, renamed
        ("/api/admin/performance", {"bucketSeconds": "1.5"}, ["bucketSeconds"]),
        ("/api/admin/overview", {"bucketSeconds": "1800"}, ["bucketSeconds"]),  # Metrics' check, renamed
        ("/api/admin/overview", {"bucketSeconds": "3600", "from": "2025-01-01T00:00:00Z"}, ["bucketSeconds"]),
        ("/api/admin/sessions/gw-1/journey", {"sessionId": "gw-2"}, ["sessionId"]),
        # page tokens that decode, but to no cursor: a time outside UTC's years 1..9999, a NUL in the id
        ("/api/admin/sessions", {"pageToken": _token("0001-01-01T00:00:00+14:00", "fuzz-1")}, ["pageToken"]),
        ("/api/admin/sessions", {"pageToken": _token("9999-12-31T23:59:59-14:00", "gw-1")}, ["pageToken"]),
        ("/api/admin/sessions", {"pageToken": _token("2026-03-08T12:01:30+00:00", "\x00")}, ["pageToken"]),
        # PostgreSQL text cannot hold NUL (Metrics' check, renamed)
        ("/api/admin/popular-configurations", {"category": "\x00"}, ["category"]),
        ("/api/admin/performance", {"metricName": "\x00"}, ["metricName"]),
        ("/api/admin/performance", {"endpoint": "/api\x00"}, ["endpoint"]),
        ("/api/admin/sessions", {"deviceType": "\x00"}, ["deviceType"]),
        ("/api/admin/sessions/gw-1%00/journey", {}, ["sessionId"]),
        # weeks from 2000-01-01 put the first bucket of this range before year 1
        (
            "/api/admin/overview",
            {"from": "0001-01-01T00:00:00Z", "to": "0001-03-01T00:00:00Z", "bucketSeconds": "604800"},
            ["bucketSeconds"],
        ),
        ("/api/admin/overview", {"to": "9999-12-31T23:59:59-14:00"}, ["to"]),
    ],
)
async def test_bad_query_parameters_are_named(
    http: httpx.AsyncClient, path: str, params: dict[str, str], fields: list[str]
) -> None:
    assert bad_fields(await http.get(path, params=params)) == fields


@pytest.mark.parametrize("to", ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00-14:00", "0001-01-30T00:00:00Z"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/admin/overview",
        "/api/admin/sessions",
        "/api/admin/popular-configurations",
        "/api/admin/price-evolution",
        "/api/admin/abandonment",
    ],
)
async def test_a_range_ending_in_the_first_30_days_of_year_1_starts_at_year_1(
    http: httpx.AsyncClient, dataset: None, path: str, to: str
) -> None:
    body = await get(http, path, to=to)
    if path == "/api/admin/sessions":
        assert body["sessions"] == []
    else:
        assert body["from"] == "0001-01-01T00:00:00Z"

    funnel = await http.post("/api/admin/funnel", json={"steps": FUNNEL["steps"], "to": to})
    assert funnel.status_code == 200, funnel.text
    assert (funnel.json()["from"], funnel.json()["sessions"]) == ("0001-01-01T00:00:00Z", 0)


async def test_a_parameter_given_twice_is_refused(http: httpx.AsyncClient) -> None:
    assert bad_fields(await http.get("/api/admin/sessions?status=active&status=ordered")) == ["status"]


async def test_metrics_unavailable_is_503(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(metrics_address=f"127.0.0.1:{free_port()}")
    async with httpx.AsyncClient(base_url=gateway.url, headers=AS_ADMIN, timeout=30) as client:
        answer = await client.get("/api/admin/overview")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "UNAVAILABLE"
    assert answer.json()["error"]["message"].startswith("metrics unavailable")
    assert "retry-after" in answer.headers


# ---- the whole way: ingestion over HTTP, Sync, Metrics, analytics over HTTP ----


async def test_events_sent_through_the_gateway_show_in_its_analytics(
    start_gateway: StartGateway,
    ingest_server: RunningServer,
    sync_server: RunningServer,
    sync: sync_pb2_grpc.SyncAsyncStub,
) -> None:
    gateway = await start_gateway(
        ingest_address=f"127.0.0.1:{ingest_server.port}", sync_address=f"127.0.0.1:{sync_server.port}"
    )
    sent_at = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=gateway.url, headers={"X-Write-Key": WRITE}, timeout=30) as client:
        started = await client.post("/api/sessions", json={"sessionId": "pipe-1", "deviceType": "mobile"})
        assert started.status_code == 201, started.text
        for category, value in [("nest", "nest_80"), ("dach", "flach")]:
            tracked = await client.post(
                "/api/sessions/track-interaction",
                json={
                    "sessionId": "pipe-1",
                    "eventType": "selection",
                    "category": category,
                    "selectionValue": value,
                },
            )
            assert tracked.status_code == 202, tracked.text
        saved = await client.post(
            "/api/sessions/pipe-1/snapshots",
            json={
                "configuration": {"nest": "nest_80", "dach": "flach"},
                "totalPrice": 12_345_678,
                "currency": "EUR",
                "trigger": "auto_save",
                "completionPercentage": 50,
            },
        )
        assert saved.status_code == 202, saved.text
    await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10))

    async with httpx.AsyncClient(base_url=gateway.url, headers=AS_ADMIN, timeout=30) as admin:
        journey = (await admin.get("/api/admin/sessions/pipe-1/journey")).json()
        assert [("interaction" in s, s.get("price")) for s in journey["steps"]] == [
            (True, None),
            (True, None),
            (False, {"amountMinor": 12_345_678, "currency": "EUR"}),
        ]
        assert (journey["session"]["interactionCount"], journey["session"]["snapshotCount"]) == (2, 1)
        window = {"from": iso(sent_at - timedelta(hours=1)), "to": iso(sent_at + timedelta(hours=1))}
        overview = (await admin.get("/api/admin/overview", params=window)).json()
        assert (overview["sessions"], overview["interactions"]) == (1, 2)
        funnel = await admin.post(
            "/api/admin/funnel",
            json={
                "steps": [{"category": "nest"}, {"category": "dach"}, {"snapshotTrigger": "auto_save"}],
                **window,
            },
        )
        assert [s["count"] for s in funnel.json()["steps"]] == [1, 1, 1]


# ---- the converter, the OpenAPI description ----


def test_int64_become_numbers_by_the_descriptor_not_by_their_text() -> None:
    reply = metrics_pb2.ListSessionsResponse(next_page_token="12345")
    session = reply.sessions.add(session_id="987", interaction_count=2**62 + 1, referrer="0")
    session.latest_price.amount_minor = -(2**63)
    session.latest_price.currency = "EUR"

    body = reply_json(reply)

    [converted] = body["sessions"]
    assert converted["interactionCount"] == 2**62 + 1  # exactly: not through a float
    assert converted["latestPrice"]["amountMinor"] == -(2**63)
    assert converted["snapshotCount"] == 0
    # strings that look like numbers stay strings
    assert (body["nextPageToken"], converted["sessionId"], converted["referrer"]) == ("12345", "987", "0")
    assert json_format.ParseDict(body, metrics_pb2.ListSessionsResponse()) == reply


async def test_openapi_lists_the_parameters_each_endpoint_reads(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    shapes: dict[str, analytics.Shape[Any]] = {
        "/api/admin/overview": analytics.OVERVIEW,
        "/api/admin/sessions": analytics.SESSIONS,
        "/api/admin/sessions/{session_id}/journey": analytics.JOURNEY,
        "/api/admin/popular-configurations": analytics.POPULAR,
        "/api/admin/price-evolution": analytics.PRICE_EVOLUTION,
        "/api/admin/abandonment": analytics.ABANDONMENT,
        "/api/admin/performance": analytics.PERFORMANCE,
    }
    for path, shape in shapes.items():
        operation = spec["paths"][path]["get"]
        documented = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
        assert documented == set(shape.parameters), path
        assert operation["security"] == [{"adminToken": []}]
    funnel = spec["components"]["schemas"]["FunnelQuery"]
    assert set(funnel["properties"]) == set(analytics.FUNNEL.fields)
    summary = spec["components"]["schemas"]["SessionSummary"]
    assert summary["properties"]["interactionCount"]["type"] == "integer"
    assert "interactionCount" in summary["required"]
    assert "latestPrice" not in summary["required"]
