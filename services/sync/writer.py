"""Writes a batch of decoded stream records to Postgres in one transaction, idempotently.

Order inside the transaction: sessions first (explicit starts upserted, sessions only referenced by
events created), then interactions, snapshots and metrics with ``ON CONFLICT DO NOTHING`` on their
client-supplied ids, then session ends; the per-session rollups are updated from the rows that were
actually inserted, so a redelivered entry changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
from google.protobuf import struct_pb2, timestamp_pb2

from configtrail.common.v1 import events_pb2
from configtrail.db import Connection, PostgresMicroseconds, postgres_microseconds
from configtrail.vocabulary import DEVICE_TYPES, END_REASONS, EVENT_TYPES, SNAPSHOT_TRIGGERS


def _time(ts: timestamp_pb2.Timestamp) -> PostgresMicroseconds:
    # to the microsecond PostgreSQL keeps, in the form it keeps it: no datetime built here, none
    # taken apart again by the driver (connections of db.create_pool take it)
    return postgres_microseconds(ts.seconds, ts.nanos)


def _json(message: struct_pb2.Struct, present: bool) -> str | None:
    if not present:
        return None
    return orjson.dumps(_struct(message)).decode()


def _struct(message: struct_pb2.Struct) -> dict[str, object]:
    """``Struct`` as plain Python (what ``json_format.MessageToDict`` gives, in a fraction of its time).

    Integral numbers below 2**53 become ints, so a ``1`` the client sent is stored as ``1``, not ``1.0``.
    """
    return {key: _value(value) for key, value in message.fields.items()}


def _value(value: struct_pb2.Value) -> object:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return _struct(value.struct_value)
    if kind == "list_value":
        return [_value(item) for item in value.list_value.values]
    return None


def _nullable_int(value: int) -> int | None:
    return value or None


@dataclass
class Batch:
    """The records of one batch, column-wise, ready for ``unnest``."""

    sessions: list[events_pb2.UserSession] = field(default_factory=list)
    interactions: list[events_pb2.InteractionEvent] = field(default_factory=list)
    snapshots: list[events_pb2.ConfigurationSnapshot] = field(default_factory=list)
    metrics: list[events_pb2.PerformanceMetric] = field(default_factory=list)
    ends: list[events_pb2.SessionEnd] = field(default_factory=list)

    def add(self, record: events_pb2.StreamRecord) -> None:
        kind = record.WhichOneof("record")
        if kind == "session":
            self.sessions.append(record.session)
        elif kind == "interaction":
            self.interactions.append(record.interaction)
        elif kind == "snapshot":
            self.snapshots.append(record.snapshot)
        elif kind == "metric":
            self.metrics.append(record.metric)
        elif kind == "session_end":
            self.ends.append(record.session_end)
        else:
            raise ValueError(f"unknown record kind {kind!r}")

    def __len__(self) -> int:
        return (
            len(self.sessions)
            + len(self.interactions)
            + len(self.snapshots)
            + len(self.metrics)
            + len(self.ends)
        )


@dataclass(frozen=True)
class WriteResult:
    interactions: int
    snapshots: int
    metrics: int
    sessions: int
    #: records dropped because their session was erased (a tombstone is in place)
    dropped_erased: int = 0
    erased_sessions: frozenset[str] = frozenset()


_UPSERT_SESSIONS = """
INSERT INTO user_sessions AS s (session_id, started_at, last_seen_at, user_agent, device_type,
    viewport_width, viewport_height, referrer, landing_page, locale)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::text[],
    $6::int[], $7::int[], $8::text[], $9::text[], $10::text[])
ON CONFLICT (session_id) DO UPDATE SET
    started_at = least(s.started_at, excluded.started_at),
    last_seen_at = greatest(s.last_seen_at, excluded.last_seen_at),
    user_agent = excluded.user_agent,
    device_type = excluded.device_type,
    viewport_width = coalesce(excluded.viewport_width, s.viewport_width),
    viewport_height = coalesce(excluded.viewport_height, s.viewport_height),
    referrer = excluded.referrer,
    landing_page = excluded.landing_page,
    locale = excluded.locale
