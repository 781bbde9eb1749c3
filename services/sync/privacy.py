"""The data lifecycle: erase a session everywhere, export it, and delete data past its retention.

Erasure takes the exclusive advisory lock of the session's bucket (Sync's batch transactions take
the shared one, see ``services/sync/writer.py``), writes a tombstone and deletes the session's rows in
one transaction; then it removes the session's entries still waiting in its stream and its live state
in Redis. A batch that was writing the session either committed before (and its rows are deleted) or
sees the tombstone and drops them; later events are dropped and counted until the tombstone expires.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import orjson
import redis.asyncio as redis

from configtrail import constants, streams
from services.sync.writer import ERASURE_LOCK

logger = logging.getLogger(__name__)

_XRANGE_CHUNK = 1000


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure removed (counts only: the report carries no personal data)."""

    session_found: bool
    interactions: int
    snapshots: int
    metrics: int
    dead_letters: int
    stream_entries: int
    live_state: bool
    tombstone_until: datetime

    def as_json(self) -> dict[str, Any]:
        values = asdict(self)
        values["tombstone_until"] = self.tombstone_until.isoformat()
        return values


async def erase_session(
    pool: asyncpg.Pool,
    client: redis.Redis,
    session_id: str,
    *,
    stream_shards: int,
    tombstone_days: int,
    now: datetime | None = None,
) -> ErasureReport:
    moment = now or datetime.now(UTC)
    until = moment + timedelta(days=tombstone_days)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(ERASURE_LOCK, session_id)
        await conn.execute(
            """INSERT INTO erased_sessions (session_id, erased_at, expires_at) VALUES ($1, $2, $3)
               ON CONFLICT (session_id) DO UPDATE SET erased_at = excluded.erased_at,
                   expires_at = excluded.expires_at""",
            session_id,
            moment,
            until,
        )
        counts = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM interaction_events WHERE session_id = $1) AS interactions,
                      (SELECT count(*) FROM configuration_snapshots WHERE session_id = $1) AS snapshots""",
            session_id,
        )
        assert counts is not None
        metrics = _count(
            await conn.execute("DELETE FROM performance_metrics WHERE session_id = $1", session_id)
        )
        letters = _count(await conn.execute("DELETE FROM dead_letters WHERE session_id = $1", session_id))
        # the cascades take the interactions and snapshots, and the rollup triggers subtract them
        found = _count(await conn.execute("DELETE FROM user_sessions WHERE session_id = $1", session_id)) > 0
    entries = await _remove_stream_entries(client, session_id, stream_shards)
    live = await _remove_live_state(client, session_id)
    report = ErasureReport(
        session_found=found,
        interactions=counts["interactions"],
        snapshots=counts["snapshots"],
        metrics=metrics,
        dead_letters=letters,
        stream_entries=entries,
        live_state=live,
        tombstone_until=until,
    )
    # logged without the session id: the log must not keep what was just erased
    logger.info(
        "erased a session: %d interactions, %d snapshots, %d metrics, %d dead letters, %d stream entries; "
        "tombstone until %s",
        report.interactions,
        report.snapshots,
        report.metrics,
        report.dead_letters,
        report.stream_entries,
        until.isoformat(),
    )
    return report


async def _remove_stream_entries(client: redis.Redis, session_id: str, shards: int) -> int:
    """Delete (and acknowledge) the session's entries still waiting in its stream shard."""
    stream = streams.stream_for(session_id, shards)
    doomed: list[bytes] = []
    start = "-"
    while True:
        chunk: list[tuple[bytes, dict[bytes, bytes] | None]] = cast(
            Any, await client.xrange(stream, min=start, max="+", count=_XRANGE_CHUNK)
        )
        for entry_id, fields in chunk:
            payload = fields.get(constants.STREAM_FIELD.encode()) if fields else None
            if payload is not None and streams.payload_session(payload) == session_id:
                doomed.append(entry_id)
        if len(chunk) < _XRANGE_CHUNK:
            break
        start = "(" + chunk[-1][0].decode()
    if doomed:
        pipe = client.pipeline(transaction=False)
        pipe.xack(stream, constants.SYNC_GROUP, *doomed)
        pipe.xdel(stream, *doomed)
        await pipe.execute()
    return len(doomed)


async def _remove_live_state(client: redis.Redis, session_id: str) -> bool:
    pipe = client.pipeline(transaction=False)
    pipe.delete(constants.session_state_key(session_id))
    pipe.zrem(constants.ACTIVE_SESSIONS, session_id)
    deleted, _ = await pipe.execute()
    return bool(deleted)


