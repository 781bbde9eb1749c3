"""How sessions progress and where they stop: PriceEvolution and Abandonment."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from configtrail.errors import FieldViolation, ValidationError
from configtrail.live import DEFAULT_IDLE_SECONDS
from configtrail.metrics.v1 import metrics_pb2
from services.metrics.common import minor_units, money, read_only, time_range

DEFAULT_PRICE_STEPS = 50
MAX_PRICE_STEPS = 500
#: A session not ended and not seen for this long counts as abandoned (the live state's idle timeout).
IDLE = timedelta(seconds=DEFAULT_IDLE_SECONDS)
#: Last elements listed by Abandonment.
TOP_ELEMENTS = 20
#: Completion histogram: ten buckets of 10 %.
BUCKET_PERCENT = 10
BUCKETS = 10

#: The n-th snapshot of each session started in the range (occurred_at order, ties by snapshot id; the
#: index of migration 5 hands them over in that order), counted per step, currency and price: a few
#: thousand rows instead of one per snapshot. Each step's average and median come from those counts:
#: the median is percentile_cont(0.5) computed as Postgres does, the prices at positions floor((n-1)/2)
#: and ceil((n-1)/2) of the n sorted prices and the point halfway between them (float8), without
#: sorting every snapshot's price.
_PRICE_EVOLUTION = """
WITH prices AS (
    SELECT step, currency, price, count(*) AS n
    FROM (
        SELECT c.currency, c.total_price_minor AS price,
               row_number() OVER (PARTITION BY c.session_id ORDER BY c.occurred_at, c.snapshot_id) AS step
        FROM user_sessions AS s JOIN configuration_snapshots AS c ON c.session_id = s.session_id
        WHERE s.started_at >= $1 AND s.started_at < $2
    ) AS numbered
    WHERE step <= $3
    GROUP BY step, currency, price
), placed AS (
    -- through: how many of the step's sorted prices are this one or lower
    SELECT step, currency, price, n,
           sum(n) OVER (PARTITION BY step, currency ORDER BY price)::bigint AS through,
           sum(n) OVER (PARTITION BY step, currency)::bigint AS sessions
    FROM prices
), steps AS (
    SELECT step, currency, sessions, sum(price::numeric * n) / sessions AS average_price,
           min(price) FILTER (WHERE through > (sessions - 1) / 2)::float8 AS lower_middle,
           min(price) FILTER (WHERE through > sessions / 2)::float8 AS upper_middle
    FROM placed
    GROUP BY step, currency, sessions
)
SELECT step, currency, sessions, average_price,
       lower_middle + 0.5::float8 * (upper_middle - lower_middle) AS median_price
FROM steps
ORDER BY step, currency
"""

_ABANDONED = f"""
WITH abandoned AS MATERIALIZED (
    SELECT coalesce(last_category, '') AS category, coalesce(last_element_id, '') AS element_id,
           completion_percentage
    FROM user_sessions
    WHERE started_at >= $1 AND started_at < $2 AND status <> 'ordered'
      AND (ended_at IS NOT NULL OR last_seen_at < $3)
)
SELECT 'category' AS kind, category AS value, count(*) AS sessions FROM abandoned GROUP BY category
UNION ALL
(SELECT 'element', element_id, count(*) FROM abandoned GROUP BY element_id
 ORDER BY count(*) DESC, element_id COLLATE "C" LIMIT {TOP_ELEMENTS})
UNION ALL
SELECT 'bucket',
       CASE WHEN completion_percentage IS NULL THEN ''
            ELSE least(greatest(floor(completion_percentage / {BUCKET_PERCENT}), 0), {BUCKETS - 1})::int::text
       END,
       count(*)
FROM abandoned GROUP BY 2
"""


async def price_evolution(
    pool: asyncpg.Pool, request: metrics_pb2.PriceEvolutionRequest, now: datetime
) -> metrics_pb2.PriceEvolutionResponse:
    r = time_range(request, now)
    if request.max_steps < 0 or request.max_steps > MAX_PRICE_STEPS:
        raise ValidationError([FieldViolation("max_steps", f"must be between 0 and {MAX_PRICE_STEPS}")])
    async with read_only(pool) as conn:
        rows = await conn.fetch(_PRICE_EVOLUTION, r.start, r.end, request.max_steps or DEFAULT_PRICE_STEPS)
    answer = metrics_pb2.PriceEvolutionResponse()
    r.stamp(answer)
    for row in rows:
        answer.steps.add(
            step=row["step"],
            currency=row["currency"],
            sessions=row["sessions"],
            average_price=money(minor_units(row["average_price"]), row["currency"]),
            median_price=money(minor_units(row["median_price"]), row["currency"]),
        )
    return answer


async def abandonment(
    pool: asyncpg.Pool, request: metrics_pb2.AbandonmentRequest, now: datetime
) -> metrics_pb2.AbandonmentResponse:
    r = time_range(request, now)
    async with read_only(pool) as conn:
        rows = await conn.fetch(_ABANDONED, r.start, r.end, now - IDLE)
    answer = metrics_pb2.AbandonmentResponse()
    r.stamp(answer)
    categories = sorted(
        (row for row in rows if row["kind"] == "category"), key=lambda row: (-row["sessions"], row["value"])
    )
    for row in categories:
        answer.by_last_category.add(category=row["value"], sessions=row["sessions"])
    answer.sessions = sum(row["sessions"] for row in categories)
    elements = sorted(
        (row for row in rows if row["kind"] == "element"), key=lambda row: (-row["sessions"], row["value"])
    )
    for row in elements:
        answer.by_last_element.add(element_id=row["value"], sessions=row["sessions"])
    buckets = {row["value"]: row["sessions"] for row in rows if row["kind"] == "bucket"}
    for index in range(BUCKETS):
        answer.completion.add(
            from_percent=index * BUCKET_PERCENT,
            to_percent=(index + 1) * BUCKET_PERCENT,
            sessions=buckets.get(str(index), 0),
        )
    answer.without_snapshot = buckets.get("", 0)
    return answer
