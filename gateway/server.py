"""Gateway server: ``create_app(settings)`` builds the Starlette app, ``serve()`` runs it under uvicorn.

The Ingest channel, the coalescer and the rate limiter's Redis client are created at start-up inside the
running event loop (the Starlette lifespan) and handed to the handlers as typed lifespan state; on the
way down uvicorn stops accepting and finishes in-flight requests, then the lifespan sends what the
coalescer still holds and closes the channel and Redis, in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TypedDict

import grpc
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from configtrail import streams
from configtrail.grpcserver import GRPC_OPTIONS, wait_for_shutdown_signal
from configtrail.heap import freeze_startup_heap
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from configtrail.metrics.v1 import metrics_pb2_grpc
from configtrail.sync.v1 import sync_pb2_grpc
from configtrail.telemetry import HTTP_LATENCY_METRIC, LatencyRecorder, MetricsFlusher
from gateway.admin import ADMIN_ROUTES
from gateway.analytics import ANALYTICS_ROUTES
from gateway.auth import KeyCheck
from gateway.coalesce import Coalescer
from gateway.cork import CorkedHttpToolsProtocol
from gateway.dashboard import DASHBOARD_ROUTES, close_live_feeds
from gateway.errors import ApiError
from gateway.openapi import openapi
from gateway.ratelimit import ClientHasher, RateLimiter
from gateway.routes import ROUTES, Gateway, health_check
from gateway.settings import GatewaySettings, split_list
from gateway.telemetry import Telemetry, TelemetryMiddleware

logger = logging.getLogger(__name__)

CORS_ALLOW_HEADERS = ["X-Write-Key", "Content-Type", "Content-Encoding", "Authorization"]
STARTUP_TIMEOUT_SECONDS = 10.0


class State(TypedDict):
    """The lifespan state every request sees as ``request.scope["state"]``."""

    gateway: Gateway


def client_address_secret(settings: GatewaySettings) -> bytes:
    """The key of the client-address hash: configured, else derived from the admin and erase tokens.

    The tokens are secrets every replica shares, so every replica derives the same key and a client
    has one bucket across them; the write keys are not used, as browsers carry them for all to read.
    With no secret configured at all, a random key: buckets are then per gateway process.
    """
    configured = settings.client_address_key.get_secret_value()
    if configured:
        return configured.encode()
    tokens = sorted(
        split_list(settings.admin_tokens.get_secret_value())
        + split_list(settings.erase_tokens.get_secret_value())
    )
    if not tokens:
        if settings.rate_limit_per_second > 0:
            logger.warning(
                "CONFIGTRAIL_CLIENT_ADDRESS_KEY, CONFIGTRAIL_ADMIN_TOKENS and CONFIGTRAIL_ERASE_TOKENS "
                "are unset: client addresses are hashed with a random key, so each gateway keeps its "
                "own rate-limit buckets"
            )
        return secrets.token_bytes(32)
    return hashlib.sha256(b"configtrail-client-address:" + "\n".join(tokens).encode()).digest()


async def open_gateway(
    settings: GatewaySettings, telemetry: Telemetry, keys: KeyCheck, hasher: ClientHasher
) -> Gateway:
    """Create the Ingest channel, coalescer and rate limiter; must run inside the serving event loop."""
    channel = grpc.aio.insecure_channel(settings.ingest_address, options=GRPC_OPTIONS)
    sync_channel = grpc.aio.insecure_channel(settings.sync_address, options=GRPC_OPTIONS)
    metrics_channel = grpc.aio.insecure_channel(settings.metrics_address, options=GRPC_OPTIONS)
    ingest: ingest_pb2_grpc.IngestAsyncStub = ingest_pb2_grpc.IngestStub(channel)
    timeout = settings.ingest_timeout_seconds

    async def track_batch(request: ingest_pb2.TrackBatchRequest) -> ingest_pb2.TrackBatchResponse:
        reply: ingest_pb2.TrackBatchResponse = await ingest.TrackBatch(request, timeout=timeout)
        return reply

    coalescer = Coalescer(
        track_batch,
        window=settings.coalesce_window_ms / 1000,
        max_items=min(settings.coalesce_max_items, settings.max_batch_items),
        max_calls_in_flight=settings.coalesce_calls_in_flight,
    )
    redis_client = None
    if settings.rate_limit_per_second <= 0:
        logger.info("rate limit off (CONFIGTRAIL_RATE_LIMIT_PER_SECOND is 0)")
    elif settings.redis_url is None:
        logger.warning(
            "rate limit off: CONFIGTRAIL_REDIS_URL is not set, every client may send without limit"
        )
    else:
        redis_client = streams.connect(
            settings.redis_url.get_secret_value(), connect_timeout=settings.rate_limit_timeout_ms / 1000
        )
    limiter = RateLimiter(
        redis_client,
        rate=settings.rate_limit_per_second,
        burst=settings.rate_limit_burst,
        timeout=settings.rate_limit_timeout_ms / 1000,
        retry_seconds=settings.rate_limit_retry_seconds,
        local_tokens=int(settings.rate_limit_burst * settings.rate_limit_local_share),
    )
    await limiter.start()
    if keys.open:
        logger.warning("CONFIGTRAIL_WRITE_KEYS is empty: anyone may send events (development only)")
    telemetry.set_counters(
        [
            (
                "configtrail_gateway_ingest_batch_calls",
                "TrackBatch calls made for coalesced requests.",
                lambda: coalescer.calls,
            ),
            (
                "configtrail_gateway_ingest_batch_items",
                "Records sent through coalesced TrackBatch calls.",
                lambda: coalescer.items,
            ),
            (
                "configtrail_gateway_rate_limited",
                "Requests refused by the rate limit.",
                lambda: limiter.limited,
            ),
            (
                "configtrail_gateway_rate_limit_local",
                "Requests let through on tokens taken ahead from Redis, without a round trip.",
                lambda: limiter.local,
            ),
            (
                "configtrail_gateway_rate_limit_failed_open",
                "Requests let through unchecked because Redis failed.",
                lambda: limiter.failed_open,
            ),
        ]
    )
    body = openapi(max_batch_items=settings.max_batch_items, max_body_bytes=settings.max_body_bytes)
    logger.info(
        "gateway: ingest at %s, sync at %s, metrics at %s",
        settings.ingest_address,
        settings.sync_address,
        settings.metrics_address,
    )
    return Gateway(
        channel=channel,
        ingest=ingest,
        sync_channel=sync_channel,
        sync=sync_pb2_grpc.SyncStub(sync_channel),
        metrics_channel=metrics_channel,
        metrics=metrics_pb2_grpc.MetricsStub(metrics_channel),
        health_check=health_check(channel),
        coalescer=coalescer,
        limiter=limiter,
        keys=keys,
        hasher=hasher,
        telemetry=telemetry,
        openapi_body=orjson.dumps(body),
        timeout=timeout,
        max_body_bytes=settings.max_body_bytes,
        max_batch_items=settings.max_batch_items,
        max_user_agent_bytes=settings.max_value_bytes,
        rate_per_second=settings.rate_limit_per_second,
    )


async def close_gateway(gateway: Gateway, grace: float) -> None:
    """Send what the coalescer holds, stop the limiter, close the channel (with grace) and Redis."""
    await gateway.coalescer.close()
    await gateway.limiter.close()
    await gateway.channel.close(grace)
    await gateway.sync_channel.close(grace)
    await gateway.metrics_channel.close(grace)
    if gateway.limiter.client is not None:
        await gateway.limiter.client.aclose()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
    return ApiError(code, exc.status_code, str(exc.detail), headers=dict(exc.headers or {})).response()


async def _server_error(request: Request, exc: Exception) -> Response:
    return ApiError("INTERNAL", 500, "internal error").response()


def create_app(settings: GatewaySettings) -> Starlette:
    """The gateway app; its gRPC channel and Redis client open when the app starts (lifespan)."""
    recorder = LatencyRecorder(settings.telemetry_samples_per_method, metric_name=HTTP_LATENCY_METRIC)
    telemetry = Telemetry(recorder)
    keys = KeyCheck(
        split_list(settings.write_keys.get_secret_value()),
        split_list(settings.admin_tokens.get_secret_value()),
        split_list(settings.erase_tokens.get_secret_value()),
    )
    hasher = ClientHasher(client_address_secret(settings))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        gateway = await open_gateway(settings, telemetry, keys, hasher)
        # Also on app.state, for whoever embeds the app (tests, benchmarks) to read its counters.
        app.state.gateway = gateway
        flusher = None
        if settings.telemetry_flush_seconds > 0:
            flusher = MetricsFlusher(
                recorder, "gateway", settings.metrics_address, settings.telemetry_flush_seconds
            )
            flusher.start()
        try:
            yield {"gateway": gateway}
        finally:
            await close_gateway(gateway, settings.shutdown_grace_seconds)
            if flusher is not None:
                await flusher.close()

    middleware = [Middleware(TelemetryMiddleware, telemetry=telemetry)]
    origins = split_list(settings.cors_origins)
    if origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "POST"],
                allow_headers=CORS_ALLOW_HEADERS,
                expose_headers=["Retry-After"],
                max_age=600,
            )
        )
    return Starlette(
        routes=[*ROUTES, *ADMIN_ROUTES, *ANALYTICS_ROUTES, *DASHBOARD_ROUTES],
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )


def uvicorn_config(settings: GatewaySettings, app: Starlette | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        app or create_app(settings),
        host=settings.bind_host,
        port=settings.gateway_port,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        ws="none",
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=int(max(1, settings.shutdown_grace_seconds)),
        backlog=4096,
        http=CorkedHttpToolsProtocol,
    )


async def serve(settings: GatewaySettings | None = None) -> None:
    """Serve until SIGTERM/SIGINT, then stop accepting, finish in-flight requests and close (exit 0)."""
    settings = settings or GatewaySettings()
    running = await start(settings)
    freeze_startup_heap()
    logger.info("gateway serving on %s:%d", settings.bind_host, running.port)
    signalled = asyncio.ensure_future(wait_for_shutdown_signal())
    try:
        await asyncio.wait({signalled, running.task}, return_when=asyncio.FIRST_COMPLETED)
        logger.info("gateway stopping")
    finally:
        signalled.cancel()
        await running.stop()
        logger.info("gateway stopped")


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: :func:`serve` (or the program that embeds it) owns them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class RunningGateway:
    """A gateway serving in this event loop (tests, benchmarks); ``stop()`` shuts it down gracefully."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    app: Starlette
    port: int

    @property
    def url(self) -> str:
        """Where to reach it from this host (tests, benchmarks)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.app.state.gateway
        return gateway

    async def stop(self) -> None:
        # open dashboard feeds end now: uvicorn's graceful shutdown would wait the whole grace for them
        close_live_feeds(self.app)
        self.server.should_exit = True
        await self.task


async def start(settings: GatewaySettings) -> RunningGateway:
    """Start serving in the running loop on ``settings.gateway_port`` (0: any free port)."""
    app = create_app(settings)
    server = _EmbeddedServer(uvicorn_config(settings, app))
    task = asyncio.get_running_loop().create_task(server.serve(), name="gateway")
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("gateway stopped during start-up")
        if time.monotonic() > deadline:
            server.should_exit = True
            await task
            raise RuntimeError(f"gateway not started within {STARTUP_TIMEOUT_SECONDS:.0f}s")
        await asyncio.sleep(0.01)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return RunningGateway(server, task, app, port)
