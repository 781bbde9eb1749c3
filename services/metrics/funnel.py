"""Funnel: how many sessions reach each step of an ordered sequence of events, in one SQL query.

The query chains one CTE per step. ``s0`` is the entry: the sessions started in the range, each with its
start t0 and deadline t0 + window. ``s(k)`` joins the sessions of ``s(k-1)`` with the candidate events of
step k — read through the (event_type, category, occurred_at) index or the (trigger, occurred_at) index,
bounded to [from, to + window] — keeps the events after the session's previous step time (at or after t0
for the first step) and no later than its deadline, and takes the earliest per session. A session without
one is not in ``s(k)`` and so in no later step. The last SELECT counts each step and takes the median of
t(k) - t(k-1), per device type too when asked (grouping sets), so one pass answers totals and breakdown.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from configtrail.errors import FieldViolation, ValidationError
from configtrail.metrics.v1 import metrics_pb2
from configtrail.vocabulary import EVENT_TYPES, SNAPSHOT_TRIGGERS
from services.metrics.common import rate, read_only, time_range

MAX_STEPS = 20
#: Accepted spellings of the device-type breakdown.
DEVICE_BREAKDOWN = ("device_type", "deviceType")


@dataclass(frozen=True)
class _Plan:
    sql: str
    args: list[object]


def _check(request: metrics_pb2.FunnelRequest) -> None:
    violations: list[FieldViolation] = []
    if not 1 <= len(request.steps) <= MAX_STEPS:
        violations.append(FieldViolation("steps", f"give between 1 and {MAX_STEPS} steps"))
    for index, step in enumerate(request.steps):
        name = f"steps[{index}]"
        if step.snapshot_trigger:
            if SNAPSHOT_TRIGGERS.number(step.snapshot_trigger) is None:
                violations.append(
                    FieldViolation(f"{name}.snapshot_trigger", f"must be one of {SNAPSHOT_TRIGGERS.words}")
                )
            if step.event_type or step.category:
                violations.append(FieldViolation(name, "a snapshot step takes no event_type or category"))
        elif step.event_type and EVENT_TYPES.number(step.event_type) is None:
            violations.append(FieldViolation(f"{name}.event_type", f"must be one of {EVENT_TYPES.words}"))
    if not (request.window_seconds >= 0 and request.window_seconds < float("inf")):
        violations.append(FieldViolation("window_seconds", "must be a number of seconds, 0 for no limit"))
    if request.breakdown and request.breakdown not in DEVICE_BREAKDOWN:
        violations.append(FieldViolation("breakdown", "must be empty or device_type"))
    if violations:
        raise ValidationError(violations)


def _plan(request: metrics_pb2.FunnelRequest, start: datetime, end: datetime) -> _Plan:
    window = request.window_seconds or None
    latest = end + timedelta(seconds=window) if window is not None else None
    # $1 from, $2 to, $3 window seconds (NULL: none), $4 the latest time any step may occur (NULL: none)
    args: list[object] = [start, end, window, latest]

    def param(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    ctes = [
        """s0 AS MATERIALIZED (
    SELECT session_id, device_type, started_at AS t,
           CASE WHEN $3::float8 IS NULL THEN 'infinity'::timestamptz
                ELSE started_at + make_interval(secs => $3::float8) END AS deadline
    FROM user_sessions
    WHERE started_at >= $1 AND started_at < $2
)"""
    ]
    for k, step in enumerate(request.steps, start=1):
        if step.snapshot_trigger:
            table = "configuration_snapshots"
            filters = [f"e.trigger = {param(step.snapshot_trigger)}"]
        else:
            table = "interaction_events"
            filters = []
            if step.event_type:
                filters.append(f"e.event_type = {param(step.event_type)}")
            if step.category:
                filters.append(f"e.category = {param(step.category)}")
        after = ">=" if k == 1 else ">"
        conditions = " AND ".join(
            [
                *filters,
                "e.occurred_at >= $1",
                "($4::timestamptz IS NULL OR e.occurred_at <= $4)",
                f"e.occurred_at {after} p.t",
                "e.occurred_at <= p.deadline",
            ]
        )
        ctes.append(
            f"""s{k} AS MATERIALIZED (
    SELECT p.session_id, min(p.device_type) AS device_type, min(p.deadline) AS deadline,
           min(p.t) AS previous, min(e.occurred_at) AS t
    FROM s{k - 1} AS p JOIN {table} AS e ON e.session_id = p.session_id
    WHERE {conditions}
    GROUP BY p.session_id
)"""
        )
    reached = "\n    UNION ALL ".join(
        f"SELECT {k} AS step, device_type, extract(epoch FROM t - previous)::float8 AS seconds FROM s{k}"
        for k in range(1, len(request.steps) + 1)
    )
    grouping = "GROUPING SETS ((step), (step, device_type))" if request.breakdown else "step"
    device = "device_type" if request.breakdown else "NULL::text"
    entry_grouping = "GROUPING SETS ((), (device_type))" if request.breakdown else "()"
    with_clause = ",\n".join(ctes)
    sql = f"""
WITH {with_clause}
SELECT 0 AS step, {device} AS device_type, count(*) AS sessions, 0::float8 AS median
FROM s0 GROUP BY {entry_grouping}
UNION ALL
SELECT step, {device}, count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)
FROM (
    {reached}
) AS reached
GROUP BY {grouping}
"""
    return _Plan(sql, args)


def _results(
    steps: list[metrics_pb2.FunnelStep], sessions: int, reached: dict[int, tuple[int, float]]
) -> list[metrics_pb2.FunnelStepResult]:
    results: list[metrics_pb2.FunnelStepResult] = []
    previous = sessions
    for k, step in enumerate(steps, start=1):
        count, median = reached.get(k, (0, 0.0))
        results.append(
            metrics_pb2.FunnelStepResult(
                step=step,
                count=count,
                conversion_from_start=rate(count, sessions),
                conversion_from_previous=rate(count, previous),
                drop_off=previous - count,
                median_seconds_from_previous=median,
            )
        )
        previous = count
    return results


async def funnel(
    pool: asyncpg.Pool, request: metrics_pb2.FunnelRequest, now: datetime
) -> metrics_pb2.FunnelResponse:
    r = time_range(request, now)
    _check(request)
    plan = _plan(request, r.start, r.end)
    async with read_only(pool, hash_joins=True) as conn:
        rows = await conn.fetch(plan.sql, *plan.args)

    # (device type or None for all) -> step -> (count, median); step 0 is the entry
    counts: dict[str | None, dict[int, tuple[int, float]]] = defaultdict(dict)
    for row in rows:
        counts[row["device_type"]][row["step"]] = (row["sessions"], row["median"] or 0.0)
    steps = list(request.steps)
    sessions = counts[None].get(0, (0, 0.0))[0]
    answer = metrics_pb2.FunnelResponse(
        sessions=sessions,
        steps=_results(steps, sessions, counts[None]),
        window_seconds=request.window_seconds,
    )
    r.stamp(answer)
    devices = sorted(
        (
            (device, by_step[0][0])
            for device, by_step in counts.items()
            if device is not None and 0 in by_step
        ),
        key=lambda entry: (-entry[1], entry[0]),
    )
    for device, device_sessions in devices:
        answer.breakdown.add(
            device_type=device,
            sessions=device_sessions,
            steps=_results(steps, device_sessions, counts[device]),
        )
    return answer
