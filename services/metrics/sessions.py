"""Single sessions: ListSessions (filtered, keyset-paged) and SessionJourney (one session's timeline)."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson

from configtrail.common.v1 import events_pb2
from configtrail.errors import FieldViolation, ValidationError
from configtrail.metrics.v1 import metrics_pb2
from configtrail.vocabulary import DEVICE_TYPES, SESSION_STATUSES
from services.ingest.validation import SESSION_ID_PATTERN
from services.metrics.common import NotFound, money, read_only, struct, time_range, timestamp

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
#: Steps listed by SessionJourney at most.
MAX_JOURNEY_STEPS = 10_000

_SESSION_COLUMNS = """session_id, started_at, last_seen_at, ended_at, end_reason, device_type, status,
    interaction_count, snapshot_count, last_category, last_element_id, latest_total_price_minor,
    latest_currency, completion_percentage, landing_page, referrer, locale"""

# "$n IS NULL OR" conditions fold away in the custom plan of each call (see common.read_only)
_LIST = f"""
SELECT {_SESSION_COLUMNS}
FROM user_sessions
WHERE started_at >= $1 AND started_at < $2
  AND ($3::text IS NULL OR device_type = $3)
  AND ($4::text IS NULL OR status = $4)
  AND ($5::bigint IS NULL OR latest_total_price_minor >= $5)
  AND ($6::bigint IS NULL OR latest_total_price_minor <= $6)
  AND ($7::float8 IS NULL OR completion_percentage >= $7)
  AND ($8::float8 IS NULL OR completion_percentage <= $8)
  AND ($9::timestamptz IS NULL OR (started_at, session_id) < ($9, $10::text))
ORDER BY started_at DESC, session_id DESC
LIMIT $11
"""

_SESSION = f"SELECT {_SESSION_COLUMNS} FROM user_sessions WHERE session_id = $1"

_INTERACTIONS = """
SELECT event_id, event_type, coalesce(custom_event_type, '') AS custom_event_type, category, element_id,
       selection_value, previous_value, time_spent_ms, sequence, occurred_at
FROM interaction_events
WHERE session_id = $1
ORDER BY occurred_at, sequence NULLS LAST, event_id
LIMIT $2
"""

_SNAPSHOTS = """
SELECT snapshot_id, trigger, completion_percentage, configuration::text AS configuration, total_price_minor,
       currency, occurred_at
