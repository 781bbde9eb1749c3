"""Performance monitoring: latency percentiles per metric and endpoint, efficiency ratings, active alerts.

A rating grades the p95 of a (metric name, endpoint) against three thresholds. An alert is raised for a
(metric name, endpoint) whose p95 was POOR in each of the last 3 complete UTC minutes; it started at the
first minute of the uninterrupted run of POOR minutes (a minute without samples ends a run).

With ``bucket_seconds`` the summary also carries its series: the same percentiles per metric, endpoint
and bucket of the window (buckets aligned to multiples of their length from 2000-01-01 UTC, the first
and last cut to the window; buckets without samples left out), from one more scan of the window's rows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from configtrail.db import Connection
from configtrail.errors import FieldViolation, ValidationError
from configtrail.metrics.v1 import metrics_pb2
from services.metrics.common import bucket_length, bucket_starts, read_only, timestamp

DEFAULT_WINDOW_SECONDS = 300.0
MAX_WINDOW_SECONDS = 30 * 86_400.0
DEFAULT_INTERVAL_SECONDS = 2.0
MIN_INTERVAL_SECONDS = 0.5
#: Series buckets are multiples of this many seconds.
BUCKET_MULTIPLE_SECONDS = 60

#: Default p95 thresholds of the ratings (milliseconds).
EXCELLENT_BELOW_MS = 50.0
GOOD_BELOW_MS = 100.0
FAIR_BELOW_MS = 200.0

#: Consecutive POOR minutes that make an alert.
ALERT_MINUTES = 3
#: How far back the start of an alert is looked for.
ALERT_LOOKBACK_MINUTES = 60

_MINUTE = timedelta(minutes=1)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

# a sample of a sampled RPC stands for represents_calls calls; anything else for one
_CALLS = """sum(CASE WHEN jsonb_typeof(additional_data -> 'represents_calls') = 'number'
                THEN (additional_data ->> 'represents_calls')::float8 ELSE 1 END)"""

_SUMMARY = f"""
SELECT metric_name, endpoint, count(*) AS samples, {_CALLS} AS calls,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]::float8[]) WITHIN GROUP (ORDER BY value_ms) AS percentiles,
       max(value_ms) AS max_ms, avg(value_ms) AS mean_ms
FROM performance_metrics
WHERE occurred_at >= $1 AND occurred_at < $2
  AND ($3::text IS NULL OR metric_name = $3) AND ($4::text IS NULL OR endpoint = $4)
GROUP BY metric_name, endpoint
ORDER BY metric_name COLLATE "C", endpoint COLLATE "C"
"""

# $5: the bucket length, $6: the start of the first bucket (the origin of the others). Grouped by the
# bucket first: the sort under the ordered-set aggregate then mostly compares timestamps, not the long
# common prefixes of metric names and endpoints (a few times faster on a day of samples).
_SERIES = f"""
SELECT metric_name, endpoint, date_bin($5::interval, occurred_at, $6::timestamptz) AS start,
       count(*) AS samples, {_CALLS} AS calls,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]::float8[]) WITHIN GROUP (ORDER BY value_ms) AS percentiles
FROM performance_metrics
WHERE occurred_at >= $1 AND occurred_at < $2
  AND ($3::text IS NULL OR metric_name = $3) AND ($4::text IS NULL OR endpoint = $4)
GROUP BY 3, 1, 2
ORDER BY metric_name COLLATE "C", endpoint COLLATE "C", start
"""

_MINUTES = """
SELECT metric_name, endpoint,
       date_bin('1 minute', occurred_at, timestamptz '2000-01-01 00:00:00+00') AS minute,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY value_ms) AS p95
FROM performance_metrics
WHERE occurred_at >= $1 AND occurred_at < $2
  AND ($3::text IS NULL OR metric_name = $3) AND ($4::text IS NULL OR endpoint = $4)
  AND ($5::text[] IS NULL OR (metric_name, endpoint) IN (SELECT * FROM unnest($5::text[], $6::text[])))
