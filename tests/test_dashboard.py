"""The admin dashboard in headless Chromium (Debian's, by Playwright) against the whole stack.

One stack for the module: embedded Postgres and Valkey, Ingest, Sync and Metrics in-process, the gateway,
and ``configtrail demo`` data (200 sessions over the last 7 days); one browser. Each page is opened by a
fresh navigation over an explicit range and checked against the admin API asked for the same range: the
numbers in its text and in its charts' data, its charts drawn (plotly's SVG), its first render under the
issue's budget of 1 s. A screenshot of each page (laptop and tablet width) lands in
``test-artifacts/dashboard/`` with ``render-ms.json``.

Where ``/usr/bin/chromium`` is missing the browser tests skip, except under CI (``CI`` set), where that
fails the run. The live feed's own tests (HTTP only) run without a browser.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import httpx
import pytest
import redis.asyncio as redis
from google.protobuf import timestamp_pb2
from playwright.async_api import Browser, Page

from bench.dashboard import (
    BUDGET_MS,
    PAGES,
    open_view,
    redrawn,
    sign_in,
    view_url,
    wait_for_render,
)
from configtrail import demo
from configtrail.common.v1 import events_pb2
from configtrail.grpcserver import RunningServer
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from configtrail.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc
from gateway.dashboard import EventRate, close_live_feeds, live_feeds
from gateway.server import RunningGateway, start
from gateway.settings import GatewaySettings
from tests.conftest import TABLES, Servers, ingest_settings, sync_settings, wait_until
from tests.test_analytics_support import metrics_settings
from tests.test_browser import ARTIFACTS, browser_or_skip

pytestmark = pytest.mark.browser

WRITE, ADMIN = "dashboard-write-key", "dashboard-admin-token"
SESSIONS, SEED, DAYS = 200, 11, 7
SHOTS = ARTIFACTS / "dashboard"


@dataclass
class Stack:
    gateway: RunningGateway
    ingest: ingest_pb2_grpc.IngestAsyncStub
    sync: sync_pb2_grpc.SyncAsyncStub
    metrics: metrics_pb2_grpc.MetricsAsyncStub
    servers: Servers
    #: the range every page is opened with: every demo session
    range: dict[str, str]

    def settings(self, **overrides: object) -> GatewaySettings:
        return gateway_settings(self.servers, self.ports, **overrides)

    ports: tuple[int, int, int] = (0, 0, 0)


def gateway_settings(servers: Servers, ports: tuple[int, int, int], **overrides: object) -> GatewaySettings:
    ingest, sync, metrics = ports
    values: dict[str, Any] = {
        "ingest_address": f"127.0.0.1:{ingest}",
        "sync_address": f"127.0.0.1:{sync}",
        "metrics_address": f"127.0.0.1:{metrics}",
        "redis_url": servers.redis_url,
        "gateway_port": 0,
        "write_keys": WRITE,
        "admin_tokens": ADMIN,
        "rate_limit_per_second": 0,
        "shutdown_grace_seconds": 1,
        "telemetry_flush_seconds": 0,
    }
    values.update(overrides)
    return GatewaySettings(**values)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(moment)
    return ts


async def _performance_samples(metrics: metrics_pb2_grpc.MetricsAsyncStub) -> None:
    """A few minutes of gateway latencies, so the performance page has endpoints to show."""
    now = datetime.now(UTC)
    batch = metrics_pb2.RecordMetricsRequest()
    for index in range(120):
        for endpoint, base in (("POST /api/batch", 4.0), ("GET /api/admin/overview", 40.0)):
            batch.metrics.add(
                metric_id=str(uuid.uuid4()),
                metric_name="api_response_time",
                value_ms=base + (index % 20) * base / 10,
                endpoint=endpoint,
                timestamp=stamp(now - timedelta(seconds=index * 2)),
            )
    await metrics.RecordMetrics(batch, timeout=10)


@pytest.fixture(scope="module")
async def stack(servers: Servers, pg_pool: asyncpg.Pool) -> AsyncIterator[Stack]:
    from services.ingest.server import create_server as create_ingest
    from services.metrics.server import create_server as create_metrics
    from services.sync.server import create_server as create_sync

    await pg_pool.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")
    async with redis.Redis.from_url(servers.redis_url) as client:
        await client.flushdb()
    reference = demo.default_reference()
    await demo.generate(servers.dsn, SESSIONS, SEED, DAYS, reference)
    started: list[RunningServer] = []
    try:
        started.append(await create_ingest(ingest_settings(servers)))
        started.append(await create_sync(sync_settings(servers)))
        started.append(await create_metrics(metrics_settings(servers)))
        ports = (started[0].port, started[1].port, started[2].port)
        gateway = await start(gateway_settings(servers, ports))
        try:
            async with (
                grpc.aio.insecure_channel(f"127.0.0.1:{ports[0]}") as ingest_channel,
                grpc.aio.insecure_channel(f"127.0.0.1:{ports[1]}") as sync_channel,
                grpc.aio.insecure_channel(f"127.0.0.1:{ports[2]}") as metrics_channel,
            ):
                metrics = metrics_pb2_grpc.MetricsStub(metrics_channel)
                await _performance_samples(metrics)
                window = {"from": iso(reference - timedelta(days=DAYS + 1)), "to": iso(reference)}
                yield Stack(
                    gateway,
                    ingest_pb2_grpc.IngestStub(ingest_channel),
                    sync_pb2_grpc.SyncStub(sync_channel),
                    metrics,
                    servers,
                    window,
                    ports,
                )
        finally:
            close_live_feeds(gateway.app)
            await gateway.stop()
    finally:
        for server in reversed(started):
            await server.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with browser_or_skip() as launched:
        yield launched


class Console:
    """The page's console errors and failed requests: a page that works has none."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


