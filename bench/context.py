"""What every benchmark area shares: settings, servers, child processes, and how to start services."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as redis

from bench.infra import Infra
from bench.procs import Child, Children, service_env, wait_grpc, wait_http
from configtrail.embedded import free_port


@dataclass(frozen=True)
class Settings:
    """Durations and sizes of one benchmark run (``--quick`` shortens everything for a smoke test)."""

    quick: bool
    repetitions: int
    warm_up: float
    duration: float
    #: events pre-filled into the stream for the Sync throughput figure, and their sessions
    sync_events: int
    sync_sessions: int
    #: end-to-end lag: how long the steady load runs, its rate and shape
    lag_seconds: float
    lag_batch: int = 50
    lag_interval: float = 0.010
    lag_sample_every: int = 20
    #: TrackBatch/StreamEvents: worker processes, calls (or streams) in flight per process, events per call
    load_processes: int = 2
    batch_concurrency: int = 4
    stream_streams: int = 2
    stream_in_flight: int = 16
    events_per_call: int = 100
    sessions: int = 2000
    sessions_per_call: int = 10
    #: fresh events pre-built per second of load (above any rate Ingest reaches here: ids stay unique)
    fresh_events_per_second: int = 100_000
    #: unary gRPC: h2load connections x streams per connection
    h2_connections: int = 8
    h2_streams: int = 8
    #: HTTP: wrk connections and threads, events per /api/batch request
    http_connections: int = 64
    http_threads: int = 2
    http_batch_events: int = 50
    #: analytics: demo sessions of the dataset (the issue's 100,000; ``--analytics-sessions``), timed
    #: calls per query (median of 5, warm)
    analytics_sessions: int = 100_000
    analytics_repetitions: int = 5

    @classmethod
    def create(cls, quick: bool, analytics_sessions: int | None = None) -> Settings:
        if quick:
            return cls(
                quick=True,
                repetitions=1,
                warm_up=1.0,
                duration=3.0,
                sync_events=30_000,
                sync_sessions=2_000,
                lag_seconds=4.0,
                analytics_sessions=analytics_sessions or 10_000,
                analytics_repetitions=1,
            )
        return cls(
            quick=False,
            repetitions=3,
            warm_up=2.0,
            duration=8.0,
            sync_events=300_000,
            sync_sessions=2_000,
            lag_seconds=12.0,
            analytics_sessions=analytics_sessions or 100_000,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Bench:
    """The running benchmark: settings, servers, children, a Redis client, and a progress printer."""

    def __init__(self, settings: Settings, infra: Infra, children: Children, workdir: Path) -> None:
        self.settings = settings
        self.infra = infra
        self.children = children
        self.workdir = workdir
        self.log_dir = children.log_dir
        self.redis: redis.Redis = infra.redis()
        self._started = time.monotonic()
        # Ports of this run's own: other configtrail stacks on the machine keep theirs, and no latency
        # sample of ours reaches another stack's Metrics service (none runs here: the address is closed).
        self._isolation = {
            "CONFIGTRAIL_INGEST_PROMETHEUS_PORT": str(free_port()),
            "CONFIGTRAIL_SYNC_PROMETHEUS_PORT": str(free_port()),
            "CONFIGTRAIL_METRICS_PROMETHEUS_PORT": str(free_port()),
            "CONFIGTRAIL_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        }

    def say(self, message: str) -> None:
        """Progress on stdout (the CLI's only output besides the report paths)."""
        elapsed = time.monotonic() - self._started
        sys.stdout.write(f"[{elapsed:6.1f}s] {message}\n")
        sys.stdout.flush()

    @property
    def valkey_pid(self) -> int | None:
        valkey = self.infra.valkey
        return valkey.process.pid if valkey is not None and valkey.process is not None else None

    @property
    def postgres_pid(self) -> int | None:
        postgres = self.infra.postgres
        return postgres.process.pid if postgres is not None and postgres.process is not None else None

    def env(self, **overrides: str) -> dict[str, str]:
        return service_env({**self.infra.env(), **self._isolation}, overrides)

    async def start_ingest(self, **overrides: str) -> tuple[Child, int]:
        """``configtrail serve ingest`` with its default settings (durability on: WAITAOF)."""
        port = free_port()
        child = self.children.start_python(
            "ingest",
            "configtrail",
            "serve",
            "ingest",
            env=self.env(CONFIGTRAIL_INGEST_PORT=str(port), **overrides),
        )
        await wait_grpc(child, port)
        return child, port

    async def start_sync(self, **overrides: str) -> tuple[Child, int]:
        port = free_port()
        env = self.env(
            CONFIGTRAIL_SYNC_PORT=str(port), CONFIGTRAIL_SYNC_WORKER_NAME="bench-sync", **overrides
        )
        child = self.children.start_python("sync", "configtrail", "serve", "sync", env=env)
        await wait_grpc(child, port, timeout=60)
        return child, port

    async def start_metrics(self, **overrides: str) -> tuple[Child, int]:
        """``configtrail serve metrics`` with its defaults; overrides may name another database."""
        port = free_port()
        child = self.children.start_python(
            "metrics",
            "configtrail",
            "serve",
            "metrics",
            env=self.env(CONFIGTRAIL_METRICS_PORT=str(port), **overrides),
        )
        await wait_grpc(child, port, timeout=60)
        return child, port

    async def start_noop_grpc(self) -> tuple[Child, int]:
        port = free_port()
        child = self.children.start_python(
            "noop-grpc", "bench.noop_server", "--port", str(port), env=self.env()
        )
        await wait_grpc(child, port)
        return child, port

    async def start_gateway(self, ingest_port: int, write_key: str, **overrides: str) -> tuple[Child, int]:
        port = free_port()
        env = self.env(
            CONFIGTRAIL_GATEWAY_PORT=str(port),
            CONFIGTRAIL_INGEST_ADDRESS=f"127.0.0.1:{ingest_port}",
            CONFIGTRAIL_WRITE_KEYS=write_key,
            **overrides,
        )
        child = self.children.start_python("gateway", "configtrail", "serve", "gateway", env=env)
        await wait_http(child, port)
        return child, port

    async def start_bare_http(self) -> tuple[Child, int]:
        port = free_port()
        child = self.children.start_python(
            "bare-http", "bench.bare_http", "--port", str(port), env=self.env()
        )
        await wait_http(child, port)
        return child, port
