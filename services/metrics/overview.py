"""Overview: the headline numbers of the sessions in a range, from the user_sessions rollup columns.

One scan of the sessions in the range answers every per-session number (grouping sets give the totals,
the device split and the price per currency in the same pass); one scan of the hourly interaction rollup
(plus the raw rows of the partial hours at the range's ends) gives both the top categories and the
interactions per bucket of the series; the sessions per bucket come from an index-only scan of
started_at, on a third connection (only when a series is asked for); "active now" is a ZCOUNT on the
live index in Redis. All of them run at once.

Series buckets are whole UTC hours or multiples of them, aligned from 2000-01-01: each rollup hour falls
in exactly one bucket, so a bucket's interactions are sums of rollup hours and raw edge rows. Without
``bucket_seconds`` the bucket expressions of the interactions query are NULL and their grouping set is a
single ignored row.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import asyncpg
import redis.asyncio as redis
from redis.exceptions import RedisError

from configtrail import constants
from configtrail.metrics.v1 import metrics_pb2
from services.metrics import rollups
from services.metrics.common import (
    BUCKET_ORIGIN,
    TimeRange,
    bucket_length,
    bucket_starts,
    minor_units,
    money,
    rate,
    read_only,
    time_range,
    timestamp,
)

logger = logging.getLogger(__name__)

#: A session counts as active now when it did something in this many seconds.
ACTIVE_NOW_SECONDS = 300
#: Categories listed in top_categories.
TOP_CATEGORIES = 10
#: Longest wait for Redis before "active now" answers -1.
REDIS_TIMEOUT_SECONDS = 1.0
#: Series buckets are multiples of this many seconds (whole rollup hours).
BUCKET_MULTIPLE_SECONDS = 3600

# The order-attempt subquery is a hashed subplan over a small partial index (one row per attempt).
_SESSIONS = """
SELECT grouping(device_type) = 0 AS by_device, grouping(latest_currency) = 0 AS by_currency,
       device_type, latest_currency,
       count(*) AS sessions,
       coalesce(sum(interaction_count), 0)::bigint AS interactions,
       coalesce(avg(extract(epoch FROM last_seen_at - started_at)), 0)::float8 AS average_duration,
       count(*) FILTER (WHERE completion_percentage >= 100) AS completed,
       count(*) FILTER (WHERE status = 'ordered' OR session_id IN (
           SELECT session_id FROM configuration_snapshots WHERE trigger = 'order_attempt')) AS ordered,
       count(latest_total_price_minor) AS priced,
       avg(latest_total_price_minor) AS average_price
FROM user_sessions
WHERE started_at >= $1 AND started_at < $2
GROUP BY GROUPING SETS ((), (device_type), (latest_currency))
"""

# $3: the bucket length, $4: the origin the buckets are aligned from (BUCKET_ORIGIN)
_SESSION_SERIES = """
SELECT date_bin($3::interval, started_at, $4::timestamptz) AS bucket, count(*) AS sessions
FROM user_sessions
WHERE started_at >= $1 AND started_at < $2
GROUP BY 1
"""

# interactions per category and per series bucket ($5 and $6 NULL without a series); the top categories
# are picked from the category rows in Python
_INTERACTIONS = f"""
SELECT grouping(category) = 0 AS by_category, category, slot, sum(n)::bigint AS interactions
FROM (
    SELECT category, date_bin($5::interval, bucket, $6::timestamptz) AS slot, interactions AS n
    FROM interaction_rollup_hourly WHERE {rollups.WHOLE_HOURS}
    UNION ALL
    SELECT category, date_bin($5::interval, occurred_at, $6::timestamptz), count(*)
    FROM interaction_events WHERE {rollups.edges()} GROUP BY 1, 2
) AS counted
GROUP BY GROUPING SETS ((category), (slot))
"""


async def active_now(client: redis.Redis, now: datetime) -> int:
    """Sessions in the live index active in the last 5 minutes; -1 when Redis does not answer."""
    since = now.timestamp() - ACTIVE_NOW_SECONDS
    try:
        count = await asyncio.wait_for(
            client.zcount(constants.ACTIVE_SESSIONS, since, "+inf"), REDIS_TIMEOUT_SECONDS
        )
    except (RedisError, OSError, TimeoutError) as exc:
        logger.warning("active sessions unknown, redis unavailable: %s", exc)
        return -1
    return int(count)


class Series:
    """The buckets of an answer's series, filled in by the queries."""

    def __init__(self, answer: metrics_pb2.OverviewResponse, r: TimeRange, length: timedelta | None) -> None:
        self.length = length
        starts = bucket_starts(r.start, r.end, length) if length is not None else []
        # every bucket start is BUCKET_ORIGIN plus a multiple of the length, so date_bin from it finds them
        # all; not the first start, which can be 0001-01-01T00:00:00Z, that asyncpg sends as -infinity
        # (date_bin refuses an infinite origin)
        self.origin = BUCKET_ORIGIN if starts else None
        self.buckets = {start: answer.series.add(start=timestamp(start)) for start in starts}

    @property
    def args(self) -> tuple[timedelta | None, datetime | None]:
        """The bucket length and origin as query parameters: both NULL without a series."""
        return (self.length, self.origin) if self.buckets else (None, None)

    def bucket(self, start: datetime | None) -> metrics_pb2.OverviewBucket | None:
        return self.buckets.get(start) if start is not None else None


