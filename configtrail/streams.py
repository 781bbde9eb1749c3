"""Redis streams: connecting, choosing a shard, encoding entries and appending them in groups.

Each stream entry has one field (:data:`~configtrail.constants.STREAM_FIELD`) holding a serialized
``StreamRecord``; one field per entry doubles what the Python client can append compared with one
field per attribute.
"""

from __future__ import annotations

import asyncio
import logging
import math
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from configtrail import constants, live
from configtrail.common.v1 import events_pb2
from configtrail.errors import DependencyUnavailable, Overloaded

logger = logging.getLogger(__name__)


def connect(
    url: str, *, connect_timeout: float = 0.1, max_connections: int = 64, socket_timeout: float | None = 5.0
) -> redis.Redis:
    """A client that fails fast: no hidden retries, a short connect timeout.

    ``socket_timeout=None`` is for callers that bound every round trip themselves (Ingest's appender):
    a per-reply timeout would only add its cost to each reply.
    """
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        socket_keepalive=True,
        retry=Retry(NoBackoff(), 0),
        max_connections=max_connections,
        decode_responses=False,
    )


def shard_for(session_id: str, shards: int) -> int:
    """A session's events always land on one shard, so their order holds."""
    if shards == 1:
        return 0
    return zlib.crc32(session_id.encode()) % shards


def stream_for(session_id: str, shards: int) -> str:
    return constants.event_stream(shard_for(session_id, shards))


def encode(record: events_pb2.StreamRecord) -> bytes:
    return record.SerializeToString()


#: field number of each kind of record inside ``StreamRecord``
_RECORD_FIELDS: dict[type, int] = {
    events_pb2.UserSession: 1,
    events_pb2.InteractionEvent: 2,
    events_pb2.ConfigurationSnapshot: 3,
    events_pb2.PerformanceMetric: 4,
    events_pb2.SessionEnd: 5,
}


def encode_record(record: live.Record) -> bytes:
    """The bytes of ``StreamRecord(<kind>=record)``, framed by hand instead of copying ``record`` into one."""
    body = record.SerializeToString()
    length = len(body)
    header = bytearray(((_RECORD_FIELDS[type(record)] << 3) | 2,))
    while length > 0x7F:
        header.append((length & 0x7F) | 0x80)
        length >>= 7
    header.append(length)
    return bytes(header) + body


def decode(payload: bytes) -> events_pb2.StreamRecord:
    record = events_pb2.StreamRecord()
    record.ParseFromString(payload)
    if record.WhichOneof("record") is None:
        raise ValueError("stream entry holds no record")
    return record


def session_of(record: events_pb2.StreamRecord) -> str:
    """The session a record belongs to ("" for a metric that names none)."""
    kind = record.WhichOneof("record")
    return str(getattr(record, kind).session_id) if kind else ""


def payload_session(payload: bytes) -> str | None:
    """The session of an encoded record; None when it does not decode or names none."""
    try:
        record = decode(payload)
    except Exception:  # noqa: BLE001 - an undecodable payload names no session
        return None
    return session_of(record) or None


@dataclass(frozen=True)
class Append:
    """One entry to append: its stream, the serialized record, and the record (for the live state)."""

    stream: str
    payload: bytes
    record: live.Record | None = None


_XADD_PREFIXES: dict[str, bytes] = {}


def _xadd_command(stream: str, payload: bytes) -> bytes:
    """``XADD <stream> * r <payload>`` in RESP, built by hand: the client's packer costs 10x more."""
    prefix = _XADD_PREFIXES.get(stream)
    if prefix is None:
        key = stream.encode()
        field = constants.STREAM_FIELD.encode()
        prefix = _XADD_PREFIXES[stream] = b"*5\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$1\r\n*\r\n$%d\r\n%s\r\n" % (
            len(key),
            key,
            len(field),
            field,
        )
    return b"%s$%d\r\n%s\r\n" % (prefix, len(payload), payload)