async def export_session(pool: asyncpg.Pool, session_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Everything the database holds for one session, as one JSON-ready document (for access requests)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        session = await conn.fetchval(
            "SELECT row_to_json(s) FROM user_sessions s WHERE session_id = $1", session_id
        )
        interactions = await conn.fetchval(
            """SELECT coalesce(json_agg(row_to_json(e) ORDER BY e.occurred_at, e.event_id), '[]')
               FROM interaction_events e WHERE session_id = $1""",
            session_id,
        )
        snapshots = await conn.fetchval(
            """SELECT coalesce(json_agg(row_to_json(c) ORDER BY c.occurred_at, c.snapshot_id), '[]')
               FROM configuration_snapshots c WHERE session_id = $1""",
            session_id,
        )
        metrics = await conn.fetchval(
            """SELECT coalesce(json_agg(row_to_json(m) ORDER BY m.occurred_at, m.metric_id), '[]')
               FROM performance_metrics m WHERE session_id = $1""",
            session_id,
        )
    return {
        "sessionId": session_id,
        "exportedAt": (now or datetime.now(UTC)).isoformat(),
        "session": orjson.loads(session) if session else None,
        "interactions": orjson.loads(interactions),
        "snapshots": orjson.loads(snapshots),
        "metrics": orjson.loads(metrics),
    }


@dataclass(frozen=True)
class RetentionReport:
    interactions: int
    snapshots: int
    metrics: int
    dead_letters: int
    sessions: int
    tombstones: int
    rollup_hours: int

    def total(self) -> int:
        return sum(asdict(self).values())


async def apply_retention(
    pool: asyncpg.Pool,
    *,
    raw_days: int,
    rollup_days: int,
    now: datetime | None = None,
    batch_rows: int = 10_000,
) -> RetentionReport:
    """Delete raw data older than ``raw_days`` and sessions unseen for ``rollup_days``, in small batches.

    Each statement deletes at most ``batch_rows`` rows in its own transaction: never one giant
    transaction. Raw rows are deleted without touching the hourly analytics rollups, which are kept
    for ``rollup_days`` like the sessions.
    """
    moment = now or datetime.now(UTC)
    raw_cutoff = moment - timedelta(days=raw_days)
    session_cutoff = moment - timedelta(days=rollup_days)
    return RetentionReport(
        interactions=await _delete_batched(
            pool,
            "interaction_events",
            "event_id",
            "received_at < $1",
            raw_cutoff,
            batch_rows,
            keep_rollups=True,
        ),
        snapshots=await _delete_batched(
            pool,
            "configuration_snapshots",
            "snapshot_id",
            "received_at < $1",
            raw_cutoff,
            batch_rows,
            keep_rollups=True,
        ),
        metrics=await _delete_batched(
            pool, "performance_metrics", "metric_id", "received_at < $1", raw_cutoff, batch_rows
        ),
        dead_letters=await _delete_batched(
            pool, "dead_letters", "dead_letter_id", "created_at < $1", raw_cutoff, batch_rows
        ),
        sessions=await _delete_batched(
            pool, "user_sessions", "session_id", "last_seen_at < $1", session_cutoff, batch_rows
        ),
        tombstones=await _delete_batched(
            pool, "erased_sessions", "session_id", "expires_at < $1", moment, batch_rows
        ),
        rollup_hours=await _delete_rollup_hours(pool, session_cutoff, batch_rows),
    )


async def _delete_rollup_hours(pool: asyncpg.Pool, cutoff: datetime, batch_rows: int) -> int:
    """Hourly analytics rollups older than the rollup retention, in batches like the raw rows."""
    total = 0
    for table in ("interaction_rollup_hourly", "snapshot_option_rollup_hourly"):
        statement = (
            f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
            f"SELECT ctid FROM {table} WHERE bucket < $1 LIMIT {int(batch_rows)}))"
        )
        while True:
            deleted = _count(await pool.execute(statement, cutoff))
            total += deleted
            if deleted < batch_rows:
                break
    return total


async def _delete_batched(
    pool: asyncpg.Pool,
    table: str,
    key: str,
    condition: str,
    cutoff: datetime,
    batch_rows: int,
    *,
    keep_rollups: bool = False,
) -> int:
    chosen = f"SELECT {key} FROM {table} WHERE {condition} LIMIT {int(batch_rows)}"
    statement = f"DELETE FROM {table} WHERE {key} IN ({chosen})"
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            if keep_rollups:
                # read by the rollup triggers: retention removes raw rows, not their aggregated history
                await conn.execute("SET LOCAL configtrail.keep_rollups = 'on'")
            deleted = _count(await conn.execute(statement, cutoff))
        total += deleted
        if deleted < batch_rows:
            return total


def _count(status: str) -> int:
    return int(status.split()[-1])
