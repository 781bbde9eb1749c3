"""Shared by the analytics and performance tests (no tests here): a Metrics server on a fixed clock, and
helpers that write hand-built rows straight into the Postgres tables, rollup columns included."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
import orjson
from google.protobuf import timestamp_pb2

from configtrail.grpcserver import RunningServer
from configtrail.metrics.v1 import metrics_pb2_grpc
from configtrail.settings import MetricsSettings
from services.metrics.performance import Thresholds
from tests.conftest import Servers

#: The clock of the Metrics server under test.
NOW = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, second: int = 0, microsecond: int = 0) -> datetime:
    """A moment in March 2026, UTC."""
    return datetime(2026, 3, day, hour, minute, second, microsecond, tzinfo=UTC)


def ts(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def metrics_settings(servers: Servers, redis_url: str | None = None) -> MetricsSettings:
    return MetricsSettings(
        database_url=servers.dsn,  # type: ignore[arg-type]
        redis_url=redis_url or servers.redis_url,  # type: ignore[arg-type]
        metrics_port=0,
        metrics_prometheus_port=0,
        telemetry_flush_seconds=0,
    )


@asynccontextmanager
async def running_metrics_server(
    servers: Servers, *, redis_url: str | None = None, thresholds: Thresholds | None = None
) -> AsyncIterator[RunningServer]:
    """A real Metrics server on port 0 whose clock stands still at :data:`NOW`; stopped on exit."""
    from services.metrics.server import create_server

    running = await create_server(
        metrics_settings(servers, redis_url), now=lambda: NOW, thresholds=thresholds
    )
    try:
        yield running
    finally:
        await running.stop()


@asynccontextmanager
async def metrics_stub(running: RunningServer) -> AsyncIterator[metrics_pb2_grpc.MetricsAsyncStub]:
    """A Metrics stub on a local channel to ``running``; the channel is closed on exit."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield metrics_pb2_grpc.MetricsStub(channel)


@asynccontextmanager
async def metrics_server(
    servers: Servers, *, redis_url: str | None = None, thresholds: Thresholds | None = None
) -> AsyncIterator[metrics_pb2_grpc.MetricsAsyncStub]:
    """A real Metrics server on port 0 whose clock stands still at :data:`NOW`, and a stub for it."""
    async with (
        running_metrics_server(servers, redis_url=redis_url, thresholds=thresholds) as running,
        metrics_stub(running) as stub,
    ):
        yield stub


async def add_session(
    pool: asyncpg.Pool,
    session_id: str,
    started_at: datetime,
    *,
    last_seen_at: datetime | None = None,
    device_type: str = "desktop",
    status: str = "active",
    ended_at: datetime | None = None,
    end_reason: str | None = None,
    interaction_count: int = 0,
    snapshot_count: int = 0,
    last_category: str | None = None,
    last_element_id: str | None = None,
    configuration: dict[str, Any] | None = None,
    price: int | None = None,
    currency: str | None = None,
    completion: float | None = None,
) -> None:
    """A user_sessions row with the rollup columns Sync would have written, given explicitly."""
    await pool.execute(
        """INSERT INTO user_sessions (session_id, started_at, last_seen_at, device_type, status, ended_at,
               end_reason, interaction_count, snapshot_count, last_category, last_element_id,
               latest_configuration, latest_total_price_minor, latest_currency, completion_percentage,
               landing_page, locale)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14, $15, '/configurator',
                   'de-AT')""",
        session_id,
        started_at,
        last_seen_at or started_at,
        device_type,
        status,
        ended_at,
        end_reason,
        interaction_count,
        snapshot_count,
        last_category,
        last_element_id,
        orjson.dumps(configuration).decode() if configuration is not None else None,
        price,
        currency or ("EUR" if price is not None else None),
        completion,
    )


async def add_event(
    pool: asyncpg.Pool,
    session_id: str,
    occurred_at: datetime,
    event_type: str = "selection",
    category: str = "",
    selection_value: str = "",
    *,
    element_id: str = "",
    previous_value: str = "",
    sequence: int | None = None,
    time_spent_ms: int = 0,
    event_id: str | None = None,
) -> str:
    """An interaction_events row; returns its id."""
    event_id = event_id or str(uuid.uuid4())
    await pool.execute(
        """INSERT INTO interaction_events (event_id, session_id, event_type, category, element_id,
               selection_value, previous_value, time_spent_ms, sequence, occurred_at, received_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)""",
        uuid.UUID(event_id),
        session_id,
        event_type,
        category,
        element_id,
        selection_value,
        previous_value,
        time_spent_ms,
        sequence,
        occurred_at,
    )
    return event_id


async def add_snapshot(
    pool: asyncpg.Pool,
    session_id: str,
    occurred_at: datetime,
    price: int,
    *,
    currency: str = "EUR",
    configuration: dict[str, Any] | None = None,
    completion: float = 0.0,
    trigger: str = "auto_save",
    snapshot_id: str | None = None,
) -> str:
    """A configuration_snapshots row; returns its id."""
    snapshot_id = snapshot_id or str(uuid.uuid4())
    await pool.execute(
        """INSERT INTO configuration_snapshots (snapshot_id, session_id, configuration, total_price_minor,
               currency, completion_percentage, trigger, occurred_at, received_at)
           VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $8)""",
        uuid.UUID(snapshot_id),
        session_id,
        orjson.dumps(configuration or {}).decode(),
        price,
        currency,
        completion,
        trigger,
        occurred_at,
    )
    return snapshot_id


async def add_metric(
    pool: asyncpg.Pool,
    metric_name: str,
    endpoint: str,
    value_ms: float,
    occurred_at: datetime,
    *,
    represents_calls: float | None = None,
) -> None:
    """A performance_metrics row; ``represents_calls`` as the services' telemetry writes it."""
    data = {"service": "test", "represents_calls": represents_calls} if represents_calls is not None else None
    await pool.execute(
        """INSERT INTO performance_metrics (metric_id, metric_name, value_ms, endpoint, additional_data,
               occurred_at, received_at)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6, $6)""",
        uuid.uuid4(),
        metric_name,
        value_ms,
        endpoint,
        orjson.dumps(data).decode() if data is not None else None,
        occurred_at,
    )