async def _session_numbers(pool: asyncpg.Pool, answer: metrics_pb2.OverviewResponse, r: TimeRange) -> None:
    async with read_only(pool) as conn:
        rows = await conn.fetch(_SESSIONS, r.start, r.end)
    totals = next(row for row in rows if not row["by_device"] and not row["by_currency"])
    sessions: int = totals["sessions"]
    answer.sessions = sessions
    answer.interactions = totals["interactions"]
    answer.average_session_duration_seconds = totals["average_duration"]
    answer.interactions_per_session = rate(totals["interactions"], sessions)
    answer.completed_sessions = totals["completed"]
    answer.completion_rate = rate(totals["completed"], sessions)
    answer.order_attempt_sessions = totals["ordered"]
    answer.order_conversion_rate = rate(totals["ordered"], sessions)
    devices = sorted(
        (row for row in rows if row["by_device"]), key=lambda row: (-row["sessions"], row["device_type"])
    )
    for row in devices:
        answer.devices.add(
            device_type=row["device_type"], sessions=row["sessions"], share=rate(row["sessions"], sessions)
        )
    prices = sorted(
        (row for row in rows if row["by_currency"] and row["latest_currency"] is not None and row["priced"]),
        key=lambda row: (-row["priced"], row["latest_currency"]),
    )
    for row in prices:
        answer.average_final_prices.add(
            average_price=money(minor_units(row["average_price"]), row["latest_currency"]),
            sessions=row["priced"],
        )


async def _session_series(pool: asyncpg.Pool, r: TimeRange, series: Series) -> None:
    if not series.buckets:
        return
    async with read_only(pool) as conn:
        rows = await conn.fetch(_SESSION_SERIES, r.start, r.end, *series.args)
    for row in rows:
        bucket = series.bucket(row["bucket"])
        if bucket is not None:
            bucket.sessions = row["sessions"]


async def _interactions(
    pool: asyncpg.Pool, answer: metrics_pb2.OverviewResponse, r: TimeRange, series: Series
) -> None:
    async with read_only(pool) as conn:
        rows = await conn.fetch(_INTERACTIONS, *rollups.range_args(r), *series.args)
    # most first, ties by name in code point order (as COLLATE "C" sorts UTF-8)
    categories = sorted(
        (row for row in rows if row["by_category"] and row["category"] != "" and row["interactions"] > 0),
        key=lambda row: (-row["interactions"], row["category"]),
    )
    for row in categories[:TOP_CATEGORIES]:
        answer.top_categories.add(category=row["category"], interactions=row["interactions"])
    for row in rows:
        bucket = None if row["by_category"] else series.bucket(row["slot"])
        if bucket is not None:
            bucket.interactions = row["interactions"]


async def overview(
    pool: asyncpg.Pool, client: redis.Redis, request: metrics_pb2.OverviewRequest, now: datetime
) -> metrics_pb2.OverviewResponse:
    r = time_range(request, now)
    length = bucket_length(
        request.bucket_seconds,
        BUCKET_MULTIPLE_SECONDS,
        r.end - r.start,
        "bucket_seconds",
        "3600: UTC hours, 86400: UTC days",
        start=r.start,
    )
    answer = metrics_pb2.OverviewResponse()
    r.stamp(answer)
    series = Series(answer, r, length)
    # up to three connections and Redis at once: the answer takes as long as the slowest of them
    _, _, _, answer.active_now = await asyncio.gather(
        _session_numbers(pool, answer, r),
        _interactions(pool, answer, r, series),
        _session_series(pool, r, series),
        active_now(client, now),
    )
    return answer
