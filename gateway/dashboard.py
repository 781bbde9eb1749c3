"""The admin dashboard: ``/dashboard`` (one page, no data in it), its assets, and the live feed.

The page (``gateway/static/dashboard``: index.html, dashboard.js, dashboard.css, plain files, no build
step) asks for an admin token, keeps it in the tab's ``sessionStorage`` and reads everything from the
admin API with ``Authorization: Bearer``. Its charts are drawn by plotly.js, served from the bundle inside
the installed ``plotly`` wheel (never a copy in this repository, never a CDN): every asset is served under
its content hash (``?v=…``, cached for a year) with an ETag, gzip-compressed to browsers that accept it.

``GET /api/admin/live`` is the live feed: server-sent events over one response, read by the page with
``fetch()`` streaming so that the token travels in the ``Authorization`` header (never in a URL). Each
connection gets, every ``interval`` seconds (default 1), an ``event: live`` with the sessions active now
(Metrics' ``Overview.active_now``: the Redis live index), the events per second Sync commits, the stream
length and the sync lag (Sync's ``Status``); and, each time Metrics' ``WatchPerformance`` stream sends one,
an ``event: performance`` with the summary as the admin API answers it (over ``window`` seconds, with its
series of ``bucketSeconds`` buckets when that is given). A dependency that fails is named
in the ``errors`` of the next ``live`` event and retried; the feed itself goes on. It ends when the client
goes away, or for every client at once with :func:`close_live_feeds` (a gateway that shuts down).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import gzip
import hashlib
import math
import threading
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, TypeVar

import grpc
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from configtrail.errors import FieldViolation
from configtrail.metrics.v1 import metrics_pb2
from configtrail.sync.v1 import sync_pb2
from gateway.analytics import reply_json
from gateway.errors import ApiError
from gateway.pages import CACHE_VERSIONED, HTML, JAVASCRIPT, Asset
from gateway.routes import Gateway

T = TypeVar("T")

CSS = "text/css; charset=utf-8"
EVENT_STREAM = "text/event-stream; charset=utf-8"
#: An asset asked for without its content hash: revalidated with its ETag on every use.
CACHE_REVALIDATE = "no-cache"
#: The page loads nothing from elsewhere (it works offline) and talks only to this gateway. Plotly sets
#: inline styles on the elements it draws, hence 'unsafe-inline' for styles (never for scripts).
DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
    "img-src 'self' data: blob:; font-src 'self' data:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": DASHBOARD_CSP,
    "Referrer-Policy": "no-referrer",
}
#: The placeholders of index.html, replaced by the versioned asset URLs.
ASSET_PLACEHOLDERS = {
    "{{DASHBOARD_CSS}}": "dashboard.css",
    "{{DASHBOARD_JS}}": "dashboard.js",
    "{{PLOTLY_JS}}": "plotly.min.js",
}
_MEDIA_TYPES = {"dashboard.css": CSS, "dashboard.js": JAVASCRIPT, "plotly.min.js": JAVASCRIPT}
#: plotly.js is 4.8 MB: compressed once per process, in a thread, at a level that takes ~0.1 s.
_PLOTLY_GZIP_LEVEL = 6

# --- the live feed's knobs ---
LIVE_INTERVAL_SECONDS = 1.0
LIVE_INTERVAL_RANGE = (0.25, 10.0)
PERFORMANCE_WINDOW_SECONDS = 300.0
PERFORMANCE_WINDOW_RANGE = (1.0, 30 * 86400.0)
#: Buckets of the performance series: multiples of this many seconds, at most this many in the window.
PERFORMANCE_BUCKET_MULTIPLE_SECONDS = 60
PERFORMANCE_MAX_BUCKETS = 2000
#: How often WatchPerformance sends a summary.
PERFORMANCE_INTERVAL_SECONDS = 2.0
#: Deadline of the calls behind each live sample.
LIVE_CALL_TIMEOUT_SECONDS = 2.0
#: After the performance stream failed, when to open it again.
PERFORMANCE_RETRY_SECONDS = 3.0
#: Events per second are the committed entries over this many seconds.
RATE_HORIZON_SECONDS = 5.0
#: Events waiting for a slow client; past that the oldest samples are dropped.
LIVE_QUEUE_SIZE = 16


# --- the page and its assets ---------------------------------------------------------------------------


def _static(name: str) -> bytes:
    return (resources.files("gateway") / "static" / "dashboard" / name).read_bytes()


@functools.cache
def _plotly_bytes() -> bytes:
    """The plotly.js bundle of the installed ``plotly`` wheel."""
    return (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()


def _version(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


@functools.cache
def _small_asset(name: str) -> Asset:
    body = _static(name)
    return Asset(body, gzip.compress(body, mtime=0), _version(body))


class _Plotly:
    """plotly.js as served: its bytes at once, its gzip form as soon as a thread has compressed it.

    The thread is the process's, not an event loop's: several apps in several loops (tests) share it.
    """

    def __init__(self) -> None:
        self.gzipped: bytes | None = None
        self._started = False
        self._lock = threading.Lock()

    @functools.cached_property
    def body(self) -> bytes:
        return _plotly_bytes()

    @functools.cached_property
    def version(self) -> str:
        return _version(self.body)

    def prepare(self) -> None:
        """Start compressing (once); until done, the bundle is sent as it is."""
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._compress, name="plotly-gzip", daemon=True).start()

    def _compress(self) -> None:
        self.gzipped = gzip.compress(self.body, _PLOTLY_GZIP_LEVEL, mtime=0)


_PLOTLY = _Plotly()


def _version_of(name: str) -> str:
    return _PLOTLY.version if name == "plotly.min.js" else _small_asset(name).version


@functools.cache
def page_html() -> bytes:
    """index.html with the versioned URLs of its assets."""
    text = _static("index.html").decode()
    for placeholder, name in ASSET_PLACEHOLDERS.items():
        text = text.replace(placeholder, f"/dashboard/assets/{name}?v={_version_of(name)}")
    return text.encode()


async def dashboard_page(request: Request) -> Response:
    """``GET /dashboard``: the dashboard (sign-in form and pages); every number comes from the admin API."""
    _PLOTLY.prepare()
    return Response(page_html(), headers=dict(PAGE_HEADERS), media_type=HTML)


def _accepts_gzip(request: Request) -> bool:
    codings = request.headers.get("accept-encoding", "").lower()
    return any(part.split(";")[0].strip() == "gzip" for part in codings.split(","))


async def dashboard_asset(request: Request) -> Response:
    """``GET /dashboard/assets/{name}``: dashboard.js, dashboard.css, plotly.min.js."""
    name: str = request.path_params["name"]
    media_type = _MEDIA_TYPES.get(name)
    if media_type is None:
        return ApiError("NOT_FOUND", 404, f"no dashboard asset {name!r}").response()
    if name == "plotly.min.js":
        _PLOTLY.prepare()
        body, gzipped, version = _PLOTLY.body, _PLOTLY.gzipped, _PLOTLY.version
    else:
        asset = _small_asset(name)
        body, gzipped, version = asset.body, asset.gzipped, asset.version
    etag = f'W/"{version}"'
    headers = {
        "ETag": etag,
        "Cache-Control": CACHE_VERSIONED if request.query_params.get("v") == version else CACHE_REVALIDATE,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if gzipped is not None and _accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return Response(gzipped, headers=headers, media_type=media_type)
    return Response(body, headers=headers, media_type=media_type)


# --- the live feed -------------------------------------------------------------------------------------


class LiveFeeds:
    """The live feeds one app is serving, so that a shutdown can end them all at once."""

    def __init__(self) -> None:
        self._ends: set[asyncio.Event] = set()
        self.closed = False

    def __len__(self) -> int:
        return len(self._ends)

    def add(self) -> asyncio.Event:
        end = asyncio.Event()
        self._ends.add(end)
        return end

    def discard(self, end: asyncio.Event) -> None:
        self._ends.discard(end)

    def close(self) -> None:
        """End every open feed and refuse new ones (503)."""
        self.closed = True
        for end in self._ends:
            end.set()


def live_feeds(app: Starlette) -> LiveFeeds:
    """The live feeds of ``app`` (created on first use)."""
    feeds: LiveFeeds | None = getattr(app.state, "live_feeds", None)
    if feeds is None:
        feeds = app.state.live_feeds = LiveFeeds()
    return feeds


def close_live_feeds(app: Starlette) -> None:
    """End the open live feeds of ``app``: call before uvicorn's graceful shutdown waits for responses."""
    live_feeds(app).close()


