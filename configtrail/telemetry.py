"""Each service measures its own RPCs: a server interceptor, in-process aggregation, batched flushes.

:class:`LatencyInterceptor` times every RPC and feeds a Prometheus histogram and a
:class:`LatencyRecorder`. The recorder keeps, per method and flush interval, the call count and a
uniform reservoir sample of latencies; :class:`MetricsFlusher` sends the samples to the Metrics service
as one ``RecordMetrics`` call per interval — never one write per request. Each sample carries how many
calls it stands for, so counts stay exact while the volume stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from configtrail.common.v1 import events_pb2
from configtrail.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from configtrail.settings import CommonSettings

logger = logging.getLogger(__name__)

#: metric_name of the samples the services record about their own RPCs
RPC_LATENCY_METRIC = "grpc_server_latency"
#: metric_name of the samples the gateway records about its HTTP requests
HTTP_LATENCY_METRIC = "api_response_time"

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)


@dataclass
class _MethodWindow:
    calls: int = 0
    errors: int = 0
    samples: list[float] = field(default_factory=list)


class LatencyRecorder:
    """Per-method call counts and a bounded, uniform sample of latencies (reservoir sampling)."""

    def __init__(
        self,
        samples_per_method: int = 200,
        rng: random.Random | None = None,
        metric_name: str = RPC_LATENCY_METRIC,
    ) -> None:
        self.metric_name = metric_name
        self._limit = samples_per_method
        self._rng = rng or random.Random()
        self._windows: dict[str, _MethodWindow] = {}

    @property
    def waiting(self) -> int:
        """Methods with calls recorded since the last drain."""
        return len(self._windows)

    def record(self, method: str, seconds: float, ok: bool) -> None:
        window = self._windows.get(method)
        if window is None:
            window = self._windows[method] = _MethodWindow()
        window.calls += 1
        if not ok:
            window.errors += 1
        if len(window.samples) < self._limit:
            window.samples.append(seconds)
        else:
            slot = self._rng.randrange(window.calls)
            if slot < self._limit:
                window.samples[slot] = seconds

    def drain(self, service: str, now: datetime | None = None) -> list[events_pb2.PerformanceMetric]:
        """The samples gathered since the last drain, as metrics; the recorder starts afresh."""
        windows, self._windows = self._windows, {}
        stamp = now or datetime.now(UTC)
        metrics: list[events_pb2.PerformanceMetric] = []
        for method, window in windows.items():
            weight = window.calls / len(window.samples) if window.samples else 0.0
            for seconds in window.samples:
                metric = events_pb2.PerformanceMetric(
                    metric_id=str(uuid.uuid4()),
                    metric_name=self.metric_name,
                    value_ms=seconds * 1000,
                    endpoint=method,
                )
                metric.additional_data.update(
                    {
                        "service": service,
                        "represents_calls": weight,
                        "window_calls": window.calls,
                        "window_errors": window.errors,
                    }
                )
                metric.timestamp.FromDatetime(stamp)
                metrics.append(metric)
        return metrics


class ServiceMetrics:
    """The Prometheus metrics of one service process, in a registry of its own."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "configtrail_grpc_requests", "gRPC requests handled", ["method", "code"], registry=self.registry
        )
        self.latency = Histogram(
            "configtrail_grpc_request_seconds",
            "gRPC request latency",
            ["method"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

    def serve_http(self, host: str, port: int) -> Callable[[], None]:
        """Expose ``/metrics`` for Prometheus on ``host:port`` (a background thread); return its stop."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(5)

        return stop


class LatencyInterceptor(grpc.aio.ServerInterceptor):
    """Times every RPC into the Prometheus histogram and the recorder."""

    def __init__(self, recorder: LatencyRecorder, metrics: ServiceMetrics) -> None:
        self._recorder = recorder
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(("/grpc.health", "/grpc.reflection")):
            return handler
        record = self._observe
        # the handler's callables are coroutines and async generators under grpc.aio; the stubs type
        # them for the synchronous server
        if handler.unary_unary is not None:
            inner: Any = handler.unary_unary

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                started = time.perf_counter()
                try:
                    return await inner(request, context)
                finally:
                    record(method, time.perf_counter() - started, context)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_stream is not None:
            inner_stream: Any = handler.stream_stream

            async def stream_stream(
                requests: Any, context: grpc.aio.ServicerContext[Any, Any]
            ) -> AsyncIterator[Any]:
                started = time.perf_counter()
                try:
                    async for response in inner_stream(requests, context):
                        yield response
                finally:
                    record(method, time.perf_counter() - started, context)

            return grpc.stream_stream_rpc_method_handler(
                stream_stream, handler.request_deserializer, handler.response_serializer
            )
        return handler

    def _observe(self, method: str, seconds: float, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        code = context.code()
        ok = code is None or code == grpc.StatusCode.OK
        name = "OK" if code is None else code.name
        self._metrics.requests.labels(method, name).inc()
        self._metrics.latency.labels(method).observe(seconds)
        self._recorder.record(method, seconds, ok)


#: The flush's channel retries a lost Metrics service every second at most, not gRPC's two minutes.
FLUSH_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
#: How long a flush waits for Metrics (also while the channel reconnects) before its window is dropped.
FLUSH_TIMEOUT_SECONDS = 2.0
#: The last flush, on the way down, waits less for a Metrics service that may be stopping too.
FINAL_FLUSH_TIMEOUT_SECONDS = 1.0


class MetricsFlusher:
    """Sends the recorder's samples to the Metrics service every ``interval`` seconds, in one call."""

    def __init__(
        self,
        recorder: LatencyRecorder,
        service: str,
        address: str,
        interval: float = 10.0,
        timeout: float = FLUSH_TIMEOUT_SECONDS,
    ) -> None:
        self._recorder = recorder
        self._timeout = timeout
        self._service = service
        self._address = address
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"telemetry-{self._service}")

    async def _run(self) -> None:
        async with grpc.aio.insecure_channel(self._address, options=FLUSH_CHANNEL_OPTIONS) as channel:
            stub = metrics_pb2_grpc.MetricsStub(channel)
            stopping = False
            while not stopping:  # the flush after the stop sends what gathered during the one before
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self._interval)
                stopping = self._stop.is_set()
                await self._flush(
                    stub, min(self._timeout, FINAL_FLUSH_TIMEOUT_SECONDS) if stopping else self._timeout
                )

    async def _flush(self, stub: Any, timeout: float) -> None:
        metrics = self._recorder.drain(self._service)
        if not metrics:
            return
        try:
            # waits while the channel reconnects (Metrics restarting) instead of failing at once
            await stub.RecordMetrics(
                metrics_pb2.RecordMetricsRequest(metrics=metrics), timeout=timeout, wait_for_ready=True
            )
        except grpc.aio.AioRpcError as error:
            # latency samples are telemetry, not tracked events: a lost window is logged, not retried
            logger.warning("could not record %d latency samples: %s", len(metrics), error.code().name)

    async def close(self) -> None:
        """Flush what is gathered, then stop."""
        self._stop.set()
        if self._task is not None:
            await self._task


class Telemetry:
    """Everything one service needs to measure itself: interceptor, Prometheus endpoint, flusher."""

    def __init__(self, service: str, settings: CommonSettings, prometheus_port: int) -> None:
        self.metrics = ServiceMetrics(service)
        self.recorder = LatencyRecorder(settings.telemetry_samples_per_method)
        self.interceptor = LatencyInterceptor(self.recorder, self.metrics)
        self._flusher = (
            MetricsFlusher(self.recorder, service, settings.metrics_address, settings.telemetry_flush_seconds)
            if settings.telemetry_flush_seconds > 0
            else None
        )
        self._host = settings.bind_host
        self._prometheus_port = prometheus_port
        self._stop_http: Callable[[], None] | None = None

    def start(self) -> None:
        if self._prometheus_port:
            self._stop_http = self.metrics.serve_http(self._host, self._prometheus_port)
        if self._flusher is not None:
            self._flusher.start()

    async def close(self) -> None:
        if self._flusher is not None:
            await self._flusher.close()
        if self._stop_http is not None:
            await asyncio.to_thread(self._stop_http)
