"""What every gRPC server of configtrail shares: health, reflection, graceful shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from configtrail.heap import freeze_startup_heap

logger = logging.getLogger(__name__)

#: gRPC channel/server options shared by clients and servers.
GRPC_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]


class _Undecodable:
    """Stands in for a request message whose bytes did not parse."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _lenient(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError as exc:
            return _Undecodable(exc)

    return parse


async def _refuse(context: grpc.aio.ServicerContext[Any, Any], request: _Undecodable) -> None:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"request is not a valid message: {request.error}")


class DecodeErrorInterceptor(grpc.aio.ServerInterceptor):
    """Bytes that do not parse as the request message answer INVALID_ARGUMENT, not UNKNOWN."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        inner: Any
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                if isinstance(request, _Undecodable):
                    await _refuse(context, request)
                return await inner(request, context)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, _lenient(handler.request_deserializer), handler.response_serializer
            )
        if handler.stream_stream is not None:
            inner = handler.stream_stream

            async def stream_stream(
                requests: Any, context: grpc.aio.ServicerContext[Any, Any]
            ) -> AsyncIterator[Any]:
                async def checked() -> AsyncIterator[Any]:
                    async for request in requests:
                        if isinstance(request, _Undecodable):
                            await _refuse(context, request)
                        yield request

                async for response in inner(checked(), context):
                    yield response

            return grpc.stream_stream_rpc_method_handler(
                stream_stream, _lenient(handler.request_deserializer), handler.response_serializer
            )
        return handler


@dataclass
class RunningServer:
    """A started gRPC server with its health service and the clean-up of its dependencies."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    service_names: Sequence[str]
    grace: float
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: run once the health says NOT_SERVING, before the server stops accepting calls
    on_stopping: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self.service_names]:
            await self.health.set(name, status)

    async def stop(self) -> None:
        """Health NOT_SERVING, ``on_stopping``, stop accepting and finish in-flight RPCs, then close the
        dependencies in order (``on_close``)."""
        await self.set_serving(False)
        await self._run(self.on_stopping)
        await self.server.stop(self.grace)
        await self._run(self.on_close)

    async def _run(self, hooks: Sequence[Callable[[], Awaitable[None]]]) -> None:
        """Each hook in turn, each within its time; one that fails or hangs does not stop the others."""
        for hook in hooks:
            name = getattr(hook, "__qualname__", hook)
            try:
                await asyncio.wait_for(hook(), timeout=max(self.grace, 5.0))
            except TimeoutError:
                logger.warning("closing %s timed out", name)
            except Exception:
                logger.exception("closing %s failed", name)


async def start_server(
    *,
    host: str,
    port: int,
    service_names: Sequence[str],
    register: Callable[[grpc.aio.Server], None],
    grace: float,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> RunningServer:
    """Bind ``host:port`` (0 for any free port), add health and reflection, start, and mark SERVING."""
    server = grpc.aio.server(interceptors=[DecodeErrorInterceptor(), *interceptors], options=GRPC_OPTIONS)
    register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC server to {host}:{port}")
    await server.start()
    running = RunningServer(server, bound, health_servicer, service_names, grace)
    await running.set_serving(True)
    return running


async def wait_for_shutdown_signal() -> None:
    """Return on the first SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def serve_until_signal(running: RunningServer, name: str) -> None:
    freeze_startup_heap()
    logger.info("%s serving on port %d", name, running.port)
    try:
        await wait_for_shutdown_signal()
        logger.info("%s stopping", name)
    finally:
        await running.stop()
        logger.info("%s stopped", name)
