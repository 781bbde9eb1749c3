"""The pool's timestamp codec: datetimes and Postgres microseconds in, aware UTC datetimes out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import asyncpg
from google.protobuf import timestamp_pb2

from configtrail.db import postgres_microseconds

ROUND_TRIP = "SELECT $1::timestamptz AS t, extract(epoch FROM $1::timestamptz)::numeric AS epoch"


async def test_microseconds_and_datetimes_name_the_same_instant(pg_pool: asyncpg.Pool) -> None:
    moment = datetime(2026, 11, 28, 16, 5, 7, 123456, tzinfo=UTC)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    as_microseconds = await pg_pool.fetchrow(ROUND_TRIP, postgres_microseconds(stamp.seconds, stamp.nanos))
    as_datetime = await pg_pool.fetchrow(ROUND_TRIP, moment)
    assert as_microseconds is not None
    assert as_datetime is not None
    assert as_microseconds["t"] == as_datetime["t"] == moment
    assert str(as_microseconds["epoch"]) == "1795881907.123456"
    assert as_microseconds["t"].tzinfo is not None
    assert as_microseconds["t"].utcoffset() == timedelta(0)


async def test_other_time_zones_and_times_before_2000_keep_their_instant(pg_pool: asyncpg.Pool) -> None:
    vienna = datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert await pg_pool.fetchval("SELECT $1::timestamptz", vienna) == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    early = datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert postgres_microseconds(946_684_799, 999_999_000) == -1
    assert await pg_pool.fetchval("SELECT $1::timestamptz", -1) == early
    assert await pg_pool.fetchval("SELECT $1::timestamptz = '1999-12-31 23:59:59.999999+00'", early)


async def test_nanos_below_a_microsecond_are_dropped() -> None:
    assert postgres_microseconds(946_684_800, 1_999) == 1
    assert postgres_microseconds(946_684_801) == 1_000_000
