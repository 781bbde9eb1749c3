"""The Sync worker: reads stream entries through a consumer group and commits them to Postgres.

One worker consumes every shard. It acknowledges an entry only after the transaction that stored it
committed, so a crash at any point leads to redelivery, and the unique ids make redelivery harmless.
Each batch is split by session into ``sync_writers`` parts written in concurrent transactions: parts
touch disjoint sessions, so they never wait for each other's session rows, and a session's events stay
in one part, in stream order.
On start it first re-reads its own pending entries (id ``0``); entries another worker left pending for
longer than ``sync_claim_idle_ms`` are claimed with ``XAUTOCLAIM``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
import zlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import redis.asyncio as redis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from redis.exceptions import RedisError, ResponseError

from configtrail import constants, streams
from configtrail.db import Connection
from configtrail.settings import SyncSettings
from services.sync.privacy import RetentionReport, apply_retention
from services.sync.writer import Batch, PreparedBatch, WriteResult, prepare, write_batch

logger = logging.getLogger(__name__)

#: Errors that mean "Postgres is unreachable": wait and retry the same batch.
POSTGRES_DOWN: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.TransactionRollbackError,
    asyncpg.exceptions.InternalClientError,
    TimeoutError,
)

#: Any Postgres failure, for background work that simply tries again next time.
PERSISTENCE_ERRORS: tuple[type[BaseException], ...] = (*POSTGRES_DOWN, asyncpg.PostgresError)
#: … and Redis failures, for background passes that also write to Redis.
MAINTENANCE_ERRORS: tuple[type[BaseException], ...] = (*PERSISTENCE_ERRORS, RedisError, ConnectionError)

Entry = tuple[str, str, bytes | None]  # stream, entry id, payload (None: the entry was deleted)


class SyncMetrics:
    """Sync's Prometheus series: stream length and lag, batch sizes, entries committed, dead letters."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.stream_length = Gauge(
            "configtrail_stream_length",
            "Entries in the stream (unsynced ones, as it is trimmed)",
            ["stream"],
            registry=registry,
        )
        self.pending = Gauge(
            "configtrail_stream_pending",
            "Entries delivered to a worker, not yet acknowledged",
            ["stream"],
            registry=registry,
        )
        self.lag = Gauge(
            "configtrail_stream_lag",
            "Entries appended, not yet delivered to any worker",
            ["stream"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "configtrail_sync_batch_entries",
            "Entries per committed batch",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
            registry=registry,
        )
        self.committed = Counter("configtrail_sync_entries_committed", "Entries committed", registry=registry)
        self.dead_letters = Counter(
            "configtrail_sync_dead_letters", "Entries dead-lettered", registry=registry
        )
        self.dropped_erased = Counter(
            "configtrail_sync_erased_events_dropped",
            "Late records of erased sessions dropped",
            registry=registry,
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def default_worker_name(port: int) -> str:
    return f"{socket.gethostname()}-{port}"


@dataclass
class WorkerStats:
    committed: int = 0
    batches: int = 0
    dead_lettered: int = 0
    dropped_erased: int = 0
    #: batches rolled back by a deadlock or serialization failure and written again
    rolled_back: int = 0
    last_commit_at: datetime | None = None
    state: str = "starting"
    started: float = field(default_factory=time.monotonic)

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.committed / elapsed if elapsed > 0 else 0.0


class SyncWorker:
    """Consumes every event stream shard for one consumer name until :meth:`stop` is called."""

    def __init__(
        self,
        client: redis.Redis,
        pool: asyncpg.Pool,
        settings: SyncSettings,
        name: str,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._redis = client
        self.gauges = SyncMetrics(registry or CollectorRegistry())
        self._pool = pool
        self._settings = settings
        self.name = name
        self.streams = constants.event_streams(settings.stream_shards)
        self.stats = WorkerStats()
        self._stopping = asyncio.Event()
        self._last_claim = 0.0
        self._last_trim = 0.0
        self._last_heartbeat = 0.0

    def stop(self) -> None:
        """Finish and acknowledge the batch in flight, then return from :meth:`run`."""
        self._stopping.set()

    async def ensure_groups(self) -> None:
        for stream in self.streams:
            try:
                await self._redis.xgroup_create(stream, constants.SYNC_GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def run_forever(self) -> None:
        """:meth:`run`, restarted after an unexpected error instead of leaving the worker dead."""
        backoff = _Backoff(self._settings.sync_retry_max_seconds)
        while not self._stopping.is_set():
            try:
                await self.run()
            except Exception:
                self.stats.state = "restarting after an unexpected error"
                logger.exception("worker %s failed; restarting it", self.name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff.next())

    async def run(self) -> None:
        """Drain this worker's own pending entries, then read and commit with the two overlapped.

        Reading (and decoding) the next batch runs while the current one is written to Postgres:
        the loop is bound by latency, not CPU, so the overlap is where its throughput comes from.
        """
        await self._drain_own_pending()
        # the reader decodes the next batch while this one is in Postgres
        batches: asyncio.Queue[list[Part] | None] = asyncio.Queue(maxsize=2)
        loop = asyncio.get_running_loop()
        reader = loop.create_task(self._read_loop(batches), name=f"read-{self.name}")
        abandoner = loop.create_task(self._mark_abandoned_loop(), name=f"abandon-{self.name}")
        retention = loop.create_task(self._retention_loop(), name=f"retention-{self.name}")
        try:
            while (parts := await batches.get()) is not None:
                # the parts have disjoint sessions: their transactions run side by side
                async with asyncio.TaskGroup() as group:
                    for entries, decoded in parts:
                        group.create_task(self._commit(entries, decoded))
        finally:
            for task in (reader, abandoner, retention):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        logger.info("worker %s stopped after %d entries", self.name, self.stats.committed)

    async def _drain_own_pending(self) -> None:
        backoff = _Backoff(self._settings.sync_retry_max_seconds)
        while not self._stopping.is_set():
            try:
                await self.ensure_groups()
                entries = await self._read(pending=True)
                if not entries:
                    logger.info("worker %s has no pending entries left; reading new ones", self.name)
                    return
                logger.info("worker %s re-reading %d of its pending entries", self.name, len(entries))
                await self._commit(entries)
                backoff.reset()
            except (RedisError, ConnectionError) as exc:
                self.stats.state = f"redis unavailable: {exc}"
                await self._pause(backoff, "redis", exc)

    async def _read_loop(self, batches: asyncio.Queue[list[Part] | None]) -> None:
        backoff = _Backoff(self._settings.sync_retry_max_seconds)
        try:
            while not self._stopping.is_set():
                try:
                    entries = await self._read(pending=False)
                    if not entries:
                        entries = await self._claim_abandoned()
                    if entries:
                        # the Python half of the write, done while the previous batch is in Postgres
                        await batches.put(split_by_session(entries, self._settings.sync_writers))
                    await self._maybe_trim()
                    await self._heartbeat()
                    if self.stats.state.startswith("redis"):
                        self.stats.state = "ok"
                    backoff.reset()
                except (RedisError, ConnectionError) as exc:
                    self.stats.state = f"redis unavailable: {exc}"
                    await self._pause(backoff, "redis", exc)
                    with contextlib.suppress(RedisError, ConnectionError):
                        await self.ensure_groups()  # a restarted server without its data has no group
        finally:
            await batches.put(None)

    async def _mark_abandoned_loop(self, every: float = 30.0) -> None:
        """Sessions still active but silent for ``sync_abandon_after_seconds`` become abandoned."""
        while not self._stopping.is_set():
            try:
                marked = await mark_abandoned(self._pool, self._settings.sync_abandon_after_seconds)
                if marked:
                    logger.info("marked %d inactive sessions abandoned", marked)
            except PERSISTENCE_ERRORS as exc:
                logger.debug("abandonment pass skipped: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), every)

    async def _retention_loop(self) -> None:
        """Apply the retention policy every ``retention_interval_seconds``; one worker at a time."""
        interval = self._settings.retention_interval_seconds
        while not self._stopping.is_set():
            try:
                await run_retention_once(self._pool, self._redis, self._settings)
            except MAINTENANCE_ERRORS as exc:
                logger.warning("retention run failed, next try in %.0fs: %s", interval, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)

    async def _heartbeat(self) -> None:
        """Publish this worker's progress so any Sync instance's Status can list every worker."""
        now = time.time()
        if now - self._last_heartbeat < 1.0:
            return
        self._last_heartbeat = now
        stats = self.stats
        await self._redis.hset(
            constants.SYNC_WORKERS,
            self.name,
            orjson.dumps(
                {
                    "at": now,
                    "committed": stats.committed,
                    "rate": stats.rate(),
                    "state": stats.state,
                    "dropped_erased": stats.dropped_erased,
                    "last_commit_at": stats.last_commit_at.isoformat() if stats.last_commit_at else None,
                }
            ),
        )

    async def _pause(self, backoff: _Backoff, what: str, exc: BaseException) -> None:
        delay = backoff.next()
        logger.warning("%s unavailable (%s); retrying in %.1fs", what, exc, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    async def _read(self, *, pending: bool) -> list[Entry]:
        start_id = "0" if pending else ">"
        block = None if pending else self._settings.sync_block_ms
        raw: Any = await self._redis.xreadgroup(
            constants.SYNC_GROUP,
            self.name,
            dict.fromkeys(self.streams, start_id),
            count=self._settings.sync_batch_size,
            block=block,
        )
        reply: list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes] | None]]]] = raw
        entries: list[Entry] = []
        for stream, items in reply or []:
            stream_name = stream.decode()
            for entry_id, fields in items:
                entries.append((stream_name, entry_id.decode(), _payload(fields)))
        return entries

    async def _claim_abandoned(self) -> list[Entry]:
        now = time.monotonic()
        if now - self._last_claim < self._settings.sync_claim_idle_ms / 1000 / 2:
            return []
        self._last_claim = now
        claimed: list[Entry] = []
        for stream in self.streams:
            reply = await self._redis.xautoclaim(
                stream,
                constants.SYNC_GROUP,
                self.name,
                min_idle_time=self._settings.sync_claim_idle_ms,
                start_id="0-0",
                count=self._settings.sync_batch_size,
            )
            for entry_id, fields in reply[1]:
                claimed.append((stream, entry_id.decode(), _payload(fields)))
        if claimed:
            logger.info("worker %s claimed %d abandoned entries", self.name, len(claimed))
        return claimed

    async def _commit(self, entries: list[Entry], decoded: Decoded | None = None) -> None:
        """Store the entries (isolating poison ones), then acknowledge them all."""
        backoff = _Backoff(self._settings.sync_retry_max_seconds)
        while True:
            try:
                dead = await self._store(entries, decoded)
                break
            except asyncpg.TransactionRollbackError as exc:
                # a deadlock or serialization failure against another transaction (another worker
                # writing the same sessions): Postgres and the entries are fine, the batch is written again
                self.stats.rolled_back += 1
                logger.info("worker %s: batch rolled back (%s); writing it again", self.name, exc)
                await asyncio.sleep(random.uniform(0.0, 0.05))  # jitter: the two need not collide again
            except POSTGRES_DOWN as exc:
                self.stats.state = f"postgres unavailable: {exc}"
                await self._pause(backoff, "postgres", exc)
                if self._stopping.is_set():
                    logger.warning(
                        "stopping with %d entries unacknowledged; they will be redelivered", len(entries)
                    )
                    return
        await self._ack(entries)
        if self.stats.state.startswith("postgres"):
            logger.info("worker %s: postgres is back", self.name)
        self.stats.state = "ok"
        self.gauges.batch_size.observe(len(entries))
        self.gauges.committed.inc(len(entries) - dead)
        self.gauges.dead_letters.inc(dead)
        self.stats.committed += len(entries) - dead
        self.stats.dead_lettered += dead
        self.stats.batches += 1
        self.stats.last_commit_at = datetime.now(UTC)

    async def _ack(self, entries: list[Entry]) -> None:
        by_stream: dict[str, list[str]] = {}
        for stream, entry_id, _ in entries:
            by_stream.setdefault(stream, []).append(entry_id)
        backoff = _Backoff(self._settings.sync_retry_max_seconds)
        while True:
            try:
                pipe = self._redis.pipeline(transaction=False)
                for stream, ids in by_stream.items():
                    pipe.xack(stream, constants.SYNC_GROUP, *ids)
                await pipe.execute()
                return
            except (RedisError, ConnectionError) as exc:
                # committed but not acknowledged: a redelivery would be harmless, but retry to save the work
                self.stats.state = f"redis unavailable: {exc}"
                await self._pause(backoff, "redis", exc)
                if self._stopping.is_set():
                    return

    async def _store(self, entries: list[Entry], decoded: Decoded | None = None) -> int:
        """Write the decodable entries; bisect a failing batch to isolate poison. Returns dead letters."""
        batch, poison = decoded or decode_entries(entries)
        async with self._pool.acquire() as conn:
            if poison:
                await self._dead_letter(conn, poison)
            if len(batch) == 0:
                return len(poison)
            try:
                result = await write_batch(conn, batch)
                await self._after_write(result)
                return len(poison)
            except asyncpg.TransactionRollbackError:
                raise  # rolled back cleanly: the connection is fine, the whole batch is retried
            except POSTGRES_DOWN:
                conn.terminate()  # never hand a connection in an unknown state back to the pool
                raise
            except asyncpg.PostgresError as exc:
                good = [e for e in entries if e not in {p[0] for p in poison}]
                if len(good) == 1:
                    return len(poison) + await self._retry_alone(conn, good[0], batch, exc)
                logger.warning("batch of %d failed (%s); splitting to isolate the bad entry", len(good), exc)
        middle = len(good) // 2
        return len(poison) + await self._store(good[:middle]) + await self._store(good[middle:])

    async def _after_write(self, result: WriteResult) -> None:
        """Late events of erased sessions were dropped: count them, and undo the live state they made."""
        if not result.dropped_erased:
            return
        self.stats.dropped_erased += result.dropped_erased
        self.gauges.dropped_erased.inc(result.dropped_erased)
        logger.info(
            "dropped %d late events of %d erased sessions", result.dropped_erased, len(result.erased_sessions)
        )
        pipe = self._redis.pipeline(transaction=False)
        for session_id in result.erased_sessions:
            pipe.delete(constants.session_state_key(session_id))
            pipe.zrem(constants.ACTIVE_SESSIONS, session_id)
        with contextlib.suppress(RedisError, ConnectionError):
            await pipe.execute()

    async def _retry_alone(
        self, conn: Connection, entry: Entry, batch: Batch | PreparedBatch, error: asyncpg.PostgresError
    ) -> int:
        """Try an entry that fails on its own up to ``sync_max_deliveries`` times, then dead-letter it."""
        attempts = 1
        while attempts < self._settings.sync_max_deliveries:
            await asyncio.sleep(0.01 * attempts)
            attempts += 1
            try:
                await self._after_write(await write_batch(conn, batch))
                return 0
            except POSTGRES_DOWN:
                raise
            except asyncpg.PostgresError as again:
                error = again
        await self._dead_letter(conn, [(entry, f"{error.__class__.__name__}: {error}")], attempts)
        return 1

    async def _dead_letter(self, conn: Connection, items: list[tuple[Entry, str]], attempts: int = 1) -> None:
        for (stream, entry_id, payload), error in items:
            payload = payload or b""
            session_id = streams.payload_session(payload)
            await conn.execute(
                """INSERT INTO dead_letters (stream, entry_id, session_id, payload, error, attempts)
                   VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (stream, entry_id) DO UPDATE SET
                       attempts = dead_letters.attempts + excluded.attempts, error = excluded.error""",
                stream,
                entry_id,
                session_id,
                payload,
                error[:2000],
                attempts,
            )
            logger.error("dead-lettered %s %s: %s", stream, entry_id, error)

    async def _maybe_trim(self) -> None:
        """Trim each stream below the oldest entry its group still needs (pending, or not yet read)."""
        now = time.monotonic()
        if now - self._last_trim < 1.0:
            return
        self._last_trim = now
        for stream in self.streams:
            groups = await self._redis.xinfo_groups(stream)
            floor: str | None = None
            length = await self._redis.xlen(stream)
            self.gauges.stream_length.labels(stream).set(length)
            for group in groups:
                if _text(group["name"]) == constants.SYNC_GROUP:
                    self.gauges.pending.labels(stream).set(int(group["pending"]))
                    self.gauges.lag.labels(stream).set(int(group.get("lag") or 0))
                pending = await self._redis.xpending(stream, group["name"])
                if pending["pending"]:
                    candidate = (
                        pending["min"].decode() if isinstance(pending["min"], bytes) else pending["min"]
                    )
                else:
                    last = group["last-delivered-id"]
                    last = last.decode() if isinstance(last, bytes) else last
                    candidate = _next_id(last)
                if floor is None or _id_key(candidate) < _id_key(floor):
                    floor = candidate
            if floor is not None and floor != "0-1":
                await self._redis.xtrim(stream, minid=floor, approximate=False)


#: advisory lock held by the worker running the retention job, so replicas do not run it together
RETENTION_LOCK = 0x7E7E


async def run_retention_once(
    pool: asyncpg.Pool, client: redis.Redis, settings: SyncSettings, now: datetime | None = None
) -> RetentionReport | None:
    """One retention pass, unless another worker is running one; records the run for `doctor`."""
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK):
            return None
        try:
            moment = now or datetime.now(UTC)
            report = await apply_retention(
                pool,
                raw_days=settings.retention_days,
                rollup_days=settings.rollup_retention_days,
                now=moment,
                batch_rows=settings.retention_batch_rows,
            )
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", RETENTION_LOCK)
    next_at = moment + timedelta(seconds=settings.retention_interval_seconds)
    await client.set(
        constants.RETENTION_LAST_RUN,
        orjson.dumps({"at": moment.isoformat(), "next_at": next_at.isoformat(), "deleted": asdict(report)}),
    )
    if report.total():
        logger.info("retention deleted %s", asdict(report))
    return report


