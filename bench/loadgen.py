"""Python gRPC load generator: worker processes driving TrackBatch, StreamEvents or TrackInteraction.

``run_workers`` starts ``processes`` copies of this module (``python -m bench.loadgen SPEC``). Each
worker pre-builds its requests as wire bytes (fresh UUID per event) before any timing, connects, says
``ready``, and on ``go <wall time>`` runs a warm-up and then a measured window of the same wall-clock
times in every worker. Calls keep going through the window; only those that complete inside it count,
with their latencies. A worker prints one JSON line with its counts and leaves.

* ``batch``: ``concurrency`` TrackBatch calls in flight per worker.
* ``stream``: ``concurrency`` StreamEvents streams per worker, each sending messages without waiting for
  acknowledgements, at most ``in_flight`` unacknowledged at a time.
* ``unary``: ``concurrency`` TrackInteraction calls in flight per worker (the fallback without h2load).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc

from bench.payloads import ItemFactory, stream_message
from bench.procs import PYTHON, BenchError
from configtrail.grpcserver import GRPC_OPTIONS
from configtrail.ingest.v1 import ingest_pb2

METHODS = {
    "batch": "/configtrail.ingest.v1.Ingest/TrackBatch",
    "stream": "/configtrail.ingest.v1.Ingest/StreamEvents",
    "unary": "/configtrail.ingest.v1.Ingest/TrackInteraction",
}


@dataclass
class Spec:
    """What one worker does; passed to the worker process as JSON."""

    target: str
    mode: str
    warm_up: float
    duration: float
    concurrency: int = 4
    events_per_call: int = 100
    in_flight: int = 16
    sessions: int = 2000
    sessions_per_call: int = 10
    #: fresh events to pre-build; when the run needs more, the pool is reused (ids repeat)
    pool_events: int = 100_000
    #: the server is the no-op ceiling: its empty answers count as every item accepted
    noop: bool = False
    seed: int = 0


@dataclass
class WorkerResult:
    calls: int = 0
    events: int = 0
    accepted: int = 0
    rejected: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    #: the pre-built pool ran out and was sent again (ids repeated)
    reused: bool = False
    pool_events: int = 0
    build_seconds: float = 0.0


class Pool:
    """Pre-built request payloads, handed out in order, from the start again when exhausted."""

    def __init__(self, payloads: list[bytes]) -> None:
        self._payloads = payloads
        self._index = 0
        self.reused = False

    def next(self) -> bytes:
        if self._index == len(self._payloads):
            self._index = 0
            self.reused = True
        payload = self._payloads[self._index]
        self._index += 1
        return payload


def build_pool(spec: Spec) -> Pool:
    factory = ItemFactory(spec.sessions, seed=spec.seed)
    per_call = 1 if spec.mode == "unary" else spec.events_per_call
    calls = max(spec.pool_events // per_call, spec.concurrency * max(spec.in_flight, 1) * 2)
    payloads: list[bytes] = []
    for _ in range(calls):
        if spec.mode == "unary":
            payload, _ids = factory.track_interaction()
        elif spec.mode == "batch":
            payload, _ids = factory.track_batch(per_call, sessions_per_call=spec.sessions_per_call)
        else:
            payload, _ids = factory.items(per_call, sessions_per_call=spec.sessions_per_call, field_number=2)
        payloads.append(payload)
    return Pool(payloads)


class Window:
    """The measured window in wall-clock seconds, shared by every worker."""

    def __init__(self, start: float, spec: Spec) -> None:
        self.begin = start + spec.warm_up
        self.end = self.begin + spec.duration

    def counts(self, done: float) -> bool:
        return self.begin <= done <= self.end


def _accepted(reply: Any, spec: Spec, events: int) -> tuple[int, int]:
    if spec.noop:
        return events, 0
    if spec.mode == "unary":
        return 1, 0
    accepted = sum(1 for result in reply.results if result.accepted)
    return accepted, events - accepted


async def _unary_worker(
    channel: grpc.aio.Channel, spec: Spec, pool: Pool, window: Window, result: WorkerResult
) -> None:
    response = ingest_pb2.TrackBatchResponse if spec.mode == "batch" else ingest_pb2.TrackInteractionResponse
    call: grpc.aio.UnaryUnaryMultiCallable[bytes, Any] = channel.unary_unary(
        METHODS[spec.mode], response_deserializer=response.FromString
    )
    events = spec.events_per_call if spec.mode == "batch" else 1
    errors: Counter[str] = Counter()
    while time.time() < window.end:
        payload = pool.next()
        started = time.time()
        try:
            reply = await call(payload, timeout=30)
        except grpc.aio.AioRpcError as error:
            if window.counts(time.time()):
                errors[error.code().name] += 1
            await asyncio.sleep(0.01)  # an overloaded or failing server: do not spin
            continue
        done = time.time()
        if window.counts(done):
            accepted, rejected = _accepted(reply, spec, events)
            result.calls += 1
            result.events += events
            result.accepted += accepted
            result.rejected += rejected
            result.latencies_ms.append(round((done - started) * 1000, 3))
    for code, count in errors.items():
        result.errors[code] = result.errors.get(code, 0) + count


async def _stream_worker(
    channel: grpc.aio.Channel, spec: Spec, pool: Pool, window: Window, result: WorkerResult
) -> None:
    call: grpc.aio.StreamStreamMultiCallable[bytes, ingest_pb2.StreamEventsResponse] = channel.stream_stream(
        METHODS["stream"], response_deserializer=ingest_pb2.StreamEventsResponse.FromString
    )
    slots = asyncio.Semaphore(spec.in_flight)
    sent_at: dict[int, float] = {}
    numbers = itertools.count(1)

    async def messages() -> AsyncIterator[bytes]:
        while True:
            await slots.acquire()
            if time.time() >= window.end:
                return
            number = next(numbers)
            sent_at[number] = time.time()
            yield stream_message(number, pool.next())

    stream = call(messages(), timeout=window.end - time.time() + 60)
    try:
        async for reply in stream:
            slots.release()
            done = time.time()
            started = sent_at.pop(reply.message_id, done)
            if window.counts(done):
                accepted, rejected = _accepted(reply, spec, spec.events_per_call)
                result.calls += 1
                result.events += spec.events_per_call
                result.accepted += accepted
                result.rejected += rejected
                result.latencies_ms.append(round((done - started) * 1000, 3))
    except grpc.aio.AioRpcError as error:
        result.errors[error.code().name] = result.errors.get(error.code().name, 0) + 1


async def _worker_main(spec: Spec) -> None:
    started = time.monotonic()
    pool = build_pool(spec)
    result = WorkerResult(pool_events=spec.pool_events, build_seconds=round(time.monotonic() - started, 2))
    loop = asyncio.get_running_loop()
    async with grpc.aio.insecure_channel(spec.target, options=GRPC_OPTIONS) as channel:
        await asyncio.wait_for(channel.channel_ready(), 10)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line.startswith("go "):
            return
        start = float(line.split()[1])
        await asyncio.sleep(max(0.0, start - time.time()))
        window = Window(start, spec)
        run = _stream_worker if spec.mode == "stream" else _unary_worker
        await asyncio.gather(*(run(channel, spec, pool, window, result) for _ in range(spec.concurrency)))
    result.reused = pool.reused
    sys.stdout.write(json.dumps(asdict(result)) + "\n")
    sys.stdout.flush()


def main() -> None:
    import uvloop

    spec = Spec(**json.loads(sys.argv[1]))
    uvloop.run(_worker_main(spec))


# --- the orchestrating side ---------------------------------------------------------------------------


@dataclass
class LoadResult:
    """The workers' counts added up; rates are per second of the measured window."""

    duration: float
    calls: int
    events: int
    accepted: int
    rejected: int
    errors: dict[str, int]
    latencies_ms: list[float]
    reused: bool
    build_seconds: float

    @property
    def accepted_per_second(self) -> float:
        return self.accepted / self.duration

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.duration