GROUP BY 1, 2, 3
"""

Key = tuple[str, str]


@dataclass(frozen=True)
class Thresholds:
    """p95 thresholds: EXCELLENT below the first, GOOD below the second, FAIR below the third, else POOR."""

    excellent_below_ms: float = EXCELLENT_BELOW_MS
    good_below_ms: float = GOOD_BELOW_MS
    fair_below_ms: float = FAIR_BELOW_MS

    def __post_init__(self) -> None:
        if not 0 < self.excellent_below_ms <= self.good_below_ms <= self.fair_below_ms:
            raise ValueError(f"rating thresholds must be positive and ascending: {self}")

    def rating(self, p95_ms: float) -> metrics_pb2.Rating:
        if p95_ms < self.excellent_below_ms:
            return metrics_pb2.RATING_EXCELLENT
        if p95_ms < self.good_below_ms:
            return metrics_pb2.RATING_GOOD
        if p95_ms < self.fair_below_ms:
            return metrics_pb2.RATING_FAIR
        return metrics_pb2.RATING_POOR

    def message(self) -> metrics_pb2.RatingThresholds:
        return metrics_pb2.RatingThresholds(
            excellent_below_ms=self.excellent_below_ms,
            good_below_ms=self.good_below_ms,
            fair_below_ms=self.fair_below_ms,
        )


def window_of(window_seconds: float) -> timedelta:
    if not 0 <= window_seconds <= MAX_WINDOW_SECONDS:
        raise ValidationError(
            [FieldViolation("window_seconds", f"must be between 0 and {MAX_WINDOW_SECONDS:.0f} seconds")]
        )
    return timedelta(seconds=window_seconds or DEFAULT_WINDOW_SECONDS)


def interval_of(interval_seconds: float) -> float:
    if interval_seconds == 0:
        return DEFAULT_INTERVAL_SECONDS
    if not MIN_INTERVAL_SECONDS <= interval_seconds <= MAX_WINDOW_SECONDS:
        raise ValidationError(
            [FieldViolation("interval_seconds", f"must be 0 (2 seconds) or at least {MIN_INTERVAL_SECONDS}")]
        )
    return interval_seconds


def bucket_of(bucket_seconds: int, window: timedelta) -> timedelta | None:
    """A request's ``bucket_seconds`` for a window: None (no series) or the buckets' length."""
    return bucket_length(bucket_seconds, BUCKET_MULTIPLE_SECONDS, window, "bucket_seconds", "60: minutes")


def _calls(value: float) -> int:
    return math.floor(value + 0.5)


def _latency(row: asyncpg.Record) -> dict[str, Any]:
    """The fields an endpoint's summary and one of its series buckets share."""
    p50, p95, p99 = row["percentiles"]
    return {
        "metric_name": row["metric_name"],
        "endpoint": row["endpoint"],
        "count": _calls(row["calls"]),
        "samples": row["samples"],
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
    }


def _floor_minute(when: datetime) -> datetime:
    return when - (when - _EPOCH) % _MINUTE


class PerformanceMonitor:
    """Builds performance summaries from the stored metrics."""

    def __init__(self, pool: asyncpg.Pool, thresholds: Thresholds, now: Callable[[], datetime]) -> None:
        self._pool = pool
        self._thresholds = thresholds
        self._now = now

    async def summary(
        self, window: timedelta, metric_name: str, endpoint: str, bucket: timedelta | None = None
    ) -> metrics_pb2.PerformanceSummary:
        """The summary of [now - window, now); with ``bucket`` (from :func:`bucket_of`) its series too."""
        now = self._now()
        start = now - window
        filters = (metric_name or None, endpoint or None)
        starts = bucket_starts(start, now, bucket) if bucket is not None else []
        async with read_only(self._pool) as conn:
            rows = await conn.fetch(_SUMMARY, start, now, *filters)
            alerts = await self._alerts(conn, now, filters)
            series = await conn.fetch(_SERIES, start, now, *filters, bucket, starts[0]) if starts else []
        answer = metrics_pb2.PerformanceSummary(
            from_time=timestamp(start), to_time=timestamp(now), thresholds=self._thresholds.message()
        )
        for row in rows:
            answer.endpoints.add(
                **_latency(row),
                max_ms=row["max_ms"],
                mean_ms=row["mean_ms"],
                rating=self._thresholds.rating(row["percentiles"][1]),  # rated by its p95
            )
        answer.alerts.extend(alerts)
        for row in series:
            answer.series.add(start=timestamp(row["start"]), **_latency(row))
        return answer

    async def _minutes(
        self,
        conn: Connection,
        start: datetime,
        end: datetime,
        filters: tuple[str | None, str | None],
        keys: list[Key] | None = None,
    ) -> dict[Key, dict[datetime, float]]:
        rows = await conn.fetch(
            _MINUTES,
            start,
            end,
            *filters,
            [key[0] for key in keys] if keys is not None else None,
            [key[1] for key in keys] if keys is not None else None,
        )
        p95s: dict[Key, dict[datetime, float]] = defaultdict(dict)
        for row in rows:
            p95s[(row["metric_name"], row["endpoint"])][row["minute"]] = row["p95"]
        return p95s

    def _poor(self, p95: float | None) -> bool:
        return p95 is not None and self._thresholds.rating(p95) == metrics_pb2.RATING_POOR

    async def _alerts(
        self, conn: Connection, now: datetime, filters: tuple[str | None, str | None]
    ) -> list[metrics_pb2.PerformanceAlert]:
        last = _floor_minute(now) - _MINUTE  # the last complete minute
        recent_start = last - (ALERT_MINUTES - 1) * _MINUTE
        recent = await self._minutes(conn, recent_start, last + _MINUTE, filters)
        breached = sorted(
            key
            for key, minutes in recent.items()
            if all(self._poor(minutes.get(recent_start + i * _MINUTE)) for i in range(ALERT_MINUTES))
        )
        if not breached:
            return []
        lookback_start = last - (ALERT_LOOKBACK_MINUTES - 1) * _MINUTE
        earlier = await self._minutes(conn, lookback_start, recent_start, filters, breached)
        alerts: list[metrics_pb2.PerformanceAlert] = []
        for key in breached:
            minutes = {**earlier.get(key, {}), **recent[key]}
            since = recent_start
            while since - _MINUTE >= lookback_start and self._poor(minutes.get(since - _MINUTE)):
                since -= _MINUTE
            alerts.append(
                metrics_pb2.PerformanceAlert(
                    metric_name=key[0],
                    endpoint=key[1],
                    since=timestamp(since),
                    minutes=int((last - since) / _MINUTE) + 1,
                    p95_ms=minutes[last],
                )
            )
        return alerts
