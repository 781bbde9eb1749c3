"""The HTTP gateway under wrk: single events and batches of 50, against a bare Starlette endpoint.

The gateway runs as ``configtrail serve gateway`` with a write key, in front of ``configtrail serve
ingest``; its rate limit stays on (the Redis token bucket is checked for every request) with a limit
no benchmark client reaches. It is measured only if it serves a real
``POST /api/sessions/track-interaction`` (answers 202 to a valid event); otherwise the report says so.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx

from bench import wrk
from bench.context import Bench
from bench.infra import reset_streams
from bench.procs import BenchError, Child, CpuMeter
from bench.results import RATE_REACHED, Area, Figure, Target
from configtrail import constants

STREAM = constants.event_stream(0)
SINGLE = "/api/sessions/track-interaction"
BATCH = "/api/batch"
#: Rate limit the benchmark sets: on, but far above what one wrk client sends.
RATE_LIMIT = "1000000"
#: The single-event target load (req/s): the throughput target, and the rate the p99 target is measured at.
SINGLE_RATE = 5000


async def _probe(port: int, key: str) -> str | None:
    """None when the gateway takes a valid event with 202; otherwise what went wrong."""
    body = {
        "sessionId": "bench-probe",
        "eventType": "selection",
        "category": "exterior",
        "elementId": "paint-0",
        "selectionValue": "arctic-white",
    }
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            answer = await client.post(SINGLE, json=body, headers={"X-Write-Key": key})
    except httpx.HTTPError as exc:
        return f"{SINGLE} failed: {exc.__class__.__name__}: {exc}"
    if answer.status_code != 202:
        return f"{SINGLE} answered {answer.status_code}: {answer.text[:200]}"
    return None


async def measure(bench: Bench, area: Area) -> None:
    if wrk.WRK is None:
        area.not_measured = "wrk is not installed (Debian package wrk, listed in bench/debian-packages)"
        return
    key = "bench-" + secrets.token_urlsafe(12)
    ingest, ingest_port = await bench.start_ingest()
    gateway: Child | None = None
    try:
        try:
            gateway, port = await bench.start_gateway(
                ingest_port,
                key,
                CONFIGTRAIL_RATE_LIMIT_PER_SECOND=RATE_LIMIT,
                CONFIGTRAIL_RATE_LIMIT_BURST=RATE_LIMIT,
            )
            problem = await _probe(port, key)
        except BenchError as exc:
            problem = f"the gateway did not start: {str(exc).splitlines()[0]}"
        if problem is not None:
            area.not_measured = f"gateway not available ({problem})"
            return
        assert gateway is not None
        await _measure(bench, area, ingest, gateway, port, key)
    finally:
        if gateway is not None:
            await bench.children.stop_async(gateway)
        await bench.children.stop_async(ingest)
        await reset_streams(bench.redis)


async def _measure(bench: Bench, area: Area, ingest: Child, gateway: Child, port: int, key: str) -> None:
    s = bench.settings
    conns = s.http_connections
    single_rate = area.figure(
        f"POST {SINGLE}, {conns} connections",
        "req/s",
        Target(">=", SINGLE_RATE),
        ceiling="bare Starlette+uvicorn",
    )
    single_paced_p99 = area.figure(
        f"POST {SINGLE} p99 latency at {SINGLE_RATE:,} req/s offered, {conns} connections",
        "ms",
        Target("<", 15),
        ceiling="bare p99 at the same rate",
    )
    single_p99 = area.figure(
        f"POST {SINGLE} p99 latency at full load (closed loop)", "ms", None, ceiling="bare p99"
    )
    batch_rate = area.figure(
        f"POST {BATCH}, {s.http_batch_events} events per request, {conns} connections",
        "events/s",
        Target(">=", 30_000),
        ceiling="bare Starlette+uvicorn",
    )
    batch_p99 = area.figure(f"POST {BATCH} p99 latency", "ms", None, ceiling="bare p99")
    area.notes += [
        f"Load tool: wrk -t{s.http_threads} -c{conns}, {s.warm_up:g} s warm-up run then {s.duration:g} s "
        "measured; a Lua script builds every body afresh (a new random UUID per event; one session per "
        f"request, as a browser's tracker sends, from a pool of {s.sessions:,}) and sends the X-Write-Key "
        "header.",
        "Gateway: `configtrail serve gateway` with CONFIGTRAIL_WRITE_KEYS set and its rate limit on at "
        f"{int(RATE_LIMIT):,}/s and a burst as large (never reached; every request is paid for from the "
        "client's token bucket in Redis, with the default share of the burst taken ahead so most requests "
        "need no round trip), in front of `configtrail serve ingest` (durability on). Single events are "
        "coalesced into TrackBatch calls by the gateway (its defaults: up to two calls out at once).",
        "Ceiling: a bare Starlette + uvicorn endpoint (uvloop, httptools, the gateway's corked protocol: "
        "a response leaves in one write) that parses the JSON body with orjson and answers 202, under "
        "the same wrk load and bodies.",
        "Verified per run: the event stream grew by at least the 2xx responses x events per request.",
        f"Full load: every connection sends its next request when the last is answered (a closed loop), "
        f"so mean latency = {conns} ÷ throughput and the p99 at full load says how far the server is "
        "pushed, not what a client waits at a given load.",
        f"At {SINGLE_RATE:,} req/s offered: the same {conns} connections, but the Lua script paces the "
        "sends on a fixed schedule (wrk's delay() hook; an overdue send goes at once), so the p99 is "
        f"the latency at the target load of {SINGLE_RATE:,} req/s. A run that delivered less than "
        f"{RATE_REACHED:.0%} of the offered rate counts as failed.",
    ]
    bare, bare_port = await bench.start_bare_http()
    single_lua = wrk.script(bench.workdir / "single.lua", key=key, batch=0, sessions=s.sessions)
    paced_lua = wrk.script(
        bench.workdir / "single-paced.lua",
        key=key,
        batch=0,
        sessions=s.sessions,
        rate=SINGLE_RATE,
        threads=s.http_threads,
    )
    batch_lua = wrk.script(
        bench.workdir / "batch.lua", key=key, batch=s.http_batch_events, sessions=s.sessions
    )
    try:
        for rep in range(s.repetitions):
            for path, lua, events, rate, p99 in (
                (SINGLE, single_lua, 1, single_rate, single_p99),
                (BATCH, batch_lua, s.http_batch_events, batch_rate, batch_p99),
            ):
                bench.say(f"gateway {path}: run {rep + 1}/{s.repetitions}: bare ceiling")
                with CpuMeter({"server": bare.pid}) as bare_cpu:
                    ceiling = await _wrk(bench, f"http://127.0.0.1:{bare_port}{path}", lua)
                bench.say(f"  bare: {ceiling.ok_per_second * events:,.0f} events/s")
                bench.say(f"gateway {path}: run {rep + 1}/{s.repetitions}: gateway")
                with CpuMeter(
                    {"gateway": gateway.pid, "ingest": ingest.pid, "valkey": bench.valkey_pid}
                ) as cpu:
                    result, verified = await _verified_wrk(
                        bench, f"http://127.0.0.1:{port}{path}", lua, events
                    )
                gateway.check_alive()
                ingest.check_alive()
                rate.runs.append(result.ok_per_second * events)
                rate.ceiling_runs.append(ceiling.ok_per_second * events)
                p99.runs.append(result.latency["p99_ms"])
                p99.ceiling_runs.append(ceiling.latency["p99_ms"])
                detail: dict[str, Any] = {
                    "requests_per_s": round(result.ok_per_second),
                    "latency": result.latency,
                    "non_2xx": result.non_2xx,
                    "socket_errors": result.socket_errors,
                    "verified": verified,
                    **cpu.result,
                    "ceiling_requests_per_s": round(ceiling.ok_per_second),
                    "ceiling_non_2xx": ceiling.non_2xx,
                    "ceiling_cpu_server": bare_cpu.result.get("cpu_server"),
                }
                rate.details.append(detail)
                bench.say(
                    f"  gateway: {result.ok_per_second * events:,.0f} events/s "
                    f"({result.ok_per_second:,.0f} req/s), p99 {result.latency['p99_ms']:.1f} ms, "
                    f"{result.non_2xx} non-2xx, {verified}"
                )
            await _paced(bench, single_paced_p99, bare_port, port, paced_lua, gateway, ingest)
    finally:
        await bench.children.stop_async(bare)


async def _paced(
    bench: Bench, p99: Figure, bare_port: int, port: int, lua: Any, gateway: Child, ingest: Child
) -> None:
    """One paced single-event run of the bare endpoint and one of the gateway."""
    bench.say(f"gateway {SINGLE} at {SINGLE_RATE:,} req/s: bare ceiling")
    ceiling = await _wrk(bench, f"http://127.0.0.1:{bare_port}{SINGLE}", lua)
    bench.say(f"gateway {SINGLE} at {SINGLE_RATE:,} req/s: gateway")
    with CpuMeter({"gateway": gateway.pid, "ingest": ingest.pid, "valkey": bench.valkey_pid}) as cpu:
        result, verified = await _verified_wrk(bench, f"http://127.0.0.1:{port}{SINGLE}", lua, 1)
    gateway.check_alive()
    ingest.check_alive()
    p99.add_paced_run(
        result.latency["p99_ms"],
        ceiling.latency["p99_ms"],
        offered=SINGLE_RATE,
        delivered=result.ok_per_second,
        details={
            "latency": result.latency,
            "non_2xx": result.non_2xx,
            "socket_errors": result.socket_errors,
            "verified": verified,
            **cpu.result,
            "ceiling_requests_per_s": round(ceiling.ok_per_second),
            "ceiling_latency": ceiling.latency,
        },
    )
    bench.say(
        f"  gateway: {result.ok_per_second:,.0f} req/s of {SINGLE_RATE:,} offered, "
        f"p99 {result.latency['p99_ms']:.1f} ms (bare {ceiling.latency['p99_ms']:.1f} ms), {verified}"
    )


async def _wrk(bench: Bench, url: str, lua: Any) -> wrk.WrkResult:
    s = bench.settings
    await wrk.run(url, lua, duration=s.warm_up, connections=s.http_connections, threads=s.http_threads)
    return await wrk.run(
        url, lua, duration=s.duration, connections=s.http_connections, threads=s.http_threads
    )


async def _verified_wrk(bench: Bench, url: str, lua: Any, events: int) -> tuple[wrk.WrkResult, str]:
    s = bench.settings
    await wrk.run(url, lua, duration=s.warm_up, connections=s.http_connections, threads=s.http_threads)
    await asyncio.sleep(0.3)  # let the warm-up's last requests land before the count starts
    await reset_streams(bench.redis)
    result = await wrk.run(
        url, lua, duration=s.duration, connections=s.http_connections, threads=s.http_threads
    )
    appended = int(await bench.redis.xlen(STREAM))
    expected = result.ok * events
    ok = expected <= appended <= expected + 2 * s.http_connections * events
    return result, (
        f"{'ok' if ok else 'MISMATCH'}: stream grew by {appended} for {result.ok} 2xx x {events} events"
    )