@pytest.fixture(scope="module")
async def signed_in(browser: Browser, stack: Stack) -> AsyncIterator[tuple[Page, Console]]:
    """One tab, signed in once: its sessionStorage keeps the token across the tests' navigations."""
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="UTC"
    )
    page = await context.new_page()
    console = Console(page)
    await sign_in(page, stack.gateway.url, ADMIN)
    yield page, console
    await context.close()


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(base_url=stack.gateway.url, headers=headers, timeout=30) as client:
        yield client


async def api(http: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    answer = await http.get(path, params={k: v for k, v in params.items() if v is not None})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


RENDER_MS: dict[str, dict[str, float]] = {}


async def opened(page: Page, console: Console, stack: Stack, view: str, **params: str) -> float:
    """Open ``view`` afresh; checks its charts are drawn, saves a screenshot, returns its render time."""
    query = dict(stack.range) if view not in ("live", "performance") else {}
    query.update(params)
    render = await open_view(page, stack.gateway.url, view, query)
    RENDER_MS[view] = {"firstRender": render.first, "complete": render.complete}
    charts = await page.evaluate(
        """() => [...document.querySelectorAll('[data-chart]')].map((el) => ({
            name: el.dataset.chart, svg: !!el.querySelector('svg.main-svg'),
            traces: (el.data || []).length}))"""
    )
    assert charts, f"{view}: no chart"
    for chart in charts:
        assert chart["svg"], (view, chart)
        assert chart["traces"] >= 1, (view, chart)
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{view}.png"), full_page=True)
    (SHOTS / "render-ms.json").write_text(json.dumps(RENDER_MS, indent=2))
    assert render.first < BUDGET_MS, f"{view}: first render took {render.first:.0f} ms"
    assert render.complete < BUDGET_MS, f"{view}: the last chart took {render.complete:.0f} ms"
    assert not console.errors, console.errors
    return render.first


async def text_of(page: Page, selector: str) -> str:
    text: str = await page.inner_text(selector)
    return text.strip()


async def formatted(page: Page, kind: str, *values: Any) -> str:
    """What the page's own formatter makes of ``values`` (the DOM must show exactly that)."""
    result: str = await page.evaluate(
        f"(values) => configtrailDashboard.format.{kind}(...values)", list(values)
    )
    return result


async def chart_data(page: Page, name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = await page.evaluate(
        '(name) => document.querySelector(`[data-chart="${name}"]`).data.map((t) => ({x: t.x, y: t.y, '
        "values: t.values, labels: t.labels, name: t.name}))",
        name,
    )
    return data


def euros(minor: int) -> str:
    """How en-US writes an amount of EUR cents: an independent check of the page's currency format."""
    return f"€{minor / 100:,.2f}"


# ---- sign-in ---------------------------------------------------------------------------------------


async def test_sign_in_refuses_a_wrong_token_and_keeps_a_good_one_for_the_tab_only(
    browser: Browser, stack: Stack
) -> None:
    context = await browser.new_context(locale="en-US")
    try:
        page = await context.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        await page.goto(f"{stack.gateway.url}/dashboard#overview")
        await wait_for_render(page, "signin")
        assert await page.is_visible("#signin-form")
        assert not await page.is_visible("#tabs")

        await page.fill("#token", "not-the-token")
        await page.click("#signin-submit")
        await page.wait_for_selector("#signin-error:not([hidden])")
        message = await text_of(page, "#signin-error")
        assert "Refused" in message, message
        assert "403" in message, message
        assert await page.is_hidden("#page")
        assert await page.evaluate("document.querySelectorAll('[data-kpi], [data-chart]').length") == 0
        assert await page.evaluate("sessionStorage.length + localStorage.length") == 0

        await page.fill("#token", ADMIN)
        await page.click("#signin-submit")
        await wait_for_render(page, "overview")
        assert await page.evaluate("sessionStorage.getItem('configtrail.adminToken')") == ADMIN
        assert await page.evaluate("localStorage.length") == 0
        assert not [url for url in requested if ADMIN in url or "not-the-token" in url]

        await page.click("#sign-out")
        await wait_for_render(page, "signin")
        assert await page.evaluate("sessionStorage.length") == 0
    finally:
        await context.close()

    other = await browser.new_context()  # another browser session: signed out
    try:
        page = await other.new_page()
        await page.goto(f"{stack.gateway.url}/dashboard")
        await wait_for_render(page, "signin")
    finally:
        await other.close()


# ---- the pages ------------------------------------------------------------------------------------


async def test_overview_shows_the_api_numbers(
    signed_in: tuple[Page, Console], stack: Stack, http: httpx.AsyncClient
) -> None:
    page, console = signed_in
    await opened(page, console, stack, "overview")
    o = await api(http, "/api/admin/overview", **stack.range)
    assert o["sessions"] == SESSIONS
    assert await text_of(page, '[data-kpi="sessions"]') == f"{SESSIONS:,}"
    assert await text_of(page, '[data-kpi="interactions"]') == f"{o['interactions']:,}"
    for name, kind in (
        ("averageSessionDurationSeconds", "duration"),
        ("interactionsPerSession", "decimal"),
        ("completionRate", "percent"),
        ("orderConversionRate", "percent"),
    ):
        assert await text_of(page, f'[data-kpi="{name}"]') == await formatted(page, kind, o[name]), name
    price = o["averageFinalPrices"][0]["averagePrice"]
    assert await text_of(page, '[data-kpi="averageFinalPrice"]') == euros(price["amountMinor"])
    completion = await text_of(page, '[data-kpi="completionRate"]')
    assert re.fullmatch(r"\d+\.\d%", completion), completion
    assert abs(float(completion[:-1]) - o["completionRate"] * 100) <= 0.05

    (devices,) = await chart_data(page, "devices")
    assert devices["values"] == [d["sessions"] for d in o["devices"]]
    assert devices["labels"] == [d["deviceType"] for d in o["devices"]]
    (rates,) = await chart_data(page, "rates")
    assert rates["x"] == [o["completionRate"], o["orderConversionRate"]]
    (top,) = await chart_data(page, "topCategories")
    assert top["x"] == [c["interactions"] for c in reversed(o["topCategories"])]

    # sessions and interactions over time: UTC days over these 8 days
    await _check_over_time(page, http, stack.range, 86_400, o["sessions"])
    # up to 7 days: UTC hours, here over the last two days of the demo, from half past an hour
    to = datetime.fromisoformat(stack.range["to"])
    two_days = {"from": iso(to - timedelta(days=2, minutes=30)), "to": stack.range["to"]}
    await opened(page, console, stack, "overview", **two_days)
    hours = await _check_over_time(page, http, two_days, 3600, None)
    assert len(hours) == 49  # the first one is the half hour the range starts in


async def _check_over_time(
    page: Page, http: httpx.AsyncClient, window: dict[str, str], bucket: int, sessions: int | None
) -> list[str]:
    """The Overview's chart over time is the API's series for the same range, in the page's buckets."""
    assert await page.get_attribute('[data-chart="overTime"]', "data-bucket-seconds") == str(bucket)
    answer = await api(http, "/api/admin/overview", bucketSeconds=bucket, **window)
    series = answer["series"]
    started, interacted = await chart_data(page, "overTime")
    starts = [b["start"] for b in series]
    assert started["x"] == interacted["x"] == starts
    assert started["y"] == [b["sessions"] for b in series]
    assert interacted["y"] == [b["interactions"] for b in series]
    assert (
        sum(started["y"]) == answer["sessions"] == (sessions if sessions is not None else answer["sessions"])
    )
    assert sum(interacted["y"]) > 0
    step = timedelta(seconds=bucket)
    moments = [datetime.fromisoformat(start) for start in starts]
    assert all(later - earlier == step for earlier, later in itertools.pairwise(moments))
    assert moments[0] <= datetime.fromisoformat(window["from"]) < moments[0] + step
    return starts


async def test_funnel_builds_steps_in_the_page(
    signed_in: tuple[Page, Console], stack: Stack, http: httpx.AsyncClient
) -> None:
    page, console = signed_in
    await opened(page, console, stack, "funnel")
    steps: list[dict[str, str]] = [
        {"eventType": "selection", "category": "nest"},
        {"eventType": "selection", "category": "gebaeudehuelle"},
        {"eventType": "selection", "category": "ausstattung"},
        {"snapshotTrigger": "order_attempt"},
    ]

    async def expect(steps: list[dict[str, str]]) -> None:
        body = {"steps": steps, "windowSeconds": 0, **stack.range, "breakdown": "deviceType"}
        answer = await http.post("/api/admin/funnel", json=body)
        assert answer.status_code == 200, answer.text
        f = answer.json()
        rows = await page.query_selector_all("tr[data-step]")
        assert len(rows) == len(steps)
        for index, result in enumerate(f["steps"]):
            row = f'tr[data-step="{index}"]'
            assert await text_of(page, f'{row} [data-field="count"]') == f"{result['count']:,}"
            assert await text_of(page, f'{row} [data-field="dropOff"]') == f"{result['dropOff']:,}"
            for name, kind in (
                ("conversionFromStart", "percent"),
                ("conversionFromPrevious", "percent"),
                ("medianSecondsFromPrevious", "duration"),
            ):
                expected = await formatted(page, kind, result[name])
                assert await text_of(page, f'{row} [data-field="{name}"]') == expected, (index, name)
        (funnel,) = await chart_data(page, "funnel")
        assert funnel["x"] == [r["count"] for r in f["steps"]]
        (drops,) = await chart_data(page, "dropOff")
        assert drops["y"] == [r["dropOff"] for r in f["steps"]]
        (medians,) = await chart_data(page, "medianTime")
        assert medians["y"] == [r["medianSecondsFromPrevious"] for r in f["steps"]]
        devices = await chart_data(page, "devices")
        assert [t["name"] for t in devices] == [b["deviceType"] for b in f["breakdown"]]
        assert [t["y"] for t in devices] == [
            [r["conversionFromStart"] for r in b["steps"]] for b in f["breakdown"]
        ]

    await expect(steps)
    assert await text_of(page, '[data-kpi="sessions"]') == f"{SESSIONS:,}"

    # build another funnel in the page: drop step 2, add "selection in fenster" before the order attempt
    await page.click('[data-funnel-steps] .step-row:nth-child(2) button[title="Remove"]')
    await page.click("text=+ Add step")
    await page.fill('[aria-label="Step 4 category"]', "fenster")
    await page.click('[data-funnel-steps] .step-row:nth-child(4) button[title="Earlier"]')
    await redrawn(page, "funnel", page.click('[data-action="run-funnel"]'))
    assert "step=i%3Aselection%3Afenster" in page.url
    await expect([steps[0], steps[2], {"eventType": "selection", "category": "fenster"}, steps[3]])
    assert RENDER_MS["funnel"]["firstRender"] < BUDGET_MS


async def test_journeys_list_and_one_sessions_timeline(
    signed_in: tuple[Page, Console], stack: Stack, http: httpx.AsyncClient
) -> None:
    page, console = signed_in
    await opened(page, console, stack, "journeys", status="ordered")
    listed = await api(http, "/api/admin/sessions", status="ordered", pageSize=25, **stack.range)
    shown = await page.eval_on_selector_all(
        "tr[data-session]", "(rows) => rows.map((r) => r.dataset.session)"
    )
    assert shown == [s["sessionId"] for s in listed["sessions"]]
    assert shown, "the demo has ordered sessions"
    evolution = await api(http, "/api/admin/price-evolution", maxSteps=30, **stack.range)
    average, _median = await chart_data(page, "priceEvolution")
    eur = [s for s in evolution["steps"] if s["currency"] == "EUR"]
    assert average["y"] == [s["averagePrice"]["amountMinor"] / 100 for s in eur]

    first = listed["sessions"][0]
    await redrawn(page, "journeys", page.click(f'tr[data-session="{first["sessionId"]}"] a'), complete=True)
    journey = await api(http, f"/api/admin/sessions/{first['sessionId']}/journey")
    assert await page.eval_on_selector_all('[data-table="journey"] tbody tr', "(r) => r.length") == len(
        journey["steps"]
    )
    assert await text_of(page, '[data-journey] [data-field="latestPrice"]') == euros(
        journey["session"]["latestPrice"]["amountMinor"]
    )
    (price,) = await chart_data(page, "journeyPrice")
    priced = [step for step in journey["steps"] if "price" in step]
    assert price["y"] == [step["price"]["amountMinor"] / 100 for step in priced]
    (spent,) = await chart_data(page, "journeyTime")
    interactions = [step for step in journey["steps"] if "interaction" in step]
    assert spent["y"] == [step["interaction"]["timeSpentMs"] / 1000 for step in interactions]
    charts = await page.evaluate(
        "[...document.querySelectorAll('[data-journey] [data-chart]')].every((el) => el.querySelector('svg'))"
    )
    assert charts
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "journey.png"), full_page=True)
    assert not console.errors, console.errors


