"""A session's interactions in time order: Postgres rows merged with entries still in the stream.

Reading both gives read-your-writes: an event acknowledged by Ingest is visible at once, whether
or not Sync has committed it yet.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import orjson
import redis.asyncio as redis
from google.protobuf import struct_pb2
from redis.exceptions import RedisError

from configtrail import constants, streams
from configtrail.common.v1 import events_pb2
from configtrail.errors import DependencyUnavailable, FieldViolation, ValidationError
from configtrail.ingest.v1 import ingest_pb2
from configtrail.vocabulary import DEVICE_TYPES, EVENT_TYPES
from services.ingest.validation import SESSION_ID_PATTERN, Limits

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_XRANGE_CHUNK = 1000

Cursor = tuple[datetime, str]

_SELECT = """
SELECT event_id, session_id, event_type, custom_event_type, category, element_id, selection_value,
       previous_value, time_spent_ms, device_type, viewport_width, viewport_height, additional_data,
       sequence, occurred_at, received_at
FROM interaction_events
WHERE session_id = $1 AND ($2::timestamptz IS NULL OR (occurred_at, event_id) > ($2, $3::uuid))
ORDER BY occurred_at, event_id
LIMIT $4
"""


def encode_cursor(cursor: Cursor) -> str:
    raw = orjson.dumps([cursor[0].isoformat(), cursor[1]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    """The cursor ``encode_cursor`` made: a time with its offset (in UTC's range) and an event id."""
    try:
        when, event_id = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(when, str) or not isinstance(event_id, str):
            raise TypeError("a cursor is a time and an event id, both strings")
        moment = datetime.fromisoformat(when)
        if moment.tzinfo is None:
            raise ValueError("a cursor's time has an offset")
        moment.astimezone(UTC)  # OverflowError for a time whose UTC falls outside years 1..9999
        return moment, str(uuid.UUID(event_id))
    except (ValueError, TypeError, OverflowError) as exc:  # orjson.JSONDecodeError is a ValueError
        raise ValidationError([FieldViolation("page_token", "not a token from an earlier page")]) from exc


def _key(event: events_pb2.InteractionEvent) -> Cursor:
    return event.client_timestamp.ToDatetime(tzinfo=UTC), event.event_id


def _from_row(row: asyncpg.Record) -> events_pb2.InteractionEvent:
    event = events_pb2.InteractionEvent(
        event_id=str(row["event_id"]),
        session_id=row["session_id"],
        event_type=EVENT_TYPES.number(row["event_type"]) or 0,  # type: ignore[arg-type]
        custom_event_type=row["custom_event_type"] or "",
        category=row["category"],
        element_id=row["element_id"],
        selection_value=row["selection_value"],
        previous_value=row["previous_value"],
        time_spent_ms=row["time_spent_ms"],
        device_type=DEVICE_TYPES.number(row["device_type"]) or 0,  # type: ignore[arg-type]
        viewport_width=row["viewport_width"] or 0,
        viewport_height=row["viewport_height"] or 0,
        sequence=row["sequence"] or 0,
    )
    if row["additional_data"] is not None:
        data = struct_pb2.Struct()
        data.update(orjson.loads(row["additional_data"]))
        event.additional_data.CopyFrom(data)
    event.client_timestamp.FromDatetime(row["occurred_at"])
    event.server_timestamp.FromDatetime(row["received_at"])
    return event


class SessionReader:
    def __init__(self, pool: asyncpg.Pool, client: redis.Redis, stream_shards: int) -> None:
        self._pool = pool
        self._redis = client
        self._shards = stream_shards

    async def interactions(
        self, request: ingest_pb2.GetSessionInteractionsRequest, limits: Limits
    ) -> ingest_pb2.GetSessionInteractionsResponse:
        violations: list[FieldViolation] = []
        session_id = request.session_id
        if not session_id:
            violations.append(FieldViolation("session_id", "required"))
        elif len(session_id) > limits.max_id_length or not SESSION_ID_PATTERN.fullmatch(session_id):
            violations.append(FieldViolation("session_id", "not a valid session id"))
        if request.page_size < 0 or request.page_size > MAX_PAGE_SIZE:
            violations.append(FieldViolation("page_size", f"must be between 0 and {MAX_PAGE_SIZE}"))
        cursor: Cursor | None = None
        if request.page_token:
            try:
                cursor = decode_cursor(request.page_token)
            except ValidationError as error:
                violations += error.violations
        if violations:
            raise ValidationError(violations)
        page_size = request.page_size or DEFAULT_PAGE_SIZE

        try:
            # the stream first: an entry trimmed from it after this read was committed before it, so the
            # Postgres query below sees it; the other order could miss an entry synced in between
            unsynced = await self._unsynced(session_id)
            rows = await self._pool.fetch(
                _SELECT,
                session_id,
                cursor[0] if cursor else None,
                cursor[1] if cursor else None,
                page_size + 1,
            )
        except (RedisError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise DependencyUnavailable(f"cannot read the session: {exc.__class__.__name__}: {exc}") from exc
        merged = {str(row["event_id"]): _from_row(row) for row in rows}
        for event in unsynced:
            if event.event_id not in merged and (cursor is None or _key(event) > cursor):
                merged[event.event_id] = event
        ordered = sorted(merged.values(), key=_key)
        page = ordered[:page_size]
        next_token = encode_cursor(_key(page[-1])) if len(ordered) > page_size else ""
        return ingest_pb2.GetSessionInteractionsResponse(interactions=page, next_page_token=next_token)

    async def _unsynced(self, session_id: str) -> list[events_pb2.InteractionEvent]:
        """The session's interactions still in its stream shard (appended, maybe not yet in Postgres)."""
        stream = streams.stream_for(session_id, self._shards)
        found: list[events_pb2.InteractionEvent] = []
        start = "-"
        while True:
            chunk: list[tuple[bytes, dict[bytes, bytes] | None]] = cast(
                Any, await self._redis.xrange(stream, min=start, max="+", count=_XRANGE_CHUNK)
            )
            for _entry_id, fields in chunk:
                payload = fields.get(constants.STREAM_FIELD.encode()) if fields else None
                if payload is None:
                    continue
                try:
                    record = streams.decode(payload)
                except ValueError:
                    continue
                if (
                    record.WhichOneof("record") == "interaction"
                    and record.interaction.session_id == session_id
                ):
                    found.append(record.interaction)
            if len(chunk) < _XRANGE_CHUNK:
                return found
            start = "(" + chunk[-1][0].decode()