"""

# sessions only referenced by events: created so the foreign key holds, never overwritten
_ENSURE_SESSIONS = """
INSERT INTO user_sessions (session_id, started_at, last_seen_at, device_type, viewport_width, viewport_height)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::int[], $6::int[])
ON CONFLICT (session_id) DO NOTHING
"""

_INSERT_INTERACTIONS = """
WITH inserted AS (
    -- one array of the table's own row type (rows as tuples, columns in table order): cheaper to
    -- encode and to unnest than one array per column, whose every element asyncpg checks on its own
    INSERT INTO interaction_events SELECT * FROM unnest($1::interaction_events[])
    ON CONFLICT (event_id) DO NOTHING
    RETURNING session_id, occurred_at, category, element_id
), per_session AS (
    SELECT DISTINCT ON (session_id) session_id, occurred_at, category, element_id,
           count(*) OVER (PARTITION BY session_id) AS n
    FROM inserted ORDER BY session_id, occurred_at DESC
)
UPDATE user_sessions s SET
    interaction_count = s.interaction_count + p.n,
    -- a visitor who comes back is active again
    status = CASE WHEN s.status = 'abandoned' THEN 'active' ELSE s.status END,
    last_seen_at = greatest(s.last_seen_at, p.occurred_at),
    last_interaction_at = greatest(s.last_interaction_at, p.occurred_at),
    last_category = CASE WHEN s.last_interaction_at IS NULL OR p.occurred_at >= s.last_interaction_at
                         THEN p.category ELSE s.last_category END,
    last_element_id = CASE WHEN s.last_interaction_at IS NULL OR p.occurred_at >= s.last_interaction_at
                           THEN p.element_id ELSE s.last_element_id END
FROM per_session p WHERE s.session_id = p.session_id
RETURNING p.n
"""

_INSERT_SNAPSHOTS = """
WITH inserted AS (
    INSERT INTO configuration_snapshots SELECT * FROM unnest($1::configuration_snapshots[])
    ON CONFLICT (snapshot_id) DO NOTHING
    RETURNING session_id, occurred_at, configuration, total_price_minor, currency, completion_percentage,
        trigger
), per_session AS (
    SELECT DISTINCT ON (session_id) session_id, occurred_at, configuration, total_price_minor, currency,
           completion_percentage,
           count(*) OVER (PARTITION BY session_id) AS n,
           bool_or(trigger = 'order_attempt') OVER (PARTITION BY session_id) AS ordered
    FROM inserted ORDER BY session_id, occurred_at DESC
)
UPDATE user_sessions s SET
    snapshot_count = s.snapshot_count + p.n,
    last_seen_at = greatest(s.last_seen_at, p.occurred_at),
    status = CASE WHEN p.ordered THEN 'ordered' WHEN s.status = 'abandoned' THEN 'active' ELSE s.status END,
    latest_snapshot_at = greatest(s.latest_snapshot_at, p.occurred_at),
    latest_configuration = CASE WHEN s.latest_snapshot_at IS NULL OR p.occurred_at >= s.latest_snapshot_at
                                THEN p.configuration ELSE s.latest_configuration END,
    latest_total_price_minor = CASE WHEN s.latest_snapshot_at IS NULL OR p.occurred_at >= s.latest_snapshot_at
                                    THEN p.total_price_minor ELSE s.latest_total_price_minor END,
    latest_currency = CASE WHEN s.latest_snapshot_at IS NULL OR p.occurred_at >= s.latest_snapshot_at
                           THEN p.currency ELSE s.latest_currency END,
    completion_percentage = CASE WHEN s.latest_snapshot_at IS NULL OR p.occurred_at >= s.latest_snapshot_at
                                 THEN p.completion_percentage ELSE s.completion_percentage END
FROM per_session p WHERE s.session_id = p.session_id
RETURNING p.n
"""

# a metric may name a session that was never seen: it is kept, without the link
_INSERT_METRICS = """
INSERT INTO performance_metrics (metric_id, session_id, metric_name, value_ms, endpoint, user_agent,
    additional_data, occurred_at, received_at)
