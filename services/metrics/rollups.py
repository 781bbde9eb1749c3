"""Exact counts over a time range from the hourly rollups plus the raw rows of the partial hours at its ends.

The rollup tables (migration 0004) hold, per UTC hour, interaction counts and snapshot price sums, kept
exact by triggers. A range [start, end) splits into the whole hours [h1, h2) read from a rollup and the
edges [start, h1) and [h2, end) read from the raw tables through their occurred_at indexes, so the answer
is the same as a scan of the raw rows at a fraction of the cost.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.metrics.common import TimeRange

_HOUR = timedelta(hours=1)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _floor_hour(when: datetime) -> datetime:
    return when - (when - _EPOCH) % _HOUR


def whole_hours(time_range: TimeRange) -> tuple[datetime, datetime]:
    """[h1, h2): the whole UTC hours inside the range; empty (h1 = h2 = end) when there are none."""
    start, end = time_range.start, time_range.end
    h1 = _floor_hour(start)
    h2 = _floor_hour(end)
    if h1 < start:
        if h1 >= h2:  # no whole hour; and in the last hour of year 9999, h1 + 1 h does not exist
            return end, end
        h1 += _HOUR
    if h1 >= h2:
        return end, end
    return h1, h2


def range_args(time_range: TimeRange) -> list[datetime]:
    """The parameters $1..$4 of a rollup query: start, end, h1, h2."""
    h1, h2 = whole_hours(time_range)
    return [time_range.start, time_range.end, h1, h2]


def edges(column: str = "occurred_at") -> str:
    """The condition on a raw table's time column selecting the two edges (parameters as ``range_args``)."""
    return f"(({column} >= $1 AND {column} < $3) OR ({column} >= $4 AND {column} < $2))"


#: The condition on a rollup's bucket that selects the whole hours.
WHOLE_HOURS = "(bucket >= $3 AND bucket < $4)"