@dataclass(frozen=True)
class LiveOptions:
    interval: float = LIVE_INTERVAL_SECONDS
    window: float = PERFORMANCE_WINDOW_SECONDS
    performance_interval: float = PERFORMANCE_INTERVAL_SECONDS
    #: 0: the summaries come without their series
    bucket_seconds: int = 0


def _number_parameter(request: Request, name: str, default: float, bounds: tuple[float, float]) -> float:
    text = request.query_params.get(name, "")
    if text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    low, high = bounds
    if not (math.isfinite(value) and low <= value <= high):
        raise ApiError.invalid([FieldViolation(name, f"must be a number of seconds in {low:g}..{high:g}")])
    return value


def _bucket_parameter(request: Request, window: float) -> int:
    """``bucketSeconds``: 0 (absent) or a multiple of 60 of which the window holds at most 2,000, as
    Metrics checks it (checked here too: a feed whose every summary fails would only retry)."""
    text = request.query_params.get("bucketSeconds", "")
    if text == "":
        return 0
    multiple = PERFORMANCE_BUCKET_MULTIPLE_SECONDS
    value = int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else -1
    if value < 0 or value % multiple or (value and window > PERFORMANCE_MAX_BUCKETS * value):
        reason = f"must be 0 or a multiple of {multiple} s, at most {PERFORMANCE_MAX_BUCKETS:,} in the window"
        raise ApiError.invalid([FieldViolation("bucketSeconds", reason)])
    return value


