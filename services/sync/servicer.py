"""The Sync gRPC servicer: status of the streams and workers, flush, dead letters."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import asyncpg
import grpc
import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError, ResponseError

from configtrail import constants
from configtrail.errors import DependencyUnavailable, FieldViolation, ValidationError, abort_for
from configtrail.settings import SyncSettings
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc
from services.ingest.validation import session_id_problem
from services.sync import privacy
from services.sync.worker import SyncWorker, _id_key

Context = grpc.aio.ServicerContext[object, object]

#: A worker whose last report is older than this is not listed by Status.
WORKER_REPORT_TTL_SECONDS = 10.0


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


class SyncServicer(sync_pb2_grpc.SyncServicer):
    def __init__(
        self, client: redis.Redis, pool: asyncpg.Pool, worker: SyncWorker, settings: SyncSettings
    ) -> None:
        self._redis = client
        self._pool = pool
        self._worker = worker
        self._settings = settings

    async def Status(self, request: sync_pb2.StatusRequest, context: Context) -> sync_pb2.StatusResponse:
        response = sync_pb2.StatusResponse()
        try:
            for stream in self._worker.streams:
                status = response.streams.add(stream=stream)
                status.length = await self._redis.xlen(stream)
                try:
                    groups = await self._redis.xinfo_groups(stream)
                except ResponseError:
                    groups = []
                for group in groups:
                    if _text(group["name"]) != constants.SYNC_GROUP:
                        continue
                    status.pending = int(group["pending"])
                    status.lag = int(group.get("lag") or 0)
                    status.consumers = int(group["consumers"])
                    status.last_delivered_id = _text(group["last-delivered-id"])
        except (RedisError, OSError) as exc:
            await abort_for(context, DependencyUnavailable(f"redis unavailable: {exc}"))
        stats = self._worker.stats
        worker = response.workers.add(
            worker=self._worker.name,
            entries_committed=stats.committed,
            entries_per_second=stats.rate(),
            state=stats.state,
            erased_events_dropped=stats.dropped_erased,
        )
        if stats.last_commit_at is not None:
            worker.last_commit_at.FromDatetime(stats.last_commit_at)
        try:
            reports = await self._redis.hgetall(constants.SYNC_WORKERS)
        except (RedisError, OSError):
            reports = {}
        for name, raw in sorted(reports.items()):
            if _text(name) == self._worker.name:
                continue
            report = orjson.loads(raw)
            if time.time() - report["at"] > WORKER_REPORT_TTL_SECONDS:
                continue  # a worker that stopped reporting is gone; its pending entries get claimed
            other = response.workers.add(
                worker=_text(name),
                entries_committed=report["committed"],
                entries_per_second=report["rate"],
                state=report["state"],
                erased_events_dropped=report.get("dropped_erased", 0),
            )
            if report["last_commit_at"]:
                other.last_commit_at.FromDatetime(datetime.fromisoformat(report["last_commit_at"]))
        try:
            response.dead_letters = await self._pool.fetchval(
                "SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL", timeout=2.0
            )
        except (asyncpg.PostgresError, OSError, TimeoutError):
            response.dead_letters = -1  # Postgres is unreachable; the worker states say so
        return response

    async def Flush(self, request: sync_pb2.FlushRequest, context: Context) -> sync_pb2.FlushResponse:
        """Wait until every entry appended before this call is acknowledged by the group."""
        deadline = time.monotonic() + (request.timeout_seconds or 30.0)
        try:
            targets: dict[str, str] = {}
            waited = 0
            for stream in self._worker.streams:
                info = await self._redis.xinfo_stream(stream)
                targets[stream] = _text(info["last-generated-id"])
                waited += int(info["length"])
            while True:
                if all([await self._settled(stream, target) for stream, target in targets.items()]):
                    return sync_pb2.FlushResponse(entries_waited_for=waited)
                if time.monotonic() > deadline:
                    await context.abort(
                        grpc.StatusCode.DEADLINE_EXCEEDED, "entries still waiting for Postgres"
                    )
                await asyncio.sleep(0.01)
        except ResponseError:
            return sync_pb2.FlushResponse()  # no stream yet: nothing was ever appended
        except (RedisError, OSError) as exc:
            await abort_for(context, DependencyUnavailable(f"redis unavailable: {exc}"))

    async def _settled(self, stream: str, target: str) -> bool:
        for group in await self._redis.xinfo_groups(stream):
            if _text(group["name"]) != constants.SYNC_GROUP:
                continue
            if _id_key(_text(group["last-delivered-id"])) < _id_key(target):
                return False
            if int(group["pending"]) == 0:
                return True
            pending = await self._redis.xpending(stream, constants.SYNC_GROUP)
            if not pending["pending"] or pending["min"] is None:
                return True  # acknowledged between the two calls
            return _id_key(_text(pending["min"])) > _id_key(target)
        return False

    async def ListDeadLetters(
        self, request: sync_pb2.ListDeadLettersRequest, context: Context
    ) -> sync_pb2.ListDeadLettersResponse:
        limit = request.limit or 100
        if limit < 0 or limit > 1000:
            await abort_for(context, ValidationError([FieldViolation("limit", "must be between 0 and 1000")]))
        try:
            rows = await self._pool.fetch(
                """SELECT dead_letter_id, stream, entry_id, session_id, payload, error, attempts, created_at
                   FROM dead_letters WHERE replayed_at IS NULL AND dead_letter_id > $1
                   ORDER BY dead_letter_id LIMIT $2""",
                request.after_id,
                limit,
            )
        except (asyncpg.PostgresError, OSError) as exc:
            await abort_for(context, DependencyUnavailable(f"postgres unavailable: {exc}"))
        response = sync_pb2.ListDeadLettersResponse()
        for row in rows:
            letter = response.dead_letters.add(
                id=row["dead_letter_id"],
                stream=row["stream"],
                entry_id=row["entry_id"],
                session_id=row["session_id"] or "",
                payload=bytes(row["payload"]),
                error=row["error"],
                attempts=row["attempts"],
            )
            letter.created_at.FromDatetime(row["created_at"])
        return response

    async def ReplayDeadLetters(
        self, request: sync_pb2.ReplayDeadLettersRequest, context: Context
    ) -> sync_pb2.ReplayDeadLettersResponse:
        """Append the dead letters to their streams again and mark them replayed, in one transaction."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    """SELECT dead_letter_id, stream, payload FROM dead_letters
                       WHERE replayed_at IS NULL
                         AND (cardinality($1::bigint[]) = 0 OR dead_letter_id = ANY($1))
                       ORDER BY dead_letter_id FOR UPDATE""",
                    list(request.ids),
                )
                if rows:
                    pipe = self._redis.pipeline(transaction=False)
                    for row in rows:
                        pipe.xadd(row["stream"], {constants.STREAM_FIELD: bytes(row["payload"])})
                    await pipe.execute()
                    await conn.execute(
                        "UPDATE dead_letters SET replayed_at = now() WHERE dead_letter_id = ANY($1)",
                        [row["dead_letter_id"] for row in rows],
                    )
        except (asyncpg.PostgresError, OSError, RedisError) as exc:
            await abort_for(context, DependencyUnavailable(f"replay failed, nothing marked replayed: {exc}"))
        return sync_pb2.ReplayDeadLettersResponse(replayed=len(rows))

    async def _check_session_id(self, session_id: str, context: Context) -> None:
        """INVALID_ARGUMENT for what Ingest would never have taken as a session id."""
        problem = session_id_problem(session_id, self._settings.max_id_length)
        if problem is not None:
            await abort_for(context, ValidationError([FieldViolation("session_id", problem)]))

    async def EraseSession(
        self, request: sync_pb2.EraseSessionRequest, context: Context
    ) -> sync_pb2.EraseSessionResponse:
        await self._check_session_id(request.session_id, context)
        try:
            report = await privacy.erase_session(
                self._pool,
                self._redis,
                request.session_id,
                stream_shards=self._settings.stream_shards,
                tombstone_days=self._settings.erase_tombstone_days,
            )
        except (asyncpg.PostgresError, OSError, RedisError) as exc:
            await abort_for(context, DependencyUnavailable(f"erasure incomplete, retry it: {exc}"))
        response = sync_pb2.EraseSessionResponse(
            session_found=report.session_found,
            interactions=report.interactions,
            snapshots=report.snapshots,
            metrics=report.metrics,
            dead_letters=report.dead_letters,
            stream_entries=report.stream_entries,
            live_state=report.live_state,
        )
        response.tombstone_until.FromDatetime(report.tombstone_until)
        return response

    async def ExportSession(
        self, request: sync_pb2.ExportSessionRequest, context: Context
    ) -> sync_pb2.ExportSessionResponse:
        await self._check_session_id(request.session_id, context)
        try:
            document = await privacy.export_session(self._pool, request.session_id)
        except (asyncpg.PostgresError, OSError) as exc:
            await abort_for(context, DependencyUnavailable(f"postgres unavailable: {exc}"))
        if document["session"] is None and not document["metrics"]:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no data stored for this session")
        return sync_pb2.ExportSessionResponse(document_json=orjson.dumps(document).decode())
