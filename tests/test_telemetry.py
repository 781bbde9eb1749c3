"""In-process latency aggregation: exact counts, bounded samples, one flush per interval."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import asyncpg
import pytest
from pydantic import SecretStr

from configtrail.embedded import free_port
from configtrail.settings import MetricsSettings
from configtrail.telemetry import RPC_LATENCY_METRIC, LatencyRecorder, MetricsFlusher
from services.metrics.server import create_server
from tests.conftest import Servers, wait_until


def test_recorder_keeps_exact_counts_and_a_bounded_uniform_sample() -> None:
    recorder = LatencyRecorder(samples_per_method=50, rng=random.Random(7))
    for n in range(10_000):
        recorder.record("/a", n / 1_000_000, ok=n % 100 != 0)
    for _ in range(3):
        recorder.record("/b", 0.002, ok=True)
    metrics = recorder.drain("ingest", now=datetime(2026, 1, 1, tzinfo=UTC))
    by_method: dict[str, list[float]] = {}
    for metric in metrics:
        assert metric.metric_name == RPC_LATENCY_METRIC
        by_method.setdefault(metric.endpoint, []).append(metric.value_ms)
    assert len(by_method["/a"]) == 50
    assert by_method["/b"] == [2.0, 2.0, 2.0]
    first_a = next(m for m in metrics if m.endpoint == "/a")
    assert first_a.additional_data["window_calls"] == 10_000
    assert first_a.additional_data["window_errors"] == 100
    assert first_a.additional_data["represents_calls"] == 200  # 10,000 calls / 50 samples
    # uniform: the sample spans the whole range, not only the first calls
    assert max(by_method["/a"]) > 5.0
    assert recorder.drain("ingest") == [], "a drain starts a new window"


def test_records_framed_by_hand_are_exactly_stream_records() -> None:
    from configtrail import streams
    from configtrail.common.v1 import events_pb2

    big = events_pb2.InteractionEvent(session_id="s", category="x" * 300)  # a two-byte length
    for record, kind in (
        (events_pb2.UserSession(session_id="s"), "session"),
        (events_pb2.InteractionEvent(session_id="s", category="nest"), "interaction"),
        (big, "interaction"),
        (events_pb2.ConfigurationSnapshot(session_id="s", completion_percentage=50), "snapshot"),
        (events_pb2.PerformanceMetric(metric_name="lcp", value_ms=1.5), "metric"),
        (events_pb2.SessionEnd(session_id="s", reason=events_pb2.END_REASON_ORDER), "session_end"),
        (events_pb2.InteractionEvent(), "interaction"),
    ):
        framed = streams.encode_record(record)
        expected = events_pb2.StreamRecord()
        getattr(expected, kind).CopyFrom(record)
        assert framed == expected.SerializeToString()
        assert streams.decode(framed).WhichOneof("record") == kind


def flushing_to_a_metrics_port(
    servers: Servers, timeout: float
) -> tuple[MetricsSettings, LatencyRecorder, MetricsFlusher]:
    """Settings of a Metrics service on a free port (not started), and a flusher (not started) to it."""
    settings = MetricsSettings(
        database_url=SecretStr(servers.dsn),
        redis_url=SecretStr(servers.redis_url),
        metrics_port=free_port(),
        metrics_prometheus_port=0,
        telemetry_flush_seconds=0,
    )
    recorder = LatencyRecorder(10)
    address = f"127.0.0.1:{settings.metrics_port}"
    return settings, recorder, MetricsFlusher(recorder, "flush-test", address, interval=0.05, timeout=timeout)


async def test_flusher_delivers_to_a_restarted_metrics_service(
    servers: Servers, pg_pool: asyncpg.Pool, clean: None, caplog: pytest.LogCaptureFixture
) -> None:
    settings, recorder, flusher = flushing_to_a_metrics_port(servers, timeout=1.0)

    async def stored(method: str) -> bool:
        count: int = await pg_pool.fetchval(
            "SELECT count(*) FROM performance_metrics WHERE endpoint = $1", method
        )
        return count == 1

    metrics = await create_server(settings)
    flusher.start()
    try:
        recorder.record("/test.Flush/Before", 0.001, ok=True)
        assert await wait_until(lambda: stored("/test.Flush/Before"), within=10)
        await metrics.stop()
        # a window sent while Metrics is away is logged as lost (telemetry, not tracked events)
        recorder.record("/test.Flush/Away", 0.001, ok=True)
        assert await wait_until(lambda: "could not record 1 latency samples" in caplog.text, within=15)
        metrics = await create_server(settings)
        # the channel is still backing off from the failures: the next flush waits for it to reconnect
        recorder.record("/test.Flush/After", 0.001, ok=True)
        assert await wait_until(lambda: stored("/test.Flush/After"), within=10)
    finally:
        await flusher.close()
        await metrics.stop()


async def test_closing_sends_what_gathered_while_a_flush_waited_for_metrics(
    servers: Servers, pg_pool: asyncpg.Pool, clean: None
) -> None:
    settings, recorder, flusher = flushing_to_a_metrics_port(servers, timeout=10.0)
    flusher.start()
    metrics = None
    try:
        recorder.record("/test.Flush/First", 0.001, ok=True)
        # nothing listens yet: the flush that took the first sample waits for Metrics to come
        assert await wait_until(lambda: recorder.waiting == 0, within=5)
        recorder.record("/test.Flush/Meanwhile", 0.001, ok=True)
        metrics = await create_server(settings)
        await flusher.close()
        endpoints = await pg_pool.fetch("SELECT endpoint FROM performance_metrics ORDER BY endpoint")
        assert [row["endpoint"] for row in endpoints] == ["/test.Flush/First", "/test.Flush/Meanwhile"]
    finally:
        if metrics is not None:
            await metrics.stop()
