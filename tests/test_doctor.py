"""`configtrail doctor` against a real stack: Ingest, Sync, Metrics on port 0, a gateway, Postgres, Redis."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import pytest

from configtrail.common.v1 import events_pb2
from configtrail.doctor import DoctorSettings, check_schema, rating, run_checks
from configtrail.grpcserver import RunningServer
from configtrail.settings import MetricsSettings
from gateway.server import RunningGateway, start
from gateway.settings import GatewaySettings
from services.sync.writer import Batch, write_batch
from tests.conftest import Servers, ingest_settings, sync_settings

CHECKS = ["schema", "ingest", "sync", "metrics", "gateway", "round trip", "ratings", "oldest data"]


@dataclass
class Stack:
    """The services under test; ``stop(name)`` takes one down for the rest of the test."""

    servers: dict[str, RunningServer]
    gateway: RunningGateway | None
    settings: DoctorSettings
    stopped: set[str] = field(default_factory=set)

    async def stop(self, name: str) -> None:
        self.stopped.add(name)
        if name == "gateway":
            assert self.gateway is not None
            await self.gateway.stop()
        else:
            await self.servers[name].stop()

    async def stop_all(self) -> None:
        for name in ("gateway", "ingest", "sync", "metrics"):
            if name not in self.stopped:
                await self.stop(name)


@pytest.fixture
async def stack(servers: Servers, clean: None) -> AsyncIterator[Stack]:
    from services.ingest.server import create_server as create_ingest
    from services.metrics.server import create_server as create_metrics
    from services.sync.server import create_server as create_sync

    ingest = await create_ingest(ingest_settings(servers))
    sync = await create_sync(sync_settings(servers))
    metrics = await create_metrics(
        MetricsSettings(
            database_url=servers.dsn,  # type: ignore[arg-type]
            redis_url=servers.redis_url,  # type: ignore[arg-type]
            metrics_port=0,
            metrics_prometheus_port=0,
            telemetry_flush_seconds=0,
        )
    )
    running = Stack({"ingest": ingest, "sync": sync, "metrics": metrics}, None, DoctorSettings())
    try:
        running.gateway = await start(
            GatewaySettings(
                ingest_address=f"127.0.0.1:{ingest.port}",
                redis_url=servers.redis_url,  # type: ignore[arg-type]
                gateway_port=0,
                write_keys="",  # type: ignore[arg-type]
                admin_tokens="",  # type: ignore[arg-type]
                cors_origins="",
                rate_limit_per_second=0,
                shutdown_grace_seconds=2,
                telemetry_flush_seconds=0,
            )
        )
        running.settings = DoctorSettings(
            database_url=servers.dsn,  # type: ignore[arg-type]
            redis_url=servers.redis_url,  # type: ignore[arg-type]
            ingest_address=f"127.0.0.1:{ingest.port}",
            sync_address=f"127.0.0.1:{sync.port}",
            metrics_address=f"127.0.0.1:{metrics.port}",
            gateway_url=running.gateway.url,
            doctor_timeout_seconds=5,
        )
        yield running
    finally:
        if running.gateway is None:
            running.stopped.add("gateway")
        await running.stop_all()


async def record_latencies(pool: asyncpg.Pool, endpoint: str, values_ms: list[float], name: str) -> None:
    batch = Batch()
    now = datetime.now(UTC)
    for value in values_ms:
        metric = events_pb2.PerformanceMetric(
            metric_id=str(uuid.uuid4()), metric_name=name, value_ms=value, endpoint=endpoint
        )
        metric.timestamp.FromDatetime(now)
        metric.server_timestamp.FromDatetime(now)
        batch.metrics.append(metric)
    async with pool.acquire() as conn:
        await write_batch(conn, batch)


def test_ratings_follow_the_thresholds() -> None:
    assert [rating(ms) for ms in (0, 49.9, 50, 99.9, 100, 199.9, 200, 5000)] == [
        "EXCELLENT",
        "EXCELLENT",
        "GOOD",
        "GOOD",
        "FAIR",
        "FAIR",
        "POOR",
        "POOR",
    ]


async def test_everything_passes_on_a_healthy_stack(stack: Stack, pg_pool: asyncpg.Pool) -> None:
    await record_latencies(
        pg_pool, "/configtrail.ingest.v1.Ingest/TrackInteraction", [2.0] * 19 + [30.0], "grpc_server_latency"
    )
    await record_latencies(pg_pool, "POST /api/sessions/track-interaction", [120.0] * 20, "api_response_time")
    await record_latencies(pg_pool, "/slow", [250.0] * 20, "grpc_server_latency")
    # a web vital is not an endpoint latency: not rated
    await record_latencies(pg_pool, "/konfigurator", [2400.0] * 5, "lcp")

    report = await run_checks(stack.settings)

    assert [check.name for check in report.checks] == CHECKS
    assert report.ok, "\n".join(report.lines())
    assert report.exit_status == 0
    assert "SERVING" in report.check("ingest").detail
    assert "/healthz 200, /readyz 200" in report.check("gateway").detail
    assert "event → Postgres in" in report.check("round trip").detail
    ratings = report.check("ratings")
    assert "3 endpoint(s)" in ratings.detail
    notes = "\n".join(ratings.notes)
    assert "EXCELLENT" in notes
    assert "FAIR" in notes
    assert "POOR" in notes
    assert "/konfigurator" not in notes
    # the doctor's own event is gone again
    left = await pg_pool.fetchval(
        "SELECT count(*) FROM user_sessions WHERE session_id LIKE 'doctor-%'"
    ) + await pg_pool.fetchval("SELECT count(*) FROM interaction_events WHERE category = 'doctor'")
    assert left == 0
    assert "no interactions stored" in report.check("oldest data").detail

    strict = await run_checks(stack.settings.model_copy(update={"doctor_fail_on_poor": True}))
    assert not strict.check("ratings").ok
    assert strict.exit_status == 1


@pytest.mark.parametrize("service", ["metrics", "sync", "ingest", "gateway"])
async def test_a_stopped_service_fails_its_check(stack: Stack, service: str) -> None:
    await stack.stop(service)

    report = await run_checks(stack.settings)

    assert report.exit_status != 0
    assert not report.check(service).ok
    failed = {check.name for check in report.checks if not check.ok}
    expected = {service}
    if service in ("ingest", "sync"):
        expected.add("round trip")
    if service == "ingest":
        expected.add("gateway")  # not ready without Ingest
    assert failed == expected, "\n".join(report.lines())


async def test_pending_migrations_fail_the_schema_check(servers: Servers, pg_pool: asyncpg.Pool) -> None:
    conn = await asyncpg.connect(servers.dsn)
    try:
        assert (await check_schema(conn)).ok
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute(
                "DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)"
            )
            check = await check_schema(conn)
        finally:
            await transaction.rollback()
    finally:
        await conn.close()
    assert not check.ok
    assert "pending" in check.detail
    assert "configtrail migrate" in check.detail


async def test_without_a_database_url_the_database_checks_fail_clearly(stack: Stack) -> None:
    report = await run_checks(stack.settings.model_copy(update={"database_url": None}))
    assert report.exit_status == 1
    for name in ("schema", "round trip", "ratings", "oldest data"):
        assert not report.check(name).ok
        assert "CONFIGTRAIL_DATABASE_URL is not set" in report.check(name).detail
    assert report.check("ingest").ok


async def test_the_cli_prints_one_line_per_check_and_exits_by_the_result(stack: Stack) -> None:
    settings = stack.settings
    assert settings.database_url is not None
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONFIGTRAIL_")}
    env.update(
        {
            "CONFIGTRAIL_DATABASE_URL": settings.database_url.get_secret_value(),
            "CONFIGTRAIL_INGEST_ADDRESS": settings.ingest_address,
            "CONFIGTRAIL_SYNC_ADDRESS": settings.sync_address,
            "CONFIGTRAIL_METRICS_ADDRESS": settings.metrics_address,
            "CONFIGTRAIL_GATEWAY_URL": settings.gateway_url,
        }
    )

    async def doctor() -> tuple[int | None, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "configtrail", "doctor", env=env, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(process.communicate(), 60)
        return process.returncode, out.decode()

    code, out = await doctor()
    assert code == 0, out
    lines = out.splitlines()
    assert [line.split()[1] for line in lines[: len(CHECKS)]] == [name.split()[0] for name in CHECKS]
    assert all(line.startswith("✓") for line in lines if line[:1] in "✓✗")
    assert lines[-1] == "all checks passed"

    await stack.stop("metrics")
    code, out = await doctor()
    assert code == 1
    assert any(line.startswith("✗ metrics") for line in out.splitlines()), out
