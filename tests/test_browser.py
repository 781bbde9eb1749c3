"""tracker.js and /demo in headless Chromium (Debian's, by Playwright) → gateway → Ingest → Sync → Postgres.

Where ``/usr/bin/chromium`` is missing these tests skip, except under CI (``CI`` set), where that fails the
run: ``.ci/run`` installs Debian's ``chromium`` first. Playwright never downloads a browser here. Finding
and launching Chromium is ``bench.dashboard``'s (shared with the dashboard benchmark); every browser test
module takes its browser from :func:`browser_or_skip`.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import asyncpg
import orjson
import pytest
from playwright.async_api import Browser, ConsoleMessage, Frame, Page, Route
from playwright.async_api import Request as BrowserRequest

from bench.dashboard import launch_chromium, missing_browser
from configtrail.grpcserver import RunningServer
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc
from gateway.server import RunningGateway, start
from gateway.settings import GatewaySettings

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WRITE_KEY = "browser-key-1"
WAIT_SECONDS = 15.0

StartGateway = Callable[..., Awaitable[RunningGateway]]


class _Servers(Protocol):
    redis_url: str


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@asynccontextmanager
async def browser_or_skip() -> AsyncIterator[Browser]:
    """Debian's headless Chromium for a test module (``bench.dashboard.launch_chromium``); where it is
    missing the test skips, or fails under CI."""
    reason = missing_browser()
    if reason:
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    async with launch_chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with browser_or_skip() as launched:
        yield launched


@pytest.fixture
async def start_gateway(servers: _Servers, ingest_server: RunningServer) -> AsyncIterator[StartGateway]:
    """Start gateways against the test Ingest; whatever still runs is stopped after the test."""
    running: list[RunningGateway] = []

    async def start_one(port: int = 0) -> RunningGateway:
        values: dict[str, Any] = {
            "ingest_address": f"127.0.0.1:{ingest_server.port}",
            "redis_url": servers.redis_url,
            "gateway_port": port,
            "write_keys": f"{WRITE_KEY},other-key",
            "rate_limit_per_second": 0,
            "shutdown_grace_seconds": 1,
            "telemetry_flush_seconds": 0,
        }
        gateway = await start(GatewaySettings(**values))
        running.append(gateway)
        return gateway

    yield start_one
    for gateway in running:
        if not gateway.task.done():
            await gateway.stop()


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    return await start_gateway()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-AT")
    opened = await context.new_page()
    yield opened
    await context.close()


class Console:
    """The page's console messages, as (type, text)."""

    def __init__(self, page: Page) -> None:
        self.messages: list[tuple[str, str]] = []
        page.on("console", self._add)

    def _add(self, message: ConsoleMessage) -> None:
        self.messages.append((message.type, message.text))

    def warnings(self, containing: str) -> list[str]:
        return [text for kind, text in self.messages if kind == "warning" and containing in text]


class Requests:
    """The requests the page sends to the gateway's /api, with their bodies."""

    def __init__(self, page: Page) -> None:
        self.sent: list[tuple[str, str]] = []
        page.on("request", self._add)

    def _add(self, request: BrowserRequest) -> None:
        if "/api/" in request.url:
            self.sent.append((request.url, request.post_data or ""))

    def containing(self, text: str) -> list[str]:
        return [url for url, body in self.sent if text in body]


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {WAIT_SECONDS:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)


