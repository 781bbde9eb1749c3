"""GetPerformanceSummary and WatchPerformance on hand-built performance_metrics; numbers worked by hand.

The server's clock stands at NOW = 12:00:30, so the default 300 s window is [11:55:30, 12:00:30) and the
last three complete minutes are 11:57, 11:58 and 11:59. Percentiles are continuous: for n sorted values
the p-th lies at position p * (n - 1), interpolated linearly between its neighbours.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import grpc
import pytest

from configtrail.common.v1 import events_pb2
from configtrail.errors import field_violations_from
from configtrail.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from services.metrics.performance import Thresholds
from tests.conftest import Servers
from tests.test_analytics_support import add_metric, at, metrics_server, ts

RPC = "grpc_server_latency"
TRACK = "/configtrail.ingest.v1.Ingest/TrackInteraction"


@pytest.fixture
async def metrics(servers: Servers, clean: None) -> AsyncIterator[metrics_pb2_grpc.MetricsAsyncStub]:
    async with metrics_server(servers) as stub:
        yield stub


@pytest.fixture
async def dataset(pg_pool: asyncpg.Pool, clean: None) -> None:
    pool = pg_pool
    # TrackInteraction: four samples that each stand for 2.5 calls and one plain sample, plus one
    # before the window
    for value in (10, 20, 30, 40):
        await add_metric(pool, RPC, TRACK, value, at(10, 11, 58), represents_calls=2.5)
    await add_metric(pool, RPC, TRACK, 50, at(10, 11, 59))
    await add_metric(pool, RPC, TRACK, 999, at(10, 11, 50))
    # Slow: POOR from 11:56 on; 11:55 (FAIR, and before the window) ends the run
    for when, value in [
        (at(10, 11, 55, 10), 150),
        (at(10, 11, 56, 10), 250),
        (at(10, 11, 57, 10), 300),
        (at(10, 11, 58, 10), 100),  # with the next one: minute p95 = 100 + 0.95 * 300 = 385
        (at(10, 11, 58, 20), 400),
        (at(10, 11, 59, 10), 220),
        (at(10, 12, 0, 10), 10),  # the current minute is not complete
    ]:
        await add_metric(pool, RPC, "/x/Slow", value, when)
    # Flaky: POOR at 11:57 and 11:59, but no samples at 11:58
    await add_metric(pool, RPC, "/x/Flaky", 500, at(10, 11, 57, 20))
    await add_metric(pool, RPC, "/x/Flaky", 500, at(10, 11, 59, 20))
    # Recent: FAIR at 11:57 (just under 200), POOR (200 is POOR) at 11:58, 11:59 and now
    for when, ms in [
        (at(10, 11, 57, 40), 199.9),
        (at(10, 11, 58, 40), 200.0),
        (at(10, 11, 59, 40), 300.0),
        (at(10, 12, 0, 20), 300.0),
    ]:
        await add_metric(pool, RPC, "/x/Recent", ms, when)
    await add_metric(pool, RPC, "/x/Good", 60, at(10, 11, 59))
    await add_metric(pool, RPC, "/x/Good", 80, at(10, 11, 59))
    await add_metric(pool, RPC, "/x/Good", 5000, at(10, 12, 0, 31))  # after now: not yet
    await add_metric(pool, RPC, "/x/Fair", 150, at(10, 11, 59))
    await add_metric(pool, "lcp", "/demo", 1200, at(10, 11, 58, 30))
    await add_metric(pool, "lcp", "/demo", 1800, at(10, 11, 58, 30))


def _rows(summary: metrics_pb2.PerformanceSummary) -> dict[tuple[str, str], metrics_pb2.EndpointPerformance]:
    return {(e.metric_name, e.endpoint): e for e in summary.endpoints}


async def test_performance_summary_per_metric_and_endpoint(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    summary = await metrics.GetPerformanceSummary(metrics_pb2.GetPerformanceSummaryRequest())

    assert (summary.from_time, summary.to_time) == (ts(at(10, 11, 55, 30)), ts(at(10, 12, 0, 30)))
    assert [(e.metric_name, e.endpoint) for e in summary.endpoints] == [
        (RPC, TRACK),
        (RPC, "/x/Fair"),
        (RPC, "/x/Flaky"),
        (RPC, "/x/Good"),
        (RPC, "/x/Recent"),
        (RPC, "/x/Slow"),
        ("lcp", "/demo"),
    ]
    rows = _rows(summary)
    track = rows[(RPC, TRACK)]
    assert (track.count, track.samples) == (11, 5)  # 4 * 2.5 + 1 calls; the 11:50 one is outside
    # 10 20 30 40 50: p50 at 2 = 30; p95 at 3.8 = 40 + 0.8 * 10; p99 at 3.96 = 40 + 0.96 * 10
    assert track.p50_ms == 30
    assert track.p95_ms == pytest.approx(48)
    assert track.p99_ms == pytest.approx(49.6)
    assert (track.max_ms, track.mean_ms) == (50, 30)
    assert track.rating == metrics_pb2.RATING_EXCELLENT  # 48 < 50

    slow = rows[(RPC, "/x/Slow")]
    # 10 100 220 250 300 400 (150 at 11:55:10 is before the window): p50 at 2.5 = 235,
    # p95 at 4.75 = 300 + 0.75 * 100, p99 at 4.95 = 300 + 0.95 * 100; mean 1280 / 6
    assert (slow.count, slow.samples) == (6, 6)
    assert slow.p50_ms == pytest.approx(235)
    assert slow.p95_ms == pytest.approx(375)
    assert slow.p99_ms == pytest.approx(395)
    assert slow.max_ms == 400
    assert slow.mean_ms == pytest.approx(1280 / 6)
    assert slow.rating == metrics_pb2.RATING_POOR

    good = rows[(RPC, "/x/Good")]
    assert (good.samples, good.p50_ms) == (2, 70)
    assert good.p95_ms == pytest.approx(79)  # 60 + 0.95 * 20
    assert good.rating == metrics_pb2.RATING_GOOD
    assert rows[(RPC, "/x/Fair")].rating == metrics_pb2.RATING_FAIR  # 150
    # 199.9 200 300 300: p95 at 2.85 = 300
    assert rows[(RPC, "/x/Recent")].p95_ms == pytest.approx(300)
    assert rows[("lcp", "/demo")].p95_ms == pytest.approx(1770)  # 1200 + 0.95 * 600

    assert summary.thresholds == metrics_pb2.RatingThresholds(
        excellent_below_ms=50, good_below_ms=100, fair_below_ms=200
    )


def _series(
    summary: metrics_pb2.PerformanceSummary,
) -> list[tuple[str, str, datetime, int, int, float, float, float]]:
    return [
        (
            b.metric_name,
            b.endpoint,
            b.start.ToDatetime(tzinfo=UTC),
            b.count,
            b.samples,
            round(b.p50_ms, 6),
            round(b.p95_ms, 6),
            round(b.p99_ms, 6),
        )
        for b in summary.series
    ]


async def test_performance_series_per_minute(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    summary = await metrics.GetPerformanceSummary(metrics_pb2.GetPerformanceSummaryRequest(bucket_seconds=60))

    # window [11:55:30, 12:00:30): minutes 11:55 (from 11:55:30) .. 12:00 (up to 12:00:30); by metric,
    # endpoint, then minute; minutes without samples are left out. One sample: every percentile is it.
    # n sorted values: the p-th percentile at position p * (n - 1).
    assert _series(summary) == [
        # 10 20 30 40, each for 2.5 calls: p50 at 1.5 = 25, p95 at 2.85 = 30 + 0.85 * 10, p99 at 2.97
        (RPC, TRACK, at(10, 11, 58), 10, 4, 25, 38.5, 39.7),
        (RPC, TRACK, at(10, 11, 59), 1, 1, 50, 50, 50),
        (RPC, "/x/Fair", at(10, 11, 59), 1, 1, 150, 150, 150),
        (RPC, "/x/Flaky", at(10, 11, 57), 1, 1, 500, 500, 500),
        (RPC, "/x/Flaky", at(10, 11, 59), 1, 1, 500, 500, 500),
        # 60 80: p50 at 0.5 = 70, p95 at 0.95 = 60 + 0.95 * 20, p99 = 60 + 0.99 * 20 (5000 is after now)
        (RPC, "/x/Good", at(10, 11, 59), 2, 2, 70, 79, 79.8),
        (RPC, "/x/Recent", at(10, 11, 57), 1, 1, 199.9, 199.9, 199.9),
        (RPC, "/x/Recent", at(10, 11, 58), 1, 1, 200, 200, 200),
        (RPC, "/x/Recent", at(10, 11, 59), 1, 1, 300, 300, 300),
        (RPC, "/x/Recent", at(10, 12, 0), 1, 1, 300, 300, 300),
        # no 11:55 bucket: its one sample (11:55:10) is before the window
        (RPC, "/x/Slow", at(10, 11, 56), 1, 1, 250, 250, 250),
        (RPC, "/x/Slow", at(10, 11, 57), 1, 1, 300, 300, 300),
        # 100 400: p50 = 250, p95 = 100 + 0.95 * 300, p99 = 100 + 0.99 * 300
        (RPC, "/x/Slow", at(10, 11, 58), 2, 2, 250, 385, 397),
        (RPC, "/x/Slow", at(10, 11, 59), 1, 1, 220, 220, 220),
        (RPC, "/x/Slow", at(10, 12, 0), 1, 1, 10, 10, 10),
        # 1200 1800: 1500, 1200 + 0.95 * 600, 1200 + 0.99 * 600
        ("lcp", "/demo", at(10, 11, 58), 2, 2, 1500, 1770, 1794),
    ]
    # the rest of the summary is what it is without a series
    plain = await metrics.GetPerformanceSummary(metrics_pb2.GetPerformanceSummaryRequest())
    assert list(plain.series) == []
    assert (list(plain.endpoints), list(plain.alerts)) == (list(summary.endpoints), list(summary.alerts))


async def test_performance_series_per_two_minutes_of_one_endpoint(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    request = metrics_pb2.GetPerformanceSummaryRequest(
        window_seconds=600, endpoint="/x/Slow", bucket_seconds=120
    )
    summary = await metrics.GetPerformanceSummary(request)

    # window [11:50:30, 12:00:30), buckets on even minutes: 11:54 holds 150 (11:55:10); 11:56 holds
    # 250 300; 11:58 holds 100 400 220; 12:00 holds 10
    assert _series(summary) == [
        (RPC, "/x/Slow", at(10, 11, 54), 1, 1, 150, 150, 150),
        # 250 300: p50 at 0.5 = 275, p95 at 0.95 = 250 + 0.95 * 50, p99 = 250 + 0.99 * 50
        (RPC, "/x/Slow", at(10, 11, 56), 2, 2, 275, 297.5, 299.5),
        # 100 220 400: p50 at 1 = 220, p95 at 1.9 = 220 + 0.9 * 180, p99 at 1.98 = 220 + 0.98 * 180
        (RPC, "/x/Slow", at(10, 11, 58), 3, 3, 220, 382, 396.4),
        (RPC, "/x/Slow", at(10, 12, 0), 1, 1, 10, 10, 10),
    ]

    # the first bucket is cut to the window: TrackInteraction's 999 at 11:50:00 is before 11:50:30
    track = await metrics.GetPerformanceSummary(
        metrics_pb2.GetPerformanceSummaryRequest(window_seconds=600, endpoint=TRACK, bucket_seconds=120)
    )
    # 10 20 30 40 (2.5 calls each) and 50: p50 at 2 = 30, p95 at 3.8 = 48, p99 at 3.96 = 49.6
    assert _series(track) == [(RPC, TRACK, at(10, 11, 58), 11, 5, 30, 48, 49.6)]


@pytest.mark.parametrize(
    ("window_seconds", "bucket_seconds", "reason"),
    [
        (300, 30, "multiple of 60"),
        (300, 90, "multiple of 60"),
        (300, -60, "multiple of 60"),
        (30 * 86_400, 60, "43,200 buckets of 60 s"),
        (2000 * 60 + 1, 60, "2,001 buckets"),
    ],
)
async def test_performance_series_rejects_bad_bucket_seconds(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, window_seconds: float, bucket_seconds: int, reason: str
) -> None:
    request = metrics_pb2.GetPerformanceSummaryRequest(
        window_seconds=window_seconds, bucket_seconds=bucket_seconds
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.GetPerformanceSummary(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [violation] = field_violations_from(caught.value)
    assert violation.field == "bucket_seconds"
    assert reason in violation.reason, violation.reason
    # 2,000 minutes exactly is allowed (2,001 buckets when the window does not start on a minute)
    allowed = metrics_pb2.GetPerformanceSummaryRequest(window_seconds=2000 * 60, bucket_seconds=60)
    assert list((await metrics.GetPerformanceSummary(allowed)).series) == []


async def test_an_alert_needs_three_poor_minutes_in_a_row(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    summary = await metrics.GetPerformanceSummary(metrics_pb2.GetPerformanceSummaryRequest())

    # Slow: POOR at 11:56 (250), 11:57 (300), 11:58 (385), 11:59 (220); FAIR at 11:55 (150).
    # Flaky has a gap at 11:58; Recent was FAIR at 11:57; lcp was POOR only at 11:58.
    assert [(a.metric_name, a.endpoint, a.since, a.minutes, a.p95_ms) for a in summary.alerts] == [
        (RPC, "/x/Slow", ts(at(10, 11, 56)), 4, 220)
    ]


async def test_an_alert_looks_back_at_most_an_hour(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    for minute in range(120):  # every minute from 10:00 to 11:59
        await add_metric(pg_pool, RPC, "/x/Down", 900, at(10, 10 + minute // 60, minute % 60, 5))

    summary = await metrics.GetPerformanceSummary(metrics_pb2.GetPerformanceSummaryRequest())

    # the 60 minutes up to 11:59 start at 11:00
    assert [(a.since, a.minutes) for a in summary.alerts] == [(ts(at(10, 11)), 60)]


async def test_performance_summary_filters_and_window(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    only_lcp = await metrics.GetPerformanceSummary(
        metrics_pb2.GetPerformanceSummaryRequest(metric_name="lcp")
    )
    assert [(e.metric_name, e.endpoint) for e in only_lcp.endpoints] == [("lcp", "/demo")]
    assert list(only_lcp.alerts) == []

    slow = await metrics.GetPerformanceSummary(metrics_pb2.GetPerformanceSummaryRequest(endpoint="/x/Slow"))
    assert [e.endpoint for e in slow.endpoints] == ["/x/Slow"]
    assert [a.endpoint for a in slow.alerts] == ["/x/Slow"]

    flaky = await metrics.GetPerformanceSummary(metrics_pb2.GetPerformanceSummaryRequest(endpoint="/x/Flaky"))
    assert list(flaky.alerts) == []

    # [11:58:30, 12:00:30): TrackInteraction keeps only its 11:59 sample
    short = await metrics.GetPerformanceSummary(
        metrics_pb2.GetPerformanceSummaryRequest(window_seconds=120, endpoint=TRACK)
    )
    assert short.from_time == ts(at(10, 11, 58, 30))
    assert [(e.count, e.samples, e.p95_ms) for e in short.endpoints] == [(1, 1, 50)]


async def test_rating_thresholds_are_configurable(servers: Servers, clean: None, dataset: None) -> None:
    async with metrics_server(servers, thresholds=Thresholds(10, 20, 30)) as stub:
        summary = await stub.GetPerformanceSummary(metrics_pb2.GetPerformanceSummaryRequest(endpoint=TRACK))
    assert summary.endpoints[0].rating == metrics_pb2.RATING_POOR  # p95 48 >= 30
    assert summary.thresholds.fair_below_ms == 30

    assert Thresholds().rating(49.99) == metrics_pb2.RATING_EXCELLENT
    assert Thresholds().rating(50) == metrics_pb2.RATING_GOOD
    assert Thresholds().rating(199.99) == metrics_pb2.RATING_FAIR
    with pytest.raises(ValueError, match="ascending"):
        Thresholds(100, 50, 200)


async def test_recorded_metrics_show_in_the_summary(metrics: metrics_pb2_grpc.MetricsAsyncStub) -> None:
    recorded = []
    for value in (120.0, 80.0):
        metric = events_pb2.PerformanceMetric(
            metric_name="api_response_time", value_ms=value, endpoint="/api/x"
        )
        metric.timestamp.FromDatetime(at(10, 11, 59))
        recorded.append(metric)
    reply = await metrics.RecordMetrics(metrics_pb2.RecordMetricsRequest(metrics=recorded))
    assert reply.recorded == 2

    summary = await metrics.GetPerformanceSummary(metrics_pb2.GetPerformanceSummaryRequest())
    assert [(e.endpoint, e.count, e.p50_ms, e.max_ms) for e in summary.endpoints] == [("/api/x", 2, 100, 120)]


async def test_watch_performance_streams_updated_summaries(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None, pg_pool: asyncpg.Pool
) -> None:
    call = metrics.WatchPerformance(
        metrics_pb2.WatchPerformanceRequest(endpoint="/x/New", interval_seconds=0.5)
    )
    try:
        first = await asyncio.wait_for(call.read(), 5)
        assert isinstance(first, metrics_pb2.PerformanceSummary)
        assert list(first.endpoints) == []
        assert list(first.series) == []  # none asked for
        await add_metric(pg_pool, RPC, "/x/New", 42, at(10, 11, 59, 50))
        second = await asyncio.wait_for(call.read(), 5)
        assert isinstance(second, metrics_pb2.PerformanceSummary)
        assert [(e.endpoint, e.count, e.p95_ms) for e in second.endpoints] == [("/x/New", 1, 42)]
    finally:
        call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call.read()


async def test_watch_performance_sends_the_series_when_asked(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None, pg_pool: asyncpg.Pool
) -> None:
    call = metrics.WatchPerformance(
        metrics_pb2.WatchPerformanceRequest(endpoint="/x/Good", interval_seconds=0.5, bucket_seconds=60)
    )
    try:
        first = await asyncio.wait_for(call.read(), 5)
        assert isinstance(first, metrics_pb2.PerformanceSummary)
        assert _series(first) == [(RPC, "/x/Good", at(10, 11, 59), 2, 2, 70, 79, 79.8)]
        await add_metric(pg_pool, RPC, "/x/Good", 40, at(10, 12, 0, 5))
        second = await asyncio.wait_for(call.read(), 5)
        assert isinstance(second, metrics_pb2.PerformanceSummary)
        assert _series(second)[1:] == [(RPC, "/x/Good", at(10, 12, 0), 1, 1, 40, 40, 40)]
    finally:
        call.cancel()


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (metrics_pb2.WatchPerformanceRequest(interval_seconds=0.2), "interval_seconds"),
        (metrics_pb2.WatchPerformanceRequest(window_seconds=-5), "window_seconds"),
        (metrics_pb2.WatchPerformanceRequest(bucket_seconds=45), "bucket_seconds"),
        (metrics_pb2.WatchPerformanceRequest(window_seconds=86_400, bucket_seconds=30), "bucket_seconds"),
    ],
)
async def test_watch_performance_rejects_bad_requests(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, request_: metrics_pb2.WatchPerformanceRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.WatchPerformance(request_).read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations_from(caught.value)] == [field]


async def test_summary_rejects_a_window_over_30_days(metrics: metrics_pb2_grpc.MetricsAsyncStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.GetPerformanceSummary(
            metrics_pb2.GetPerformanceSummaryRequest(window_seconds=31 * 86_400)
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
