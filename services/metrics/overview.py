"""Overview: the headline numbers of the sessions in a range, from the user_sessions rollup columns.

One scan of the sessions in the range answers every per-session number (grouping sets give the totals,
the device split and the price per currency in the same pass); the top categories come from the hourly
interaction rollup; "active now" is a ZCOUNT on the live index in Redis.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import asyncpg
import redis.asyncio as redis
from redis.exceptions import RedisError

from configtrail import constants
from configtrail.metrics.v1 import metrics_pb2
from services.metrics import rollups
from services.metrics.common import TimeRange, minor_units, money, rate, read_only, time_range

logger = logging.getLogger(__name__)

#: A session counts as active now when it did something in this many seconds.
ACTIVE_NOW_SECONDS = 300
#: Categories listed in top_categories.
TOP_CATEGORIES = 10
#: Longest wait for Redis before "active now" answers -1.
REDIS_TIMEOUT_SECONDS = 1.0

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

_TOP_CATEGORIES = f"""
SELECT category, sum(n)::bigint AS interactions
FROM (
    SELECT category, interactions AS n FROM interaction_rollup_hourly WHERE {rollups.WHOLE_HOURS}
    UNION ALL
    SELECT category, count(*) FROM interaction_events WHERE {rollups.edges()} GROUP BY category
) AS counted
WHERE category <> ''
GROUP BY category
HAVING sum(n) > 0
ORDER BY interactions DESC, category COLLATE "C"
LIMIT {TOP_CATEGORIES}
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


async def _top_categories(pool: asyncpg.Pool, answer: metrics_pb2.OverviewResponse, r: TimeRange) -> None:
    async with read_only(pool) as conn:
        rows = await conn.fetch(_TOP_CATEGORIES, *rollups.range_args(r))
    for row in rows:
        answer.top_categories.add(category=row["category"], interactions=row["interactions"])


async def overview(
    pool: asyncpg.Pool, client: redis.Redis, request: metrics_pb2.OverviewRequest, now: datetime
) -> metrics_pb2.OverviewResponse:
    r = time_range(request, now)
    answer = metrics_pb2.OverviewResponse()
    r.stamp(answer)
    # two connections and Redis at once: the answer takes as long as the slowest of the three
    _, _, answer.active_now = await asyncio.gather(
        _session_numbers(pool, answer, r), _top_categories(pool, answer, r), active_now(client, now)
    )
    return answer