async def test_popular_configurations(
    signed_in: tuple[Page, Console], stack: Stack, http: httpx.AsyncClient
) -> None:
    page, console = signed_in
    await opened(page, console, stack, "popular")
    pc = await api(http, "/api/admin/popular-configurations", limit=10, **stack.range)
    assert {c["category"] for c in pc["selections"]} >= set(demo.CATEGORIES)
    for category in pc["selections"]:
        (bars,) = await chart_data(page, f"options:{category['category']}")
        assert bars["x"] == [o["selections"] for o in reversed(category["options"])]
        assert bars["y"] == [o["option"] for o in reversed(category["options"])]
    for index, configuration in enumerate(pc["configurations"]):
        row = f'tr[data-configuration="{index}"]'
        assert await text_of(page, f'{row} [data-field="sessions"]') == f"{configuration['sessions']:,}"
        expected = euros(configuration["averagePrice"]["amountMinor"])
        assert await text_of(page, f'{row} [data-field="averagePrice"]') == expected

    await redrawn(page, "popular", page.select_option('select[name="category"]', "nest"))
    assert "category=nest" in page.url
    nest = await api(http, "/api/admin/popular-configurations", category="nest", limit=10, **stack.range)
    assert [c["category"] for c in nest["selections"]] == ["nest"]
    assert await page.evaluate("document.querySelectorAll('[data-chart^=\"options:\"]').length") == 1


