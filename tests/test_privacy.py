"""Erasure, export and retention: one visitor's data removed everywhere, nobody else's touched."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import grpc
import orjson
import pytest
import redis.asyncio as redis
from google.protobuf import struct_pb2

from configtrail import constants
from configtrail.common.v1 import events_pb2
from configtrail.embedded import EmbeddedPostgres
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from configtrail.settings import SyncSettings
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc
from services.sync.privacy import apply_retention
from services.sync.worker import run_retention_once
from tests.conftest import Servers


def selection(session_id: str, n: int) -> ingest_pb2.BatchItem:
    return ingest_pb2.BatchItem(
        interaction=events_pb2.InteractionEvent(
            event_id=str(uuid.uuid4()),
            session_id=session_id,
            event_type=events_pb2.EVENT_TYPE_SELECTION,
            category=("nest", "gebaeudehuelle", "ausstattung")[n % 3],
            selection_value=f"option-{n}",
            sequence=n + 1,
        )
    )


def priced(session_id: str, price: int) -> ingest_pb2.BatchItem:
    configuration = struct_pb2.Struct()
    configuration.update({"nest": "nest_80"})
    return ingest_pb2.BatchItem(
        snapshot=events_pb2.ConfigurationSnapshot(
            session_id=session_id,
            configuration=configuration,
            total_price=events_pb2.Money(amount_minor=price, currency="EUR"),
            completion_percentage=40,
            trigger=events_pb2.SNAPSHOT_TRIGGER_AUTO_SAVE,
        )
    )


async def test_erase_one_session_among_many_under_live_load(
    ingest: ingest_pb2_grpc.IngestAsyncStub,
    sync: sync_pb2_grpc.SyncAsyncStub,
    pg_pool: asyncpg.Pool,
    redis_client: redis.Redis,
) -> None:
    victim = f"victim-{uuid.uuid4().hex[:8]}"
    others = [f"other-{n}-{uuid.uuid4().hex[:6]}" for n in range(12)]
    accepted: Counter[str] = Counter()
    stop = asyncio.Event()

    async def load() -> None:
        n = 0
        while not stop.is_set():
            sessions = [victim, *others]
            items = [selection(sessions[(n + i) % len(sessions)], n + i) for i in range(26)]
            items.append(priced(victim, 1_000_000 + n))
            reply = await ingest.TrackBatch(ingest_pb2.TrackBatchRequest(items=items))
            for item, result in zip(items, reply.results, strict=True):
                assert result.accepted
                record = item.interaction if item.HasField("interaction") else item.snapshot
                accepted[record.session_id] += 1
            n += 26
            await asyncio.sleep(0.005)

    producing = asyncio.ensure_future(load())
    while accepted[victim] < 60:
        await asyncio.sleep(0.01)
    erased = await sync.EraseSession(sync_pb2.EraseSessionRequest(session_id=victim))
    stop.set()
    await producing
    assert erased.session_found or erased.stream_entries > 0
    assert erased.tombstone_until.ToDatetime(tzinfo=UTC) > datetime.now(UTC) + timedelta(days=29)

    # a late event from the visitor's browser queue arrives after the erasure
    late = await ingest.TrackBatch(ingest_pb2.TrackBatchRequest(items=[selection(victim, 999)]))
    assert late.results[0].accepted
    await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=20))

    for table in (
        "user_sessions",
        "interaction_events",
        "configuration_snapshots",
        "performance_metrics",
        "dead_letters",
    ):
        assert await pg_pool.fetchval(f"SELECT count(*) FROM {table} WHERE session_id = $1", victim) == 0, (
            table
        )
    assert not await redis_client.exists(constants.session_state_key(victim))
    assert await redis_client.zscore(constants.ACTIVE_SESSIONS, victim) is None
    # what the erasure found waiting was deleted at once; what came later was dropped, and leaves the
    # stream with the next trim like every acknowledged entry
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        left: list[tuple[bytes, dict[bytes, bytes]]] = await redis_client.xrange(  # type: ignore[assignment]
            constants.event_stream(0)
        )
        if not any(victim.encode() in fields[constants.STREAM_FIELD.encode()] for _, fields in left):
            break
        assert asyncio.get_running_loop().time() < deadline, "the victim's entries stayed in the stream"
        await asyncio.sleep(0.1)

    # everyone else is untouched: every accepted event stored and counted once
    for session in others:
        stored = await pg_pool.fetchval(
            "SELECT count(*) FROM interaction_events WHERE session_id = $1", session
        )
        rollup = await pg_pool.fetchval(
            "SELECT interaction_count FROM user_sessions WHERE session_id = $1", session
        )
        assert stored == rollup == accepted[session], session
    dropped = await pg_pool.fetchval(
        "SELECT dropped_events FROM erased_sessions WHERE session_id = $1", victim
    )
    assert dropped >= 1
    status = await sync.Status(sync_pb2.StatusRequest())
    assert sum(w.erased_events_dropped for w in status.workers) >= 1


async def test_export_returns_exactly_what_the_database_holds(
    ingest: ingest_pb2_grpc.IngestAsyncStub, sync: sync_pb2_grpc.SyncAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    session = f"export-{uuid.uuid4().hex[:8]}"
    await ingest.StartSession(
        ingest_pb2.StartSessionRequest(session=events_pb2.UserSession(session_id=session, locale="de-AT"))
    )
    await ingest.TrackBatch(
        ingest_pb2.TrackBatchRequest(
            items=[selection(session, n) for n in range(5)] + [priced(session, 4200)]
        )
    )
    await ingest.TrackBatch(ingest_pb2.TrackBatchRequest(items=[selection("someone-else", 1)]))
    await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10))

    reply = await sync.ExportSession(sync_pb2.ExportSessionRequest(session_id=session))
    document = orjson.loads(reply.document_json)
    assert document["sessionId"] == session
    assert document["session"]["locale"] == "de-AT"
    assert document["session"]["interaction_count"] == 5
    stored_events = await pg_pool.fetch(
        "SELECT event_id::text, selection_value FROM interaction_events WHERE session_id = $1", session
    )
    assert {(e["event_id"], e["selection_value"]) for e in document["interactions"]} == {
        (row["event_id"], row["selection_value"]) for row in stored_events
    }
    assert [s["total_price_minor"] for s in document["snapshots"]] == [4200]
    assert document["metrics"] == []

    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await sync.ExportSession(sync_pb2.ExportSessionRequest(session_id="never-seen"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_retention_removes_only_what_is_older_than_the_limit(
    servers: Servers, clean: None, pg_pool: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    old, recent = now - timedelta(days=400), now - timedelta(days=10)
    ancient = now - timedelta(days=1200)
    await pg_pool.executemany(
        "INSERT INTO user_sessions (session_id, started_at, last_seen_at) VALUES ($1, $2, $2)",
        [("s-old", old), ("s-recent", recent), ("s-ancient", ancient)],
    )
    rows = [(uuid.uuid4(), "s-old", old), (uuid.uuid4(), "s-old", recent), (uuid.uuid4(), "s-recent", recent)]
    await pg_pool.executemany(
        """INSERT INTO interaction_events (event_id, session_id, event_type, occurred_at, received_at)
           VALUES ($1, $2, 'click', $3, $3)""",
        rows,
    )
    await pg_pool.executemany(
        """INSERT INTO configuration_snapshots (snapshot_id, session_id, configuration, total_price_minor,
               currency, completion_percentage, trigger, occurred_at, received_at)
           VALUES ($1, $2, '{}', 100, 'EUR', 10, 'auto_save', $3, $3)""",
        [(uuid.uuid4(), "s-old", old), (uuid.uuid4(), "s-recent", recent)],
    )
    await pg_pool.execute(
        """INSERT INTO erased_sessions (session_id, erased_at, expires_at)
           VALUES ('gone', $1, $2), ('fresh', $1, $3)""",
        old,
        now - timedelta(days=1),
        now + timedelta(days=1),
    )

    await pg_pool.execute(
        """INSERT INTO interaction_rollup_hourly (bucket, event_type, category, selection_value, interactions)
           VALUES ($1, 'click', '', '', 7)""",
        ancient,
    )
    hourly_before = await pg_pool.fetch(
        "SELECT bucket, interactions FROM interaction_rollup_hourly WHERE bucket > $1 ORDER BY bucket",
        ancient,
    )
    assert [r["interactions"] for r in hourly_before] == [1, 2]

    report = await apply_retention(pg_pool, raw_days=395, rollup_days=1095, now=now, batch_rows=1)
    assert (report.interactions, report.snapshots, report.sessions, report.tombstones) == (1, 1, 1, 1)
    assert report.rollup_hours == 1
    hourly_after = await pg_pool.fetch(
        "SELECT bucket, interactions FROM interaction_rollup_hourly ORDER BY bucket"
    )
    assert hourly_after == hourly_before, (
        "hourly rollups outlive raw retention, and expire after rollup retention"
    )
    remaining = {r["received_at"] for r in await pg_pool.fetch("SELECT received_at FROM interaction_events")}
    assert remaining == {recent}
    assert await pg_pool.fetchval("SELECT count(*) FROM configuration_snapshots") == 1
    sessions = {r["session_id"] for r in await pg_pool.fetch("SELECT session_id FROM user_sessions")}
    assert sessions == {"s-old", "s-recent"}, "sessions (with their rollups) outlive raw retention"
    tombstones = {r["session_id"] for r in await pg_pool.fetch("SELECT session_id FROM erased_sessions")}
    assert tombstones == {"fresh"}

    # the job records its run for `configtrail doctor`
    settings = SyncSettings(database_url=servers.dsn, redis_url=servers.redis_url)  # type: ignore[arg-type]
    assert await run_retention_once(pg_pool, redis_client, settings, now=now) is not None
    raw = await redis_client.get(constants.RETENTION_LAST_RUN)
    assert raw is not None
    last = orjson.loads(raw)
    assert last["at"] == now.isoformat()
    assert datetime.fromisoformat(last["next_at"]) == now + timedelta(hours=1)


async def test_erase_and_export_commands(
    servers: Servers,
    ingest: ingest_pb2_grpc.IngestAsyncStub,
    sync: sync_pb2_grpc.SyncAsyncStub,
    pg_pool: asyncpg.Pool,
) -> None:
    session = f"cli-{uuid.uuid4().hex[:8]}"
    await ingest.TrackBatch(ingest_pb2.TrackBatchRequest(items=[selection(session, n) for n in range(3)]))
    await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIGTRAIL_")} | servers.env()

    def configtrail(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "configtrail", *args], env=env, capture_output=True, text=True, timeout=60
        )

    exported = await asyncio.to_thread(configtrail, "export", "--session", session)
    assert exported.returncode == 0, exported.stderr
    document = orjson.loads(exported.stdout)
    assert len(document["interactions"]) == 3
    assert document["session"]["session_id"] == session

    erased = await asyncio.to_thread(configtrail, "erase", "--session", session)
    assert erased.returncode == 0, erased.stderr
    report = orjson.loads(erased.stdout)
    assert (report["session_found"], report["interactions"]) == (True, 3)
    assert session not in erased.stderr, "the erasure log must not name the session"
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM interaction_events WHERE session_id = $1", session) == 0
    )

    missing = await asyncio.to_thread(configtrail, "export", "--session", session)
    assert missing.returncode == 1
    assert "nothing stored" in missing.stderr


def test_short_commands_use_the_embedded_server_of_a_running_stack(tmp_path: Path) -> None:
    """`configtrail migrate` next to a running `configtrail up` uses its PostgreSQL and leaves it running."""
    running = EmbeddedPostgres(tmp_path / "data" / "postgres" / "data")
    running.start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIGTRAIL_")}
        env["CONFIGTRAIL_DATA_DIR"] = str(tmp_path / "data")
        done = subprocess.run(
            [sys.executable, "-m", "configtrail", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert running.running, "the running server was stopped"
        assert "schema current" in done.stdout
    finally:
        running.stop()
