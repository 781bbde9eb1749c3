"""The bare gRPC ceiling: a no-op ``configtrail.ingest.v1.Ingest`` server (``python -m bench.noop_server``).

It parses the same requests Ingest parses and answers with empty responses (``StreamEvents`` acknowledges
each message by id). It is a plain ``grpc.aio.server`` with configtrail's channel options and the health
service (to tell when it is up), no interceptors, under uvloop as ``configtrail serve`` runs: whatever
it reaches, no Ingest logic can beat.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import grpc
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from configtrail import grpcserver
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc

Context = grpc.aio.ServicerContext[object, object]
SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["Ingest"].full_name


class NoopIngest(ingest_pb2_grpc.IngestServicer):
    """Answers TrackInteraction, TrackBatch and StreamEvents without doing anything."""

    async def TrackInteraction(
        self, request: ingest_pb2.TrackInteractionRequest, context: Context
    ) -> ingest_pb2.TrackInteractionResponse:
        return ingest_pb2.TrackInteractionResponse()

    async def TrackBatch(
        self, request: ingest_pb2.TrackBatchRequest, context: Context
    ) -> ingest_pb2.TrackBatchResponse:
        return ingest_pb2.TrackBatchResponse()

    async def StreamEvents(
        self, request_iterator: AsyncIterator[ingest_pb2.StreamEventsRequest], context: Context
    ) -> AsyncIterator[ingest_pb2.StreamEventsResponse]:
        async for message in request_iterator:
            yield ingest_pb2.StreamEventsResponse(message_id=message.message_id)

    async def StartSession(
        self, request: ingest_pb2.StartSessionRequest, context: Context
    ) -> ingest_pb2.StartSessionResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the benchmark")

    async def EndSession(
        self, request: ingest_pb2.EndSessionRequest, context: Context
    ) -> ingest_pb2.EndSessionResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the benchmark")

    async def SaveSnapshot(
        self, request: ingest_pb2.SaveSnapshotRequest, context: Context
    ) -> ingest_pb2.SaveSnapshotResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the benchmark")

    async def GetSessionInteractions(
        self, request: ingest_pb2.GetSessionInteractionsRequest, context: Context
    ) -> ingest_pb2.GetSessionInteractionsResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the benchmark")


async def serve(host: str, port: int) -> None:
    server = grpc.aio.server(options=grpcserver.GRPC_OPTIONS)
    ingest_pb2_grpc.add_IngestServicer_to_server(NoopIngest(), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise OSError(f"cannot bind {host}:{port}")
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    try:
        await grpcserver.wait_for_shutdown_signal()
    finally:
        await server.stop(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
