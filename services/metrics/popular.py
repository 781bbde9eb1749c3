"""PopularConfigurations: most selected options, most common configurations, average price per option.

Selections and option prices are about what happened in the range (interactions and snapshots that
occurred in it) and come from the hourly rollups; configurations are about the sessions in the range
(their latest configuration rollup column).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

import asyncpg

from configtrail.errors import FieldViolation, ValidationError
from configtrail.metrics.v1 import metrics_pb2
from services.metrics import rollups
from services.metrics.common import minor_units, money, read_only, struct, time_range

DEFAULT_LIMIT = 10
MAX_LIMIT = 100

_SELECTIONS = f"""
SELECT category, selection_value AS option, sum(n)::bigint AS selections
FROM (
    SELECT category, selection_value, interactions AS n FROM interaction_rollup_hourly
    WHERE {rollups.WHOLE_HOURS} AND event_type = 'selection' AND ($5::text IS NULL OR category = $5)
    UNION ALL
    SELECT category, selection_value, count(*) FROM interaction_events
    WHERE {rollups.edges()} AND event_type = 'selection' AND ($5::text IS NULL OR category = $5)
    GROUP BY 1, 2
) AS counted
GROUP BY 1, 2
HAVING sum(n) > 0
"""

_OPTION_PRICES = f"""
SELECT category, option, currency, sum(n)::bigint AS snapshots, sum(price_sum) AS price_sum
FROM (
    SELECT category, option, currency, snapshots AS n, price_sum_minor AS price_sum
    FROM snapshot_option_rollup_hourly
    WHERE {rollups.WHOLE_HOURS} AND ($5::text IS NULL OR category = $5)
    UNION ALL
    SELECT o.category, o.option, s.currency, count(*), sum(s.total_price_minor)
    FROM configuration_snapshots AS s
         CROSS JOIN LATERAL configtrail_configuration_options(s.configuration) AS o
    WHERE {rollups.edges("s.occurred_at")} AND ($5::text IS NULL OR o.category = $5)
    GROUP BY 1, 2, 3
) AS counted
GROUP BY 1, 2, 3
HAVING sum(n) > 0
"""

_CONFIGURATIONS = """
SELECT latest_configuration::text AS configuration, coalesce(latest_currency, '') AS currency,
       count(*) AS sessions, avg(latest_total_price_minor) AS average_price
FROM user_sessions
WHERE started_at >= $1 AND started_at < $2 AND latest_configuration IS NOT NULL
GROUP BY latest_configuration, latest_currency
ORDER BY sessions DESC, latest_configuration::text COLLATE "C", 2
LIMIT $3
"""


def _limit(request: metrics_pb2.PopularConfigurationsRequest) -> int:
    if request.limit < 0 or request.limit > MAX_LIMIT:
        raise ValidationError([FieldViolation("limit", f"must be between 0 and {MAX_LIMIT}")])
    return request.limit or DEFAULT_LIMIT


async def popular_configurations(
    pool: asyncpg.Pool, request: metrics_pb2.PopularConfigurationsRequest, now: datetime
) -> metrics_pb2.PopularConfigurationsResponse:
    r = time_range(request, now)
    limit = _limit(request)
    category = request.category or None
    args = [*rollups.range_args(r), category]
    async with read_only(pool) as conn:
        selections = await conn.fetch(_SELECTIONS, *args)
        configurations = await conn.fetch(_CONFIGURATIONS, r.start, r.end, limit)
        option_prices = await conn.fetch(_OPTION_PRICES, *args)

    answer = metrics_pb2.PopularConfigurationsResponse()
    r.stamp(answer)
    by_category: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for row in selections:
        by_category[row["category"]].append(row)
    for name in sorted(by_category):
        rows = sorted(by_category[name], key=lambda row: (-row["selections"], row["option"]))
        entry = answer.selections.add(category=name, selections=sum(row["selections"] for row in rows))
        for row in rows[:limit]:
            entry.options.add(option=row["option"], selections=row["selections"])

    for row in configurations:
        answer.configurations.add(
            configuration=struct(row["configuration"]),
            sessions=row["sessions"],
            average_price=money(minor_units(row["average_price"]), row["currency"]),
        )

    prices: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for row in option_prices:
        prices[row["category"]].append(row)
    for name in sorted(prices):
        rows = sorted(prices[name], key=lambda row: (-row["snapshots"], row["option"], row["currency"]))
        for row in rows[:limit]:
            average = Decimal(row["price_sum"]) / row["snapshots"]
            answer.option_prices.add(
                category=name,
                option=row["option"],
                snapshots=row["snapshots"],
                average_price=money(minor_units(average), row["currency"]),
            )
    return answer
