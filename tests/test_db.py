"""The pool's timestamp codec (datetimes and Postgres microseconds in, aware UTC datetimes out) and the
row shapes the Sync writer sends as arrays of a table's row type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest
from google.protobuf import timestamp_pb2

from configtrail.common.v1 import events_pb2
from configtrail.db import PostgresMicroseconds, postgres_microseconds
from services.sync import writer

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
    assert await pg_pool.fetchval("SELECT $1::timestamptz", PostgresMicroseconds(-1)) == early
    assert await pg_pool.fetchval("SELECT $1::timestamptz = '1999-12-31 23:59:59.999999+00'", early)


async def test_nanos_below_a_microsecond_are_dropped() -> None:
    assert postgres_microseconds(946_684_800, 1_999) == 1
    assert postgres_microseconds(946_684_801) == 1_000_000


@pytest.mark.parametrize("number", [0, 1_795_881_907, True, 1.5, "2026-11-28"])
async def test_a_plain_number_or_string_is_not_taken_for_a_time(
    pg_pool: asyncpg.Pool, number: object
) -> None:
    with pytest.raises(asyncpg.DataError, match="datetime or PostgresMicroseconds"):
        await pg_pool.fetchval("SELECT $1::timestamptz", number)


async def test_infinity_reads_as_the_largest_and_smallest_datetime(pg_pool: asyncpg.Pool) -> None:
    latest = datetime.max.replace(tzinfo=UTC)
    earliest = datetime.min.replace(tzinfo=UTC)
    assert await pg_pool.fetchval("SELECT 'infinity'::timestamptz") == latest
    assert await pg_pool.fetchval("SELECT '-infinity'::timestamptz") == earliest
    assert await pg_pool.fetchval("SELECT $1::timestamptz = 'infinity'", latest)
    assert await pg_pool.fetchval("SELECT $1::timestamptz = '-infinity'", earliest)


async def test_a_year_past_9999_is_an_error_naming_the_value(pg_pool: asyncpg.Pool) -> None:
    with pytest.raises(ValueError, match="outside Python's years 1-9999"):
        await pg_pool.fetchval("SELECT '12000-01-01 00:00:00+00'::timestamptz")


async def _columns(pool: asyncpg.Pool, table: str) -> int:
    count = await pool.fetchval(
        "SELECT count(*) FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
        table,
    )
    return int(count)


async def test_the_writers_rows_have_one_value_per_column_of_their_table(pg_pool: asyncpg.Pool) -> None:
    """The writer inserts ``SELECT * FROM unnest($1::<table>[])``: its tuples follow the table's columns."""
    batch = writer.Batch()
    batch.add(events_pb2.StreamRecord(interaction=events_pb2.InteractionEvent(event_id="e", session_id="s")))
    batch.add(
        events_pb2.StreamRecord(snapshot=events_pb2.ConfigurationSnapshot(snapshot_id="n", session_id="s"))
    )
    prepared = writer.prepare(batch)
    assert prepared.interactions is not None
    assert prepared.snapshots is not None
    ((interaction_row,),) = prepared.interactions
    ((snapshot_row,),) = prepared.snapshots
    assert isinstance(interaction_row, tuple)
    assert isinstance(snapshot_row, tuple)
    assert len(interaction_row) == await _columns(pg_pool, "interaction_events")
    assert len(snapshot_row) == await _columns(pg_pool, "configuration_snapshots")
