"""What the analytics queries share: request time ranges, text checks, the read-only query transaction,
conversions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg
import grpc
import orjson
from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from configtrail.common.v1 import events_pb2
from configtrail.db import Connection
from configtrail.errors import ConfigtrailError, FieldViolation, ValidationError
from configtrail.metrics.v1 import metrics_pb2

#: Range of a request that leaves ``from_time`` unset: this long before ``to_time`` (but see EARLIEST).
DEFAULT_RANGE = timedelta(days=30)
#: The earliest and latest times a request or an answer can carry: what a protobuf Timestamp (and a
#: Python datetime) holds, years 1 to 9999 in UTC. PostgreSQL's timestamptz holds all of them, but asyncpg
#: sends exactly these two as -infinity and infinity: the same as bounds of a range, not as a date_bin origin.
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
#: Why a string of a request is refused: PostgreSQL text cannot hold the NUL character.
NUL_REASON = "must not contain NUL characters"

#: Memory per sort or hash of one analytics query: enough to keep a few hundred thousand rows in memory.
WORK_MEM = "64MB"

#: Buckets of a series are aligned to multiples of their length from this moment.
BUCKET_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
#: Most buckets a series may have.
MAX_BUCKETS = 2000

#: Requests that carry a [from_time, to_time) range.
RangeRequest = (
    metrics_pb2.OverviewRequest
    | metrics_pb2.ListSessionsRequest
    | metrics_pb2.PopularConfigurationsRequest
    | metrics_pb2.FunnelRequest
    | metrics_pb2.PriceEvolutionRequest
    | metrics_pb2.AbandonmentRequest
)


class NotFound(ConfigtrailError):
    """The thing asked for does not exist."""

    code = grpc.StatusCode.NOT_FOUND


@dataclass(frozen=True)
class TimeRange:
    """[start, end), both aware datetimes."""

    start: datetime
    end: datetime

    def stamp(self, message: Any) -> None:
        """Echo the range into an answer's ``from_time`` and ``to_time``."""
        message.from_time.CopyFrom(timestamp(self.start))
        message.to_time.CopyFrom(timestamp(self.end))


def _time(ts: timestamp_pb2.Timestamp, name: str) -> datetime:
    try:
        return ts.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise ValidationError([FieldViolation(name, "not a valid timestamp")]) from exc


def time_range(request: RangeRequest, now: datetime) -> TimeRange:
    """The request's range with the defaults filled in: to now, from 30 days before ``to`` but no earlier
    than :data:`EARLIEST` (a ``to_time`` in January of year 1 has no 30 days before it)."""
    end = _time(request.to_time, "to_time") if request.HasField("to_time") else now
    if request.HasField("from_time"):
        start = _time(request.from_time, "from_time")
    else:
        start = end - DEFAULT_RANGE if end - EARLIEST >= DEFAULT_RANGE else EARLIEST
    if start > end:
        raise ValidationError([FieldViolation("from_time", "must not be after to_time")])
    return TimeRange(start, end)


