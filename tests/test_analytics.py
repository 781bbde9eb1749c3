"""Analytics RPCs of the Metrics service on small hand-built datasets; expected numbers worked out by hand.

Rows go straight into the Postgres tables, user_sessions with its rollup columns given explicitly; the
RPCs are called through a real Metrics server whose clock stands still at ``NOW`` (2026-03-10 12:00:30).
"""

from __future__ import annotations

import base64
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import orjson
import pytest
import redis.asyncio as redis
from google.protobuf import json_format, timestamp_pb2

from configtrail import constants
from configtrail.embedded import free_port
from configtrail.errors import field_violations_from
from configtrail.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from services.metrics.common import TimeRange, text_violations
from services.metrics.rollups import whole_hours
from tests.conftest import Servers
from tests.test_analytics_support import (
    NOW,
    add_event,
    add_session,
    add_snapshot,
    at,
    metrics_server,
    ts,
)


@pytest.fixture
async def metrics(servers: Servers, clean: None) -> AsyncIterator[metrics_pb2_grpc.MetricsAsyncStub]:
    async with metrics_server(servers) as stub:
        yield stub


# ---- Overview ----


async def _overview_dataset(pool: asyncpg.Pool) -> None:
    # the range of the test is [03-09 09:30, 03-10 00:15): partial hours at both ends
    await add_session(
        pool,
        "ov-a",
        at(9, 10),
        last_seen_at=at(9, 10, 10),
        device_type="desktop",
        interaction_count=4,
        completion=100,
        price=5_000_000,
    )
    await add_session(
        pool,
        "ov-b",
        at(9, 11),
        last_seen_at=at(9, 11, 5),
        device_type="mobile",
        status="ordered",
        interaction_count=6,
        completion=100,
        price=7_000_001,
    )
    # active by status, but it has an order_attempt snapshot: an order attempt all the same
    await add_session(
        pool,
        "ov-c",
        at(9, 12),
        last_seen_at=at(9, 12, 20),
        device_type="mobile",
        interaction_count=2,
        completion=40,
        price=3_000_000,
        currency="CHF",
    )
    await add_snapshot(pool, "ov-c", at(9, 12, 15), 3_000_000, currency="CHF", trigger="order_attempt")
    await add_session(pool, "ov-d", at(9, 23, 59, 59), last_seen_at=at(10, 0, 0, 29), device_type="tablet")
    # outside: one second before the range, and exactly at its (exclusive) end
    await add_session(
        pool, "ov-e", at(9, 9, 29, 59), status="ordered", interaction_count=10, completion=100, price=1
    )
    await add_session(pool, "ov-f", at(10, 0, 15), interaction_count=5)

    # interactions by occurred_at, whatever their session: hours 10:00..00:00 come from the rollup,
    # [09:30, 10:00) and [00:00, 00:15) from the raw rows
    for when, event_type, category in [
        (at(9, 9, 20), "click", "nest"),  # before the range
        (at(9, 9, 45), "selection", "nest"),
        (at(9, 10, 1), "click", "nest"),
        (at(9, 10, 5), "selection", "gebaeudehuelle"),
        (at(9, 11, 2), "hover", "nest"),
        (at(9, 11, 3), "click", "gebaeudehuelle"),
        (at(9, 11, 4), "click", "gebaeudehuelle"),
        (at(9, 12, 10), "selection", "ausstattung"),
        (at(9, 12, 11), "scroll", ""),  # no category: not a top category
        (at(10, 0, 10), "click", "fenster"),
        (at(10, 0, 14, 59), "click", "dach"),
        (at(10, 0, 15), "click", "fenster"),  # at the end of the range: outside
    ]:
        await add_event(pool, "ov-e", when, event_type, category)