def live_options(request: Request) -> LiveOptions:
    known = {"interval", "window", "bucketSeconds"}
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        reason = f"unknown query parameter; known: {', '.join(sorted(known))}"
        raise ApiError.invalid([FieldViolation(name, reason) for name in unknown])
    window = _number_parameter(request, "window", PERFORMANCE_WINDOW_SECONDS, PERFORMANCE_WINDOW_RANGE)
    return LiveOptions(
        interval=_number_parameter(request, "interval", LIVE_INTERVAL_SECONDS, LIVE_INTERVAL_RANGE),
        window=window,
        bucket_seconds=_bucket_parameter(request, window),
    )


def sse(event: str, data: object) -> bytes:
    """One server-sent event (the JSON has no newline, so one ``data:`` line)."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


@dataclass
class EventRate:
    """Entries committed per second over the last few seconds, from the workers' cumulative counts.

    A worker's count that goes down (it restarted) or a worker seen for the first time adds nothing; the
    total only grows, so its difference over the horizon is the rate.
    """

    horizon: float = RATE_HORIZON_SECONDS
    total: int = 0
    _last: dict[str, int] = field(default_factory=dict)
    _samples: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)

    def update(self, counts: Iterable[tuple[str, int]], now: float) -> float | None:
        """Add the workers' counts seen at ``now`` (monotonic seconds); the rate, None on the first call."""
        current = dict(counts)
        for worker, count in current.items():
            before = self._last.get(worker)
            if before is not None and count > before:
                self.total += count - before
        self._last = current
        self._samples.append((now, self.total))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.horizon:
            self._samples.popleft()
        first_at, first_total = self._samples[0]
        if now <= first_at:
            return None
        return (self.total - first_total) / (now - first_at)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def _outcome(call: Awaitable[T], source: str, errors: list[str]) -> T | None:
    """The call's answer, or None with a line in ``errors``."""
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        errors.append(f"{source}: {error.code().name} {error.details() or ''}".strip())
        return None


async def live_sample(gateway: Gateway, rate: EventRate) -> dict[str, Any]:
    """What the live page shows now: one Sync ``Status`` and one ``Overview`` over the last second."""
    now = datetime.now(UTC)
    request = metrics_pb2.OverviewRequest()
    # the range only bounds the Postgres part of the answer (nearly nothing); active_now ignores it
    request.from_time.FromDatetime(now - timedelta(seconds=1))
    request.to_time.FromDatetime(now)
    errors: list[str] = []
    status, overview = await asyncio.gather(
        _outcome(
            gateway.sync.Status(sync_pb2.StatusRequest(), timeout=LIVE_CALL_TIMEOUT_SECONDS), "sync", errors
        ),
        _outcome(gateway.metrics.Overview(request, timeout=LIVE_CALL_TIMEOUT_SECONDS), "metrics", errors),
    )
    sample: dict[str, Any] = {
        "at": _iso(now),
        "activeNow": None,
        "eventsPerSecond": None,
        "eventsCommitted": None,
        "streamLength": None,
        "syncLag": None,
        "syncUndelivered": None,
        "syncPending": None,
        "deadLetters": None,
        "lastCommitAt": None,
        "workers": [],
        "errors": errors,
    }
    if overview is not None and overview.active_now >= 0:
        sample["activeNow"] = overview.active_now
    elif overview is not None:
        errors.append("metrics: Redis unavailable, active sessions unknown")
    if status is not None:
        undelivered = sum(stream.lag for stream in status.streams)
        pending = sum(stream.pending for stream in status.streams)
        sample.update(
            streamLength=sum(stream.length for stream in status.streams),
            syncUndelivered=undelivered,
            syncPending=pending,
            syncLag=undelivered + pending,
            deadLetters=status.dead_letters if status.dead_letters >= 0 else None,
            eventsCommitted=sum(worker.entries_committed for worker in status.workers),
            eventsPerSecond=rate.update(
                ((worker.worker, worker.entries_committed) for worker in status.workers), time.monotonic()
            ),
        )
        commits = [w.last_commit_at.ToDatetime(UTC) for w in status.workers if w.HasField("last_commit_at")]
        if commits:
            sample["lastCommitAt"] = _iso(max(commits))
        sample["workers"] = [
            {"worker": worker.worker, "state": worker.state, "entriesCommitted": worker.entries_committed}
            for worker in status.workers
        ]
    return sample


