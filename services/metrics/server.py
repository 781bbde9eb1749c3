"""Metrics server: ``create_server(settings)`` and ``serve()``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from configtrail import db, grpcserver, streams
from configtrail.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from configtrail.settings import MetricsSettings
from configtrail.telemetry import Telemetry
from services.ingest.validation import Limits
from services.metrics.performance import Thresholds
from services.metrics.servicer import MetricsServicer, utc_now

SERVICE_NAME = metrics_pb2.DESCRIPTOR.services_by_name["Metrics"].full_name


async def create_server(
    settings: MetricsSettings, *, now: Callable[[], datetime] = utc_now, thresholds: Thresholds | None = None
) -> grpcserver.RunningServer:
    """Connect to Postgres and Redis (for the live "active now") and start the gRPC server (port 0: any).

    ``now`` is the clock of the analytics (default ranges, idle sessions, performance windows);
    ``thresholds`` the p95 limits of the efficiency ratings (default: from the settings).
    """
    pool = await db.create_pool(settings.require_database_url(), size=settings.database_pool_size)
    client = streams.connect(settings.require_redis_url(), connect_timeout=1.0)
    thresholds = thresholds or Thresholds(
        excellent_below_ms=settings.performance_excellent_below_ms,
        good_below_ms=settings.performance_good_below_ms,
        fair_below_ms=settings.performance_fair_below_ms,
    )
    servicer = MetricsServicer(
        pool, limits=Limits.from_settings(settings), redis_client=client, now=now, thresholds=thresholds
    )
    telemetry = Telemetry("metrics", settings, settings.metrics_prometheus_port)
    running = await grpcserver.start_server(
        host=settings.bind_host,
        port=settings.metrics_port,
        service_names=[SERVICE_NAME],
        register=lambda server: metrics_pb2_grpc.add_MetricsServicer_to_server(servicer, server),
        grace=settings.shutdown_grace_seconds,
        interceptors=[telemetry.interceptor],
    )
    telemetry.start()

    async def close_pool() -> None:
        await pool.close()

    # its own latency samples go to itself: the last flush while it still takes calls
    running.on_stopping.append(telemetry.close)
    running.on_close += [close_pool, client.aclose]
    return running


async def serve(settings: MetricsSettings | None = None) -> None:
    settings = settings or MetricsSettings()
    running = await create_server(settings)
    await grpcserver.serve_until_signal(running, "metrics")
