"""Live session state in Redis: what each active session is doing now, without a Postgres query.

Per session a hash (:func:`~configtrail.constants.session_state_key`) holds the last activity, device,
current configuration, price and completion, and event counts; it expires after inactivity. A sorted
set (:data:`~configtrail.constants.ACTIVE_SESSIONS`) indexes the active sessions by last activity.
Ingest updates both in the same round trip as the stream appends, once per session per group.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf import json_format

from configtrail import constants
from configtrail.common.v1 import events_pb2
from configtrail.vocabulary import DEVICE_TYPES, END_REASONS

#: Seconds of inactivity after which a session no longer counts as active and its state expires.
DEFAULT_IDLE_SECONDS = 30 * 60


@dataclass
class _SessionDelta:
    fields: dict[str, str | int | float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    last_activity: float = 0.0
    ended: bool = False


#: what a stream record holds: the message inside a ``StreamRecord``
Record = (
    events_pb2.UserSession
    | events_pb2.InteractionEvent
    | events_pb2.ConfigurationSnapshot
    | events_pb2.PerformanceMetric
    | events_pb2.SessionEnd
)


def _deltas(records: Iterable[Record], now: float) -> dict[str, _SessionDelta]:
    deltas: dict[str, _SessionDelta] = {}
    for record in records:
        if isinstance(record, events_pb2.PerformanceMetric) or not record.session_id:
            continue
        delta = deltas.get(record.session_id)
        if delta is None:
            delta = deltas[record.session_id] = _SessionDelta()
        delta.last_activity = now
        delta.fields["last_activity"] = now
        if isinstance(record, events_pb2.InteractionEvent):
            delta.counts["interactions"] = delta.counts.get("interactions", 0) + 1
            if record.category:
                delta.fields["last_category"] = record.category
            if record.element_id:
                delta.fields["last_element_id"] = record.element_id
            if record.device_type:
                delta.fields["device_type"] = DEVICE_TYPES.word(record.device_type)
        elif isinstance(record, events_pb2.ConfigurationSnapshot):
            delta.counts["snapshots"] = delta.counts.get("snapshots", 0) + 1
            delta.fields["configuration"] = orjson.dumps(
                json_format.MessageToDict(record.configuration)
            ).decode()
            delta.fields["total_price_minor"] = record.total_price.amount_minor
            delta.fields["currency"] = record.total_price.currency
            delta.fields["completion_percentage"] = record.completion_percentage
        elif isinstance(record, events_pb2.UserSession):
            delta.fields["device_type"] = DEVICE_TYPES.word(record.device_type)
            delta.fields["started_at"] = record.started_at.ToMilliseconds() / 1000
            delta.fields["landing_page"] = record.landing_page
        else:
            delta.fields["ended_reason"] = END_REASONS.word(record.reason)
            delta.ended = True
    return deltas


Argument = str | bytes | int | float


def update_commands(
    records: Iterable[Record], idle_seconds: int = DEFAULT_IDLE_SECONDS
) -> list[list[Argument]]:
    """The Redis commands that bring the live state up to date with ``records`` (a few per session)."""
    now = time.time()
    deltas = _deltas(records, now)
    if not deltas:
        return []
    commands: list[list[Argument]] = []
    active: list[Argument] = []
    for session_id, delta in deltas.items():
        key = constants.session_state_key(session_id)
        hset: list[Argument] = ["HSET", key]
        for name, value in delta.fields.items():
            hset += [name, value]
        commands.append(hset)
        for name, count in delta.counts.items():
            commands.append(["HINCRBY", key, name, count])
        commands.append(["EXPIRE", key, idle_seconds])
        if delta.ended:
            commands.append(["ZREM", constants.ACTIVE_SESSIONS, session_id])
        else:
            active += [delta.last_activity, session_id]
    if active:
        commands.append(["ZADD", constants.ACTIVE_SESSIONS, *active])
    # the index forgets sessions idle for longer than the state lives
    commands.append(["ZREMRANGEBYSCORE", constants.ACTIVE_SESSIONS, "-inf", now - idle_seconds])
    return commands


def decode_state(raw: Mapping[bytes | str, bytes | str]) -> dict[str, Any]:
    """The hash of one session, with numbers and the configuration decoded."""
    state: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.decode() if isinstance(key, bytes) else key
        text = value.decode() if isinstance(value, bytes) else value
        if name in ("interactions", "snapshots", "total_price_minor"):
            state[name] = int(text)
        elif name in ("last_activity", "completion_percentage", "started_at"):
            state[name] = float(text)
        elif name == "configuration":
            state[name] = orjson.loads(text)
        else:
            state[name] = text
    return state
