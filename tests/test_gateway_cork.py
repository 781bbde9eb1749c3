"""One write per response: the corked transport, alone and under a real uvicorn with uvloop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.cork import JOIN_LIMIT_BYTES, CorkedHttpToolsProtocol, CorkedTransport
from gateway.server import uvicorn_config
from gateway.settings import GatewaySettings
from tests.conftest import wait_until


class RecordingTransport:
    """Stands in for a socket transport: keeps what reaches it, in order."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.calls: list[str] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append("write")
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.calls.append("close")
        self.closing = True

    def abort(self) -> None:
        self.calls.append("abort")
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing


async def next_turn() -> None:
    """Wait until the event loop has run what was scheduled for the end of this turn: a callback
    scheduled after it sets the future waited on."""
    loop = asyncio.get_running_loop()
    reached: asyncio.Future[None] = loop.create_future()
    loop.call_soon(reached.set_result, None)
    await reached


async def test_writes_of_one_turn_leave_as_one_write_after_it() -> None:
    inner = RecordingTransport()
    corked = CorkedTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    corked.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n")
    corked.write(b"")
    corked.writelines([b"{", bytearray(b"}")])
    assert inner.writes == []
    await next_turn()
    assert inner.writes == [b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}"]
    corked.write(b"next")
    await next_turn()
    assert inner.writes[1:] == [b"next"]


async def test_close_sends_what_is_held_first_and_abort_drops_it() -> None:
    loop = asyncio.get_running_loop()
    inner = RecordingTransport()
    corked = CorkedTransport(inner, loop)  # type: ignore[arg-type]
    corked.write(b"last words")
    corked.close()
    assert inner.calls == ["write", "close"]
    assert inner.writes == [b"last words"]
    await next_turn()
    assert inner.writes == [b"last words"]  # the scheduled send found nothing left

    aborted = RecordingTransport()
    corked = CorkedTransport(aborted, loop)  # type: ignore[arg-type]
    corked.write(b"never sent")
    corked.abort()
    await next_turn()
    assert aborted.calls == ["abort"]


async def test_nothing_is_written_to_a_transport_already_closing() -> None:
    inner = RecordingTransport()
    corked = CorkedTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    corked.write(b"too late")
    inner.closing = True
    await next_turn()
    assert inner.writes == []
    assert corked.is_closing()


class RecordingProtocol(CorkedHttpToolsProtocol):
    """The gateway's protocol, with what it writes to the real socket transport recorded."""

    sent: list[list[bytes]] = []

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        writes: list[bytes] = []
        RecordingProtocol.sent.append(writes)
        write = transport.write

        class Recorder:
            def __getattr__(self, name: str) -> Any:
                return getattr(transport, name)

            def write(self, data: bytes) -> None:
                writes.append(bytes(data))
                write(data)

        super().connection_made(Recorder())  # type: ignore[arg-type]


async def accept(request: Request) -> Response:
    body = orjson.loads(await request.body())
    return Response(orjson.dumps({"eventId": body["eventId"]}), 202, media_type="application/json")


async def feed(request: Request) -> StreamingResponse:
    async def lines() -> AsyncIterator[bytes]:
        for number in range(3):
            yield b"data: %d\n\n" % number
            await next_turn()  # each line in a loop turn of its own, as a live feed's are

    return StreamingResponse(lines(), media_type="text/event-stream")


@contextlib.asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[int]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, http=RecordingProtocol, lifespan="off", log_config=None
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=None))
    try:
        assert await wait_until(lambda: server.started or task.done(), within=10)
        assert server.started, "uvicorn stopped while starting"
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


async def read_response(reader: asyncio.StreamReader) -> bytes:
    """One whole HTTP/1.1 response: its head, then a Content-Length body or chunks up to the last."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().lower().split("\r\n")
    length = next((int(line.split(":")[1]) for line in lines if line.startswith("content-length:")), None)
    if length is not None:
        return head + await reader.readexactly(length)
    return head + await reader.readuntil(b"\r\n0\r\n\r\n")


async def exchange(port: int, requests: list[bytes]) -> list[bytes]:
    """Send ``requests`` one after another on one connection; their responses."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        responses = []
        for request in requests:
            writer.write(request)
            await writer.drain()
            responses.append(await asyncio.wait_for(read_response(reader), 10))
        return responses
    finally:
        writer.close()
        await writer.wait_closed()


def post(event_id: str) -> bytes:
    body = orjson.dumps({"eventId": event_id})
    return (
        b"POST /events HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )


async def test_each_response_reaches_the_socket_in_one_write() -> None:
    RecordingProtocol.sent.clear()
    app = Starlette(routes=[Route("/events", accept, methods=["POST"])])
    async with serving(app) as port:
        responses = await exchange(port, [post("e-1"), post("e-2")])
    (writes,) = RecordingProtocol.sent
    assert writes == responses  # head and body together, one write per response
    for write, event_id in zip(writes, (b"e-1", b"e-2"), strict=True):
        head, _, body = write.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 202 ")
        assert orjson.loads(body) == {"eventId": event_id.decode()}


async def test_a_streamed_response_sends_each_part_in_its_own_turn() -> None:
    RecordingProtocol.sent.clear()
    app = Starlette(routes=[Route("/feed", feed)])
    async with serving(app) as port:
        (received,) = await exchange(port, [b"GET /feed HTTP/1.1\r\nhost: test\r\n\r\n"])
    for number in range(3):
        assert b"data: %d\n\n" % number in received
    (writes,) = RecordingProtocol.sent
    # the head leaves with the first line; the later lines are not held back for one another
    assert len(writes) >= 3, writes
    assert writes[0].startswith(b"HTTP/1.1 200 ")
    assert b"data: 0" in writes[0]
    assert b"data: 1" not in writes[0]


async def test_a_client_that_half_closes_after_its_request_gets_its_answer() -> None:
    RecordingProtocol.sent.clear()
    app = Starlette(routes=[Route("/events", accept, methods=["POST"])])
    async with serving(app) as port:
        for number in range(20):  # the loop reads the EOF before the end of the turn, nearly always
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(post(f"e-{number}"))
            writer.write_eof()
            answer = await asyncio.wait_for(reader.read(), 10)  # to the server's close
            writer.close()
            await writer.wait_closed()
            assert answer.startswith(b"HTTP/1.1 202 "), (number, answer)
            assert answer.endswith(b'{"eventId":"e-%d"}' % number)


async def test_a_large_body_is_written_as_it_is_not_copied_into_one_write() -> None:
    large = b"x" * (JOIN_LIMIT_BYTES + 1)

    async def download(request: Request) -> Response:
        return Response(large, media_type="application/octet-stream")

    RecordingProtocol.sent.clear()
    app = Starlette(routes=[Route("/large", download)])
    async with serving(app) as port:
        (received,) = await exchange(port, [b"GET /large HTTP/1.1\r\nhost: test\r\n\r\n"])
    assert received.endswith(large)
    (writes,) = RecordingProtocol.sent
    assert [len(write) for write in writes] == [len(received) - len(large), len(large)]


def test_the_gateway_serves_with_the_corked_protocol() -> None:
    config = uvicorn_config(GatewaySettings(), app=Starlette())
    assert config.http is CorkedHttpToolsProtocol
