"""Sync server: the gRPC Status/Flush service and the consumer-group worker in one process."""

from __future__ import annotations

import asyncio
import logging

from configtrail import db, grpcserver, streams
from configtrail.settings import SyncSettings
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc
from configtrail.telemetry import Telemetry
from services.sync.servicer import SyncServicer
from services.sync.worker import SyncWorker, default_worker_name

logger = logging.getLogger(__name__)

SERVICE_NAME = sync_pb2.DESCRIPTOR.services_by_name["Sync"].full_name


async def create_server(settings: SyncSettings) -> grpcserver.RunningServer:
    """Connect to Redis and Postgres, start the worker and the gRPC server (port 0: any free port)."""
    client = streams.connect(settings.require_redis_url(), connect_timeout=1.0)
    pool = await db.create_pool(settings.require_database_url(), size=settings.database_pool_size)
    name = settings.sync_worker_name or default_worker_name(settings.sync_port)
    telemetry = Telemetry("sync", settings, settings.sync_prometheus_port)
    worker = SyncWorker(client, pool, settings, name, registry=telemetry.metrics.registry)
    worker_task = asyncio.get_running_loop().create_task(worker.run_forever(), name=f"sync-worker-{name}")
    servicer = SyncServicer(client, pool, worker, settings)
    running = await grpcserver.start_server(
        host=settings.bind_host,
        port=settings.sync_port,
        service_names=[SERVICE_NAME],
        register=lambda server: sync_pb2_grpc.add_SyncServicer_to_server(servicer, server),
        grace=settings.shutdown_grace_seconds,
        interceptors=[telemetry.interceptor],
    )
    telemetry.start()

    async def stop_worker() -> None:
        worker.stop()
        await worker_task

    async def close_pool() -> None:
        await pool.close()

    # in order: the batch in flight committed and acknowledged, then the connections closed
    running.on_close += [stop_worker, close_pool, client.aclose, telemetry.close]
    return running


async def serve(settings: SyncSettings | None = None) -> None:
    settings = settings or SyncSettings()
    running = await create_server(settings)
    await grpcserver.serve_until_signal(running, "sync")
