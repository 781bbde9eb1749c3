"""Ingest server: ``create_server(settings)`` builds it with its dependencies, ``serve()`` runs it."""

from __future__ import annotations

from configtrail import grpcserver, streams
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from configtrail.settings import IngestSettings
from services.ingest.servicer import IngestServicer
from services.ingest.validation import Limits

SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["Ingest"].full_name


async def create_server(settings: IngestSettings) -> grpcserver.RunningServer:
    """Connect to Redis, start the appender and a gRPC server on ``settings.ingest_port`` (0: any)."""
    client = streams.connect(settings.require_redis_url(), connect_timeout=settings.redis_timeout_ms / 1000)
    appender = streams.StreamAppender(
        client,
        wait_aof=settings.redis_wait_aof,
        max_group=settings.append_max_group,
        operation_timeout=settings.redis_operation_timeout_ms / 1000,
    )
    appender.start()
    servicer = IngestServicer(appender, limits=Limits.from_settings(settings), stream_shards=settings.stream_shards)
    running = await grpcserver.start_server(
        host=settings.bind_host,
        port=settings.ingest_port,
        service_names=[SERVICE_NAME],
        register=lambda server: ingest_pb2_grpc.add_IngestServicer_to_server(servicer, server),
        grace=settings.shutdown_grace_seconds,
    )
    # in order: in-flight RPCs finished (server.stop), their appends written, then the connection closed
    running.on_close += [appender.close, client.aclose]
    return running


async def serve(settings: IngestSettings | None = None) -> None:
    settings = settings or IngestSettings()
    running = await create_server(settings)
    await grpcserver.serve_until_signal(running, "ingest")
