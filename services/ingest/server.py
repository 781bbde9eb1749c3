"""Ingest server: ``create_server(settings)`` builds it with its dependencies, ``serve()`` runs it."""

from __future__ import annotations

from configtrail import constants, db, grpcserver, streams
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from configtrail.settings import IngestSettings
from configtrail.telemetry import Telemetry
from services.ingest.reader import SessionReader
from services.ingest.servicer import IngestServicer
from services.ingest.validation import Limits

SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["Ingest"].full_name


async def create_server(settings: IngestSettings) -> grpcserver.RunningServer:
    """Connect to Redis (and Postgres, for reads), start the appender and a gRPC server (port 0: any)."""
    # every append round trip is bounded by the appender's own timeout
    client = streams.connect(
        settings.require_redis_url(), connect_timeout=settings.redis_timeout_ms / 1000, socket_timeout=None
    )
    appender = streams.StreamAppender(
        client,
        wait_aof=settings.redis_wait_aof,
        max_group=settings.append_max_group,
        operation_timeout=settings.redis_operation_timeout_ms / 1000,
        max_backlog=settings.max_backlog,
        backlog_retry_seconds=settings.backlog_retry_seconds,
        live_idle_seconds=settings.session_idle_seconds,
    )
    appender.start(constants.event_streams(settings.stream_shards))
    pool = None
    reader = None
    if settings.database_url is not None:
        # only GetSessionInteractions reads Postgres: a small pool is plenty
        pool = await db.create_pool(settings.require_database_url(), size=2)
        reader = SessionReader(pool, client, settings.stream_shards)
    servicer = IngestServicer(
        appender,
        limits=Limits.from_settings(settings),
        stream_shards=settings.stream_shards,
        reader=reader,
        max_in_flight=settings.stream_max_in_flight,
    )
    telemetry = Telemetry("ingest", settings, settings.ingest_prometheus_port)
    running = await grpcserver.start_server(
        host=settings.bind_host,
        port=settings.ingest_port,
        service_names=[SERVICE_NAME],
        register=lambda server: ingest_pb2_grpc.add_IngestServicer_to_server(servicer, server),
        grace=settings.shutdown_grace_seconds,
        interceptors=[telemetry.interceptor],
    )
    telemetry.start()
    # in order: in-flight RPCs finished (server.stop), their appends written, then the connections closed
    running.on_close += [appender.close, client.aclose, telemetry.close]
    if pool is not None:
        running.on_close.append(pool.close)
    return running


async def serve(settings: IngestSettings | None = None) -> None:
    settings = settings or IngestSettings()
    running = await create_server(settings)
    await grpcserver.serve_until_signal(running, "ingest")
