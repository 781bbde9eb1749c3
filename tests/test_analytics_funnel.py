"""Funnel on a hand-built dataset: order, window, skipped steps, breakdown by device; numbers worked by hand.

Steps: 1 selection in nest, 2 selection in gebaeudehuelle, 3 selection in ausstattung, 4 an order_attempt
snapshot; window one hour; range 03-09. Every session starts at t0 and the seconds after each step are
t(k) - t(k-1), with t0 for the first step.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from google.protobuf import json_format

from configtrail.errors import field_violations_from
from configtrail.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from services.metrics.funnel import MAX_WINDOW_SECONDS
from tests.conftest import Servers
from tests.test_analytics_support import add_event, add_session, add_snapshot, at, metrics_server, ts

STEPS = [
    metrics_pb2.FunnelStep(event_type="selection", category="nest"),
    metrics_pb2.FunnelStep(event_type="selection", category="gebaeudehuelle"),
    metrics_pb2.FunnelStep(event_type="selection", category="ausstattung"),
    metrics_pb2.FunnelStep(snapshot_trigger="order_attempt"),
]


@pytest.fixture
async def metrics(servers: Servers, clean: None) -> AsyncIterator[metrics_pb2_grpc.MetricsAsyncStub]:
    async with metrics_server(servers) as stub:
        yield stub


async def _select(pool: asyncpg.Pool, session_id: str, when: datetime, category: str) -> None:
    await add_event(pool, session_id, when, "selection", category, f"{category}-option")


@pytest.fixture
async def dataset(pg_pool: asyncpg.Pool, clean: None) -> None:
    pool = pg_pool
    # f1, desktop: every step in order. 60, 60, 120, 360 s
    await add_session(pool, "f1", at(9, 10), device_type="desktop")
    await _select(pool, "f1", at(9, 10, 1), "nest")
    await _select(pool, "f1", at(9, 10, 2), "gebaeudehuelle")
    await _select(pool, "f1", at(9, 10, 4), "ausstattung")
    await add_snapshot(pool, "f1", at(9, 10, 10), 100, trigger="order_attempt")

    # f2, mobile: gebaeudehuelle before nest does not count, so it stops at step 1 (120 s); its
    # ausstattung selection comes too early in the sequence to matter
    await add_session(pool, "f2", at(9, 11), device_type="mobile")
    await _select(pool, "f2", at(9, 11, 1), "gebaeudehuelle")
    await _select(pool, "f2", at(9, 11, 2), "nest")
    await _select(pool, "f2", at(9, 11, 3), "ausstattung")

    # f3, mobile: nest at the very start (0 s), gebaeudehuelle (1800 s); ausstattung 3601 s after the
    # start is outside the window, so it stops at step 2; its order attempt precedes step 3 anyway
    await add_session(pool, "f3", at(9, 12), device_type="mobile")
    await _select(pool, "f3", at(9, 12), "nest")
    await _select(pool, "f3", at(9, 12, 30), "gebaeudehuelle")
    await add_snapshot(pool, "f3", at(9, 12, 50), 100, trigger="order_attempt")
    await _select(pool, "f3", at(9, 13, 0, 1), "ausstattung")

    # f4, desktop: the earliest qualifying event after the previous step counts. nest 13:05 (300 s);
    # gebaeudehuelle 13:04 is before it, 13:20 counts (900 s); ausstattung 13:30 (600 s); the order
    # attempt at 13:30 is not after it, the one at 14:00:00 is, exactly at the window's end (1800 s)
    await add_session(pool, "f4", at(9, 13), device_type="desktop")
    await _select(pool, "f4", at(9, 13, 4), "gebaeudehuelle")
    await _select(pool, "f4", at(9, 13, 5), "nest")
    await _select(pool, "f4", at(9, 13, 6), "nest")
    await _select(pool, "f4", at(9, 13, 20), "gebaeudehuelle")
    await _select(pool, "f4", at(9, 13, 30), "ausstattung")
    await add_snapshot(pool, "f4", at(9, 13, 30), 100, trigger="order_attempt")
    await add_snapshot(pool, "f4", at(9, 14), 100, trigger="order_attempt")

    # f5, tablet: a click is not a selection; reaches nothing
    await add_session(pool, "f5", at(9, 14), device_type="tablet")
    await add_event(pool, "f5", at(9, 14, 1), "click", "nest")

    # f6, desktop: a nest selection before its start does not count, the one at 15:10 does (600 s);
    # gebaeudehuelle (600 s); it skips ausstattung, so its order attempt does not count: stops at step 2
    await add_session(pool, "f6", at(9, 15), device_type="desktop")
    await _select(pool, "f6", at(9, 14, 59), "nest")
    await _select(pool, "f6", at(9, 15, 10), "nest")
    await _select(pool, "f6", at(9, 15, 20), "gebaeudehuelle")
    await add_snapshot(pool, "f6", at(9, 15, 30), 100, trigger="order_attempt")

    # f7, mobile: starts in the last second of the range; its step 1 after the range still counts (31 s)
    await add_session(pool, "f7", at(9, 23, 59, 59), device_type="mobile")
    await _select(pool, "f7", at(10, 0, 0, 30), "nest")

    # outside the range: started before it, and exactly at its exclusive end
    for session_id, start in [("f8", at(8, 23)), ("f9", at(10, 0))]:
        await add_session(pool, session_id, start, device_type="desktop")
        await _select(pool, session_id, start.replace(minute=1), "nest")


def _request(**fields: object) -> metrics_pb2.FunnelRequest:
    values: dict[str, object] = {
        "steps": STEPS,
        "window_seconds": 3600,
        "from_time": ts(at(9, 0)),
        "to_time": ts(at(10, 0)),
    }
    values.update(fields)
    return metrics_pb2.FunnelRequest(**values)  # type: ignore[arg-type]


def _table(results: Iterable[metrics_pb2.FunnelStepResult]) -> list[tuple[int, float, float, int, float]]:
    return [
        (
            r.count,
            round(r.conversion_from_start, 6),
            round(r.conversion_from_previous, 6),
            r.drop_off,
            r.median_seconds_from_previous,
        )
        for r in results
    ]


async def test_funnel_counts_sessions_that_reach_each_step_in_order_within_the_window(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    answer = await metrics.Funnel(_request())

    assert answer.sessions == 7  # f1..f7
    assert (answer.from_time, answer.to_time, answer.window_seconds) == (ts(at(9, 0)), ts(at(10, 0)), 3600)
    assert [r.step for r in answer.steps] == STEPS
    assert _table(answer.steps) == [
        # f1 60, f2 120, f3 0, f4 300, f6 600, f7 31: sorted 0 31 60 120 300 600, median (60 + 120) / 2
        (6, round(6 / 7, 6), round(6 / 7, 6), 1, 90.0),
        # f1 60, f3 1800, f4 900, f6 600: median (600 + 900) / 2
        (4, round(4 / 7, 6), round(4 / 6, 6), 2, 750.0),
        # f1 120, f4 600
        (2, round(2 / 7, 6), 0.5, 2, 360.0),
        # f1 360, f4 1800
        (2, round(2 / 7, 6), 1.0, 0, 1080.0),
    ]
    assert list(answer.breakdown) == []


async def test_funnel_breakdown_by_device_adds_up_to_the_total(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    answer = await metrics.Funnel(_request(breakdown="device_type"))

    by_device = {b.device_type: (b.sessions, _table(b.steps)) for b in answer.breakdown}
    assert [b.device_type for b in answer.breakdown] == ["desktop", "mobile", "tablet"]  # 3, 3 (by name), 1
    assert by_device["desktop"] == (
        3,  # f1, f4, f6
        [
            (3, 1.0, 1.0, 0, 300.0),  # 60, 300, 600
            (3, 1.0, 1.0, 0, 600.0),  # 60, 900, 600
            (2, round(2 / 3, 6), round(2 / 3, 6), 1, 360.0),  # 120, 600
            (2, round(2 / 3, 6), 1.0, 0, 1080.0),  # 360, 1800
        ],
    )
    assert by_device["mobile"] == (
        3,  # f2, f3, f7
        [
            (3, 1.0, 1.0, 0, 31.0),  # 120, 0, 31
            (1, round(1 / 3, 6), round(1 / 3, 6), 2, 1800.0),  # f3
            (0, 0.0, 0.0, 1, 0.0),
            (0, 0.0, 0.0, 0, 0.0),  # nothing to convert from
        ],
    )
    assert by_device["tablet"] == (1, [(0, 0.0, 0.0, 1, 0.0), *[(0, 0.0, 0.0, 0, 0.0)] * 3])
    assert sum(b.sessions for b in answer.breakdown) == answer.sessions
    for k, total in enumerate(answer.steps):
        assert sum(b.steps[k].count for b in answer.breakdown) == total.count
    # the totals are the same as without a breakdown
    assert _table(answer.steps) == _table((await metrics.Funnel(_request())).steps)


async def test_funnel_without_a_window(metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None) -> None:
    answer = await metrics.Funnel(_request(window_seconds=0))

    # only f3 changes: its ausstattung 3601 s after the start now counts (13:00:01 - 12:30 = 1801 s);
    # its order attempt came before that, so step 4 stays at f1 and f4
    assert [r.count for r in answer.steps] == [6, 4, 3, 2]
    assert answer.steps[2].median_seconds_from_previous == 600.0  # 120, 1801, 600


async def test_a_repeated_step_needs_a_later_event(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    nest = metrics_pb2.FunnelStep(event_type="selection", category="nest")
    answer = await metrics.Funnel(_request(steps=[nest, nest]))

    # only f4 selected nest twice (13:05, 13:06); one event never counts for two steps
    assert [r.count for r in answer.steps] == [6, 1]
    assert answer.steps[1].median_seconds_from_previous == 60.0


async def test_steps_filter_by_type_or_category_alone(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    any_interaction = metrics_pb2.FunnelStep()
    clicks = metrics_pb2.FunnelStep(event_type="click")
    ausstattung = metrics_pb2.FunnelStep(category="ausstattung")

    # every session has an interaction at or after its start (f6 at 15:10)
    assert [r.count for r in (await metrics.Funnel(_request(steps=[any_interaction]))).steps] == [7]
    assert [r.count for r in (await metrics.Funnel(_request(steps=[clicks]))).steps] == [1]  # f5
    # ausstattung in the hour after the start: f1, f2, f4 (f3's is 1 s too late)
    assert [r.count for r in (await metrics.Funnel(_request(steps=[ausstattung]))).steps] == [3]


async def test_funnel_of_an_empty_range(metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None) -> None:
    answer = await metrics.Funnel(
        _request(from_time=ts(at(1, 0)), to_time=ts(at(2, 0)), breakdown="device_type")
    )

    assert answer.sessions == 0
    assert _table(answer.steps) == [(0, 0.0, 0.0, 0, 0.0)] * 4
    assert list(answer.breakdown) == []


async def test_funnel_takes_the_json_the_gateway_receives(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, dataset: None
) -> None:
    body = {
        "steps": [
            {"eventType": "selection", "category": "nest"},
            {"eventType": "selection", "category": "gebaeudehuelle"},
            {"eventType": "selection", "category": "ausstattung"},
            {"snapshotTrigger": "order_attempt"},
        ],
        "windowSeconds": 3600,
        "from": "2026-03-09T00:00:00Z",
        "to": "2026-03-10T00:00:00Z",
        "breakdown": "deviceType",
    }
    answer = await metrics.Funnel(json_format.ParseDict(body, metrics_pb2.FunnelRequest()))

    reply = json_format.MessageToDict(answer)
    assert reply["from"] == "2026-03-09T00:00:00Z"
    assert reply["sessions"] == "7"  # int64 is a JSON string in the proto mapping
    assert [step["count"] for step in reply["steps"]] == ["6", "4", "2", "2"]
    assert reply["steps"][0]["medianSecondsFromPrevious"] == 90.0
    assert len(reply["breakdown"]) == 3


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"steps": []}, "steps"),
        ({"steps": [metrics_pb2.FunnelStep(event_type="tap")]}, "steps[0].event_type"),
        (
            {"steps": [STEPS[0], metrics_pb2.FunnelStep(snapshot_trigger="maybe")]},
            "steps[1].snapshot_trigger",
        ),
        ({"steps": [metrics_pb2.FunnelStep(snapshot_trigger="manual", category="nest")]}, "steps[0]"),
        ({"steps": STEPS * 6}, "steps"),
        ({"window_seconds": -1}, "window_seconds"),
        # beyond a year, and far beyond what a timedelta or a Python int as C int holds
        ({"window_seconds": MAX_WINDOW_SECONDS + 1}, "window_seconds"),
        ({"window_seconds": 253_402_300_800_000}, "window_seconds"),
        ({"window_seconds": 2**63}, "window_seconds"),
        ({"window_seconds": 2**64}, "window_seconds"),
        ({"window_seconds": 1e30}, "window_seconds"),
        ({"window_seconds": 1e308}, "window_seconds"),
        ({"window_seconds": math.inf}, "window_seconds"),
        ({"window_seconds": math.nan}, "window_seconds"),
        # PostgreSQL text cannot hold NUL: named by its path
        ({"steps": [STEPS[0], metrics_pb2.FunnelStep(category="nest\x00")]}, "steps[1].category"),
        ({"steps": [metrics_pb2.FunnelStep(event_type="\x00")]}, "steps[0].event_type"),
        (
            {"steps": [metrics_pb2.FunnelStep(snapshot_trigger="order_attempt\x00")]},
            "steps[0].snapshot_trigger",
        ),
        ({"breakdown": "locale"}, "breakdown"),
    ],
)
async def test_funnel_rejects_bad_requests(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, fields: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.Funnel(_request(**fields))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations_from(caught.value)] == [field]


async def test_seconds_between_steps_are_exact_across_days(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    # no window: step 1 comes 1 day 18:25:55.058851 after the start, step 2 0.5 s later. A day or more
    # of seconds is the nearest float to the exact microseconds / 10^6 (152755.058851), not a sum of the
    # days and the rest rounded on its own (152755.05885099998)
    await add_session(pg_pool, "g1", at(20, 0))
    await _select(pg_pool, "g1", at(21, 18, 25, 55, 58851), "nest")
    await _select(pg_pool, "g1", at(21, 18, 25, 55, 558851), "gebaeudehuelle")
    answer = await metrics.Funnel(
        _request(steps=STEPS[:2], window_seconds=0, from_time=ts(at(20, 0)), to_time=ts(at(21, 0)))
    )

    assert [(r.count, r.median_seconds_from_previous) for r in answer.steps] == [(1, 152755.058851), (1, 0.5)]


async def test_the_longest_window_counts_steps_up_to_the_end_of_year_9999(
    metrics: metrics_pb2_grpc.MetricsAsyncStub, pg_pool: asyncpg.Pool
) -> None:
    # the window of a session near the end of the calendar reaches past it: steps count up to its end
    last = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    start = datetime(9999, 12, 30, tzinfo=UTC)
    await add_session(pg_pool, "h1", start)
    await _select(pg_pool, "h1", start + timedelta(days=1), "nest")
    # its last second (not the very end, which asyncpg writes as infinity)
    await _select(pg_pool, "h1", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "gebaeudehuelle")

    answer = await metrics.Funnel(
        _request(steps=STEPS[:2], window_seconds=MAX_WINDOW_SECONDS, from_time=ts(start), to_time=ts(last))
    )

    assert answer.window_seconds == MAX_WINDOW_SECONDS == 365 * 86_400
    assert [(r.count, r.median_seconds_from_previous) for r in answer.steps] == [
        (1, 86_400.0),
        (1, 86_399.0),
    ]
