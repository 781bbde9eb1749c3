"""Metrics server: ``create_server(settings)`` and ``serve()``."""

from __future__ import annotations

from configtrail import db, grpcserver
from configtrail.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from configtrail.settings import MetricsSettings
from services.ingest.validation import Limits
from services.metrics.servicer import MetricsServicer

SERVICE_NAME = metrics_pb2.DESCRIPTOR.services_by_name["Metrics"].full_name


async def create_server(settings: MetricsSettings) -> grpcserver.RunningServer:
    pool = await db.create_pool(settings.require_database_url(), size=settings.database_pool_size)
    servicer = MetricsServicer(pool, limits=Limits.from_settings(settings))
    running = await grpcserver.start_server(
        host=settings.bind_host,
        port=settings.metrics_port,
        service_names=[SERVICE_NAME],
        register=lambda server: metrics_pb2_grpc.add_MetricsServicer_to_server(servicer, server),
        grace=settings.shutdown_grace_seconds,
    )

    async def close_pool() -> None:
        await pool.close()

    running.on_close.append(close_pool)
    return running


async def serve(settings: MetricsSettings | None = None) -> None:
    settings = settings or MetricsSettings()
    running = await create_server(settings)
    await grpcserver.serve_until_signal(running, "metrics")