async def mark_abandoned(pool: asyncpg.Pool, idle_seconds: int) -> int:
    """Mark active sessions without activity for ``idle_seconds`` abandoned; return how many."""
    status = await pool.execute(
        """UPDATE user_sessions SET status = 'abandoned'
           WHERE status = 'active' AND last_seen_at < now() - make_interval(secs => $1)""",
        float(idle_seconds),
    )
    return int(status.split()[-1])


Decoded = tuple[Batch | PreparedBatch, list[tuple[Entry, str]]]


#: entries and their prepared records, written in one transaction
Part = tuple[list[Entry], Decoded]


def decode_entries(entries: list[Entry]) -> tuple[Batch, list[tuple[Entry, str]]]:
    """The records of the entries, and the entries that do not decode (poison) with the reason."""
    ((_, batch, poison),) = _decode(entries, 1)
    return batch, poison


def split_by_session(entries: list[Entry], parts: int) -> list[Part]:
    """``entries`` in up to ``parts`` parts by session id, each decoded and prepared for writing.

    A session's records all land in one part, so concurrent parts never touch the same session's rows;
    entries without a session (deleted ones, poison) go with the first part.
    """
    return [(part, (prepare(batch), poison)) for part, batch, poison in _decode(entries, parts) if part]


def _decode(entries: list[Entry], parts: int) -> list[tuple[list[Entry], Batch, list[tuple[Entry, str]]]]:
    split: list[tuple[list[Entry], Batch, list[tuple[Entry, str]]]] = [
        ([], Batch(), []) for _ in range(parts)
    ]
    for entry in entries:
        if entry[2] is None:
            split[0][0].append(entry)  # deleted from the stream (erased): nothing to store, only to ack
            continue
        try:
            record = streams.decode(entry[2])
        except Exception as exc:  # noqa: BLE001 - any decode failure makes the entry poison
            split[0][0].append(entry)
            split[0][2].append((entry, f"undecodable: {exc.__class__.__name__}: {exc}"))
            continue
        part = split[zlib.crc32(streams.session_of(record).encode()) % parts] if parts > 1 else split[0]
        part[0].append(entry)
        part[1].add(record)
    return split


def _payload(fields: dict[bytes, bytes] | None) -> bytes | None:
    if not fields:
        return None
    return fields.get(constants.STREAM_FIELD.encode(), b"")


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _next_id(entry_id: str) -> str:
    ms, seq = _id_key(entry_id)
    return f"{ms}-{seq + 1}"


class _Backoff:
    """Capped exponential backoff: 0.1 s, 0.2 s, … up to ``cap``."""

    def __init__(self, cap: float) -> None:
        self._cap = cap
        self._delay = 0.1

    def next(self) -> float:
        delay = self._delay
        self._delay = min(self._delay * 2, self._cap)
        return delay

    def reset(self) -> None:
        self._delay = 0.1
