"""Every gRPC server offers health and reflection, so grpcurl and ghz work without proto files."""

from __future__ import annotations

import gc
from typing import Any

import grpc
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from configtrail.grpcserver import RunningServer, start_server
from configtrail.heap import freeze_startup_heap


async def _services(port: int) -> set[str]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        # the stubs package types the stub for the synchronous channel only
        stub: Any = reflection_pb2_grpc.ServerReflectionStub(channel)  # type: ignore[arg-type]
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        names: set[str] = set()
        async for reply in stub.ServerReflectionInfo(iter([request])):
            names |= {service.name for service in reply.list_services_response.service}
        return names


async def _health(port: int, service: str) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        reply: health_pb2.HealthCheckResponse = await check(health_pb2.HealthCheckRequest(service=service))
        return int(reply.status)


async def test_ingest_and_sync_offer_reflection_and_health(
    ingest_server: RunningServer, sync_server: RunningServer
) -> None:
    for running, service in (
        (ingest_server, "configtrail.ingest.v1.Ingest"),
        (sync_server, "configtrail.sync.v1.Sync"),
    ):
        names = await _services(running.port)
        assert service in names
        assert "grpc.health.v1.Health" in names
        assert "grpc.reflection.v1alpha.ServerReflection" in names
        assert await _health(running.port, service) == health_pb2.HealthCheckResponse.SERVING
        assert await _health(running.port, "") == health_pb2.HealthCheckResponse.SERVING


async def test_stopping_reports_not_serving_first(ingest_server: RunningServer) -> None:
    await ingest_server.set_serving(False)
    assert await _health(ingest_server.port, "") == health_pb2.HealthCheckResponse.NOT_SERVING
    await ingest_server.set_serving(True)


def test_freezing_the_start_up_heap_exempts_what_lives_now_from_collection_passes() -> None:
    survivor = [object() for _ in range(1000)]
    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count()
        assert frozen >= len(survivor)
        # the list is out of the three generations a collection pass walks
        walked = {id(o) for generation in range(3) for o in gc.get_objects(generation)}
        assert id(survivor) not in walked
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0


async def test_a_failing_or_hanging_stop_hook_does_not_keep_the_others_from_running() -> None:
    running = await start_server(
        host="127.0.0.1", port=0, service_names=[], register=lambda server: None, grace=0.1
    )
    ran: list[str] = []

    async def fails() -> None:
        ran.append("fails")
        raise RuntimeError("broken hook")

    async def records(name: str) -> None:
        ran.append(name)

    running.on_stopping += [fails, lambda: records("stopping")]
    running.on_close += [fails, lambda: records("closing")]
    await running.stop()
    assert ran == ["fails", "stopping", "fails", "closing"]