async def test_overview_counts_the_sessions_started_in_the_range(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    await _overview_dataset(pg_pool)
    now = NOW.timestamp()
    # active now: activity in the last 300 s, so the first two of these four
    await redis_client.zadd(
        constants.ACTIVE_SESSIONS,
        {"live-1": now - 10, "live-2": now - 299, "live-3": now - 301, "x": now - 3600},
    )

    answer = await metrics.Overview(
        metrics_pb2.OverviewRequest(from_time=ts(at(9, 9, 30)), to_time=ts(at(10, 0, 15)))
    )

    assert answer.from_time == ts(at(9, 9, 30))
    assert answer.to_time == ts(at(10, 0, 15))
    assert answer.sessions == 4  # a, b, c, d; e starts a second early, f at the exclusive end
    assert answer.active_now == 2
    assert answer.interactions == 12  # 4 + 6 + 2 + 0
    assert answer.interactions_per_session == 3.0  # 12 / 4
    assert answer.average_session_duration_seconds == 532.5  # (600 + 300 + 1200 + 30) / 4 = 2130 / 4
    assert answer.completed_sessions == 2  # a and b reached 100
    assert answer.completion_rate == 0.5  # 2 / 4
    assert answer.order_attempt_sessions == 2  # b by status, c by its order_attempt snapshot
    assert answer.order_conversion_rate == 0.5
    assert [
        (p.average_price.currency, p.average_price.amount_minor, p.sessions)
        for p in answer.average_final_prices
    ] == [
        ("EUR", 6_000_001, 2),  # (5,000,000 + 7,000,001) / 2 = 6,000,000.5, half rounds away from zero
        ("CHF", 3_000_000, 1),  # d has no price
    ]
    assert [(d.device_type, d.sessions, d.share) for d in answer.devices] == [
        ("mobile", 2, 0.5),
        ("desktop", 1, 0.25),
        ("tablet", 1, 0.25),
    ]
    # nest: 09:45, 10:01, 11:02; gebaeudehuelle: 10:05, 11:03, 11:04 (a tie, by name); then one each
    assert [(c.category, c.interactions) for c in answer.top_categories] == [
        ("gebaeudehuelle", 3),
        ("nest", 3),
        ("ausstattung", 1),
        ("dach", 1),
        ("fenster", 1),
    ]


async def test_overview_defaults_to_the_last_30_days(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    await add_session(pg_pool, "recent", at(9, 12), interaction_count=3)
    await add_session(
        pg_pool, "old", datetime(2026, 2, 2, 12, tzinfo=UTC), interaction_count=7
    )  # 36 days ago

    answer = await metrics.Overview(metrics_pb2.OverviewRequest())

    assert answer.to_time == ts(NOW)
    assert answer.from_time == ts(datetime(2026, 2, 8, 12, 0, 30, tzinfo=UTC))  # NOW - 30 days
    assert (answer.sessions, answer.interactions) == (1, 3)


async def test_overview_of_an_empty_range_is_all_zeros(metrics: metrics_pb2_grpc.MetricsAsyncStub) -> None:
    answer = await metrics.Overview(metrics_pb2.OverviewRequest(from_time=ts(at(1, 0)), to_time=ts(at(2, 0))))

    assert answer.sessions == 0
    assert answer.interactions_per_session == 0.0
    assert answer.completion_rate == 0.0
    assert answer.average_session_duration_seconds == 0.0
    assert list(answer.devices) == []
    assert list(answer.average_final_prices) == []
    assert list(answer.top_categories) == []


async def test_overview_without_redis_answers_active_now_minus_one(servers: Servers, clean: None) -> None:
    async with metrics_server(servers, redis_url=f"redis://127.0.0.1:{free_port()}/0") as stub:
        answer = await stub.Overview(metrics_pb2.OverviewRequest())
    assert answer.active_now == -1


async def test_a_range_ending_before_it_starts_is_invalid(metrics: metrics_pb2_grpc.MetricsAsyncStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.Overview(metrics_pb2.OverviewRequest(from_time=ts(at(9, 0)), to_time=ts(at(8, 0))))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations_from(caught.value)] == ["from_time"]


# ---- Overview: series over time ----


def _series(answer: metrics_pb2.OverviewResponse) -> list[tuple[datetime, int, int]]:
    return [(b.start.ToDatetime(tzinfo=UTC), b.sessions, b.interactions) for b in answer.series]


async def test_overview_series_per_hour_cuts_the_edge_hours_to_the_range(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    await _overview_dataset(pg_pool)
    request = metrics_pb2.OverviewRequest(
        from_time=ts(at(9, 9, 30)), to_time=ts(at(10, 0, 15)), bucket_seconds=3600
    )

    answer = await metrics.Overview(request)

    # [09:30, 00:15): the hours 09:00 .. 23:00 of the 9th and 00:00 of the 10th, every one listed.
    # 09:00 holds only [09:30, 10:00): not ov-e (09:29:59) nor the 09:20 click, but the 09:45 selection
    # (raw rows); 10:00 .. 23:00 are whole hours (the rollup); 00:00 holds [00:00, 00:15): the 00:10 and
    # 00:14:59 clicks, not ov-f nor the click at 00:15.
    counts = {hour: (0, 0) for hour in range(9, 24)}
    counts.update({10: (1, 2), 11: (1, 3), 12: (1, 2), 23: (1, 0), 9: (0, 1)})  # a b c d; interactions
    expected = [(at(9, hour), *counts[hour]) for hour in range(9, 24)] + [(at(10, 0), 0, 2)]
    assert _series(answer) == expected
    assert sum(b.sessions for b in answer.series) == answer.sessions == 4
    assert sum(b.interactions for b in answer.series) == 10  # every interaction in the range, any category
    # the rest of the answer is what it is without a series
    without = await metrics.Overview(
        metrics_pb2.OverviewRequest(from_time=ts(at(9, 9, 30)), to_time=ts(at(10, 0, 15)))
    )
    assert list(without.series) == []
    without.series.extend(answer.series)
    assert without == answer


@pytest.mark.parametrize(
    ("bucket_seconds", "expected"),
    [
        # UTC days: the 9th from 09:30 (a b c d; 8 interactions), the 10th up to 00:15 (2 interactions)
        (86_400, [(at(9, 0), 4, 8), (at(10, 0), 0, 2)]),
        # two hours, aligned to even hours: 08:00 holds [09:30, 10:00), 00:00 holds [00:00, 00:15)
        (
            7200,
            [
                (at(9, 8), 0, 1),
                (at(9, 10), 2, 5),  # a b; 10:01 10:05 11:02 11:03 11:04
                (at(9, 12), 1, 2),  # c; 12:10 12:11
                (at(9, 14), 0, 0),
                (at(9, 16), 0, 0),
                (at(9, 18), 0, 0),
                (at(9, 20), 0, 0),
                (at(9, 22), 1, 0),  # d
                (at(10, 0), 0, 2),
            ],
        ),
    ],
)
async def test_overview_series_per_day_and_per_two_hours(
    metrics: metrics_pb2_grpc.MetricsAsyncStub,
    pg_pool: asyncpg.Pool,
    bucket_seconds: int,
    expected: list[tuple[datetime, int, int]],
) -> None:
    await _overview_dataset(pg_pool)

    answer = await metrics.Overview(
        metrics_pb2.OverviewRequest(
            from_time=ts(at(9, 9, 30)), to_time=ts(at(10, 0, 15)), bucket_seconds=bucket_seconds
        )
    )

    assert _series(answer) == expected


async def test_overview_series_lists_empty_buckets_and_none_for_an_empty_range(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    await _overview_dataset(pg_pool)  # all on the 9th and 10th

    quiet = await metrics.Overview(
        metrics_pb2.OverviewRequest(from_time=ts(at(1, 0)), to_time=ts(at(1, 3)), bucket_seconds=3600)
    )
    assert _series(quiet) == [(at(1, 0), 0, 0), (at(1, 1), 0, 0), (at(1, 2), 0, 0)]

    empty = await metrics.Overview(
        metrics_pb2.OverviewRequest(from_time=ts(at(9, 10)), to_time=ts(at(9, 10)), bucket_seconds=3600)
    )
    assert list(empty.series) == []

    # inside one hour: one bucket, from the raw rows only (10:01 and 10:05; ov-a started at 10:00)
    inside = await metrics.Overview(
        metrics_pb2.OverviewRequest(from_time=ts(at(9, 10)), to_time=ts(at(9, 10, 30)), bucket_seconds=3600)
    )
    assert _series(inside) == [(at(9, 10), 1, 2)]

    # 2,000 hours from a half hour: 2,001 buckets (the cap is on the range's length)
    most = await metrics.Overview(
        metrics_pb2.OverviewRequest(
            from_time=ts(at(1, 0, 30)),
            to_time=ts(at(1, 0, 30) + timedelta(hours=2000)),
            bucket_seconds=3600,
        )
    )
    assert len(most.series) == 2001
    assert most.series[0].start == ts(at(1, 0))
    assert sum(b.sessions for b in most.series) == most.sessions == 6


@pytest.mark.parametrize(
    ("bucket_seconds", "from_time", "reason"),
    [
        (60, at(9, 0), "multiple of 3600"),
        (1800, at(9, 0), "multiple of 3600"),
        (5400, at(9, 0), "multiple of 3600"),
        (-3600, at(9, 0), "multiple of 3600"),
        # 2,000 hours and one second: 2,001 buckets' worth
        (3600, at(10, 0) - timedelta(hours=2000, seconds=1), "2,001 buckets of 3600 s"),
        (86_400, datetime(2020, 1, 1, tzinfo=UTC), "at most 2,000"),
    ],
)
async def test_overview_rejects_bad_bucket_seconds(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, bucket_seconds: int, from_time: datetime, reason: str
) -> None:
    request = metrics_pb2.OverviewRequest(
        from_time=ts(from_time), to_time=ts(at(10, 0)), bucket_seconds=bucket_seconds
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.Overview(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [violation] = field_violations_from(caught.value)
    assert violation.field == "bucket_seconds"
    assert reason in violation.reason, violation.reason


# ---- ListSessions ----


async def _list_dataset(pool: asyncpg.Pool) -> None:
    await add_session(pool, "ls-1", at(9, 10), device_type="desktop", price=1000, completion=10)
    await add_session(
        pool,
        "ls-2",
        at(9, 11),
        last_seen_at=at(9, 11, 30),
        device_type="mobile",
        status="ordered",
        ended_at=at(9, 11, 30),
        end_reason="order",
        interaction_count=9,
        snapshot_count=3,
        last_category="ausstattung",
        last_element_id="aus-premium",
        price=5000,
        completion=100,
    )
    await add_session(pool, "ls-3", at(9, 11), device_type="mobile", price=3000, completion=50)  # same start
    await add_session(pool, "ls-4", at(9, 12), device_type="tablet", status="abandoned")  # no snapshot
    await add_session(pool, "ls-5", at(9, 13), device_type="mobile", price=8000, completion=70)
    await add_session(pool, "ls-out", at(10, 1), device_type="mobile", price=4000, completion=70)


async def _list(stub: metrics_pb2_grpc.MetricsAsyncStub, **filters: object) -> list[str]:
    request = metrics_pb2.ListSessionsRequest(from_time=ts(at(9, 0)), to_time=ts(at(10, 0)), **filters)  # type: ignore[arg-type]
    return [s.session_id for s in (await stub.ListSessions(request)).sessions]


async def test_list_sessions_pages_newest_first_across_equal_start_times(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    await _list_dataset(pg_pool)
    request = metrics_pb2.ListSessionsRequest(from_time=ts(at(9, 0)), to_time=ts(at(10, 0)), page_size=3)

    first = await metrics.ListSessions(request)
    request.page_token = first.next_page_token
    second = await metrics.ListSessions(request)

    # by started_at descending; ls-3 and ls-2 both started at 11:00 and are split by the page boundary
    assert [s.session_id for s in first.sessions] == ["ls-5", "ls-4", "ls-3"]
    assert first.next_page_token
    assert [s.session_id for s in second.sessions] == ["ls-2", "ls-1"]
    assert second.next_page_token == ""

    ordered = second.sessions[0]
    assert ordered.started_at == ts(at(9, 11))
    assert ordered.ended_at == ts(at(9, 11, 30))
    assert (ordered.end_reason, ordered.status, ordered.device_type) == ("order", "ordered", "mobile")
    assert ordered.duration_seconds == 1800.0
    assert (ordered.interaction_count, ordered.snapshot_count) == (9, 3)
    assert (ordered.last_category, ordered.last_element_id) == ("ausstattung", "aus-premium")
    assert (ordered.latest_price.amount_minor, ordered.latest_price.currency) == (5000, "EUR")
    assert ordered.completion_percentage == 100.0
    assert (ordered.landing_page, ordered.locale) == ("/configurator", "de-AT")
    without_snapshot = first.sessions[1]
    assert not without_snapshot.HasField("latest_price")
    assert not without_snapshot.HasField("completion_percentage")
    assert not without_snapshot.HasField("ended_at")


async def test_list_sessions_filters(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    await _list_dataset(pg_pool)

    assert await _list(metrics, device_type="mobile") == ["ls-5", "ls-3", "ls-2"]  # ls-out is after the range
    assert await _list(metrics, status="active") == ["ls-5", "ls-3", "ls-1"]
    assert await _list(metrics, device_type="mobile", status="active") == ["ls-5", "ls-3"]
    # price bounds are inclusive; a session without a price never matches them
    assert await _list(metrics, min_price_minor=3000, max_price_minor=8000) == ["ls-5", "ls-3", "ls-2"]
    assert await _list(metrics, min_price_minor=0) == ["ls-5", "ls-3", "ls-2", "ls-1"]
    assert await _list(metrics, max_price_minor=2999) == ["ls-1"]
    assert await _list(metrics, min_completion=60) == ["ls-5", "ls-2"]
    assert await _list(metrics, min_completion=10, max_completion=50) == ["ls-3", "ls-1"]
    assert await _list(metrics, device_type="tablet", min_completion=0) == []


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"device_type": "fridge"}, "device_type"),
        ({"status": "lost"}, "status"),
        ({"min_price_minor": 10, "max_price_minor": 9}, "min_price_minor"),
        ({"min_completion": 80.0, "max_completion": 20.0}, "min_completion"),
        ({"page_size": 501}, "page_size"),
        ({"page_token": "not-a-token"}, "page_token"),
    ],
)
async def test_list_sessions_rejects_bad_filters(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, filters: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.ListSessions(metrics_pb2.ListSessionsRequest(**filters))  # type: ignore[arg-type]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations_from(caught.value)] == [field]


# ---- SessionJourney ----


async def test_session_journey_merges_interactions_and_snapshots_with_the_price_after_each_step(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    await add_session(
        pg_pool,
        "journey",
        at(9, 10),
        last_seen_at=at(9, 10, 3),
        interaction_count=6,
        snapshot_count=3,
        price=13_000_000,
        completion=100,
        status="ordered",
    )
    await add_session(pg_pool, "someone-else", at(9, 10))
    await add_event(pg_pool, "someone-else", at(9, 10, 0, 6), "click", "nest")
    await add_event(
        pg_pool,
        "journey",
        at(9, 10, 0, 5),
        "selection",
        "nest",
        "nest_80",
        previous_value="nest_60",
        element_id="nest-size",
        sequence=1,
        time_spent_ms=4200,
    )
    await add_snapshot(
        pg_pool, "journey", at(9, 10, 0, 7), 10_000_000, completion=20, configuration={"nest": "nest_80"}
    )
    await add_event(pg_pool, "journey", at(9, 10, 0, 30), "click", "gebaeudehuelle", sequence=2)
    await add_event(pg_pool, "journey", at(9, 10, 1), "selection", "gebaeudehuelle", "holz", sequence=3)
    await add_snapshot(pg_pool, "journey", at(9, 10, 1), 12_500_000, completion=50)  # same time as the event
    await add_event(pg_pool, "journey", at(9, 10, 2), "selection", "ausstattung", "premium", sequence=4)
    await add_snapshot(
        pg_pool, "journey", at(9, 10, 2, 30), 13_000_000, completion=100, trigger="order_attempt"
    )
    await add_event(pg_pool, "journey", at(9, 10, 3), "click", "", sequence=None)  # no sequence: last
    await add_event(pg_pool, "journey", at(9, 10, 3), "click", "", element_id="order-button", sequence=9)

    answer = await metrics.SessionJourney(metrics_pb2.SessionJourneyRequest(session_id="journey"))

    assert answer.session.session_id == "journey"
    assert answer.session.status == "ordered"
    assert not answer.truncated
    steps = [
        (
            s.index,
            s.WhichOneof("step"),
            s.occurred_at.ToDatetime().strftime("%H:%M:%S"),
            s.seconds_since_previous,
            s.price.amount_minor if s.HasField("price") else None,
        )
        for s in answer.steps
    ]
    assert steps == [
        (1, "interaction", "10:00:05", 5.0, None),  # 5 s after the session started; no snapshot yet
        (2, "snapshot", "10:00:07", 2.0, 10_000_000),
        (3, "interaction", "10:00:30", 23.0, 10_000_000),
        (4, "snapshot", "10:01:00", 30.0, 12_500_000),  # at equal times the snapshot comes first
        (5, "interaction", "10:01:00", 0.0, 12_500_000),
        (6, "interaction", "10:02:00", 60.0, 12_500_000),
        (7, "snapshot", "10:02:30", 30.0, 13_000_000),
        (8, "interaction", "10:03:00", 30.0, 13_000_000),  # sequence 9
        (9, "interaction", "10:03:00", 0.0, 13_000_000),  # no sequence
    ]
    first = answer.steps[0].interaction
    assert (first.event_type, first.category, first.selection_value, first.previous_value) == (
        "selection",
        "nest",
        "nest_80",
        "nest_60",
    )
    assert (first.element_id, first.time_spent_ms) == ("nest-size", 4200)
    assert answer.steps[7].interaction.element_id == "order-button"
    snapshot = answer.steps[1].snapshot
    assert (snapshot.trigger, snapshot.completion_percentage) == ("auto_save", 20.0)
    assert json_format.MessageToDict(snapshot.configuration) == {"nest": "nest_80"}
    assert answer.steps[6].snapshot.trigger == "order_attempt"
    assert answer.steps[1].price.currency == "EUR"


async def test_session_journey_of_an_unknown_session_is_not_found(
    metrics: metrics_pb2_grpc.MetricsAsyncStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.SessionJourney(metrics_pb2.SessionJourneyRequest(session_id="nobody"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.SessionJourney(metrics_pb2.SessionJourneyRequest(session_id="not a session id"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# ---- PopularConfigurations ----


async def _popular_dataset(pool: asyncpg.Pool) -> None:
    # the range is [03-09 09:30, 03-09 12:15): hours 10 and 11 from the rollup, the edges from raw rows
    config = {"nest": "nest_80", "gebaeudehuelle": "holz"}
    await add_session(pool, "pc-1", at(9, 10), configuration=config, price=100)
    await add_session(pool, "pc-2", at(9, 10, 30), configuration=config, price=201)
    await add_session(pool, "pc-3", at(9, 11), configuration={"nest": "nest_60"}, price=50)
    # the same JSON object written in another key order
    await add_session(
        pool, "pc-4", at(9, 11, 30), configuration={"gebaeudehuelle": "holz", "nest": "nest_80"}, price=300
    )
    await add_session(pool, "pc-5", at(9, 9), configuration={"nest": "nest_60"}, price=50)  # before the range
    await add_session(pool, "pc-6", at(9, 11, 45))  # no configuration

    for when, event_type, category, value in [
        (at(9, 9, 10), "selection", "nest", "nest_60"),  # before the range
        (at(9, 9, 40), "selection", "nest", "nest_80"),
        (at(9, 10, 15), "selection", "nest", "nest_80"),
        (at(9, 10, 20), "selection", "nest", "nest_60"),
        (at(9, 10, 30), "click", "nest", "nest_999"),  # not a selection
        (at(9, 11), "selection", "gebaeudehuelle", "beton"),
        (at(9, 11, 30), "selection", "nest", "nest_80"),
        (at(9, 11, 59, 59), "selection", "nest", "nest_100"),
        (at(9, 12, 5), "selection", "gebaeudehuelle", "holz"),
        (at(9, 12, 14, 59), "selection", "gebaeudehuelle", "holz"),
        (at(9, 12, 15), "selection", "gebaeudehuelle", "beton"),  # at the end: outside
    ]:
        await add_event(pool, "pc-6", when, event_type, category, value)

    snapshots: list[tuple[datetime, dict[str, Any], int, str]] = [
        (at(9, 9, 20), {"nest": "nest_60"}, 9999, "EUR"),  # before the range
        (at(9, 9, 45), {"nest": "nest_80"}, 1000, "EUR"),
        (at(9, 10, 10), {"nest": "nest_80", "gebaeudehuelle": "holz"}, 1500, "EUR"),
        (at(9, 10, 40), {"nest": "nest_80", "extras": ["a", "b"], "note": None}, 2000, "CHF"),
        (at(9, 11, 20), {"nest": "nest_60", "gebaeudehuelle": "holz"}, 1201, "EUR"),
        (at(9, 12, 10), {"nest": "nest_80"}, 1100, "EUR"),
        (at(9, 12, 20), {"nest": "nest_80"}, 9999, "EUR"),  # after the range
    ]
    for when, configuration, price, currency in snapshots:
        await add_snapshot(pool, "pc-6", when, price, currency=currency, configuration=configuration)


def _popular_request(**fields: object) -> metrics_pb2.PopularConfigurationsRequest:
    return metrics_pb2.PopularConfigurationsRequest(
        from_time=ts(at(9, 9, 30)),
        to_time=ts(at(9, 12, 15)),
        **fields,  # type: ignore[arg-type]
    )


async def test_popular_configurations(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    await _popular_dataset(pg_pool)

    answer = await metrics.PopularConfigurations(_popular_request())

    selections = [
        (c.category, c.selections, [(o.option, o.selections) for o in c.options]) for c in answer.selections
    ]
    assert selections == [
        ("gebaeudehuelle", 3, [("holz", 2), ("beton", 1)]),  # holz 12:05, 12:14:59; beton 11:00
        # nest_80: 09:40, 10:15, 11:30; one each for nest_100 and nest_60 (tie by name)
        ("nest", 5, [("nest_80", 3), ("nest_100", 1), ("nest_60", 1)]),
    ]
    configurations = [
        (
            json_format.MessageToDict(c.configuration),
            c.sessions,
            c.average_price.amount_minor,
            c.average_price.currency,
        )
        for c in answer.configurations
    ]
    assert configurations == [
        # pc-1, pc-2, pc-4: (100 + 201 + 300) / 3 = 200.33
        ({"nest": "nest_80", "gebaeudehuelle": "holz"}, 3, 200, "EUR"),
        ({"nest": "nest_60"}, 1, 50, "EUR"),  # pc-3; pc-5 started before the range
    ]
    prices = [
        (p.category, p.option, p.average_price.currency, p.snapshots, p.average_price.amount_minor)
        for p in answer.option_prices
    ]
    assert prices == [
        ("extras", '["a", "b"]', "CHF", 1, 2000),  # non-string values as JSON text; the null "note" is none
        ("gebaeudehuelle", "holz", "EUR", 2, 1351),  # (1500 + 1201) / 2 = 1350.5
        ("nest", "nest_80", "EUR", 3, 1200),  # (1000 + 1500 + 1100) / 3
        ("nest", "nest_60", "EUR", 1, 1201),
        ("nest", "nest_80", "CHF", 1, 2000),
    ]


async def test_popular_configurations_for_one_category_and_a_limit(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    await _popular_dataset(pg_pool)

    answer = await metrics.PopularConfigurations(_popular_request(category="nest", limit=1))

    assert [(c.category, c.selections, [o.option for o in c.options]) for c in answer.selections] == [
        ("nest", 5, ["nest_80"])
    ]
    assert [(p.category, p.option, p.average_price.currency) for p in answer.option_prices] == [
        ("nest", "nest_80", "EUR")
    ]
    assert len(answer.configurations) == 1


async def test_hourly_rollups_follow_sync_writes_redeliveries_and_erasure(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    from configtrail.common.v1 import events_pb2
    from services.sync.writer import Batch, write_batch

    batch = Batch()
    for second, category, value in [(10, "nest", "nest_80"), (20, "nest", "nest_80"), (30, "dach", "flach")]:
        event = events_pb2.InteractionEvent(
            event_id=f"00000000-0000-4000-8000-0000000000{second}",
            session_id="rollup",
            event_type=events_pb2.EVENT_TYPE_SELECTION,
            category=category,
            selection_value=value,
        )
        event.client_timestamp.FromDatetime(at(9, 10, 0, second))
        event.server_timestamp.FromDatetime(at(9, 10, 0, second))
        batch.interactions.append(event)
    snapshot = events_pb2.ConfigurationSnapshot(
        snapshot_id="00000000-0000-4000-8000-000000000040",
        session_id="rollup",
        total_price=events_pb2.Money(amount_minor=1000, currency="EUR"),
        trigger=events_pb2.SNAPSHOT_TRIGGER_AUTO_SAVE,
    )
    snapshot.configuration.update({"nest": "nest_80"})
    snapshot.client_timestamp.FromDatetime(at(9, 10, 0, 40))
    snapshot.server_timestamp.FromDatetime(at(9, 10, 0, 40))
    batch.snapshots.append(snapshot)
    async with pg_pool.acquire() as conn:
        await write_batch(conn, batch)
        await write_batch(conn, batch)  # redelivered: stored once, counted once
    whole_day = metrics_pb2.PopularConfigurationsRequest(from_time=ts(at(9, 0)), to_time=ts(at(10, 0)))

    answer = await metrics.PopularConfigurations(whole_day)
    assert [(c.category, c.selections) for c in answer.selections] == [("dach", 1), ("nest", 2)]
    assert [(p.option, p.snapshots, p.average_price.amount_minor) for p in answer.option_prices] == [
        ("nest_80", 1, 1000)
    ]

    await pg_pool.execute("UPDATE interaction_events SET category = 'pv' WHERE category = 'dach'")
    answer = await metrics.PopularConfigurations(whole_day)
    assert [(c.category, c.selections) for c in answer.selections] == [("nest", 2), ("pv", 1)]

    await pg_pool.execute("DELETE FROM user_sessions WHERE session_id = 'rollup'")  # cascades to its events
    answer = await metrics.PopularConfigurations(whole_day)
    assert list(answer.selections) == []
    assert list(answer.option_prices) == []
    # no zero rows left behind
    assert await pg_pool.fetchval("SELECT count(*) FROM interaction_rollup_hourly") == 0
    assert await pg_pool.fetchval("SELECT count(*) FROM snapshot_option_rollup_hourly") == 0


# ---- PriceEvolution ----


async def test_price_evolution_by_snapshot_number(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    await add_session(pg_pool, "pe-1", at(9, 10))
    for minute, price in [(1, 100), (2, 200), (3, 400)]:
        await add_snapshot(pg_pool, "pe-1", at(9, 10, minute), price)
    await add_session(pg_pool, "pe-2", at(9, 11))
    await add_snapshot(pg_pool, "pe-2", at(9, 11, 5), 100)  # inserted first, second in time
    await add_snapshot(pg_pool, "pe-2", at(9, 11, 1), 300)
    await add_session(pg_pool, "pe-3", at(9, 12))  # two snapshots at one time: by snapshot id
    await add_snapshot(pg_pool, "pe-3", at(9, 12, 1), 60, snapshot_id="bbbbbbbb-0000-4000-8000-000000000000")
    await add_snapshot(pg_pool, "pe-3", at(9, 12, 1), 50, snapshot_id="aaaaaaaa-0000-4000-8000-000000000000")
    await add_session(pg_pool, "pe-4", at(9, 13))
    await add_snapshot(pg_pool, "pe-4", at(9, 13, 1), 1000, currency="CHF")
    await add_session(pg_pool, "pe-5", at(9, 14))
    await add_snapshot(pg_pool, "pe-5", at(9, 14, 1), 101)
    await add_snapshot(pg_pool, "pe-5", at(9, 14, 2), 200)
    await add_session(pg_pool, "pe-out", at(8, 23))  # started before the range, snapshot inside it
    await add_snapshot(pg_pool, "pe-out", at(9, 0, 30), 5000)

    request = metrics_pb2.PriceEvolutionRequest(from_time=ts(at(9, 0)), to_time=ts(at(10, 0)))
    answer = await metrics.PriceEvolution(request)

    steps = [
        (s.step, s.currency, s.sessions, s.average_price.amount_minor, s.median_price.amount_minor)
        for s in answer.steps
    ]
    assert steps == [
        (1, "CHF", 1, 1000, 1000),
        # 100, 300, 50, 101: mean 551 / 4 = 137.75; median (100 + 101) / 2 = 100.5, halves away from zero
        (1, "EUR", 4, 138, 101),
        # 200, 100, 60, 200: mean 560 / 4 = 140; median (100 + 200) / 2 = 150
        (2, "EUR", 4, 140, 150),
        (3, "EUR", 1, 400, 400),
    ]
    assert all(s.average_price.currency == s.currency == s.median_price.currency for s in answer.steps)

    request.max_steps = 2
    assert [s.step for s in (await metrics.PriceEvolution(request)).steps] == [1, 1, 2]


# ---- Abandonment ----


async def test_abandonment_of_sessions_that_ended_without_an_order(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    # NOW is 03-10 12:00:30: a session not ended and not seen since before 11:30:30 is no longer active
    await add_session(
        pg_pool,
        "ab-1",
        at(9, 10),
        last_seen_at=at(10, 11),
        last_category="nest",
        last_element_id="nest-size-80",
        completion=35,
    )
    await add_session(
        pg_pool,
        "ab-2",
        at(9, 10),
        last_seen_at=at(10, 11, 45),
        last_category="nest",
        last_element_id="nest-size-80",
        completion=35,
    )  # still active
    await add_session(
        pg_pool,
        "ab-3",
        at(9, 10),
        last_seen_at=at(10, 11, 59),
        status="abandoned",
        ended_at=at(10, 11, 59),
        end_reason="page_exit",
        last_category="gebaeudehuelle",
        last_element_id="gh-wall",
        completion=100,
    )  # ended
    await add_session(
        pg_pool,
        "ab-4",
        at(9, 10),
        last_seen_at=at(9, 11),
        status="ordered",
        ended_at=at(9, 11),
        last_category="ausstattung",
        last_element_id="order",
        completion=100,
    )
    await add_session(
        pg_pool,
        "ab-5",
        at(9, 11),
        last_seen_at=at(9, 12),
        ended_at=at(9, 12),
        end_reason="timeout",
        last_category="nest",
        last_element_id="nest-size-60",
    )  # no snapshot
    await add_session(pg_pool, "ab-6", at(9, 12), completion=0)  # no interaction at all
    await add_session(
        pg_pool,
        "ab-7",
        at(9, 13),
        last_seen_at=at(10, 11, 30, 30),
        last_category="dach",
        last_element_id="dach-1",
        completion=50,
    )  # seen exactly 30 min ago: active
    await add_session(
        pg_pool,
        "ab-8",
        at(9, 14),
        last_seen_at=at(10, 11, 30, 29),
        last_category="nest",
        last_element_id="nest-size-80",
        completion=9.99,
    )
    await add_session(
        pg_pool, "ab-9", at(9, 15), last_category="ausstattung", last_element_id="aus-1", completion=10
    )
    await add_session(pg_pool, "ab-out", at(8, 15), last_category="nest", completion=20)  # before the range

    answer = await metrics.Abandonment(
        metrics_pb2.AbandonmentRequest(from_time=ts(at(9, 0)), to_time=ts(at(10, 12)))
    )

    assert answer.sessions == 6  # ab-1, ab-3, ab-5, ab-6, ab-8, ab-9
    assert [(c.category, c.sessions) for c in answer.by_last_category] == [
        ("nest", 3),  # ab-1, ab-5, ab-8
        ("", 1),  # ab-6 (no interaction); then ties by name
        ("ausstattung", 1),
        ("gebaeudehuelle", 1),
    ]
    assert [(e.element_id, e.sessions) for e in answer.by_last_element] == [
        ("nest-size-80", 2),
        ("", 1),
        ("aus-1", 1),
        ("gh-wall", 1),
        ("nest-size-60", 1),
    ]
    # ab-6 0 and ab-8 9.99 → [0, 10); ab-9 10 → [10, 20); ab-1 35 → [30, 40); ab-3 100 → [90, 100]
    assert [(b.from_percent, b.to_percent, b.sessions) for b in answer.completion] == [
        (0, 10, 2),
        (10, 20, 1),
        (20, 30, 0),
        (30, 40, 1),
        (40, 50, 0),
        (50, 60, 0),
        (60, 70, 0),
        (70, 80, 0),
        (80, 90, 0),
        (90, 100, 1),
    ]
    assert answer.without_snapshot == 1  # ab-5


async def test_abandonment_lists_the_top_20_last_elements(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    for n in range(21):
        await add_session(pg_pool, f"el-{n}", at(9, 10), last_category="nest", last_element_id=f"el-{n:02d}")
    await add_session(pg_pool, "el-again", at(9, 10), last_category="nest", last_element_id="el-20")

    answer = await metrics.Abandonment(
        metrics_pb2.AbandonmentRequest(from_time=ts(at(9, 0)), to_time=ts(at(10, 0)))
    )

    assert answer.sessions == 22
    # el-20 twice, then 19 of the 20 single ones by id: el-19 is the 21st and left out
    assert [(e.element_id, e.sessions) for e in answer.by_last_element] == [
        ("el-20", 2),
        *[(f"el-{n:02d}", 1) for n in range(19)],
    ]


# ---- bad input at the edges: the ends of the calendar, NUL characters, forged page tokens ----

#: The earliest and latest moments a Timestamp holds.
YEAR_1 = datetime(1, 1, 1, tzinfo=UTC)
YEAR_9999 = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)

#: The range RPCs with their request type: each takes from_time and to_time.
RANGE_RPCS: list[tuple[str, type[Any]]] = [
    ("Overview", metrics_pb2.OverviewRequest),
    ("ListSessions", metrics_pb2.ListSessionsRequest),
    ("PopularConfigurations", metrics_pb2.PopularConfigurationsRequest),
    ("PriceEvolution", metrics_pb2.PriceEvolutionRequest),
    ("Abandonment", metrics_pb2.AbandonmentRequest),
    ("Funnel", metrics_pb2.FunnelRequest),
]


def _range_request(request_type: type[Any], **fields: Any) -> Any:
    if request_type is metrics_pb2.FunnelRequest:
        fields.setdefault("steps", [metrics_pb2.FunnelStep(event_type="selection")])
    return request_type(**fields)


@pytest.mark.parametrize(("rpc", "request_type"), RANGE_RPCS, ids=[rpc for rpc, _ in RANGE_RPCS])
@pytest.mark.parametrize("to_time", [YEAR_1, YEAR_1 + timedelta(hours=14), YEAR_1 + timedelta(days=29)])
async def test_a_range_ending_in_the_first_30_days_of_year_1_starts_at_year_1(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, rpc: str, request_type: type[Any], to_time: datetime
) -> None:
    # no 30 days before such a to_time: the default from_time is the earliest time there is
    answer = await getattr(metrics, rpc)(_range_request(request_type, to_time=ts(to_time)))

    if rpc == "ListSessions":
        assert list(answer.sessions) == []
    else:
        assert (answer.from_time, answer.to_time) == (ts(YEAR_1), ts(to_time))


@pytest.mark.parametrize(("rpc", "request_type"), RANGE_RPCS, ids=[rpc for rpc, _ in RANGE_RPCS])
async def test_ranges_at_the_ends_of_the_calendar(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool, rpc: str, request_type: type[Any]
) -> None:
    # (not at the very ends: asyncpg writes those two times as -infinity and infinity)
    await add_session(pg_pool, "first", YEAR_1 + timedelta(hours=1))
    await add_session(pg_pool, "last", YEAR_9999 - timedelta(hours=1))
    whole = await getattr(metrics, rpc)(
        _range_request(request_type, from_time=ts(YEAR_1), to_time=ts(YEAR_9999))
    )
    latest = await getattr(metrics, rpc)(_range_request(request_type, to_time=ts(YEAR_9999)))

    if rpc == "ListSessions":
        assert [s.session_id for s in whole.sessions] == ["last", "first"]
        assert [s.session_id for s in latest.sessions] == ["last"]
        return
    assert (whole.from_time, whole.to_time) == (ts(YEAR_1), ts(YEAR_9999))
    assert (latest.from_time, latest.to_time) == (ts(YEAR_9999 - timedelta(days=30)), ts(YEAR_9999))
    if rpc in ("Overview", "Funnel"):
        assert (whole.sessions, latest.sessions) == (2, 1)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        # a second past either end of years 1..9999 (what "9999-12-31T23:59:59-14:00" would be in UTC)
        ({"to_time": timestamp_pb2.Timestamp(seconds=253_402_300_800)}, "to_time"),
        ({"from_time": timestamp_pb2.Timestamp(seconds=-62_135_596_801)}, "from_time"),
        ({"from_time": ts(YEAR_9999), "to_time": ts(YEAR_9999 - timedelta(hours=14))}, "from_time"),
        ({"to_time": timestamp_pb2.Timestamp(seconds=0, nanos=-1)}, "to_time"),
    ],
)
async def test_times_outside_the_calendar_or_out_of_order_are_invalid(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, fields: dict[str, object], field: str
) -> None:
    for rpc, request_type in RANGE_RPCS:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await getattr(metrics, rpc)(_range_request(request_type, **fields))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, rpc
        assert [v.field for v in field_violations_from(caught.value)] == [field], rpc


async def test_overview_buckets_must_not_start_before_year_1(
    metrics: metrics_pb2_grpc.MetricsAsyncStub,
) -> None:
    # weeks from 2000-01-01 (a Saturday) put the week of 0001-01-01 (a Monday) partly before year 1
    request = metrics_pb2.OverviewRequest(
        from_time=ts(YEAR_1), to_time=ts(YEAR_1 + timedelta(days=70)), bucket_seconds=7 * 86_400
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.Overview(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [violation] = field_violations_from(caught.value)
    assert violation.field == "bucket_seconds"
    assert "before 0001-01-01T00:00:00Z" in violation.reason, violation.reason

    # days start on 0001-01-01 itself, and a week's buckets from a later start are all in the calendar
    days = await metrics.Overview(
        metrics_pb2.OverviewRequest(to_time=ts(YEAR_1 + timedelta(days=3)), bucket_seconds=86_400)
    )
    assert [b.start for b in days.series] == [ts(YEAR_1 + timedelta(days=n)) for n in range(3)]
    weeks = await metrics.Overview(
        metrics_pb2.OverviewRequest(
            from_time=ts(YEAR_1 + timedelta(days=5)),
            to_time=ts(YEAR_1 + timedelta(days=20)),
            bucket_seconds=7 * 86_400,
        )
    )
    assert weeks.series[0].start == ts(YEAR_1 + timedelta(days=5))
    assert weeks.series[-1].start == ts(YEAR_1 + timedelta(days=19))


def _token(*cursor: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(cursor))).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        _token("0001-01-01T00:00:00+14:00", "fuzz-1"),  # 0000-12-31T10:00:00Z
        _token("9999-12-31T23:59:59-14:00", "fuzz-1"),  # year 10000 in UTC
        _token("2026-03-08T12:01:30+00:00", "\u0000"),
        _token("2026-03-08T12:01:30+00:00", "ls-\u00001"),
        _token("2026-03-08T12:01:30", "ls-1"),  # no offset
        _token("2026-03-08T12:01:30+00:00", 1),
        _token(None, "ls-1"),
        _token("2026-03-08T12:01:30+00:00"),
        base64.urlsafe_b64encode(b'{"a": 1, "b": 2}').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "\u00e9",
    ],
)
async def test_list_sessions_rejects_page_tokens_that_are_no_cursor(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, token: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.ListSessions(metrics_pb2.ListSessionsRequest(page_token=token))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations_from(caught.value)] == ["page_token"]


async def test_a_page_token_with_another_offset_reads_as_its_utc_time(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    await _list_dataset(pg_pool)
    # ls-5 started at 03-09 13:00 UTC: a cursor at 14:00+01:00 (the same moment) lists what comes after it
    token = _token("2026-03-09T14:00:00+01:00", "ls-5")
    request = metrics_pb2.ListSessionsRequest(from_time=ts(at(9, 0)), to_time=ts(at(10, 0)), page_token=token)
    assert [s.session_id for s in (await metrics.ListSessions(request)).sessions] == [
        "ls-4",
        "ls-3",
        "ls-2",
        "ls-1",
    ]


#: A request of each analytics RPC with a NUL character in one string, and that string's field path.
NUL_REQUESTS: list[tuple[str, Any, str]] = [
    ("PopularConfigurations", metrics_pb2.PopularConfigurationsRequest(category="\x00"), "category"),
    ("GetPerformanceSummary", metrics_pb2.GetPerformanceSummaryRequest(metric_name="\x00"), "metric_name"),
    ("GetPerformanceSummary", metrics_pb2.GetPerformanceSummaryRequest(endpoint="/api\x00"), "endpoint"),
    ("ListSessions", metrics_pb2.ListSessionsRequest(device_type="desktop\x00"), "device_type"),
    ("ListSessions", metrics_pb2.ListSessionsRequest(status="\x00"), "status"),
    ("SessionJourney", metrics_pb2.SessionJourneyRequest(session_id="ls-1\x00"), "session_id"),
    (
        "Funnel",
        metrics_pb2.FunnelRequest(steps=[metrics_pb2.FunnelStep(category="\x00")]),
        "steps[0].category",
    ),
    ("Funnel", metrics_pb2.FunnelRequest(breakdown="\x00"), "breakdown"),
]


@pytest.mark.parametrize(("rpc", "request_message", "field"), NUL_REQUESTS)
async def test_strings_with_a_nul_character_are_invalid(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, rpc: str, request_message: Any, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(metrics, rpc)(request_message)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.reason) for v in field_violations_from(caught.value)] == [
        (field, "must not contain NUL characters")
    ]


async def test_watch_performance_refuses_a_nul_character(metrics: metrics_pb2_grpc.MetricsAsyncStub) -> None:
    call = metrics.WatchPerformance(metrics_pb2.WatchPerformanceRequest(endpoint="\x00"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations_from(caught.value)] == ["endpoint"]


def test_the_text_check_names_every_nul_string_by_its_path() -> None:
    request = metrics_pb2.FunnelRequest(
        steps=[
            metrics_pb2.FunnelStep(event_type="selection", category="nest"),
            metrics_pb2.FunnelStep(event_type="a\x00", category="\x00"),
        ],
        breakdown="\x00device_type",
        from_time=ts(at(9, 0)),
    )
    assert [v.field for v in text_violations(request)] == [
        "steps[1].event_type",
        "steps[1].category",
        "breakdown",
    ]
    assert text_violations(metrics_pb2.FunnelRequest(steps=request.steps[:1])) == []


@pytest.mark.parametrize("bound", ["min_completion", "max_completion"])
async def test_list_sessions_rejects_a_nan_completion_bound(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, bound: str
) -> None:
    request = metrics_pb2.ListSessionsRequest()
    setattr(request, bound, math.nan)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.ListSessions(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations_from(caught.value)] == [bound]


def test_whole_hours_of_a_range_in_the_last_hour_of_the_calendar() -> None:
    end = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    assert whole_hours(TimeRange(datetime(9999, 12, 31, 23, 30, tzinfo=UTC), end)) == (end, end)
    start = datetime(9999, 12, 31, 21, 30, tzinfo=UTC)
    assert whole_hours(TimeRange(start, end)) == (
        datetime(9999, 12, 31, 22, tzinfo=UTC),
        datetime(9999, 12, 31, 23, tzinfo=UTC),
    )
