"""Bare ceilings measured in this process: pipelined XADD with redis-py, COPY with asyncpg.

They are what the libraries and servers allow with no configtrail logic in between, on the same
servers the services use (so the Valkey ceiling includes ``appendfsync always``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import redis.asyncio as redis

from configtrail.common.v1 import events_pb2
from configtrail.vocabulary import DEVICE_TYPES, EVENT_TYPES

#: Scratch stream of the XADD ceiling (outside configtrail's key prefix).
XADD_STREAM = "bench:xadd-ceiling"


async def xadd_rate(
    client: redis.Redis,
    payloads: Sequence[bytes],
    *,
    warm_up: float,
    duration: float,
    pipeline: int = 100,
    concurrency: int = 1,
) -> float:
    """Entries/s appended by ``concurrency`` loops of pipelined single-field XADDs (``pipeline`` each)."""
    await client.delete(XADD_STREAM)
    start = time.monotonic()
    begin, end = start + warm_up, start + warm_up + duration
    counted = 0

    async def loop(offset: int) -> None:
        nonlocal counted
        index = offset
        while (now := time.monotonic()) < end:
            pipe = client.pipeline(transaction=False)
            for _ in range(pipeline):
                pipe.xadd(XADD_STREAM, {"r": payloads[index % len(payloads)]})
                index += 1
            await pipe.execute()
            if now >= begin and time.monotonic() <= end:
                counted += pipeline

    await asyncio.gather(*(loop(n * 7) for n in range(concurrency)))
    await client.delete(XADD_STREAM)
    return counted / duration


#: The columns of interaction_events, in the order of :func:`copy_rows`.
COLUMNS = (
    "event_id",
    "session_id",
    "event_type",
    "custom_event_type",
    "category",
    "element_id",
    "selection_value",
    "previous_value",
    "time_spent_ms",
    "device_type",
    "viewport_width",
    "viewport_height",
    "additional_data",
    "sequence",
    "occurred_at",
    "received_at",
)


def copy_rows(payloads: Sequence[bytes]) -> tuple[list[tuple[Any, ...]], list[str]]:
    """The interaction_events rows of serialized StreamRecords (built before timing), and their sessions."""
    rows: list[tuple[Any, ...]] = []
    sessions: set[str] = set()
    for payload in payloads:
        event = events_pb2.StreamRecord.FromString(payload).interaction
        sessions.add(event.session_id)
        extra = None
        if event.HasField("additional_data"):
            extra = '{"step": 1, "source": "bench"}'
        rows.append(
            (
                uuid.UUID(event.event_id),
                event.session_id,
                EVENT_TYPES.word(event.event_type),
                None,
                event.category,
                event.element_id,
                event.selection_value,
                event.previous_value,
                event.time_spent_ms,
                DEVICE_TYPES.word(event.device_type),
                event.viewport_width or None,
                event.viewport_height or None,
                extra,
                event.sequence or None,
                event.client_timestamp.ToDatetime(tzinfo=UTC),
                event.server_timestamp.ToDatetime(tzinfo=UTC),
            )
        )
    return rows, sorted(sessions)


async def prepare_copy_tables(conn: asyncpg.Connection, sessions: Sequence[str]) -> None:
    """Scratch tables shaped like user_sessions/interaction_events: same columns, keys, indexes, FK."""
    await conn.execute(
        """DROP TABLE IF EXISTS bench_copy_events;
           DROP TABLE IF EXISTS bench_copy_sessions;
           CREATE TABLE bench_copy_sessions (LIKE user_sessions INCLUDING ALL);
           CREATE TABLE bench_copy_events (LIKE interaction_events INCLUDING ALL);
           ALTER TABLE bench_copy_events ADD FOREIGN KEY (session_id)
               REFERENCES bench_copy_sessions (session_id) ON DELETE CASCADE;"""
    )
    now = datetime.now(UTC)
    await conn.copy_records_to_table(
        "bench_copy_sessions",
        records=[(s, now, now) for s in sessions],
        columns=("session_id", "started_at", "last_seen_at"),
    )


async def copy_rate(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]], *, batch: int = 1000) -> float:
    """Rows/s of a bare loop of ``copy_records_to_table`` in batches (one commit each)."""
    await conn.execute("TRUNCATE bench_copy_events")
    started = time.monotonic()
    for start in range(0, len(rows), batch):
        await conn.copy_records_to_table(
            "bench_copy_events", records=rows[start : start + batch], columns=COLUMNS
        )
    return len(rows) / (time.monotonic() - started)


async def drop_copy_tables(conn: asyncpg.Connection) -> None:
    await conn.execute("DROP TABLE IF EXISTS bench_copy_events; DROP TABLE IF EXISTS bench_copy_sessions")