async def test_performance_percentiles_ratings_and_alerts(
    signed_in: tuple[Page, Console], stack: Stack, http: httpx.AsyncClient
) -> None:
    page, console = signed_in
    await _performance_samples(stack.metrics)  # the last 4 minutes, whatever the earlier tests took
    await opened(page, console, stack, "performance")
    shown = await page.evaluate(
        """() => document.querySelector('[data-chart="overTime"]').data.map(
            (t) => ({name: t.name, points: t.x.map((x, i) => [x, t.y[i]])}))"""
    )
    summary = await api(http, "/api/admin/performance", window=300)
    endpoints = summary["endpoints"]
    assert {e["endpoint"] for e in endpoints} >= {"POST /api/batch", "GET /api/admin/overview"}
    for e in endpoints:
        row = f'tr[data-endpoint="{e["metricName"]} · {e["endpoint"]}"]'
        # the summary is over a sliding window: the count may have moved on since the page asked
        for name in ("p50Ms", "p95Ms", "p99Ms"):
            assert await text_of(page, f'{row} [data-field="{name}"]') == await formatted(page, "ms", e[name])
    p50, p95, p99 = await chart_data(page, "percentiles")
    labels = [f"{e['endpoint']}<br>{e['metricName']}" for e in reversed(endpoints)]
    assert p95["y"] == labels
    assert p95["x"] == [e["p95Ms"] for e in reversed(endpoints)]
    assert p50["x"] == [e["p50Ms"] for e in reversed(endpoints)]
    assert p99["x"] == [e["p99Ms"] for e in reversed(endpoints)]
    assert await page.get_attribute("[data-alerts]", "data-alerts") == str(len(summary["alerts"]))

    # p95 per minute over the window: the API's series for the same window. The page drew its lines a
    # moment before this was asked (and the window slides), so the minutes that started before the
    # API's window are left out: the rest hold the same samples on both sides (none came since).
    assert await page.get_attribute('[data-chart="overTime"]', "data-bucket-seconds") == "60"
    history = await api(http, "/api/admin/performance", window=300, bucketSeconds=60)
    since = datetime.fromisoformat(history["from"])
    expected: dict[str, list[list[Any]]] = {}
    for b in history["series"]:
        if datetime.fromisoformat(b["start"]) >= since:
            expected.setdefault(f"{b['metricName']} · {b['endpoint']}", []).append([b["start"], b["p95Ms"]])
    drawn = {
        line["name"]: [p for p in line["points"] if datetime.fromisoformat(p[0]) >= since] for line in shown
    }
    assert {name: points for name, points in drawn.items() if points} == expected
    assert sum(len(points) for points in expected.values()) >= 4  # 2 endpoints, 2 minutes or more each

    # then the live feed's summaries (every 2 s) keep it up to date: a new endpoint gets its line
    metric = events_pb2.PerformanceMetric(
        metric_id=str(uuid.uuid4()), metric_name="api_response_time", value_ms=12.5, endpoint="GET /fresh"
    )
    metric.timestamp.CopyFrom(stamp(datetime.now(UTC)))
    await stack.metrics.RecordMetrics(metrics_pb2.RecordMetricsRequest(metrics=[metric]), timeout=10)
    await page.wait_for_function(
        """() => document.querySelector('[data-chart="overTime"]').data.some(
            (t) => t.name === 'api_response_time · GET /fresh' && t.y.length === 1 && t.y[0] === 12.5)""",
        timeout=8000,
    )
    assert not console.errors, console.errors


