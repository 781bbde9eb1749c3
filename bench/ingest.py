"""Ingest under load: TrackInteraction (h2load), TrackBatch and StreamEvents (Python gRPC workers).

Ingest runs as ``configtrail serve ingest`` with its defaults — durability on: every group of appends
waits for ``WAITAOF`` on a Valkey with ``appendfsync always``. Ceilings and Ingest runs alternate, so
drift in the machine's load touches both. Every accepted call is checked on the server side: gRPC
errors travel in HTTP 200 trailers, which h2load counts as successes.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

from bench import ceilings, h2load, payloads
from bench.context import Bench
from bench.infra import reset_streams
from bench.loadgen import LoadResult, Spec, run_workers
from bench.procs import Child, CpuMeter, meter_window
from bench.results import RATE_REACHED, Area, Figure, Target
from bench.stats import latency_summary
from configtrail import constants

STREAM = constants.event_stream(0)
#: TrackInteraction's target load (req/s): the throughput target, and the rate the p99 target is measured at.
UNARY_RATE = 2500


async def count_entries_between(bench: Bench, first_ms: int, last_ms: int) -> int:
    """Entries of the event stream whose id (Valkey's append time) lies within ``[first_ms, last_ms]``."""
    count = 0
    start = f"{first_ms}-0"
    while True:
        chunk: Any = await bench.redis.xrange(STREAM, min=start, max=f"{last_ms}", count=10_000)
        count += len(chunk)
        if len(chunk) < 10_000:
            return count
        last_id = chunk[-1][0].decode()
        ms, seq = last_id.split("-")
        start = f"{ms}-{int(seq) + 1}"


async def durability_note(bench: Bench) -> str:
    try:
        config: dict[Any, Any] = await bench.redis.config_get("append*")
    except Exception as exc:  # noqa: BLE001 - managed servers may refuse CONFIG; the note says so
        return f"Valkey/Redis persistence settings unreadable ({exc.__class__.__name__})"

    def text(key: str) -> str:
        value = config.get(key) or config.get(key.encode()) or b"?"
        return value.decode() if isinstance(value, bytes) else str(value)

    return (
        f"Durability on: Redis `appendonly {text('appendonly')}`, `appendfsync {text('appendfsync')}`; "
        "Ingest waits for `WAITAOF 1 0` on every group of appends (its default)."
    )


# --- TrackInteraction --------------------------------------------------------------------------------


async def unary(bench: Bench, area: Area) -> None:
    s = bench.settings
    streams = s.h2_connections * s.h2_streams
    rate = area.figure(
        f"TrackInteraction, {streams} concurrent streams",
        "req/s",
        Target(">=", UNARY_RATE),
        ceiling="no-op grpc.aio",
    )
    paced_p99 = area.figure(
        f"TrackInteraction p99 latency at {UNARY_RATE:,} req/s offered, {streams} streams",
        "ms",
        Target("<", 20),
        ceiling="no-op grpc.aio p99 at the same rate",
    )
    p99 = area.figure(
        "TrackInteraction p99 latency at full load (closed loop)", "ms", None, ceiling="no-op grpc.aio p99"
    )
    area.notes.append(await durability_note(bench))
    area.notes.append(
        f"Full load: {streams} streams always in flight (a closed loop), so mean latency = {streams} ÷ "
        f"throughput: its p99 says how far the server is pushed (below {streams / 0.020:,.0f} req/s it "
        "cannot be under 20 ms, whatever the server does: a no-op server pinned to one "
        "core, 2,800 req/s, would wait 23 ms on average), not what a client waits at a given load."
    )
    area.notes.append(
        f"At {UNARY_RATE:,} req/s offered: the same {s.h2_connections} connections x {s.h2_streams} "
        f"streams, but h2load paces the sends (`--rps {UNARY_RATE / s.h2_connections:g}` per connection), "
        f"so the p99 is the latency at the target load of {UNARY_RATE:,} req/s. A run that delivered "
        f"less than {RATE_REACHED:.0%} of the offered rate counts as failed."
    )
    body = bench.workdir / "track_interaction.bin"
    body.write_bytes(payloads.grpc_frame(payloads.track_interaction_request()))
    log = bench.workdir / "h2load.log"
    noop, noop_port = await bench.start_noop_grpc()
    ingest, ingest_port = await bench.start_ingest()
    method = "/configtrail.ingest.v1.Ingest/TrackInteraction"
    noop_url = f"http://127.0.0.1:{noop_port}{method}"
    ingest_url = f"http://127.0.0.1:{ingest_port}{method}"
    if h2load.H2LOAD is None:
        area.notes.append(
            "Load tool: h2load not found (Debian package nghttp2-client, listed in bench/debian-packages), "
            "fell back to Python grpc.aio workers "
            f"({s.load_processes} processes x {streams // s.load_processes} calls in flight); the paced "
            "run needs h2load and was not measured."
        )
    else:
        area.notes.append(
            f"Load tool: h2load (`-D {s.duration:g} --warm-up-time {s.warm_up:g} -c {s.h2_connections} "
            f"-m {s.h2_streams}`, content-type application/grpc, te: trailers), one gRPC frame as body; "
            "percentiles from its --log-file."
        )
        area.notes.append(
            "h2load sends one identical body, so every TrackInteraction call carries the same event id. "
            "That does not spare Ingest any work: it appends every call (deduplication happens in "
            "Postgres, in Sync); the TrackBatch and StreamEvents figures use a fresh UUID per event."
        )
    try:
        for rep in range(s.repetitions):
            bench.say(f"ingest unary: run {rep + 1}/{s.repetitions}: no-op ceiling")
            with CpuMeter({"server": noop.pid}) as cpu:
                ceiling = await _unary_load(bench, noop_url, noop_port, body, log)
            rate.ceiling_runs.append(ceiling["rps"])
            p99.ceiling_runs.append(ceiling["latency"]["p99_ms"])
            bench.say(f"  no-op: {ceiling['rps']:,.0f} req/s, p99 {ceiling['latency']['p99_ms']:.1f} ms")
            await reset_streams(bench.redis)
            bench.say(f"ingest unary: run {rep + 1}/{s.repetitions}: Ingest")
            with CpuMeter({"ingest": ingest.pid, "valkey": bench.valkey_pid}) as cpu_ingest:
                result = await _unary_load(bench, ingest_url, ingest_port, body, log, verify=True)
            ingest.check_alive()
            rate.runs.append(result["rps"])
            p99.runs.append(result["latency"]["p99_ms"])
            rate.details.append(
                {
                    **{k: v for k, v in result.items() if k not in ("rps",)},
                    **cpu_ingest.result,
                    "ceiling_cpu_server": cpu.result.get("cpu_server"),
                    "ceiling_latency": ceiling["latency"],
                }
            )
            bench.say(
                f"  Ingest: {result['rps']:,.0f} req/s, p99 {result['latency']['p99_ms']:.1f} ms, "
                f"{result.get('verified', '')}"
            )
            if h2load.H2LOAD is not None:
                await _paced(bench, paced_p99, noop_url, ingest_url, ingest, body, log)
    finally:
        await bench.children.stop_async(ingest)
        await bench.children.stop_async(noop)


async def _paced(
    bench: Bench, p99: Figure, noop_url: str, ingest_url: str, ingest: Child, body: Path, log: Path
) -> None:
    """One paced run of the no-op server and one of Ingest, at the target rate."""
    bench.say(f"ingest unary at {UNARY_RATE:,} req/s: no-op ceiling")
    ceiling = await _h2load(bench, noop_url, body, log, rate=UNARY_RATE)
    await reset_streams(bench.redis)
    bench.say(f"ingest unary at {UNARY_RATE:,} req/s: Ingest")
    with CpuMeter({"ingest": ingest.pid, "valkey": bench.valkey_pid}) as cpu:
        result = await _h2load(bench, ingest_url, body, log, rate=UNARY_RATE, verify=True)
    ingest.check_alive()
    p99.add_paced_run(
        result["latency"]["p99_ms"],
        ceiling["latency"]["p99_ms"],
        offered=UNARY_RATE,
        delivered=result["rps"],
        details={
            **{k: v for k, v in result.items() if k != "rps"},
            **cpu.result,
            "ceiling_requests_per_s": round(ceiling["rps"]),
            "ceiling_latency": ceiling["latency"],
        },
    )
    bench.say(
        f"  Ingest: {result['rps']:,.0f} req/s of {UNARY_RATE:,} offered, p99 "
        f"{result['latency']['p99_ms']:.1f} ms (no-op {ceiling['latency']['p99_ms']:.1f} ms), "
        f"{result.get('verified', '')}"
    )


async def _unary_load(
    bench: Bench, url: str, port: int, body: Path, log: Path, *, verify: bool = False
) -> dict[str, Any]:
    s = bench.settings
    if h2load.H2LOAD is None:
        load = await run_workers(
            Spec(
                target=f"127.0.0.1:{port}",
                mode="unary",
                warm_up=s.warm_up,
                duration=s.duration,
                concurrency=s.h2_connections * s.h2_streams // s.load_processes,
                pool_events=20_000,
                noop=not verify,
            ),
            s.load_processes,
            bench.log_dir,
        )
        out: dict[str, Any] = {
            "rps": load.accepted_per_second,
            "latency": latency_summary(load.latencies_ms),
            "tool": "python grpc.aio",
            "verified": f"gRPC status read by the client: {load.accepted} OK, errors {load.errors or 'none'}",
        }
        return out
    return await _h2load(bench, url, body, log, verify=verify)


async def _h2load(
    bench: Bench, url: str, body: Path, log: Path, *, rate: float = 0.0, verify: bool = False
) -> dict[str, Any]:
    s = bench.settings
    result = await h2load.run(
        url,
        body,
        log,
        duration=s.duration,
        warm_up=s.warm_up,
        connections=s.h2_connections,
        streams=s.h2_streams,
        rate=rate,
    )
    out: dict[str, Any] = {
        "rps": result.requests_per_second,
        "latency": result.latency,
        "tool": "h2load",
        "succeeded": result.succeeded,
        "failed": result.failed + result.errored,
    }
    if verify:
        appended = await count_entries_between(
            bench, result.first_start_us // 1000, math.ceil(result.last_end_us / 1000)
        )
        slack = 2 * s.h2_connections * s.h2_streams
        ok = abs(appended - result.succeeded) <= slack
        out["verified"] = (
            f"{'ok' if ok else 'MISMATCH'}: {appended} entries appended in the measured window "
            f"for {result.succeeded} HTTP successes"
        )
        if not ok:
            out["rps"] = appended / s.duration
    return out


# --- TrackBatch and StreamEvents ---------------------------------------------------------------------


async def _xlen_at(bench: Bench, moments: list[float]) -> list[int]:
    """XLEN of the event stream at each wall-clock moment (for checking a window's accepted count)."""
    lengths = []
    for moment in moments:
        await asyncio.sleep(max(0.0, moment - time.time()))
        lengths.append(int(await bench.redis.xlen(STREAM)))
    return lengths


async def _metered_load(
    bench: Bench, spec: Spec, watched: dict[str, int | None]
) -> tuple[LoadResult, dict[str, float]]:
    """Run the workers; the CPU use of ``watched`` during the measured window."""
    metered: list[asyncio.Future[dict[str, float]]] = []

    def on_go(start: float) -> None:
        begin = start + spec.warm_up
        metered.append(asyncio.ensure_future(meter_window(watched, begin, begin + spec.duration)))

    load = await run_workers(spec, bench.settings.load_processes, bench.log_dir, on_go=on_go)
    return load, await metered[0]


async def _load_with_check(
    bench: Bench, spec: Spec, watched: dict[str, int | None]
) -> tuple[LoadResult, dict[str, float], str]:
    """Run the workers; compare what they were told was accepted with what the stream gained meanwhile."""
    s = bench.settings
    sampled: list[asyncio.Future[list[int]]] = []
    metered: list[asyncio.Future[dict[str, float]]] = []

    def on_go(start: float) -> None:
        begin = start + spec.warm_up
        sampled.append(asyncio.ensure_future(_xlen_at(bench, [begin, begin + spec.duration])))
        metered.append(asyncio.ensure_future(meter_window(watched, begin, begin + spec.duration)))

    load = await run_workers(spec, s.load_processes, bench.log_dir, on_go=on_go)
    lengths = await sampled[0]
    cpu = await metered[0]
    gained = lengths[1] - lengths[0]
    in_flight = s.load_processes * spec.concurrency * max(spec.in_flight, 1) * spec.events_per_call
    ok = abs(gained - load.accepted) <= 2 * in_flight + 0.05 * load.accepted
    return (
        load,
        cpu,
        f"{'ok' if ok else 'MISMATCH'}: stream grew by {gained} during the measured window, "
        f"{load.accepted} acknowledged",
    )


async def batch_and_stream(bench: Bench, batch_area: Area | None, stream_area: Area | None) -> None:
    """TrackBatch and StreamEvents share their ceilings: measured once per repetition."""
    s = bench.settings
    xadd_name = f"redis-py pipelined XADD x{s.events_per_call}, one field"
    figures: dict[str, Any] = {}
    for key, area in (("batch", batch_area), ("stream", stream_area)):
        if area is None:
            continue
        label = (
            f"TrackBatch, {s.events_per_call} events per call"
            if key == "batch"
            else f"StreamEvents, {s.events_per_call} events per message"
        )
        figures[key] = (
            area.figure(label, "events/s", Target(">=", 40_000), ceiling="no-op grpc.aio"),
            area.figure(f"{label}, vs raw XADD", "events/s", Target(">=", 40_000), ceiling=xadd_name),
            area.figure(
                f"{label}: p99 {'call' if key == 'batch' else 'ack'} latency",
                "ms",
                None,
                ceiling="no-op grpc.aio p99",
            ),
        )
        area.notes.append(await durability_note(bench))
        if key == "batch":
            area.notes.append(
                f"Client: {s.load_processes} Python grpc.aio processes x {s.batch_concurrency} calls in "
                f"flight, requests pre-built before timing; {s.events_per_call} interactions per call from "
                f"{s.sessions_per_call} sessions (of {s.sessions:,}), each with a fresh uuid4 event id."
            )
        else:
            area.notes.append(
                f"Client: {s.load_processes} Python grpc.aio processes x {s.stream_streams} streams, each "
                f"sending messages of {s.events_per_call} interactions without waiting for acks, at most "
                f"{s.stream_in_flight} unacknowledged per stream; fresh uuid4 per event. Throughput counts "
                "events whose acknowledgement (durable) arrived in the measured window."
            )
        area.notes.append(
            "Ceilings: the no-op grpc.aio server (parses the same requests, answers empty) under the same "
            "client load; and a raw redis-py pipelined XADD loop in the benchmark process "
            f"({s.events_per_call} single-field entries per round trip, the same payload sizes as "
            "Ingest's StreamRecords, same Valkey with appendfsync always, no WAITAOF)."
        )
    record_payloads = [payloads.stream_record(n) for n in range(300)]
    noop, noop_port = await bench.start_noop_grpc()
    ingest, ingest_port = await bench.start_ingest()
    fresh = int(s.fresh_events_per_second * (s.warm_up + s.duration) / s.load_processes)
    try:
        for rep in range(s.repetitions):
            bench.say(f"ingest batch/stream: run {rep + 1}/{s.repetitions}: raw XADD ceiling")
            xadd = await ceilings.xadd_rate(
                bench.redis,
                record_payloads,
                warm_up=s.warm_up / 2,
                duration=s.duration / 2,
                pipeline=s.events_per_call,
            )
            bench.say(f"  raw XADD: {xadd:,.0f} events/s")
            for key, (rate, vs_xadd, p99) in figures.items():
                mode = "batch" if key == "batch" else "stream"
                common: dict[str, Any] = {
                    "mode": mode,
                    "warm_up": s.warm_up,
                    "duration": s.duration,
                    "concurrency": s.batch_concurrency if mode == "batch" else s.stream_streams,
                    "in_flight": 1 if mode == "batch" else s.stream_in_flight,
                    "events_per_call": s.events_per_call,
                    "sessions": s.sessions,
                    "sessions_per_call": s.sessions_per_call,
                    "seed": rep,
                }
                bench.say(f"ingest {mode}: run {rep + 1}/{s.repetitions}: no-op ceiling")
                ceiling, cpu_noop = await _metered_load(
                    bench,
                    Spec(target=f"127.0.0.1:{noop_port}", noop=True, pool_events=20_000, **common),
                    {"server": noop.pid},
                )
                bench.say(f"  no-op: {ceiling.accepted_per_second:,.0f} events/s")
                await reset_streams(bench.redis)
                bench.say(f"ingest {mode}: run {rep + 1}/{s.repetitions}: Ingest")
                load, cpu, verified = await _load_with_check(
                    bench,
                    Spec(target=f"127.0.0.1:{ingest_port}", pool_events=fresh, **common),
                    {"ingest": ingest.pid, "valkey": bench.valkey_pid},
                )
                ingest.check_alive()
                await reset_streams(bench.redis)
                rate.runs.append(load.accepted_per_second)
                rate.ceiling_runs.append(ceiling.accepted_per_second)
                vs_xadd.runs.append(load.accepted_per_second)
                vs_xadd.ceiling_runs.append(xadd)
                summary = latency_summary(load.latencies_ms)
                p99.runs.append(summary["p99_ms"])
                p99.ceiling_runs.append(latency_summary(ceiling.latencies_ms)["p99_ms"])
                rate.details.append(
                    {
                        "calls_per_s": round(load.calls_per_second, 1),
                        "latency": summary,
                        "rejected": load.rejected,
                        "errors": load.errors or "none",
                        "ids_reused": load.reused,
                        "verified": verified,
                        **cpu,
                        "ceiling_cpu_server": cpu_noop.get("cpu_server"),
                    }
                )
                bench.say(
                    f"  Ingest: {load.accepted_per_second:,.0f} events/s, p99 {summary['p99_ms']:.1f} ms, "
                    f"{verified}"
                )
                if load.errors:
                    bench.say(f"  errors: {load.errors}")
    finally:
        await bench.children.stop_async(ingest)
        await bench.children.stop_async(noop)