SELECT m.metric_id, s.session_id, m.metric_name, m.value_ms, m.endpoint, m.user_agent, m.additional_data,
       m.occurred_at, m.received_at
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::float8[], $5::text[], $6::text[], $7::jsonb[],
            $8::timestamptz[], $9::timestamptz[])
     AS m(metric_id, session_id, metric_name, value_ms, endpoint, user_agent, additional_data,
          occurred_at, received_at)
LEFT JOIN user_sessions s ON s.session_id = m.session_id
ON CONFLICT (metric_id) DO NOTHING
"""

_END_SESSIONS = """
UPDATE user_sessions s SET
    ended_at = greatest(s.ended_at, e.ended_at),
    end_reason = e.reason,
    last_seen_at = greatest(s.last_seen_at, e.ended_at),
    status = CASE WHEN e.reason = 'order' THEN 'ordered' ELSE s.status END
FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS e(session_id, reason, ended_at)
WHERE s.session_id = e.session_id
"""


Args = tuple[Sequence[object], ...]


@dataclass(frozen=True)
class PreparedBatch:
    """A batch turned into the column arrays of its statements: the Python half of a write.

    Preparing is pure Python, so the Sync worker prepares the next batch while the current one is in
    Postgres; ``write_batch`` then only sends.
    """

    batch: Batch
    session_ids: list[str]
    sessions: Args | None
    referenced_sessions: Args | None
    interactions: Args | None
    snapshots: Args | None
    metrics: Args | None
    ends: Args | None
    new_sessions: int

    def __len__(self) -> int:
        return len(self.batch)


def prepare(batch: Batch) -> PreparedBatch:
    """The column arrays of every statement ``write_batch`` runs for ``batch``."""
    sessions = _dedupe_sessions(batch.sessions)
    session_args: Args | None = None
    if sessions:
        session_args = (
            [s.session_id for s in sessions],
            [_time(s.started_at) for s in sessions],
            [_time(s.last_seen_at) for s in sessions],
            [s.user_agent for s in sessions],
            [DEVICE_TYPES.word(s.device_type) for s in sessions],
            [_nullable_int(s.viewport_width) for s in sessions],
            [_nullable_int(s.viewport_height) for s in sessions],
            [s.referrer for s in sessions],
            [s.landing_page for s in sessions],
            [s.locale for s in sessions],
        )
    interaction_args: Args | None = None
    occurred: list[int] = []
    devices: list[str] = []
    widths: list[int | None] = []
    heights: list[int | None] = []
    if batch.interactions:
        ev = batch.interactions
        occurred = [_time(e.client_timestamp) for e in ev]
        devices = [DEVICE_TYPES.word(e.device_type) for e in ev]
        widths = [_nullable_int(e.viewport_width) for e in ev]
        heights = [_nullable_int(e.viewport_height) for e in ev]
        interaction_args = (
            list(
                zip(
                    [e.event_id for e in ev],
                    [e.session_id for e in ev],
                    [EVENT_TYPES.word(e.event_type) for e in ev],
                    [e.custom_event_type or None for e in ev],
                    [e.category for e in ev],
                    [e.element_id for e in ev],
                    [e.selection_value for e in ev],
                    [e.previous_value for e in ev],
                    [e.time_spent_ms for e in ev],
                    devices,
                    widths,
                    heights,
                    [_json(e.additional_data, e.HasField("additional_data")) for e in ev],
                    [e.sequence or None for e in ev],
                    occurred,
                    [_time(e.server_timestamp) for e in ev],
                    strict=True,
                )
            ),
        )
    snapshot_args: Args | None = None
    snapshot_times: list[int] = []
    if batch.snapshots:
        sn = batch.snapshots
        snapshot_times = [_time(s.client_timestamp) for s in sn]
        snapshot_args = (
            list(
                zip(
                    [s.snapshot_id for s in sn],
                    [s.session_id for s in sn],
                    [_json(s.configuration, True) for s in sn],
                    [s.total_price.amount_minor for s in sn],
                    [s.total_price.currency for s in sn],
                    [s.completion_percentage for s in sn],
                    [SNAPSHOT_TRIGGERS.word(s.trigger) for s in sn],
                    [_json(s.additional_data, s.HasField("additional_data")) for s in sn],
                    snapshot_times,
                    [_time(s.server_timestamp) for s in sn],
                    strict=True,
                )
            ),
        )
    metric_args: Args | None = None
    if batch.metrics:
        me = batch.metrics
        metric_args = (
            [m.metric_id for m in me],
            [m.session_id or None for m in me],
            [m.metric_name for m in me],
            [m.value_ms for m in me],
            [m.endpoint for m in me],
            [m.user_agent for m in me],
            [_json(m.additional_data, m.HasField("additional_data")) for m in me],
            [_time(m.timestamp) for m in me],
            [_time(m.server_timestamp) for m in me],
        )
    end_args: Args | None = None
    end_times: list[int] = []
    if batch.ends:
        end_times = [_time(e.ended_at) for e in batch.ends]
        end_args = (
            [e.session_id for e in batch.ends],
            [END_REASONS.word(e.reason) for e in batch.ends],
            end_times,
        )

    # sessions named by interactions, snapshots and ends: first and last time seen, device, viewport
    seen: dict[str, _Seen] = {}
    for i, event in enumerate(batch.interactions):
        _note(seen, event.session_id, occurred[i], devices[i], widths[i], heights[i])
    for i, snapshot in enumerate(batch.snapshots):
        _note(seen, snapshot.session_id, snapshot_times[i], "unspecified", None, None)
    for i, end in enumerate(batch.ends):
        _note(seen, end.session_id, end_times[i], "unspecified", None, None)
    referenced_args: Args | None = None
    if seen:
        ids = sorted(seen)
        rows = [seen[i].row() for i in ids]
        referenced_args = (ids, *(list(column) for column in zip(*rows, strict=True)))

    return PreparedBatch(
        batch=batch,
        session_ids=_session_ids(batch),
        sessions=session_args,
        referenced_sessions=referenced_args,
        interactions=interaction_args,
        snapshots=snapshot_args,
        metrics=metric_args,
        ends=end_args,
        new_sessions=len(sessions),
    )


class _Seen:
    """A session named by the batch: first and last time seen, device, viewport."""

    __slots__ = ("device", "first", "height", "last", "width")

    def __init__(self, when: int, device: str, width: int | None, height: int | None) -> None:
        self.first = self.last = when
        self.device, self.width, self.height = device, width, height

    def row(self) -> tuple[int, int, str, int | None, int | None]:
        return self.first, self.last, self.device, self.width, self.height


def _note(
    seen: dict[str, _Seen],
    session_id: str,
    when: int,
    device: str,
    width: int | None,
    height: int | None,
) -> None:
    known = seen.get(session_id)
    if known is None:
        seen[session_id] = _Seen(when, device, width, height)
        return
    known.first = min(known.first, when)
    known.last = max(known.last, when)
    if device != "unspecified":
        known.device = device
    known.width = known.width or width
    known.height = known.height or height


#: namespace of the advisory locks that order erasure against concurrent writes of the same session
ERASURE_LOCK_NAMESPACE = 0x5E55
#: sessions map to this many lock buckets: few locks per transaction, rare contention (erasure is rare)
ERASURE_LOCK_BUCKETS = 256

_LOCK_SESSIONS = f"""
SELECT pg_advisory_xact_lock_shared({ERASURE_LOCK_NAMESPACE}, bucket)
FROM (SELECT DISTINCT hashtext(s) & {ERASURE_LOCK_BUCKETS - 1} AS bucket FROM unnest($1::text[]) s) b
ORDER BY bucket
"""

_ERASED = "SELECT session_id FROM erased_sessions WHERE session_id = ANY($1::text[]) AND expires_at > now()"


#: what an erasure runs first, in its transaction: the exclusive lock of the session's bucket ($1)
ERASURE_LOCK = (
    f"SELECT pg_advisory_xact_lock({ERASURE_LOCK_NAMESPACE}, hashtext($1) & {ERASURE_LOCK_BUCKETS - 1})"
)


def _session_ids(batch: Batch) -> list[str]:
    ids = {s.session_id for s in batch.sessions}
    ids |= {e.session_id for e in batch.interactions}
    ids |= {s.session_id for s in batch.snapshots}
    ids |= {e.session_id for e in batch.ends}
    ids |= {m.session_id for m in batch.metrics if m.session_id}
    return sorted(ids)


async def _drop_erased(
    conn: Connection, prepared: PreparedBatch
) -> tuple[PreparedBatch, int, frozenset[str]]:
    """Take the shared erasure locks of the batch's sessions, then leave out erased sessions' records.

    An erasure holds the exclusive lock of its session's bucket while it writes the tombstone and
    deletes: a batch either commits before it (and is deleted with the rest) or sees the tombstone.
    """
    ids = prepared.session_ids
    if not ids:
        return prepared, 0, frozenset()
    await conn.execute(_LOCK_SESSIONS, ids)
    erased = frozenset(row["session_id"] for row in await conn.fetch(_ERASED, ids))
    if not erased:
        return prepared, 0, erased
    batch = prepared.batch
    kept = Batch(
        sessions=[s for s in batch.sessions if s.session_id not in erased],
        interactions=[e for e in batch.interactions if e.session_id not in erased],
        snapshots=[s for s in batch.snapshots if s.session_id not in erased],
        metrics=[m for m in batch.metrics if m.session_id not in erased],
        ends=[e for e in batch.ends if e.session_id not in erased],
    )
    dropped: dict[str, int] = {}
    for record_session in (
        [s.session_id for s in batch.sessions]
        + [e.session_id for e in batch.interactions]
        + [s.session_id for s in batch.snapshots]
        + [m.session_id for m in batch.metrics]
        + [e.session_id for e in batch.ends]
    ):
        if record_session in erased:
            dropped[record_session] = dropped.get(record_session, 0) + 1
    await conn.execute(
        """UPDATE erased_sessions e SET dropped_events = e.dropped_events + d.n
           FROM unnest($1::text[], $2::bigint[]) AS d(session_id, n) WHERE e.session_id = d.session_id""",
        list(dropped),
        list(dropped.values()),
    )
    return prepare(kept), sum(dropped.values()), erased


async def write_batch(conn: Connection, batch: Batch | PreparedBatch) -> WriteResult:
    """Store ``batch`` in one transaction; return how many rows were new.

    ``conn`` must come from :func:`configtrail.db.create_pool` (or have :func:`configtrail.db.register_codecs`
    applied): its times are sent as :class:`~configtrail.db.PostgresMicroseconds`."""
    prepared = batch if isinstance(batch, PreparedBatch) else prepare(batch)
    async with conn.transaction():
        prepared, dropped, erased = await _drop_erased(conn, prepared)
        if prepared.sessions:
            await conn.execute(_UPSERT_SESSIONS, *prepared.sessions)
        if prepared.referenced_sessions:
            await conn.execute(_ENSURE_SESSIONS, *prepared.referenced_sessions)
        interactions = 0
        if prepared.interactions:
            rows = await conn.fetch(_INSERT_INTERACTIONS, *prepared.interactions)
            interactions = sum(row["n"] for row in rows)
        snapshots = 0
        if prepared.snapshots:
            rows = await conn.fetch(_INSERT_SNAPSHOTS, *prepared.snapshots)
            snapshots = sum(row["n"] for row in rows)
        metrics = 0
        if prepared.metrics:
            metrics = int((await conn.execute(_INSERT_METRICS, *prepared.metrics)).split()[-1])
        if prepared.ends:
            await conn.execute(_END_SESSIONS, *prepared.ends)
    return WriteResult(interactions, snapshots, metrics, prepared.new_sessions, dropped, erased)


def _dedupe_sessions(sessions: Sequence[events_pb2.UserSession]) -> list[events_pb2.UserSession]:
    """One row per session id (the last start wins): an upsert may not touch a row twice."""
    latest: dict[str, events_pb2.UserSession] = {}
    for session in sessions:
        latest[session.session_id] = session
    return list(latest.values())