async def test_abandonment(signed_in: tuple[Page, Console], stack: Stack, http: httpx.AsyncClient) -> None:
    page, console = signed_in
    await opened(page, console, stack, "abandonment")
    a = await api(http, "/api/admin/abandonment", **stack.range)
    assert a["sessions"] > 0
    assert await text_of(page, '[data-kpi="sessions"]') == f"{a['sessions']:,}"
    assert await text_of(page, '[data-kpi="withoutSnapshot"]') == f"{a['withoutSnapshot']:,}"
    (by_category,) = await chart_data(page, "byLastCategory")
    assert by_category["y"] == [c["sessions"] for c in a["byLastCategory"]]
    buckets, none = await chart_data(page, "completion")
    assert buckets["y"] == [b["sessions"] for b in a["completion"]]
    assert none["y"] == [a["withoutSnapshot"]]
    (elements,) = await chart_data(page, "byLastElement")
    assert elements["x"] == [e["sessions"] for e in reversed(a["byLastElement"])]


async def test_live_page_shows_a_new_event_within_two_seconds(
    signed_in: tuple[Page, Console], stack: Stack
) -> None:
    page, console = signed_in
    await opened(page, console, stack, "live")
    await page.wait_for_selector('[data-kpi="eventsCommitted"][data-value]:not([data-value=""])')
    before = await page.evaluate(
        """() => ({active: Number(document.querySelector('[data-kpi="activeNow"]').dataset.value),
                   events: Number(document.querySelector('[data-kpi="eventsCommitted"]').dataset.value)})"""
    )
    session = f"live-{uuid.uuid4().hex[:12]}"
    sent = time.monotonic()
    await stack.ingest.TrackInteraction(
        ingest_pb2.TrackInteractionRequest(
            event=events_pb2.InteractionEvent(
                session_id=session,
                event_type=events_pb2.EVENT_TYPE_SELECTION,
                category="nest",
                selection_value="nest_100",
                sequence=1,
            )
        ),
        timeout=5,
    )
    await page.wait_for_function(
        """(before) => {
            const value = (name) => Number(document.querySelector(`[data-kpi="${name}"]`).dataset.value);
            return value('activeNow') > before.active && value('eventsCommitted') > before.events;
        }""",
        arg=before,
        timeout=5000,
        polling=50,
    )
    elapsed = time.monotonic() - sent
    assert elapsed < 2.0, f"the live page showed the event after {elapsed:.2f} s"
    log = await text_of(page, "[data-live-log]")
    assert "new event" in log, log
    assert "active sessions" in log, log
    (chart,) = await page.evaluate(
        "[document.querySelector('[data-chart=\"live\"]').data.map((t) => t.x.length)]"
    )
    assert min(chart) >= 2
    await page.screenshot(path=str(SHOTS / "live.png"), full_page=True)
    await stack.sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10), timeout=15)