FROM configuration_snapshots
WHERE session_id = $1
ORDER BY occurred_at, snapshot_id
LIMIT $2
"""


def summary(row: asyncpg.Record) -> metrics_pb2.SessionSummary:
    """A user_sessions row (the columns of ``_SESSION_COLUMNS``) as a SessionSummary."""
    session = metrics_pb2.SessionSummary(
        session_id=row["session_id"],
        started_at=timestamp(row["started_at"]),
        last_seen_at=timestamp(row["last_seen_at"]),
        end_reason=row["end_reason"] or "",
        device_type=row["device_type"],
        status=row["status"],
        duration_seconds=(row["last_seen_at"] - row["started_at"]).total_seconds(),
        interaction_count=row["interaction_count"],
        snapshot_count=row["snapshot_count"],
        last_category=row["last_category"] or "",
        last_element_id=row["last_element_id"] or "",
        landing_page=row["landing_page"],
        referrer=row["referrer"],
        locale=row["locale"],
    )
    if row["ended_at"] is not None:
        session.ended_at.CopyFrom(timestamp(row["ended_at"]))
    if row["latest_total_price_minor"] is not None:
        session.latest_price.CopyFrom(money(row["latest_total_price_minor"], row["latest_currency"] or ""))
    if row["completion_percentage"] is not None:
        session.completion_percentage = row["completion_percentage"]
    return session


def encode_page_token(started_at: datetime, session_id: str) -> str:
    raw = orjson.dumps([started_at.isoformat(), session_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[datetime, str]:
    """The cursor of ``encode_page_token``: a start time with its offset, in UTC's years 1..9999 (the
    query takes it in UTC), and a session id that PostgreSQL text can hold."""
    try:
        started_at, session_id = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        when = datetime.fromisoformat(started_at)
        if when.tzinfo is None or not isinstance(session_id, str) or "\x00" in session_id:
            raise ValueError("not a cursor")
        when = when.astimezone(UTC)  # OverflowError when its UTC falls outside years 1..9999
    except (ValueError, TypeError, OverflowError) as exc:  # orjson.JSONDecodeError is a ValueError
        raise ValidationError([FieldViolation("page_token", "not a token from an earlier page")]) from exc
    return when, session_id


@dataclass(frozen=True)
class _Filters:
    device_type: str | None
    status: str | None
    min_price: int | None
    max_price: int | None
    min_completion: float | None
    max_completion: float | None
    cursor: tuple[datetime, str] | None
    page_size: int


def _filters(request: metrics_pb2.ListSessionsRequest) -> _Filters:
    violations: list[FieldViolation] = []
    devices = [*DEVICE_TYPES.by_word, "unspecified"]
    if request.device_type and request.device_type not in devices:
        violations.append(FieldViolation("device_type", f"must be one of {', '.join(devices)}"))
    if request.status and SESSION_STATUSES.number(request.status) is None:
        violations.append(FieldViolation("status", f"must be one of {SESSION_STATUSES.words}"))
    min_price = request.min_price_minor if request.HasField("min_price_minor") else None
    max_price = request.max_price_minor if request.HasField("max_price_minor") else None
    if min_price is not None and max_price is not None and min_price > max_price:
        violations.append(FieldViolation("min_price_minor", "must not be above max_price_minor"))
    min_completion = request.min_completion if request.HasField("min_completion") else None
    max_completion = request.max_completion if request.HasField("max_completion") else None
    for name, bound in (("min_completion", min_completion), ("max_completion", max_completion)):
        if bound is not None and math.isnan(bound):
            violations.append(FieldViolation(name, "must be a number"))
    if min_completion is not None and max_completion is not None and min_completion > max_completion:
        violations.append(FieldViolation("min_completion", "must not be above max_completion"))
    if request.page_size < 0 or request.page_size > MAX_PAGE_SIZE:
        violations.append(FieldViolation("page_size", f"must be between 0 and {MAX_PAGE_SIZE}"))
    cursor = None
    if request.page_token:
        try:
            cursor = decode_page_token(request.page_token)
        except ValidationError as error:
            violations += error.violations
    if violations:
        raise ValidationError(violations)
    return _Filters(
        device_type=request.device_type or None,
        status=request.status or None,
        min_price=min_price,
        max_price=max_price,
        min_completion=min_completion,
        max_completion=max_completion,
        cursor=cursor,
        page_size=request.page_size or DEFAULT_PAGE_SIZE,
    )


async def list_sessions(
    pool: asyncpg.Pool, request: metrics_pb2.ListSessionsRequest, now: datetime
) -> metrics_pb2.ListSessionsResponse:
    r = time_range(request, now)
    f = _filters(request)
    async with read_only(pool) as conn:
        rows = await conn.fetch(
            _LIST,
            r.start,
            r.end,
            f.device_type,
            f.status,
            f.min_price,
            f.max_price,
            f.min_completion,
            f.max_completion,
            f.cursor[0] if f.cursor else None,
            f.cursor[1] if f.cursor else None,
            f.page_size + 1,
        )
    page = rows[: f.page_size]
    answer = metrics_pb2.ListSessionsResponse(sessions=[summary(row) for row in page])
    if len(rows) > f.page_size:
        answer.next_page_token = encode_page_token(page[-1]["started_at"], page[-1]["session_id"])
    return answer


def _check_session_id(session_id: str, max_length: int) -> None:
    if not session_id:
        raise ValidationError([FieldViolation("session_id", "required")])
    if len(session_id) > max_length or not SESSION_ID_PATTERN.fullmatch(session_id):
        raise ValidationError([FieldViolation("session_id", "not a valid session id")])


def _interaction_step(row: asyncpg.Record) -> metrics_pb2.JourneyStep:
    return metrics_pb2.JourneyStep(
        occurred_at=timestamp(row["occurred_at"]),
        interaction=metrics_pb2.JourneyInteraction(
            event_id=str(row["event_id"]),
            event_type=row["event_type"],
            custom_event_type=row["custom_event_type"],
            category=row["category"],
            element_id=row["element_id"],
            selection_value=row["selection_value"],
            previous_value=row["previous_value"],
            time_spent_ms=row["time_spent_ms"],
        ),
    )


def _snapshot_step(row: asyncpg.Record) -> metrics_pb2.JourneyStep:
    return metrics_pb2.JourneyStep(
        occurred_at=timestamp(row["occurred_at"]),
        price=money(row["total_price_minor"], row["currency"]),
        snapshot=metrics_pb2.JourneySnapshot(
            snapshot_id=str(row["snapshot_id"]),
            trigger=row["trigger"],
            completion_percentage=row["completion_percentage"],
            configuration=struct(row["configuration"]),
        ),
    )


async def session_journey(
    pool: asyncpg.Pool, request: metrics_pb2.SessionJourneyRequest, max_id_length: int
) -> metrics_pb2.SessionJourneyResponse:
    _check_session_id(request.session_id, max_id_length)
    async with read_only(pool) as conn:
        session = await conn.fetchrow(_SESSION, request.session_id)
        if session is None:
            raise NotFound(f"no session {request.session_id!r}")
        interactions = await conn.fetch(_INTERACTIONS, request.session_id, MAX_JOURNEY_STEPS + 1)
        snapshots = await conn.fetch(_SNAPSHOTS, request.session_id, MAX_JOURNEY_STEPS + 1)

    # (time, snapshots first, sequence with unset last, id): each list arrives in this order already
    timeline = sorted(
        [
            (
                (row["occurred_at"], 1, row["sequence"] is None, row["sequence"] or 0, str(row["event_id"])),
                row,
            )
            for row in interactions
        ]
        + [((row["occurred_at"], 0, False, 0, str(row["snapshot_id"])), row) for row in snapshots],
        key=lambda entry: entry[0],
    )
    answer = metrics_pb2.SessionJourneyResponse(
        session=summary(session), truncated=len(timeline) > MAX_JOURNEY_STEPS
    )
    previous: datetime = session["started_at"]
    price: events_pb2.Money | None = None
    for index, (key, row) in enumerate(timeline[:MAX_JOURNEY_STEPS], start=1):
        is_interaction = key[1] == 1
        step = _interaction_step(row) if is_interaction else _snapshot_step(row)
        if is_interaction:
            if price is not None:
                step.price.CopyFrom(price)
        else:
            price = step.price
        step.index = index
        step.seconds_since_previous = (row["occurred_at"] - previous).total_seconds()
        previous = row["occurred_at"]
        answer.steps.append(step)
    return answer
