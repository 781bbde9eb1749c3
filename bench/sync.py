"""Sync under load: throughput from a pre-filled stream into Postgres, and end-to-end lag from Ingest.

Throughput: a stream pre-filled with encoded StreamRecords (as Ingest appends them) is swapped in
under the event stream with one ``RENAME`` while ``configtrail serve sync`` waits on it, and the clock
runs until ``Sync.Flush`` returns (everything committed and acknowledged). The ceiling is a bare
asyncpg ``copy_records_to_table`` loop of the same rows, batches of 1,000, into scratch tables shaped
like user_sessions/interaction_events (same keys, indexes and foreign key).

Lag: Ingest takes a steady load of TrackBatch calls while Sync runs; every 20th event id is sampled
with the time its call was acknowledged, and Postgres is polled for the sampled ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg
import grpc

from bench import ceilings, payloads
from bench.context import Bench
from bench.procs import BenchError, Child, CpuMeter
from bench.results import Area, Figure, Target
from bench.stats import percentile
from configtrail import constants
from configtrail.grpcserver import GRPC_OPTIONS
from configtrail.ingest.v1 import ingest_pb2
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc

STREAM = constants.event_stream(0)
SOURCE = "bench:sync-source"
WARM_UP_SOURCE = "bench:sync-warm-up"
STAGING = "bench:sync-staging"
#: Entries drained once, untimed, before the timed runs (and rows copied before the COPY ceiling).
WARM_UP_ENTRIES = 10_000


async def _prefill(bench: Bench, key: str, records: list[bytes]) -> None:
    await bench.redis.delete(key)
    for start in range(0, len(records), 1000):
        pipe = bench.redis.pipeline(transaction=False)
        for payload in records[start : start + 1000]:
            pipe.xadd(key, {constants.STREAM_FIELD: payload})
        await pipe.execute()


async def _checkpoint(conn: asyncpg.Connection) -> None:
    """Start each run with a fresh checkpoint, so none falls into one run and not another."""
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
        await conn.execute("CHECKPOINT")


async def _sync_run(
    bench: Bench, conn: asyncpg.Connection, sync_port: int, count: int, source: str = SOURCE
) -> dict[str, Any]:
    """One timed drain of the ``count`` entries pre-filled in ``source``; returns rate and checks."""
    await conn.execute("TRUNCATE dead_letters, interaction_events, user_sessions CASCADE")
    await _checkpoint(conn)
    await bench.redis.copy(source, STAGING, replace=True)
    await bench.redis.xgroup_create(STAGING, constants.SYNC_GROUP, id="0")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{sync_port}", options=GRPC_OPTIONS) as channel:
        stub = sync_pb2_grpc.SyncStub(channel)
        started = time.monotonic()
        # the worker blocks on XREADGROUP of the (empty, drained) stream; RENAME wakes it with the lot
        await bench.redis.rename(STAGING, STREAM)
        reply = await stub.Flush(sync_pb2.FlushRequest(timeout_seconds=600), timeout=620)
        elapsed = time.monotonic() - started
    stored = await conn.fetchval("SELECT count(*) FROM interaction_events")
    rolled_up = int(await conn.fetchval("SELECT coalesce(sum(interaction_count), 0) FROM user_sessions"))
    dead = await conn.fetchval("SELECT count(*) FROM dead_letters")
    ok = stored == count and rolled_up == count and dead == 0
    return {
        "rate": count / elapsed,
        "seconds": round(elapsed, 2),
        "flush_waited_for": reply.entries_waited_for,
        "verified": f"{'ok' if ok else 'MISMATCH'}: {stored} rows, rollup counts sum to {rolled_up}, "
        f"{dead} dead letters, for {count} entries",
    }


async def throughput(bench: Bench, area: Area) -> None:
    s = bench.settings
    rate = area.figure(
        "Sync → Postgres, with rollups (idempotent insert path)",
        "events/s",
        Target(">=", 20_000),
        ceiling="bare asyncpg COPY x1,000",
    )
    strict = area.figure(
        "same runs vs the ≥ 25,000 target (set for the path without rollups)",
        "events/s",
        Target(">=", 25_000),
        ceiling="bare asyncpg COPY x1,000",
    )
    area.notes += [
        f"{s.sync_events:,} interaction StreamRecords over {s.sync_sessions:,} sessions (drawn at random, "
        "so a batch of 1,000 touches ~800 sessions) pre-filled into a side stream, then swapped in "
        "under `configtrail:events:{s0}` with one RENAME while `configtrail serve sync` (default settings: "
        "batches of 1,000, each split by session into 2 concurrent write transactions) waits on it; "
        "timed from the RENAME until `Sync.Flush` returns; events/s = "
        "entries ÷ that time. Tables are emptied and a CHECKPOINT taken before every run.",
        "Sync's writer always maintains the per-session rollups in the same transaction "
        "(sessions upserted, `INSERT … SELECT unnest … ON CONFLICT (event_id) DO NOTHING`, then the "
        "rollup UPDATE): there is no path without rollups to measure, so the ≥ 25,000 target "
        "(without rollups) is compared with the same runs.",
        "Ceiling: a sequential asyncpg `copy_records_to_table` loop of the same rows (decoded before "
        "timing), 1,000 rows per COPY, each its own transaction, into scratch tables created `LIKE` "
        "user_sessions/interaction_events `INCLUDING ALL` plus the foreign key.",
    ]
    bench.say(f"sync: pre-filling {s.sync_events:,} StreamRecords")
    records = [payload for _, payload in payloads.prefill_records(s.sync_events, s.sync_sessions)]
    warm_up = [payload for _, payload in payloads.prefill_records(WARM_UP_ENTRIES, s.sync_sessions, seed=8)]
    await _prefill(bench, SOURCE, records)
    await _prefill(bench, WARM_UP_SOURCE, warm_up)
    sync, sync_port = await bench.start_sync()
    try:
        await _throughput_runs(bench, (rate, strict), records, len(warm_up), sync, sync_port)
        await lag(bench, area, sync)
    finally:
        await bench.children.stop_async(sync)
        await bench.redis.delete(SOURCE, WARM_UP_SOURCE, STAGING)


async def _throughput_runs(
    bench: Bench,
    figures: tuple[Figure, Figure],
    records: list[bytes],
    warm_up_entries: int,
    sync: Child,
    sync_port: int,
) -> None:
    """Alternate the bare COPY loop and a timed Sync drain of ``records``, after an untimed warm-up."""
    s = bench.settings
    rate = figures[0]
    rows, sessions = ceilings.copy_rows(records)
    conn = await bench.infra.connect()
    try:
        await ceilings.prepare_copy_tables(conn, sessions)
        bench.say("sync: warm-up (untimed)")
        await ceilings.copy_rate(conn, rows[:WARM_UP_ENTRIES])
        await _sync_run(bench, conn, sync_port, warm_up_entries, WARM_UP_SOURCE)
        for rep in range(s.repetitions):
            bench.say(f"sync: run {rep + 1}/{s.repetitions}: bare COPY ceiling")
            await _checkpoint(conn)
            with CpuMeter({"postgres": bench.postgres_pid}) as copy_cpu:
                copy = await ceilings.copy_rate(conn, rows)
            bench.say(f"  COPY: {copy:,.0f} rows/s")
            bench.say(f"sync: run {rep + 1}/{s.repetitions}: Sync")
            with CpuMeter(
                {"sync": sync.pid, "postgres": bench.postgres_pid, "valkey": bench.valkey_pid}
            ) as cpu:
                result = await _sync_run(bench, conn, sync_port, len(records))
            sync.check_alive()
            bench.say(f"  Sync: {result['rate']:,.0f} events/s, {result['verified']}")
            for figure in figures:
                figure.runs.append(result["rate"])
                figure.ceiling_runs.append(copy)
            rate.details.append(
                {
                    **{k: v for k, v in result.items() if k != "rate"},
                    **cpu.result,
                    "ceiling_cpu_postgres": copy_cpu.result.get("cpu_postgres"),
                }
            )
    finally:
        with contextlib.suppress(asyncpg.PostgresError, OSError):
            await ceilings.drop_copy_tables(conn)
        await conn.close()


async def lag(bench: Bench, area: Area, sync: Child) -> None:
    s = bench.settings
    per_second = s.lag_batch / s.lag_interval
    p99 = area.figure(
        f"End-to-end lag p99, Ingest ack → committed row, at {per_second:,.0f} events/s",
        "ms",
        Target("<", 1000),
    )
    p95 = area.figure("End-to-end lag p95", "ms")
    p50 = area.figure("End-to-end lag p50", "ms")
    area.notes.append(
        f"Lag: `configtrail serve ingest` and `configtrail serve sync` running; the benchmark process "
        f"sends TrackBatch of {s.lag_batch} every {s.lag_interval * 1000:g} ms for {s.warm_up:g} s of "
        f"warm-up and {s.lag_seconds:g} s measured (fresh ids), samples every {s.lag_sample_every}th "
        "event id with the time its call was acknowledged, and polls Postgres every ~10 ms for the "
        "sampled ids; lag = time of the first query that saw the row - ack time (polling adds <= 10 ms)."
    )
    ingest, ingest_port = await bench.start_ingest()
    try:
        for rep in range(s.repetitions):
            bench.say(f"sync lag: run {rep + 1}/{s.repetitions}")
            with CpuMeter(
                {
                    "ingest": ingest.pid,
                    "sync": sync.pid,
                    "postgres": bench.postgres_pid,
                    "valkey": bench.valkey_pid,
                }
            ) as cpu:
                result = await _lag_run(bench, ingest_port, seed=rep)
            ingest.check_alive()
            p99.runs.append(result["p99_ms"])
            p95.runs.append(result["p95_ms"])
            p50.runs.append(result["p50_ms"])
            p99.details.append({**result, **cpu.result})
            bench.say(
                f"  lag p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms, "
                f"p99 {result['p99_ms']:.0f} ms at {result['events_per_s']:,.0f} events/s"
            )
    finally:
        await bench.children.stop_async(ingest)


async def _lag_run(bench: Bench, ingest_port: int, *, seed: int) -> dict[str, Any]:
    s = bench.settings
    # the first warm_up seconds of load are not sampled
    warm_up_calls = int(s.warm_up / s.lag_interval)
    calls = warm_up_calls + int(s.lag_seconds / s.lag_interval)
    factory = payloads.ItemFactory(s.sessions, seed=1000 + seed)
    requests: list[tuple[bytes, list[str]]] = [
        factory.track_batch(s.lag_batch, sessions_per_call=5) for _ in range(calls)
    ]
    acked: dict[str, float] = {}
    seen: dict[str, float] = {}
    accepted = 0
    errors: dict[str, int] = {}
    sending = True
    conn = await bench.infra.connect()

    async def poll() -> None:
        while sending or len(seen) < len(acked):
            waiting = [event_id for event_id in acked if event_id not in seen]
            if waiting:
                asked = time.time()
                rows = await conn.fetch(
                    "SELECT event_id::text AS id FROM interaction_events WHERE event_id = ANY($1::uuid[])",
                    waiting,
                )
                for row in rows:
                    seen.setdefault(row["id"], asked)
            await asyncio.sleep(0.01)

    async with grpc.aio.insecure_channel(f"127.0.0.1:{ingest_port}", options=GRPC_OPTIONS) as channel:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, ingest_pb2.TrackBatchResponse] = channel.unary_unary(
            "/configtrail.ingest.v1.Ingest/TrackBatch",
            response_deserializer=ingest_pb2.TrackBatchResponse.FromString,
        )

        async def send(payload: bytes, ids: list[str], base: int, sample: bool) -> None:
            nonlocal accepted
            try:
                reply = await call(payload, timeout=10)
            except grpc.aio.AioRpcError as error:
                errors[error.code().name] = errors.get(error.code().name, 0) + 1
                return
            now = time.time()
            accepted += reply.accepted
            for index, result in enumerate(reply.results):
                if sample and result.accepted and (base + index) % s.lag_sample_every == 0:
                    acked[ids[index]] = now

        poller = asyncio.ensure_future(poll())
        started = time.monotonic()
        in_flight: set[asyncio.Task[None]] = set()
        try:
            for number, (payload, ids) in enumerate(requests):
                await asyncio.sleep(max(0.0, started + number * s.lag_interval - time.monotonic()))
                task = asyncio.ensure_future(
                    send(payload, ids, number * s.lag_batch, number >= warm_up_calls)
                )
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            await asyncio.gather(*in_flight)
            sent_seconds = time.monotonic() - started
            sending = False
            await asyncio.wait_for(poller, 60)
        except TimeoutError:
            raise BenchError(f"{len(acked) - len(seen)} sampled events not in Postgres after 60 s") from None
        finally:
            sending = False
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await conn.close()
    lags = sorted((seen[event_id] - ack) * 1000 for event_id, ack in acked.items() if event_id in seen)
    return {
        "events_per_s": round(accepted / sent_seconds),
        "samples": len(lags),
        "p50_ms": round(percentile(lags, 0.50), 1),
        "p95_ms": round(percentile(lags, 0.95), 1),
        "p99_ms": round(percentile(lags, 0.99), 1),
        "max_ms": round(lags[-1], 1) if lags else float("nan"),
        "errors": errors or "none",
    }