async def test_every_page_fits_a_tablet(browser: Browser, stack: Stack) -> None:
    """820 px wide (a tablet upright): nothing wider than the screen, a screenshot of each page."""
    context = await browser.new_context(
        viewport={"width": 820, "height": 1180}, locale="de-AT", timezone_id="Europe/Vienna", has_touch=True
    )
    try:
        page = await context.new_page()
        await sign_in(page, stack.gateway.url, ADMIN)
        SHOTS.mkdir(parents=True, exist_ok=True)
        for view in PAGES:
            query = stack.range if view not in ("live", "performance") else {}
            await page.goto(view_url(stack.gateway.url, view, query))
            await wait_for_render(page, view, complete=True)
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{view}: {overflow}px wider than the tablet"
            await page.screenshot(path=str(SHOTS / f"tablet-{view}.png"), full_page=True)
        # Austrian numbers on an Austrian tablet: "€ 300.606,73", "12.345"
        await page.goto(view_url(stack.gateway.url, "overview", stack.range))
        await wait_for_render(page, "overview")
        price = await text_of(page, '[data-kpi="averageFinalPrice"]')
        assert re.fullmatch(r"€\s\d{1,3}(\.\d{3})+,\d{2}", price), price
        interactions = await text_of(page, '[data-kpi="interactions"]')
        assert re.fullmatch(r"\d{1,3}([.\s]\d{3})+", interactions), interactions
    finally:
        await context.close()


