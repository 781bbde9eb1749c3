"""The dashboard's first render per page in headless Chromium (Debian's ``/usr/bin/chromium``).

Shared by the browser tests (``tests/test_dashboard.py``, on a few hundred demo sessions) and the
benchmark area ``dashboard`` (:func:`measure`, on the 100,000 sessions of the analytics dataset): sign in
once, then open every page by a fresh navigation (``about:blank`` first, so the page is loaded anew, its
assets from the browser cache as a returning admin has them) and read
``window.__configtrailRenderMs[page]``: the milliseconds from the navigation's start to the moment the
page has drawn its charts, as the page measures it itself (the API calls behind it included).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from playwright.async_api import Browser, Page, async_playwright

if TYPE_CHECKING:
    from bench.context import Bench
    from bench.results import Area

CHROMIUM = Path("/usr/bin/chromium")
#: What Chromium needs on these machines: no sandbox as root, no GPU, no calls home (the network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = ("overview", "live", "funnel", "journeys", "popular", "performance", "abandonment")
#: The issue's budget for a page's first render.
BUDGET_MS = 1000.0
WAIT_SECONDS = 20.0


class DashboardError(Exception):
    """The page did not render (an error box, the sign-in form, or nothing in time)."""


async def wait_for_render(
    page: Page, view: str, timeout: float = WAIT_SECONDS, *, complete: bool = False
) -> None:
    """Until ``<html data-rendered>`` (or with ``complete``, ``data-complete``: a slow secondary chart
    drawn too) says ``view``; an error box or the sign-in form raise."""
    deadline = time.monotonic() + timeout
    while True:
        rendered = await page.evaluate("document.documentElement.dataset.rendered || ''")
        done = (
            await page.evaluate("document.documentElement.dataset.complete || ''") if complete else rendered
        )
        if done == view:
            return
        if rendered in ("error", "signin") and rendered != view:
            text = await page.evaluate(
                "(document.querySelector('[data-error]') || document.querySelector('#signin-error') || "
                "document.body).innerText"
            )
            raise DashboardError(f"{view}: the page shows {rendered}: {text.strip()[:500]}")
        if time.monotonic() > deadline:
            raise DashboardError(f"{view}: not rendered within {timeout:.0f}s")
        await asyncio.sleep(0.02)


async def sign_in(page: Page, base_url: str, token: str) -> None:
    """Open the dashboard and sign in with ``token`` through the form; waits for the first page."""
    await page.goto(f"{base_url}/dashboard")
    await page.fill("#token", token)
    await page.click("#signin-submit")
    await wait_for_render(page, "overview")


def view_url(base_url: str, view: str, params: dict[str, str] | None = None) -> str:
    query = urlencode(params or {})
    return f"{base_url}/dashboard#{view}{'?' + query if query else ''}"


@dataclass(frozen=True)
class Render:
    """Milliseconds from a page's navigation to its first render, and to its last chart drawn."""

    first: float
    complete: float


async def open_view(page: Page, base_url: str, view: str, params: dict[str, str] | None = None) -> Render:
    """Load ``view`` by a fresh navigation and wait until it is complete; its times, as the page measured."""
    await page.goto("about:blank")
    await page.goto(view_url(base_url, view, params))
    await wait_for_render(page, view, complete=True)
    first: float = await page.evaluate(f"window.__configtrailRenderMs[{view!r}]")
    complete: float = await page.evaluate(f"window.__configtrailCompleteMs[{view!r}]")
    return Render(first, complete)


