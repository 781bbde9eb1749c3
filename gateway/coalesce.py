"""Coalescing: concurrent single-record requests share ``Ingest.TrackBatch`` calls.

A unary gRPC call costs several times an HTTP request in Python, so records posted one by one are sent
together: as group commit does for a database log. While fewer than ``max_calls_in_flight`` calls are
out, what arrives is sent at the end of the current event-loop turn (a lone request waits for nothing);
while that many are out, records gather until a call returns or ``window`` passes, whichever comes
first, and go in one call (``max_items`` sends at once). So the busier Ingest is, the larger the calls,
and no record waits longer than the window for its call to start. Each waiting request gets its own
item's result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import grpc

from configtrail.ingest.v1 import ingest_pb2
from gateway.errors import ApiError, from_rpc_error

logger = logging.getLogger(__name__)

TrackBatch = Callable[[ingest_pb2.TrackBatchRequest], Awaitable[ingest_pb2.TrackBatchResponse]]


class Coalescer:
    """Sends single batch items in shared ``TrackBatch`` calls: at once while Ingest has few calls out,
    gathered while it is busy, never held longer than ``window`` seconds."""

    def __init__(
        self, track_batch: TrackBatch, *, window: float, max_items: int, max_calls_in_flight: int = 1
    ) -> None:
        self._track_batch = track_batch
        self._window = window
        self._max_items = max_items
        self._max_calls_in_flight = max_calls_in_flight
        self._items: list[ingest_pb2.BatchItem] = []
        self._futures: list[asyncio.Future[ingest_pb2.ItemResult]] = []
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._closed = False
        #: TrackBatch calls made and items sent through them (exported as metrics, read by tests).
        self.calls = 0
        self.items = 0

    async def submit(self, item: ingest_pb2.BatchItem) -> ingest_pb2.ItemResult:
        """Send ``item`` with its neighbours; its result, or :class:`ApiError` when the call failed."""
        if self._closed:
            raise ApiError.for_code(grpc.StatusCode.UNAVAILABLE, "gateway is shutting down")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ingest_pb2.ItemResult] = loop.create_future()
        self._items.append(item)
        self._futures.append(future)
        if len(self._items) >= self._max_items:
            self._flush()
        elif self._timer is None:
            if self._window > 0 and len(self._in_flight) >= self._max_calls_in_flight:
                self._timer = loop.call_later(self._window, self._flush)
            else:
                self._timer = loop.call_soon(self._flush)  # with what else arrives in this loop turn
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._items:
            return
        items, futures = self._items, self._futures
        self._items, self._futures = [], []
        task = asyncio.get_running_loop().create_task(self._send(items, futures))
        self._in_flight.add(task)
        task.add_done_callback(self._call_done)

    def _call_done(self, task: asyncio.Task[None]) -> None:
        """A call returned: what gathered meanwhile goes now, unless enough calls are still out."""
        self._in_flight.discard(task)
        if self._items and not self._closed and len(self._in_flight) < self._max_calls_in_flight:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_soon(self._flush)

    async def _send(
        self, items: list[ingest_pb2.BatchItem], futures: list[asyncio.Future[ingest_pb2.ItemResult]]
    ) -> None:
        self.calls += 1
        self.items += len(items)
        try:
            reply = await self._track_batch(ingest_pb2.TrackBatchRequest(items=items))
        except grpc.aio.AioRpcError as exc:
            for future in futures:
                if not future.done():
                    future.set_exception(from_rpc_error(exc))
            return
        except asyncio.CancelledError:
            for future in futures:
                if not future.done():
                    future.set_exception(
                        ApiError.for_code(grpc.StatusCode.UNAVAILABLE, "call to ingest cancelled")
                    )
            raise
        results = reply.results
        for index, future in enumerate(futures):
            if future.done():
                continue
            if index < len(results) and results[index].index == index:
                future.set_result(results[index])
            else:
                future.set_exception(
                    ApiError.for_code(grpc.StatusCode.INTERNAL, f"ingest answered no result for item {index}")
                )

    async def close(self) -> None:
        """Send what is gathered and wait for every call in flight."""
        self._closed = True
        self._flush()
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