# ---- the page and its assets (HTTP) ------------------------------------------------------------------


async def test_page_and_assets_are_served_without_a_token_and_cached(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as client:
        page = await client.get("/dashboard")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "cdn" not in page.text.lower()
        assert "https://" not in page.text
        urls = re.findall(r'(?:src|href)="(/dashboard/assets/[^"]+)"', page.text)
        assert {url.split("?")[0].rsplit("/", 1)[1] for url in urls} == {
            "dashboard.js",
            "dashboard.css",
            "plotly.min.js",
        }
        plotly_url = next(url for url in urls if "plotly" in url)
        plotly = await client.get(plotly_url, headers={"Accept-Encoding": "gzip"})
        assert plotly.status_code == 200
        assert plotly.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert plotly.headers["content-type"].startswith("text/javascript")
        assert len(plotly.content) > 1_000_000
        assert b"plotly.js" in plotly.content[:2000]
        again = await client.get(plotly_url, headers={"If-None-Match": plotly.headers["etag"]})
        assert again.status_code == 304
        # compressed once, in a thread: gzip-encoded as soon as that is done
        heads: list[httpx.Response] = []

        async def gzipped() -> bool:
            heads.append(await client.get(plotly_url, headers={"Accept-Encoding": "gzip"}))
            return bool(heads[-1].headers.get("content-encoding") == "gzip")

        assert await wait_until(gzipped, within=10, every=0.05)
        head = heads[-1]
        assert int(head.headers["content-length"]) < len(plotly.content) / 2
        assert head.content == plotly.content
        bare = await client.get("/dashboard/assets/dashboard.js")
        assert bare.headers["cache-control"] == "no-cache"
        assert bare.headers["etag"]
        missing = await client.get("/dashboard/assets/secrets.txt")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "NOT_FOUND"


# ---- the live feed (HTTP) ----------------------------------------------------------------------------


def test_event_rate_counts_commits_over_the_last_seconds() -> None:
    rate = EventRate(horizon=5)
    assert rate.update([("a", 100)], now=0.0) is None  # nothing to compare with yet
    assert rate.update([("a", 110)], now=1.0) == 10.0
    # a worker seen for the first time adds nothing; one that restarted (count went down) neither
    assert rate.update([("a", 120), ("b", 5000)], now=2.0) == 10.0
    assert rate.update([("a", 3), ("b", 5010)], now=3.0) == 10.0  # 30 entries in 3 s
    for second in range(4, 12):
        rate.update([("a", 3), ("b", 5010)], now=float(second))
    assert rate.update([("a", 3), ("b", 5010)], now=12.0) == 0.0  # idle for longer than the horizon


async def _events(
    lines: AsyncIterator[str], wanted: int, kinds: frozenset[str] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The first ``wanted`` events (of ``kinds``, when given)."""
    events: list[tuple[str, dict[str, Any]]] = []
    kind = ""
    async for line in lines:
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: ") and (kinds is None or kind in kinds):
            events.append((kind, json.loads(line[6:])))
            if len(events) >= wanted:
                break
    return events


async def test_live_feed_needs_the_admin_token(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as client:
        assert (await client.get("/api/admin/live")).status_code == 401
        wrong = await client.get("/api/admin/live", headers={"Authorization": f"Bearer {WRITE}"})
        assert wrong.status_code == 403
        assert (await client.get(f"/api/admin/live?token={ADMIN}")).status_code == 401  # header only
        bad = await client.get("/api/admin/live?interval=0", headers={"Authorization": f"Bearer {ADMIN}"})
        assert bad.status_code == 400
        assert bad.json()["error"]["fields"][0]["field"] == "interval"
        for query in (
            "bucketSeconds=90",
            "bucketSeconds=-60",
            "bucketSeconds=1e3",
            "window=86400&bucketSeconds=30",
        ):
            bad = await client.get(f"/api/admin/live?{query}", headers={"Authorization": f"Bearer {ADMIN}"})
            assert bad.status_code == 400, query
            assert [f["field"] for f in bad.json()["error"]["fields"]] == ["bucketSeconds"], query


async def test_live_feed_sends_the_performance_series_when_asked(stack: Stack) -> None:
    metric = events_pb2.PerformanceMetric(
        metric_id=str(uuid.uuid4()), metric_name="api_response_time", value_ms=7.0, endpoint="GET /series"
    )
    metric.timestamp.CopyFrom(stamp(datetime.now(UTC)))
    await stack.metrics.RecordMetrics(metrics_pb2.RecordMetricsRequest(metrics=[metric]), timeout=10)
    feeds = live_feeds(stack.gateway.app)
    open_before = len(feeds)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with (
        httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as client,
        client.stream("GET", "/api/admin/live?interval=10&bucketSeconds=60", headers=headers) as response,
    ):
        assert response.status_code == 200
        [(_, summary)] = await asyncio.wait_for(
            _events(response.aiter_lines(), 1, frozenset({"performance"})), 10
        )
    await wait_until(lambda: len(feeds) <= open_before, within=2)
    mine = [b for b in summary["series"] if b["endpoint"] == "GET /series"]
    assert [(b["count"], b["p50Ms"], b["p99Ms"]) for b in mine] == [(1, 7.0, 7.0)]
    assert all(datetime.fromisoformat(b["start"]).second == 0 for b in summary["series"])


async def test_live_feed_sends_samples_and_stops_when_the_client_leaves(stack: Stack) -> None:
    feeds = live_feeds(stack.gateway.app)
    open_before = len(feeds)  # the browser tests' tab may still show a live page
    recorder = stack.gateway.gateway.telemetry.recorder
    assert recorder is not None
    recorder.drain("gateway")  # the earlier requests' samples
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with (
        httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as client,
        client.stream("GET", "/api/admin/live?interval=0.25", headers=headers) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        events = await asyncio.wait_for(_events(response.aiter_lines(), 4), 10)
        assert len(feeds) == open_before + 1
    kinds = {kind for kind, _ in events}
    assert "live" in kinds
    sample = next(data for kind, data in events if kind == "live")
    assert sample["errors"] == []
    assert sample["activeNow"] >= 0
    assert sample["streamLength"] >= 0
    assert sample["syncLag"] >= 0
    assert sample["deadLetters"] == 0
    assert sample["eventsCommitted"] >= 0
    await wait_until(lambda: len(feeds) <= open_before, within=2)
    assert len(feeds) == open_before, "the feed went on after its client left"
    # a stream's duration is no latency: kept out of the samples for the Metrics service
    assert not [m for m in recorder.drain("gateway") if "/api/admin/live" in m.endpoint]


async def test_shutdown_ends_open_live_feeds_at_once(stack: Stack) -> None:
    gateway = await start(stack.settings(shutdown_grace_seconds=10))
    try:
        headers = {"Authorization": f"Bearer {ADMIN}"}
        async with (
            httpx.AsyncClient(base_url=gateway.url, timeout=10) as client,
            client.stream("GET", "/api/admin/live", headers=headers) as response,
        ):
            lines = response.aiter_lines()
            await asyncio.wait_for(_events(lines, 1), 10)
            began = time.monotonic()
            close_live_feeds(gateway.app)
            rest = [line async for line in lines]  # the response ends
            assert time.monotonic() - began < 1.5, rest
            refused = await client.get("/api/admin/live", headers=headers)
            assert refused.status_code == 503
        stopping = time.monotonic()
        await gateway.stop()
        assert time.monotonic() - stopping < 2.0
    finally:
        if not gateway.task.done():
            await gateway.stop()