async def _read_line(process: asyncio.subprocess.Process, timeout: float, log: Path) -> str:
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout)
    except TimeoutError:
        raise BenchError(f"load generator silent for {timeout:.0f}s; log {log}") from None
    if not line:
        await process.wait()
        raise BenchError(f"load generator exited with {process.returncode}; log {log}:\n{_tail(log)}")
    return line.decode()


def _tail(log: Path) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    return ""


async def run_workers(
    spec: Spec, processes: int, log_dir: Path, *, on_go: Callable[[float], None] | None = None
) -> LoadResult:
    """Run ``processes`` workers with ``spec`` (each with its own seed) and add up what they measured.

    ``on_go`` is called with the wall-clock time the workers start (the measured window begins
    ``spec.warm_up`` seconds later).
    """
    started: list[asyncio.subprocess.Process] = []
    logs: list[Path] = []
    try:
        for index in range(processes):
            worker_spec = Spec(**{**asdict(spec), "seed": spec.seed * 100 + index})
            log = log_dir / f"loadgen-{spec.mode}-{index}.log"
            logs.append(log)
            with log.open("ab") as stderr:
                started.append(
                    await asyncio.create_subprocess_exec(
                        PYTHON,
                        "-m",
                        "bench.loadgen",
                        json.dumps(asdict(worker_spec)),
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=stderr,
                        start_new_session=True,
                        limit=1 << 28,  # the result line carries every latency
                    )
                )
        for process, log in zip(started, logs, strict=True):
            if (await _read_line(process, 180, log)).strip() != "ready":
                raise BenchError(f"load generator did not get ready; log {log}")
        start = time.time() + 0.3
        go = f"go {start}\n".encode()
        for process in started:
            assert process.stdin is not None
            process.stdin.write(go)
            await process.stdin.drain()
        if on_go is not None:
            on_go(start)
        results = [
            json.loads(await _read_line(process, spec.warm_up + spec.duration + 120, log))
            for process, log in zip(started, logs, strict=True)
        ]
        for process in started:
            await process.wait()
    finally:
        for process in started:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
    errors: Counter[str] = Counter()
    for result in results:
        errors.update(result["errors"])
    return LoadResult(
        duration=spec.duration,
        calls=sum(r["calls"] for r in results),
        events=sum(r["events"] for r in results),
        accepted=sum(r["accepted"] for r in results),
        rejected=sum(r["rejected"] for r in results),
        errors=dict(errors),
        latencies_ms=[latency for r in results for latency in r["latencies_ms"]],
        reused=any(r["reused"] for r in results),
        build_seconds=max(r["build_seconds"] for r in results),
    )


if __name__ == "__main__":
    main()