def resp_command(args: Sequence[live.Argument]) -> bytes:
    """Any other command in RESP: its arguments as Redis' own client sends them (floats by ``repr``)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, float):
            data = repr(arg).encode()
        else:
            data = b"%d" % arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class StreamAppender:
    """Appends the entries of concurrent callers in one pipeline round trip, then waits once for the fsync.

    Callers ``await append([...])``; the entries they pass are acknowledged (the returned stream ids)
    only after Redis replied to every XADD and, with ``wait_aof``, after ``WAITAOF 1 0`` confirmed the
    group is in the local append-only file. One group is in flight at a time: while it is, new callers
    queue up and form the next group, which is what turns many small requests into few round trips.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        wait_aof: bool = True,
        max_group: int = 2000,
        operation_timeout: float = 2.0,
        max_backlog: int = 0,
        backlog_retry_seconds: float = 1.0,
        live_state: bool = True,
        live_idle_seconds: int = live.DEFAULT_IDLE_SECONDS,
    ) -> None:
        self._client = client
        self._wait_aof = wait_aof
        self._max_group = max_group
        self._timeout = operation_timeout
        self._max_backlog = max_backlog
        self._backlog_retry = backlog_retry_seconds
        self._live_state = live_state
        self._live_idle = live_idle_seconds
        #: last measured length of each stream (entries not yet acknowledged by Sync, as it trims)
        self.backlog: dict[str, int] = {}
        self._backlog_task: asyncio.Task[None] | None = None
        self._queue: deque[tuple[Sequence[Append], asyncio.Future[list[str]]]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.groups_written = 0

    def start(self, streams: Sequence[str] = ()) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name="stream-appender")
        if self._max_backlog and streams:
            self._backlog_task = loop.create_task(self._watch_backlog(list(streams)), name="backlog-watch")

    async def _watch_backlog(self, streams: list[str]) -> None:
        """Measure each stream's length a few times a second (XLEN is O(1))."""
        while not self._closing:
            try:
                pipe = self._client.pipeline(transaction=False)
                for stream in streams:
                    pipe.xlen(stream)
                lengths = await asyncio.wait_for(pipe.execute(), self._timeout)
                self.backlog = dict(zip(streams, lengths, strict=True))
            except (RedisError, OSError, TimeoutError) as exc:
                logger.debug("backlog measurement failed: %s", exc)
            await asyncio.sleep(0.2)

    def check_backlog(self, entries: Sequence[Append]) -> None:
        """Refuse new entries while a target stream holds more unsynced entries than allowed."""
        if not self._max_backlog:
            return
        for entry in entries:
            if self.backlog.get(entry.stream, 0) >= self._max_backlog:
                raise Overloaded(
                    f"{entry.stream} holds {self.backlog[entry.stream]} unsynced entries "
                    f"(limit {self._max_backlog}); retry later",
                    self._backlog_retry,
                )

    async def append(self, entries: Sequence[Append]) -> list[str]:
        """Append ``entries``; return their stream ids once they are durable.

        Raises :class:`Overloaded` when the backlog is over its limit and :class:`DependencyUnavailable`
        when Redis does not confirm the append; in both cases nothing is acknowledged.
        """
        if not entries:
            return []
        if self._closing or self._task is None:
            raise DependencyUnavailable("ingest is shutting down")
        self.check_backlog(entries)
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._queue.append((entries, future))
        self._wake.set()
        return await future

    async def close(self) -> None:
        """Write what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._backlog_task is not None:
            self._backlog_task.cancel()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                group = self._take_group()
                await self._write(group)
            if self._closing:
                return

    def _take_group(self) -> list[tuple[Sequence[Append], asyncio.Future[list[str]]]]:
        group: list[tuple[Sequence[Append], asyncio.Future[list[str]]]] = []
        size = 0
        while self._queue and (not group or size + len(self._queue[0][0]) <= self._max_group):
            entries, future = self._queue.popleft()
            group.append((entries, future))
            size += len(entries)
        return group

    async def _round_trip(self, request: bytearray, commands: int) -> list[Any]:
        """Send the hand-built commands in one write; read every reply.

        The caller bounds the whole round trip with one deadline, so the replies are read without a
        timeout of their own each (which would cost more than reading them).
        """
        pool = self._client.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.send_packed_command(bytes(request), check_health=False)
            replies = [await connection.read_response(timeout=math.inf) for _ in range(commands)]
        except BaseException:
            # replies may be left unread: the connection cannot be reused
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)
        return replies

    async def _write(self, group: list[tuple[Sequence[Append], asyncio.Future[list[str]]]]) -> None:
        """One round trip: every XADD of the group (RESP built by hand), the live state, then WAITAOF."""
        appends = [entry for entries, _ in group for entry in entries]
        request = bytearray()
        for entry in appends:
            request += _xadd_command(entry.stream, entry.payload)
        extra: list[list[live.Argument]] = []
        if self._live_state:
            extra += live.update_commands(
                [e.record for e in appends if e.record is not None], self._live_idle
            )
        if self._wait_aof:
            extra.append(["WAITAOF", 1, 0, int(self._timeout * 1000)])
        for command in extra:
            request += resp_command(command)
        try:
            replies = await asyncio.wait_for(
                self._round_trip(request, len(appends) + len(extra)), self._timeout
            )
            if self._wait_aof and replies[-1][0] < 1:
                raise DependencyUnavailable("redis did not confirm the append-only file fsync in time")
        except (RedisError, OSError, TimeoutError, DependencyUnavailable) as exc:
            error = (
                exc
                if isinstance(exc, DependencyUnavailable)
                else DependencyUnavailable(f"redis unavailable: {exc.__class__.__name__}: {exc}")
            )
            logger.warning("append of %d requests failed: %s", len(group), error.message)
            for _, future in group:
                if not future.done():
                    future.set_exception(error)
            return
        self.groups_written += 1
        offset = 0
        for entries, future in group:
            ids = [reply.decode() for reply in replies[offset : offset + len(entries)]]  # XADD replies first
            offset += len(entries)
            if not future.done():
                future.set_result(ids)