async def wait_in_page(page: Page | Frame, expression: str) -> None:
    """Poll ``expression`` in the page until true (wait_for_function evaluates strings, which the demo's
    Content-Security-Policy forbids; page.evaluate is exempt)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not await page.evaluate(expression):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {WAIT_SECONDS:.0f}s waiting for {expression} in the page")
        await asyncio.sleep(0.05)


async def status(page: Page | Frame) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate("configtrail.status()")
    return result


async def open_demo(page: Page, gateway: RunningGateway, query: str = "") -> str:
    """Open /demo, wait until the tracker has sent what it queued at start; the session id."""
    await page.goto(f"{gateway.url}/demo{query}")
    await wait_in_page(page, "window.configtrail && configtrail.status().initialised")
    if "consent=0" not in query:
        await wait_in_page(page, "configtrail.status().queued === 0")
    session_id: str = await page.evaluate("configtrail.getSessionId()")
    return session_id


async def stored(pg_pool: asyncpg.Pool, sync: sync_pb2_grpc.SyncAsyncStub, session_id: str) -> dict[str, Any]:
    """What Postgres holds of one session, after Sync wrote out what it had."""
    await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10), timeout=15)
    return {
        "session": await pg_pool.fetchrow("SELECT * FROM user_sessions WHERE session_id = $1", session_id),
        "interactions": await pg_pool.fetch(
            "SELECT * FROM interaction_events WHERE session_id = $1 ORDER BY sequence", session_id
        ),
        "snapshots": await pg_pool.fetch(
            "SELECT * FROM configuration_snapshots WHERE session_id = $1 ORDER BY occurred_at", session_id
        ),
    }


async def test_demo_clicks_and_page_exit_reach_postgres(
    page: Page, gateway: RunningGateway, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    console = Console(page)
    session_id = await open_demo(page, gateway)
    assert uuid.UUID(session_id)

    for option in ("#opt-nest_80", "#opt-holz", "#opt-comfort", "#opt-nest_100"):
        await page.click(option)
    await page.hover("#opt-panorama")
    await page.wait_for_timeout(300)  # the demo counts a hover from 250 ms of dwell
    await page.hover("#order-button")
    assert (await page.inner_text("#total")).replace("\xa0", " ") == "€ 218.000"
    assert await page.inner_text("#progress-label") == "60 % konfiguriert"
    await page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)
    before_exit = await status(page)
    tracked = before_exit["sequence"]  # the selections and the hover, and scroll depths as the page moved
    assert tracked >= 5

    await page.close(run_before_unload=True)  # pagehide: the page_exit snapshot goes by beacon

    async def arrived() -> bool:
        found = await stored(pg_pool, sync, session_id)
        triggers = [row["trigger"] for row in found["snapshots"]]
        return len(found["interactions"]) == tracked and "page_exit" in triggers

    await wait_until(arrived, "the interactions and the page_exit snapshot in Postgres")
    found = await stored(pg_pool, sync, session_id)
    every = found["interactions"]
    assert [row["sequence"] for row in every] == list(range(1, tracked + 1))
    assert {row["category"] for row in every if row["event_type"] == "scroll"} <= {"page"}
    rows = [row for row in every if row["event_type"] != "scroll"]
    assert [(row["event_type"], row["category"], row["selection_value"]) for row in rows] == [
        ("selection", "nest", "nest_80"),
        ("selection", "gebaeudehuelle", "holz"),
        ("selection", "ausstattung", "comfort"),
        ("selection", "nest", "nest_100"),
        ("hover", "fenster", "panorama"),
    ]
    assert rows[3]["previous_value"] == "nest_80"
    assert rows[0]["element_id"] == "opt-nest_80"
    assert all(row["device_type"] == "desktop" for row in rows)
    assert (rows[0]["viewport_width"], rows[0]["viewport_height"]) == (1280, 900)
    assert rows[4]["time_spent_ms"] >= 250

    snapshots = found["snapshots"]
    assert [row["trigger"] for row in snapshots].count("page_exit") == 1
    exit_snapshot = next(row for row in snapshots if row["trigger"] == "page_exit")
    assert orjson.loads(exit_snapshot["configuration"]) == {
        "nest": "nest_100",
        "gebaeudehuelle": "holz",
        "ausstattung": "comfort",
    }
    assert exit_snapshot["total_price_minor"] == 21_800_000
    assert exit_snapshot["currency"] == "EUR"
    assert exit_snapshot["completion_percentage"] == 60
    assert [row["trigger"] for row in snapshots].count("auto_save") == 4

    session = found["session"]
    assert session is not None
    assert session["device_type"] == "desktop"
    assert session["landing_page"] == f"{gateway.url}/demo"
    assert session["locale"] == "de-AT"
    assert "Chrome" in session["user_agent"]
    assert not console.warnings("[configtrail]")


async def test_queue_survives_a_gateway_outage(
    page: Page, start_gateway: StartGateway, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    first = await start_gateway()
    session_id = await open_demo(page, first)
    await first.stop()

    for option in ("#opt-nest_60", "#opt-metall", "#opt-basic"):
        await page.click(option)
    await page.evaluate("configtrail.flush()")  # fails: nobody listens on the port
    await wait_in_page(page, "configtrail.status().failures >= 1")
    waiting = await status(page)
    # three selections, three auto_save snapshots, and scroll depths if the clicks scrolled the page
    assert waiting["queued"] == waiting["sequence"] + 3 >= 6
    kept = await page.evaluate(
        "JSON.parse(localStorage.getItem('configtrail:queue:' + configtrail.getSessionId())).items.length"
    )
    assert kept == waiting["queued"]

    second = await start_gateway(port=first.port)  # same origin: same localStorage
    await page.reload()
    await wait_in_page(page, "configtrail.status().initialised")
    assert await page.evaluate("configtrail.getSessionId()") == session_id  # same tab, same session
    await page.click("#opt-nest_80")  # sequence goes on after the reload
    await page.evaluate("configtrail.flush()")
    await wait_in_page(page, "configtrail.status().queued === 0")
    assert second.port == first.port

    tracked: int = (await status(page))["sequence"]

    async def arrived() -> bool:
        found = await stored(pg_pool, sync, session_id)
        return len(found["interactions"]) >= tracked

    await wait_until(arrived, "the queued interactions in Postgres")
    found = await stored(pg_pool, sync, session_id)
    every = found["interactions"]
    assert [row["sequence"] for row in every] == list(range(1, tracked + 1))  # each event exactly once
    rows = [row for row in every if row["event_type"] == "selection"]
    assert [row["selection_value"] for row in rows] == ["nest_60", "metall", "basic", "nest_80"]
    triggers = [row["trigger"] for row in found["snapshots"]]
    assert triggers.count("auto_save") == 4
    assert triggers.count("page_exit") == 1  # the reload left the page once


async def test_rejected_items_are_dropped_with_a_warning_not_retried(
    page: Page, gateway: RunningGateway, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    console = Console(page)
    requests = Requests(page)
    session_id = await open_demo(page, gateway)

    too_long = "x" * 200  # Ingest takes element ids up to 128 characters
    await page.evaluate(
        """(tooLong) => {
            configtrail.track('click', {category: 'checkout', elementId: tooLong});
            configtrail.track('click', {category: 'checkout', elementId: 'fine-button'});
            return configtrail.flush();
        }""",
        too_long,
    )
    after = await status(page)
    assert (after["queued"], after["rejected"]) == (0, 1)
    assert console.warnings("rejected 1 item(s); dropped, not retried")
    await page.evaluate("configtrail.track('scroll', {category: 'page'}); configtrail.flush()")
    await wait_in_page(page, "configtrail.status().queued === 0")
    assert len(requests.containing(too_long)) == 1

    # a 400 for the whole request: the batch is dropped, once
    refused: list[str] = []

    async def answer_400(route: Route) -> None:
        refused.append(route.request.post_data or "")
        await route.fulfill(
            status=400,
            content_type="application/json",
            body='{"error": {"code": "INVALID_ARGUMENT", "message": "bad", "fields": []}}',
        )

    await page.route("**/api/batch", answer_400)
    await page.evaluate("configtrail.track('click', {category: 'refused'}); configtrail.flush()")
    await wait_in_page(page, "configtrail.status().queued === 0")
    await page.unroute("**/api/batch")
    await page.evaluate("configtrail.track('click', {category: 'after'}); configtrail.flush()")
    await wait_in_page(page, "configtrail.status().queued === 0")
    assert len(refused) == 1
    assert console.warnings("refused 1 item(s) with HTTP 400; dropped, not retried")
    assert len(requests.containing('"category":"refused"')) == 1

    async def arrived() -> bool:
        return len((await stored(pg_pool, sync, session_id))["interactions"]) >= 3

    await wait_until(arrived, "the accepted interactions in Postgres")
    rows = (await stored(pg_pool, sync, session_id))["interactions"]
    assert [row["element_id"] or row["category"] for row in rows] == ["fine-button", "page", "after"]
    assert [row["sequence"] for row in rows] == [2, 3, 5]  # 1 and 4 were dropped


async def test_without_consent_nothing_is_stored_or_sent(
    page: Page, gateway: RunningGateway, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    requests = Requests(page)
    await open_demo(page, gateway, "?consent=0")
    for option in ("#opt-nest_40", "#opt-putz", "#order-button"):
        await page.click(option)
    await page.evaluate("configtrail.flush()")
    stored_keys = await page.evaluate(
        """() => [localStorage, sessionStorage].flatMap(
            (s) => Object.keys(s).filter((k) => k.startsWith('configtrail:')))"""
    )
    assert stored_keys == []
    assert (await status(page))["queued"] == 0
    await page.close(run_before_unload=True)  # and no beacon on the way out
    await asyncio.sleep(0.5)
    assert requests.sent == []
    await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10), timeout=15)
    assert await pg_pool.fetchval("SELECT count(*) FROM user_sessions") == 0
    assert await pg_pool.fetchval("SELECT count(*) FROM interaction_events") == 0


async def test_withdrawn_consent_clears_the_queue(page: Page, gateway: RunningGateway) -> None:
    requests = Requests(page)
    first_session = await open_demo(page, gateway)
    sent_before = len(requests.sent)
    await page.click("#opt-nest_120")  # queued: sent after the 2 s interval
    assert (await status(page))["queued"] >= 1
    await page.click("#consent")  # withdraw
    assert not await page.is_checked("#consent")
    after = await status(page)
    assert (after["consent"], after["queued"]) == (False, 0)
    assert await page.evaluate("Object.keys(localStorage).length + Object.keys(sessionStorage).length") == 0
    await page.click("#opt-premium")
    await page.evaluate("configtrail.flush()")
    assert len(requests.sent) == sent_before

    await page.click("#consent")  # given again: a new session, started and sent
    await page.click("#opt-putz")
    await page.evaluate("configtrail.flush()")
    await wait_in_page(page, "configtrail.status().queued === 0")
    second_session: str = await page.evaluate("configtrail.getSessionId()")
    assert second_session != first_session
    assert requests.containing(f'"sessionId":"{second_session}"')
    assert not requests.containing('"selectionValue":"premium"')  # chosen without consent: never sent


async def test_tracker_never_throws_and_stays_cheap(page: Page, gateway: RunningGateway) -> None:
    await open_demo(page, gateway)
    outcome = await page.evaluate(
        """() => {
            const circular = {}; circular.self = circular;
            Storage.prototype.setItem = () => { throw new DOMException('full', 'QuotaExceededError'); };
            configtrail.track(); configtrail.track(null, null); configtrail.track('teleport', 5);
            configtrail.track('custom', {});
            configtrail.snapshot(); configtrail.snapshot('not an object', 'x');
            configtrail.snapshot(circular, 100, 'EUR', 50, 'auto_save');
            configtrail.snapshot({nest: 'nest_40'}, 100, 'EUR', 50, 'no_such_trigger');
            configtrail.init({writeKey: 'again'});
            const rounds = 2000;
            const started = performance.now();
            for (let i = 0; i < rounds; i++) {
                configtrail.track('hover', {category: 'nest', elementId: 'opt-nest_40', timeSpent: i});
            }
            return {perTrackMs: (performance.now() - started) / rounds, status: configtrail.status()};
        }"""
    )
    assert outcome["perTrackMs"] < 0.5, outcome  # the budget is 1 ms of main-thread work per interaction
    assert outcome["status"]["queued"] == 500  # capped at maxQueue, oldest dropped
    assert outcome["status"]["dropped"] >= 1500
    await page.evaluate("configtrail.flush()")  # storage refuses everything: sending still works
    await wait_in_page(page, "configtrail.status().queued === 0")


async def open_bare(page: Page, gateway: RunningGateway, **options: object) -> None:
    """A page of the gateway's origin with tracker.js and nothing else, initialised with ``options``."""
    await page.goto(f"{gateway.url}/healthz")
    await page.add_script_tag(url="/tracker.js")
    await page.evaluate("(options) => configtrail.init(options)", {"writeKey": WRITE_KEY, **options})


