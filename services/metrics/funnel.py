"""Funnel: how many sessions reach each step of an ordered sequence of events, in one SQL query.

The query chains one CTE per step. ``s0`` is the entry: the sessions started in the range, each with its
start t0, and its deadline t0 + window only when there is a window and its device type only when a
breakdown is asked (without them ``s0`` is an index-only scan of the (started_at, session_id) index, not
a read of the sessions table). ``s(k)`` joins the sessions of ``s(k-1)`` with the candidate events of
step k — read through the (event_type, category, occurred_at) index or the (trigger, occurred_at) index,
bounded to [from, to + window] — keeps the events after the session's previous step time (at or after t0
for the first step) and no later than its deadline, and takes the earliest per session; it hands on only
(session_id, t), the previous step's time and what ``s0`` carries. A session without one is not in
``s(k)`` and so in no later step. The last SELECT counts each step and takes the median of
t(k) - t(k-1) from that step's own CTE, per device type too when asked (grouping sets), so each sort
holds one step's sessions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from configtrail.errors import FieldViolation, ValidationError
from configtrail.metrics.v1 import metrics_pb2
from configtrail.vocabulary import EVENT_TYPES, SNAPSHOT_TRIGGERS
from services.metrics.common import LATEST, rate, read_only, time_range

MAX_STEPS = 20
#: Longest window: a year of seconds (0 is no limit at all).
MAX_WINDOW_SECONDS = 365 * 86_400
#: Accepted spellings of the device-type breakdown.
DEVICE_BREAKDOWN = ("device_type", "deviceType")


#: t(k) - t(k-1) in seconds: the float8 of ``extract(epoch ...)``, without its numeric for the usual gap.
#: Under 24 hours the interval has no days and date_part's float8 is that same number (both round the
#: microseconds / 10^6 once); from 24 hours on, justify_hours moves whole days out of the time and
#: date_part would round twice, so those few take the numeric.
_SECONDS = (
    "CASE WHEN t - previous < interval '24 hours' THEN date_part('epoch', t - previous) "
    "ELSE extract(epoch FROM t - previous)::float8 END"
)


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
    if not 0 <= request.window_seconds <= MAX_WINDOW_SECONDS:  # NaN too
        violations.append(
            FieldViolation(
                "window_seconds", f"must be between 0 (no limit) and {MAX_WINDOW_SECONDS} seconds (365 days)"
            )
        )
    if request.breakdown and request.breakdown not in DEVICE_BREAKDOWN:
        violations.append(FieldViolation("breakdown", "must be empty or device_type"))
    if violations:
        raise ValidationError(violations)


def _plan(request: metrics_pb2.FunnelRequest, start: datetime, end: datetime) -> _Plan:
    window = request.window_seconds or None
    breakdown = bool(request.breakdown)
    # $1 from, $2 to; with a window, $3 its seconds and $4 the latest time any step may occur
    args: list[object] = [start, end]

    def param(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    entry = ["session_id", "started_at AS t"]
    bounds = ["e.occurred_at >= $1"]
    # what a step hands on besides (session_id, t): the deadline with a window, the device with a breakdown
    carried: list[str] = []
    if window is not None:
        # no step can occur after the latest time there is: the bound stops there near year 9999
        latest = end + timedelta(seconds=window) if LATEST - end > timedelta(seconds=window) else LATEST
        seconds, latest_param = param(window), param(latest)
        entry.append(f"started_at + make_interval(secs => {seconds}::float8) AS deadline")
        bounds.append(f"e.occurred_at <= {latest_param}")
        carried.append("deadline")
    if breakdown:
        # bytewise: each step's min() and the final grouping compare it without the locale's rules
        entry.append('device_type COLLATE "C" AS device_type')
        carried.append("device_type")
    ctes = [
        f"""s0 AS MATERIALIZED (
    SELECT {", ".join(entry)}
    FROM user_sessions
    WHERE started_at >= $1 AND started_at < $2
)"""
    ]
    handed = "".join(f", min(p.{column}) AS {column}" for column in carried)
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
        conditions = [*filters, *bounds, f"e.occurred_at {after} p.t"]
        if window is not None:
            conditions.append("e.occurred_at <= p.deadline")
        ctes.append(
            f"""s{k} AS MATERIALIZED (
    SELECT p.session_id{handed}, min(p.t) AS previous, min(e.occurred_at) AS t
    FROM s{k - 1} AS p JOIN {table} AS e ON e.session_id = p.session_id
    WHERE {" AND ".join(conditions)}
    GROUP BY p.session_id
)"""
        )
    device = "device_type" if breakdown else "NULL::text"
    grouping = "GROUPING SETS ((), (device_type))" if breakdown else "()"
    selects = [
        f"SELECT 0 AS step, {device} AS device_type, count(*) AS sessions, 0::float8 AS median\n"
        f"FROM s0 GROUP BY {grouping}"
    ]
    # a step nobody reached has no row, as a total or for a device
    selects += [
        f"SELECT {k}, {device}, count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY {_SECONDS})\n"
        f"FROM s{k} GROUP BY {grouping} HAVING count(*) > 0"
        for k in range(1, len(request.steps) + 1)
    ]
    with_clause = ",\n".join(ctes)
    union = "\nUNION ALL\n".join(selects)
    return _Plan(f"\nWITH {with_clause}\n{union}\n", args)


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
        # the row estimates of the chained CTEs shrink step by step (each join multiplies in the
        # selectivities of its time conditions, two with a window) until sorting a handful looks cheaper
        # than hashing; every step really groups tens of thousands of sessions
        await conn.execute("SET LOCAL enable_sort = off")
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
