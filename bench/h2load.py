"""Unary gRPC load with h2load (Debian ``nghttp2-client``), as /work/shared/BASELINES.md measured it.

The request body is one gRPC frame (a 0 byte, the 4-byte big-endian length, the serialized request),
sent with ``content-type: application/grpc`` and ``te: trailers``; ``-c 8 -m 8`` keeps 64 streams in
flight. h2load counts every HTTP 200 as a success, but gRPC errors travel in trailers of an HTTP 200,
so the caller verifies successes on the server side. Percentiles come from ``--log-file``, which
records only the main (post-warm-up) phase and appends: it is deleted before each run. With
``rate``, every connection sends ``rate / connections`` requests per second on its own timer (h2load's
``--rps``; requests that find all of the connection's streams busy wait for the next free one), instead
of keeping every stream busy.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.procs import BenchError, run_tool
from bench.stats import latency_summary

H2LOAD = shutil.which("h2load")


@dataclass
class H2loadResult:
    requests_per_second: float
    succeeded: int
    failed: int
    errored: int
    latency: dict[str, float]
    #: wall-clock microseconds of the first request start and the last request end of the main phase
    first_start_us: int
    last_end_us: int


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    if match is None:
        raise BenchError(f"h2load output lacks {pattern!r}:\n{text[-2000:]}")
    return float(match.group(1))


async def run(
    url: str,
    body: Path,
    log: Path,
    *,
    duration: float,
    warm_up: float,
    connections: int = 8,
    streams: int = 8,
    rate: float = 0.0,
) -> H2loadResult:
    """One h2load run against ``url`` (paced at ``rate`` requests per second when given); raises
    :class:`BenchError` when h2load is missing or fails."""
    if H2LOAD is None:
        raise BenchError("h2load is not installed")
    log.unlink(missing_ok=True)  # noqa: ASYNC240 - one quick unlink before a run of seconds
    argv = [
        H2LOAD,
        "-D",
        f"{duration:g}",
        "--warm-up-time",
        f"{warm_up:g}",
        "-c",
        str(connections),
        "-m",
        str(streams),
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "-d",
        str(body),
        "--log-file",
        str(log),
    ]
    if rate > 0:
        argv += ["--rps", f"{rate / connections:g}"]
    argv.append(url)
    out = await run_tool(argv, timeout=duration + warm_up + 60)
    latencies: list[float] = []
    first_start = last_end = 0
    with log.open() as lines:
        for line in lines:
            parts = line.split()
            if len(parts) != 3 or parts[1] != "200":
                continue
            start, elapsed = int(parts[0]), int(parts[2])
            latencies.append(elapsed / 1000)
            first_start = start if not first_start else min(first_start, start)
            last_end = max(last_end, start + elapsed)
    return H2loadResult(
        requests_per_second=_number(r"finished in [\d.]+m?s, ([\d.]+) req/s", out),
        succeeded=int(_number(r"(\d+) succeeded", out)),
        failed=int(_number(r"(\d+) failed", out)),
        errored=int(_number(r"(\d+) errored", out)),
        latency=latency_summary(latencies),
        first_start_us=first_start,
        last_end_us=last_end,
    )
