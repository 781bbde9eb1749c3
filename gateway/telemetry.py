"""Prometheus metrics of the gateway: requests and latency per route and status, plus its own counters.

Each app has its own registry (several apps in one process, as in the tests, must not collide). Routes
are labelled by their path template, never the raw path, so ids do not multiply the series.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from configtrail.telemetry import LatencyRecorder

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

#: probes and scrapes say nothing about the API's performance: kept out of the Metrics samples
_PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
_EVENT_STREAM = b"text/event-stream"

#: (name, help, read the current value)
CounterSource = tuple[str, str, Callable[[], float]]


class _Counters(Collector):
    """Counters kept as plain ints by their owners (coalescer, rate limiter), read at scrape time."""

    def __init__(self) -> None:
        self.sources: list[CounterSource] = []

    def collect(self) -> Iterable[Metric]:
        for name, documentation, read in self.sources:
            yield CounterMetricFamily(name, documentation, value=read())


class Telemetry:
    """The registry and the request metrics, with label children cached per (route, method, status)."""

    def __init__(self, recorder: LatencyRecorder | None = None) -> None:
        #: samples for the Metrics service (flushed in batches), besides the Prometheus series
        self.recorder = recorder
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "configtrail_gateway_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "configtrail_gateway_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._counters = _Counters()
        self.registry.register(self._counters)
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def set_counters(self, sources: list[CounterSource]) -> None:
        """The counters read at scrape time (replacing earlier ones, should the app start again)."""
        self._counters.sources = list(sources)

    def observe(self, route: str, method: str, status: int, seconds: float | None) -> None:
        """Count a request and its latency; ``seconds`` None: counted only (an event stream)."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self._requests.labels(route, method, str(status)),
                self._latency.labels(route, method),
            )
            self._children[key] = children
        children[0].inc()
        if seconds is None:
            return
        children[1].observe(seconds)
        if self.recorder is not None and route not in _PROBES:
            self.recorder.record(f"{method} {route}", seconds, ok=status < 500)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class TelemetryMiddleware:
    """Pure ASGI middleware that times every HTTP request and counts it by route and status."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        streamed = False

        async def send_and_note(message: Message) -> None:
            nonlocal status, streamed
            if message["type"] == "http.response.start":
                status = message["status"]
                streamed = any(
                    name.lower() == b"content-type" and value.startswith(_EVENT_STREAM)
                    for name, value in message.get("headers", ())
                )
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            if route is not None:
                name: str = getattr(route, "path", "unmatched")
            elif scope["method"] == "OPTIONS":
                name = "preflight"
            else:
                name = "unmatched"
            # an event stream lasts as long as someone watches: its duration is no latency
            seconds = None if streamed else time.perf_counter() - start
            self.telemetry.observe(name, scope["method"], status, seconds)
