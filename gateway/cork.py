"""Responses leave in one write: uvicorn's HTTP protocol with its writes held until the response is
complete, or to the end of a loop turn.

uvicorn writes a response's head and its body with two ``transport.write`` calls, and with
``TCP_NODELAY`` each becomes its own TCP segment: two sends for the server, two reads for the client.
:class:`CorkedHttpToolsProtocol` hands uvicorn a :class:`CorkedTransport`, which gathers what is
written and sends it in one write when uvicorn says the response is complete, or at the end of the
event-loop turn for a response still streaming (as ``TCP_CORK`` would, but without a timer): a small
response is one segment, and nothing waits longer than the turn it was written in. Closing sends what
is held first; everything else goes straight to the transport.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: Held writes up to this size in all are joined into one; larger ones go out one after another.
JOIN_LIMIT_BYTES = 64 * 1024


class CorkedTransport:
    """Wraps a transport so that the writes of one loop turn go out as one."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Send what this turn wrote (dropped when the connection is already closing)."""
        pending = self._pending
        if not pending or self._transport.is_closing():
            pending.clear()
            return
        if len(pending) == 1:
            self._transport.write(pending[0])
        elif sum(map(len, pending)) <= JOIN_LIMIT_BYTES:
            self._transport.write(b"".join(pending))
        else:  # a large body is not copied to save a segment: it is one of many anyway
            for data in pending:
                self._transport.write(data)
        pending.clear()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CorkedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a :class:`CorkedTransport`; a response that is
    complete leaves at once, in the same step that wrote it."""

    corked: CorkedTransport

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.corked = CorkedTransport(transport, self.loop)
        super().connection_made(self.corked)  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        # not at the end of the turn: a client that half-closed after its request has its connection
        # closed by the loop once it reads that EOF, and what is still held then is lost
        self.corked.flush()
        super().on_response_complete()