async def first_renders(
    browser: Browser, base_url: str, token: str, params: dict[str, str] | None = None, rounds: int = 1
) -> dict[str, list[Render]]:
    """Every page's first render, ``rounds`` times each, in a context of its own (1280 by 900)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        page = await context.new_page()
        await sign_in(page, base_url, token)
        times: dict[str, list[Render]] = {view: [] for view in PAGES}
        for _ in range(rounds):
            for view in PAGES:
                ranged = params if view not in ("live", "performance") else None
                times[view].append(await open_view(page, base_url, view, ranged))
        return times
    finally:
        await context.close()


# ---- the benchmark area ---------------------------------------------------------------------------

ADMIN_TOKEN = "bench-dashboard-admin"
TITLES = {
    "overview": "Overview",
    "live": "Live",
    "funnel": "Funnel (4 steps, device breakdown)",
    "journeys": "Journeys (session list, price evolution)",
    "popular": "Popular configurations",
    "performance": "Performance",
    "abandonment": "Abandonment",
}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def measure(bench: Bench, area: Area) -> None:
    """Each page's first render over the analytics dataset (gateway, Metrics and Sync as processes)."""
    from bench import analytics
    from bench.procs import Child
    from bench.results import Target
    from configtrail.embedded import EmbeddedPostgres, free_port

    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - once, before anything starts
        area.not_measured = f"{CHROMIUM} is missing: install Debian's chromium package"
        return
    sessions = bench.settings.analytics_sessions
    loop = asyncio.get_running_loop()
    postgres: EmbeddedPostgres | None = None
    if bench.infra.postgres is not None:
        folder = analytics.DATA_DIR / f"analytics-{sessions}-{analytics.SEED}"
        bench.say(f"dashboard: PostgreSQL on {folder}")
        postgres = EmbeddedPostgres(folder / "data")
        dsn = await loop.run_in_executor(None, postgres.start)
    else:
        dsn = bench.infra.dsn
    children: list[Child] = []
    try:
        dataset = await analytics.prepare(bench, dsn, sessions)
        metrics, metrics_port = await bench.start_metrics(CONFIGTRAIL_DATABASE_URL=dsn)
        children.append(metrics)
        sync, sync_port = await bench.start_sync()  # the live page's stream and lag (this run's streams)
        children.append(sync)
        gateway, gateway_port = await bench.start_gateway(
            free_port(),  # no Ingest: the dashboard only reads
            "bench-dashboard-write",
            CONFIGTRAIL_ADMIN_TOKENS=ADMIN_TOKEN,
            CONFIGTRAIL_METRICS_ADDRESS=f"127.0.0.1:{metrics_port}",
            CONFIGTRAIL_SYNC_ADDRESS=f"127.0.0.1:{sync_port}",
            CONFIGTRAIL_RATE_LIMIT_PER_SECOND="0",
        )
        children.append(gateway)
        rounds = bench.settings.analytics_repetitions
        params = {"from": _iso(analytics.RANGE_START), "to": _iso(analytics.RANGE_END)}
        url = f"http://127.0.0.1:{gateway_port}"
        bench.say(f"dashboard: first renders in Chromium, {rounds} round(s) after a warm-up")
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                await first_renders(browser, url, ADMIN_TOKEN, params)  # warm-up: caches, plans
                times = await first_renders(browser, url, ADMIN_TOKEN, params, rounds=rounds)
            finally:
                await browser.close()
        for view in PAGES:
            figure = area.figure(f"{TITLES[view]}: first render", "ms", Target("<", BUDGET_MS))
            figure.runs = [render.first for render in times[view]]
            figure.details = [{"complete_ms": round(render.complete, 1)} for render in times[view]]
        area.notes.append(
            f"**Dataset**: {dataset.text()} (the analytics area's). Each page of `/dashboard` opened by a "
            "fresh navigation in headless Chromium (Debian's, 1280 by 900), signed in, over the dataset's "
            "whole range; the figure is the page's own measure from the navigation's start to its charts "
            "drawn (`window.__configtrailRenderMs`): HTML, the assets (plotly.js from the browser cache, as "
            "a returning admin has it), the admin API calls through the gateway and Metrics, and drawing. "
            "The budget is the issue's: under 1 s per page. `complete_ms` is the time to the last chart: "
            "the Journeys page draws its aggregate price-evolution chart (PriceEvolution over every "
            "snapshot of the range) after its first render of the session list."
        )
    finally:
        for child in reversed(children):
            await bench.children.stop_async(child)
        if postgres is not None:
            await loop.run_in_executor(None, postgres.stop)