def bucket_length(
    seconds: int,
    multiple_of: int,
    span: timedelta,
    name: str,
    unit: str,
    *,
    start: datetime | None = None,
) -> timedelta | None:
    """A request's ``bucket_seconds`` as a length: None for 0 (no series), else a positive multiple of
    ``multiple_of`` seconds of which ``span`` (the range or window) holds at most :data:`MAX_BUCKETS`.

    The cap is on the span, not on the buckets it overlaps (one more when it does not start on a bucket
    boundary), so a request valid now stays valid a moment later. With ``start`` (the range's), the first
    bucket, aligned before it (see :func:`bucket_starts`), must not start before :data:`EARLIEST`.
    """
    if seconds == 0:
        return None
    if seconds < 0 or seconds % multiple_of:
        raise ValidationError(
            [FieldViolation(name, f"must be 0 (no series) or a positive multiple of {multiple_of} ({unit})")]
        )
    length = timedelta(seconds=seconds)
    if span > MAX_BUCKETS * length:
        buckets = -(-span // length)  # rounded up
        reason = (
            f"{buckets:,} buckets of {seconds} s over this range, at most {MAX_BUCKETS:,}: "
            "choose longer buckets or a shorter range"
        )
        raise ValidationError([FieldViolation(name, reason)])
    if start is not None and (start - BUCKET_ORIGIN) % length > start - EARLIEST:
        reason = (
            f"the first bucket of {seconds} s (aligned from 2000-01-01) would start before "
            "0001-01-01T00:00:00Z: start the range later, or take buckets of 3600 or 86400 s"
        )
        raise ValidationError([FieldViolation(name, reason)])
    return length


def bucket_starts(start: datetime, end: datetime, length: timedelta) -> list[datetime]:
    """The starts of the buckets of ``length`` that overlap [start, end), aligned to multiples of
    ``length`` from :data:`BUCKET_ORIGIN`."""
    if end <= start:
        return []
    first = start - (start - BUCKET_ORIGIN) % length
    whole, rest = divmod(end - first, length)
    return [first + index * length for index in range(whole + (1 if rest else 0))]


def text_violations(message: Message, prefix: str = "") -> list[FieldViolation]:
    """Every string of a request (in nested messages, lists and maps too) that PostgreSQL text cannot
    hold, under its field path (``steps[1].category``): the one check of text that every analytics RPC's
    request goes through before anything of it reaches a query."""
    violations: list[FieldViolation] = []
    for field, value in message.ListFields():
        name = f"{prefix}{field.name}"
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            for key, item in value.items():
                violations += _text_violations(entry.fields_by_name["key"], key, f"{name}[{key!r}]")
                violations += _text_violations(entry.fields_by_name["value"], item, f"{name}[{key!r}]")
        elif field.is_repeated:
            for index, item in enumerate(value):
                violations += _text_violations(field, item, f"{name}[{index}]")
        else:
            violations += _text_violations(field, value, name)
    return violations


def _text_violations(field: FieldDescriptor, value: Any, name: str) -> list[FieldViolation]:
    if isinstance(value, Message):
        return text_violations(value, f"{name}.")
    if field.cpp_type == FieldDescriptor.CPPTYPE_STRING and isinstance(value, str) and "\x00" in value:
        return [FieldViolation(name, NUL_REASON)]
    return []


def check_text(message: Message) -> None:
    """:class:`ValidationError` naming each string of ``message`` that PostgreSQL text cannot hold."""
    violations = text_violations(message)
    if violations:
        raise ValidationError(violations)


def timestamp(when: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(when)
    return ts


def rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def minor_units(value: Decimal | float | int | None) -> int:
    """Money to whole minor units, halves away from zero (as Postgres rounds numerics)."""
    if value is None:
        return 0
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def money(amount_minor: int, currency: str) -> events_pb2.Money:
    return events_pb2.Money(amount_minor=amount_minor, currency=currency)


def struct(raw_json: str | None) -> struct_pb2.Struct:
    """A JSON object from Postgres (asyncpg hands jsonb over as text) as a Struct."""
    result = struct_pb2.Struct()
    if raw_json is not None:
        value = orjson.loads(raw_json)
        if isinstance(value, dict):
            result.update(value)
    return result


@asynccontextmanager
async def read_only(pool: asyncpg.Pool, *, hash_joins: bool = False) -> AsyncIterator[Connection]:
    """A connection in a read-only snapshot transaction, tuned for analytics.

    Plans are made for each call's values (``force_custom_plan``): a time range of an hour and one of a
    year want different plans, and a cached generic plan would serve one of them badly. ``hash_joins``
    turns nested loops off for queries that chain aggregated CTEs, whose row estimates collapse to a
    handful and would otherwise pick a nested loop over tens of thousands of rows.
    """
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        settings = f"SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL work_mem = '{WORK_MEM}'"
        if hash_joins:
            settings += "; SET LOCAL enable_nestloop = off"
        await conn.execute(settings)
        yield conn