@dataclass
class Trouble:
    """How the intercepted gateway answers: this status (200: the real gateway's answer), after a delay."""

    status: int = 503
    retry_after: str = "0"
    delay: float = 0.0


async def test_backoff_retry_after_and_circuit_breaker(page: Page, gateway: RunningGateway) -> None:
    console = Console(page)
    calls: list[float] = []
    answer = Trouble()

    async def gateway_trouble(route: Route) -> None:
        calls.append(time.monotonic())
        await asyncio.sleep(answer.delay)
        if answer.status == 200:
            await route.continue_()
            return
        await route.fulfill(
            status=answer.status,
            headers={"Retry-After": answer.retry_after},
            content_type="application/json",
            body='{"error": {"code": "UNAVAILABLE", "message": "down", "fields": []}}',
        )

    await page.route("**/api/**", gateway_trouble)
    await open_bare(
        page,
        gateway,
        baseBackoffMs=20,
        maxBackoffMs=40,
        breakerThreshold=3,
        breakerCooldownMs=800,
        slowResponseMs=250,
        flushIntervalMs=50,
    )
    await page.evaluate("configtrail.track('click', {category: 'nest'})")

    # 503s: retried with backoff until the breaker opens after three, then nothing while it is open
    await wait_in_page(page, "configtrail.status().breaker === 'open'")
    assert len(calls) == 3
    assert console.warnings("pausing sends")
    await asyncio.sleep(0.4)
    assert len(calls) == 3
    # the probe after the pause gets through: the breaker closes and the queue drains
    answer.status = 200
    await wait_in_page(page, "configtrail.status().queued === 0")
    assert (await status(page))["breaker"] == "closed"
    assert calls[3] - calls[2] >= 0.6  # the pause (800 ms ± 20 %)

    # 429 with Retry-After: 1 — the next try waits that long
    answer.status, answer.retry_after = 429, "1"
    before = len(calls)
    await page.evaluate("configtrail.track('click', {category: 'fenster'}); configtrail.flush()")
    await wait_in_page(page, "configtrail.status().failures >= 4")
    assert (await status(page))["retryInMs"] > 700
    answer.status = 200
    await wait_in_page(page, "configtrail.status().queued === 0")
    assert calls[before + 1] - calls[before] >= 0.9

    # slow answers count against the gateway too
    answer.delay = 0.4
    for index in range(3):
        await page.evaluate(f"configtrail.track('click', {{category: 'slow-{index}'}}); configtrail.flush()")
    await wait_in_page(page, "configtrail.status().breaker === 'open'")
    assert (await status(page))["queued"] == 0  # slow, but accepted