def _offer(queue: asyncio.Queue[bytes], chunk: bytes) -> None:
    """Queue an event; a client that does not keep up loses the oldest (a live view wants the newest)."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(chunk)


async def _samples(gateway: Gateway, options: LiveOptions, queue: asyncio.Queue[bytes]) -> None:
    loop = asyncio.get_running_loop()
    rate = EventRate()
    while True:
        started = loop.time()
        _offer(queue, sse("live", await live_sample(gateway, rate)))
        await asyncio.sleep(max(0.0, options.interval - (loop.time() - started)))


async def _performance(gateway: Gateway, options: LiveOptions, queue: asyncio.Queue[bytes]) -> None:
    request = metrics_pb2.WatchPerformanceRequest(
        window_seconds=options.window,
        interval_seconds=options.performance_interval,
        bucket_seconds=options.bucket_seconds,
    )
    while True:
        call = gateway.metrics.WatchPerformance(request)
        try:
            async for summary in call:
                _offer(queue, sse("performance", reply_json(summary)))
        except grpc.aio.AioRpcError as error:
            problem = f"performance: {error.code().name} {error.details() or ''}".strip()
            _offer(queue, sse("problem", {"source": "performance", "message": problem}))
        finally:
            call.cancel()
        await asyncio.sleep(PERFORMANCE_RETRY_SECONDS)


async def _until_disconnected(receive: Receive, end: asyncio.Event) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            end.set()
            return


async def stream_live(
    gateway: Gateway, options: LiveOptions, end: asyncio.Event, receive: Receive, send: Send
) -> None:
    """Send the feed until ``end`` is set (the client left, or the gateway shuts down)."""
    queue: asyncio.Queue[bytes] = asyncio.Queue(LIVE_QUEUE_SIZE)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", EVENT_STREAM.encode()),
                (b"cache-control", b"no-store"),
                (b"x-accel-buffering", b"no"),  # proxies must pass each event on at once
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    tasks = [
        asyncio.ensure_future(_until_disconnected(receive, end)),
        asyncio.ensure_future(_samples(gateway, options, queue)),
        asyncio.ensure_future(_performance(gateway, options, queue)),
    ]
    ended = asyncio.ensure_future(end.wait())
    try:
        await send({"type": "http.response.body", "body": b"retry: 2000\n\n", "more_body": True})
        while True:
            next_chunk = asyncio.ensure_future(queue.get())
            await asyncio.wait({next_chunk, ended, *tasks}, return_when=asyncio.FIRST_COMPLETED)
            if not next_chunk.done():
                next_chunk.cancel()
                break  # ended, or a producer failed (raised below)
            await send({"type": "http.response.body", "body": next_chunk.result(), "more_body": True})
    finally:
        for task in [*tasks, ended]:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, ended, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
    await send({"type": "http.response.body", "body": b"", "more_body": False})


class LiveEndpoint:
    """``GET /api/admin/live``: an ASGI app of its own, to own the response's whole life."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        gateway: Gateway = scope["state"]["gateway"]
        feeds = live_feeds(request.app)
        try:
            gateway.keys.admin(request)
            options = live_options(request)
            if feeds.closed:
                raise ApiError.for_code(grpc.StatusCode.UNAVAILABLE, "the gateway is shutting down")
        except ApiError as error:
            await error.response()(scope, receive, send)
            return
        end = feeds.add()
        try:
            await stream_live(gateway, options, end, receive, send)
        finally:
            feeds.discard(end)


DASHBOARD_ROUTES = [
    Route("/dashboard", dashboard_page, methods=["GET"]),
    Route("/dashboard/assets/{name}", dashboard_asset, methods=["GET"]),
    Route("/api/admin/live", LiveEndpoint(), methods=["GET"]),
]