async def test_a_closed_tabs_queue_is_sent_by_the_next_page(
    browser: Browser, gateway: RunningGateway, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    context = await browser.new_context()
    try:
        first = await context.new_page()
        await first.route("**/api/**", lambda route: route.abort("connectionrefused"))
        await open_bare(first, gateway)
        await first.evaluate("configtrail.track('selection', {category: 'nest', selectionValue: 'nest_40'})")
        await first.evaluate("configtrail.flush()")
        await wait_in_page(first, "configtrail.status().failures >= 1")
        left_session: str = await first.evaluate("configtrail.getSessionId()")
        stored_interaction = (
            "(JSON.parse(localStorage.getItem('configtrail:queue:' + configtrail.getSessionId()) || '{}')"
            ".items || []).find((item) => item.kind === 'interaction')"
        )
        await wait_in_page(first, stored_interaction)  # stored in an idle moment, not in track()
        left_event: str = await first.evaluate(f"{stored_interaction}.eventId")
        await first.close()

        second = await context.new_page()  # a new tab: its own session, the same localStorage
        requests = Requests(second)
        await open_bare(second, gateway)
        assert await second.evaluate("configtrail.getSessionId()") != left_session
        await wait_in_page(second, "configtrail.status().queued === 0 && configtrail.status().accepted >= 3")
        assert requests.containing(left_event)
        assert await second.evaluate("Object.keys(localStorage).filter((k) => k.includes(':queue:'))") == []
    finally:
        await context.close()

    async def arrived() -> bool:
        return len((await stored(pg_pool, sync, left_session))["interactions"]) == 1

    await wait_until(arrived, "the left tab's interaction in Postgres")
    found = await stored(pg_pool, sync, left_session)
    assert str(found["interactions"][0]["event_id"]) == left_event
    assert found["session"] is not None


class Batches:
    """The POST /api/batch requests the page sends by fetch: when they left (``time.monotonic()``, as
    Playwright reported them) and their bodies."""

    def __init__(self, page: Page) -> None:
        self.sent: list[tuple[float, dict[str, Any]]] = []
        page.on("request", self._add)

    def _add(self, request: BrowserRequest) -> None:
        if request.resource_type == "fetch" and urlsplit(request.url).path == "/api/batch":
            self.sent.append((time.monotonic(), orjson.loads(request.post_data or "{}")))

    async def wait_for(self, count: int) -> None:
        async def enough() -> bool:
            return len(self.sent) >= count

        await wait_until(enough, f"{count} POST /api/batch request(s)")


async def test_a_batch_leaves_at_20_events_or_after_2_seconds(page: Page, gateway: RunningGateway) -> None:
    batches = Batches(page)
    await open_bare(page, gateway)  # the defaults: batches of 20, every 2 s
    await wait_in_page(page, "configtrail.status().queued === 0")  # the session start went first
    assert batches.sent == []

    started = time.monotonic()
    await page.evaluate(
        "() => { for (let i = 1; i <= 20; i++) configtrail.track('click', {elementId: 'count-' + i}); }"
    )
    await batches.wait_for(1)
    left, body = batches.sent[0]
    assert left - started < 1.0  # at the 20th event, not after the 2 s interval
    assert [item["elementId"] for item in body["items"]] == [f"count-{i}" for i in range(1, 21)]
    await wait_in_page(page, "configtrail.status().queued === 0")
    assert len(batches.sent) == 1

    await page.evaluate(
        "() => { for (let i = 1; i <= 3; i++) configtrail.track('click', {elementId: 'time-' + i}); }"
    )
    tracked = time.monotonic()
    await batches.wait_for(2)
    left, body = batches.sent[1]
    assert 1.5 <= left - tracked < 6.0  # by itself, about 2 s later
    assert [item["elementId"] for item in body["items"]] == ["time-1", "time-2", "time-3"]
    await wait_in_page(page, "configtrail.status().queued === 0")
    assert len(batches.sent) == 2


async def test_a_batch_carries_its_send_time_and_events_their_session_sequence(
    page: Page, gateway: RunningGateway
) -> None:
    batches = Batches(page)
    await open_bare(page, gateway)
    await wait_in_page(page, "configtrail.status().queued === 0")
    await page.evaluate(
        """() => {
            configtrail.track('click', {elementId: 'a'});
            configtrail.track('click', {elementId: 'b'});
            configtrail.snapshot({nest: 'nest_40'}, 100, 'EUR', 20, 'auto_save');
            configtrail.track('hover', {elementId: 'c', timeSpent: 300});
            return configtrail.flush();
        }"""
    )
    await page.evaluate(
        """() => {
            configtrail.track('selection', {category: 'nest', selectionValue: 'nest_60'});
            configtrail.track('scroll', {category: 'page'});
            return configtrail.flush();
        }"""
    )
    session_id: str = await page.evaluate("configtrail.getSessionId()")
    await page.evaluate("configtrail.setConsent(false); configtrail.setConsent(true)")  # a new session
    await page.evaluate("configtrail.track('click', {elementId: 'new'}); configtrail.flush()")
    await wait_in_page(page, "configtrail.status().queued === 0")
    new_session: str = await page.evaluate("configtrail.getSessionId()")
    assert new_session != session_id

    assert len(batches.sent) == 3
    now = datetime.now(UTC)
    sent_at = [datetime.fromisoformat(body["sentAt"]) for _, body in batches.sent]
    for when, (_, body) in zip(sent_at, batches.sent, strict=True):
        assert abs((when - now).total_seconds()) < 60
        assert when.timestamp() * 1000 >= max(item["timestamp"] for item in body["items"])
    assert sent_at == sorted(sent_at)

    def sequences(body: dict[str, Any]) -> list[tuple[str, int]]:
        return [(item["sessionId"], item["sequence"]) for item in body["items"] if "eventId" in item]

    assert [sequences(body) for _, body in batches.sent] == [
        [(session_id, 1), (session_id, 2), (session_id, 3)],
        [(session_id, 4), (session_id, 5)],
        [(new_session, 1)],
    ]


async def test_the_stored_queue_is_capped_dropping_the_oldest(page: Page, gateway: RunningGateway) -> None:
    console = Console(page)
    await page.route("**/api/**", lambda route: route.abort("connectionrefused"))
    await open_bare(page, gateway)  # the default cap: 500 items
    await page.evaluate(
        "() => { for (let i = 1; i <= 510; i++) configtrail.track('click', {elementId: 'cap-' + i}); }"
    )
    stored_items = (
        "JSON.parse(localStorage.getItem('configtrail:queue:' + configtrail.getSessionId()) || '{}').items"
    )
    await wait_in_page(page, f"({stored_items} || []).length >= 500")  # stored in an idle moment
    kept: list[dict[str, Any]] = await page.evaluate(stored_items)
    # the session start and the first ten clicks were the oldest
    assert [item.get("sequence") for item in kept] == list(range(11, 511))
    assert [item["elementId"] for item in kept] == [f"cap-{i}" for i in range(11, 511)]
    after = await status(page)
    assert (after["queued"], after["dropped"], after["sequence"]) == (500, 11, 510)
    assert console.warnings("queue full (500 items): dropping the oldest")


BEACON_RECORDER = """(() => {
    // each navigator.sendBeacon call, kept in the top page (it outlives a frame that goes away)
    const original = navigator.sendBeacon;
    navigator.sendBeacon = function (url, body) {
        const calls = (window.top.__beacons = window.top.__beacons || []);
        const type = typeof body === 'string' ? 'string' : body instanceof Blob ? 'Blob' : String(body);
        const contentType = body instanceof Blob ? body.type : null;
        // a Blob of the frame's would not be readable once the frame is gone: a copy of the top page's
        const kept = body instanceof Blob ? new window.top.Blob([body], {type: body.type}) : body;
        calls.push({url: String(url), type: type, contentType: contentType, body: kept});
        return original.call(this, url, body);
    };
})();"""


async def test_leaving_sends_the_queue_and_a_page_exit_snapshot_by_beacon(
    page: Page, gateway: RunningGateway, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    await page.add_init_script(BEACON_RECORDER)
    await page.goto(f"{gateway.url}/healthz")
    # the tracker in a frame: removing the frame is a real pagehide, and the top page keeps the record
    await page.evaluate(
        """(src) => new Promise((loaded) => {
            const frame = document.createElement('iframe');
            frame.src = src;
            frame.onload = loaded;
            document.body.appendChild(frame);
        })""",
        "/healthz?frame",
    )
    frame = page.frames[1]
    await frame.add_script_tag(url="/tracker.js")
    session_id: str = await frame.evaluate("(options) => configtrail.init(options)", {"writeKey": WRITE_KEY})
    await wait_in_page(frame, "configtrail.status().queued === 0")  # the session start went by fetch
    # from here on fetch fails, so only beacons get through (the page's own fetch, not a page.route:
    # an intercepted request of a frame that is gone is not always let go)
    await frame.evaluate("() => { window.fetch = () => Promise.reject(new TypeError('offline')); }")
    await frame.evaluate(
        """() => {
            configtrail.snapshot({nest: 'nest_80', fenster: 'panorama'}, 15_900_000, 'EUR', 40, 'auto_save');
            for (let i = 1; i <= 3; i++) configtrail.track('click', {elementId: 'leave-' + i});
        }"""
    )
    queued: int = (await status(frame))["queued"]
    assert queued == 4
    assert await page.evaluate("window.__beacons === undefined")
    await page.evaluate("document.querySelector('iframe').remove()")

    calls: list[dict[str, Any]] = await page.evaluate(
        """() => Promise.all((window.__beacons || []).map(async (call) => ({
            url: call.url, type: call.type, contentType: call.contentType,
            text: typeof call.body === 'string' ? call.body : await call.body.text(),
        })))"""
    )
    assert calls
    sent: dict[str, dict[str, Any]] = {}
    beaconed: list[str] = []
    for call in calls:
        url = urlsplit(call["url"])
        assert (url.path, parse_qs(url.query)) == ("/api/batch", {"key": [WRITE_KEY]})
        assert call["type"] == "string" or (call["type"], call["contentType"].split(";")[0]) == (
            "Blob",
            "text/plain",
        )
        for item in orjson.loads(call["text"])["items"]:
            sent[item.get("eventId") or item["snapshotId"]] = item
            beaconed.append(item.get("eventId") or item["snapshotId"])
    # leaving fires visibilitychange and pagehide: each record still goes by beacon only once
    assert sorted(beaconed) == sorted(sent)
    assert sorted(item.get("elementId") or item["trigger"] for item in sent.values()) == [
        "auto_save",
        "leave-1",
        "leave-2",
        "leave-3",
        "page_exit",
    ]

    async def arrived() -> bool:
        found = await stored(pg_pool, sync, session_id)
        return len(found["interactions"]) == 3 and len(found["snapshots"]) == 2

    await wait_until(arrived, "the beaconed interactions and snapshots in Postgres")
    found = await stored(pg_pool, sync, session_id)
    assert [(row["sequence"], row["element_id"]) for row in found["interactions"]] == [
        (1, "leave-1"),
        (2, "leave-2"),
        (3, "leave-3"),
    ]
    exit_snapshot = next(row for row in found["snapshots"] if row["trigger"] == "page_exit")
    assert orjson.loads(exit_snapshot["configuration"]) == {"nest": "nest_80", "fenster": "panorama"}
    assert (exit_snapshot["total_price_minor"], exit_snapshot["completion_percentage"]) == (15_900_000, 40)


async def test_snapshot_with_four_arguments_uses_the_init_currency(
    page: Page, gateway: RunningGateway, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    console = Console(page)
    await open_bare(page, gateway)
    session_id: str = await page.evaluate("configtrail.getSessionId()")
    await page.evaluate(
        """() => {
            configtrail.snapshot({nest: 'nest_60', gebaeudehuelle: 'holz'}, 12_345_600, 75, 'order_attempt');
            return configtrail.flush();
        }"""
    )
    await wait_in_page(page, "configtrail.status().queued === 0")
    assert (await status(page))["rejected"] == 0
    assert not console.warnings("[configtrail]")

    async def arrived() -> bool:
        return len((await stored(pg_pool, sync, session_id))["snapshots"]) == 1

    await wait_until(arrived, "the snapshot in Postgres")
    row = (await stored(pg_pool, sync, session_id))["snapshots"][0]
    assert (row["trigger"], row["total_price_minor"], row["completion_percentage"], row["currency"]) == (
        "order_attempt",
        12_345_600,
        75,
        "EUR",
    )
    assert orjson.loads(row["configuration"]) == {"nest": "nest_60", "gebaeudehuelle": "holz"}
