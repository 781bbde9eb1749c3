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
from typing import Any, cast

import orjson
from google.protobuf import json_format
from redis.asyncio.client import Pipeline

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


def _deltas(records: Iterable[events_pb2.StreamRecord], now: float) -> dict[str, _SessionDelta]:
    deltas: dict[str, _SessionDelta] = {}
    for record in records:
        kind = record.WhichOneof("record")
        if kind == "metric":
            continue
        inner: Any = getattr(record, kind) if kind else None
        session_id = getattr(inner, "session_id", "")
        if not session_id:
            continue
        delta = deltas.setdefault(session_id, _SessionDelta())
        delta.last_activity = now
        delta.fields["last_activity"] = now
        if kind == "interaction":
            event = record.interaction
            delta.counts["interactions"] = delta.counts.get("interactions", 0) + 1
            if event.category:
                delta.fields["last_category"] = event.category
            if event.element_id:
                delta.fields["last_element_id"] = event.element_id
            if event.device_type:
                delta.fields["device_type"] = DEVICE_TYPES.word(event.device_type)
        elif kind == "snapshot":
            snapshot = record.snapshot
            delta.counts["snapshots"] = delta.counts.get("snapshots", 0) + 1
            delta.fields["configuration"] = orjson.dumps(
                json_format.MessageToDict(snapshot.configuration)
            ).decode()
            delta.fields["total_price_minor"] = snapshot.total_price.amount_minor
            delta.fields["currency"] = snapshot.total_price.currency
            delta.fields["completion_percentage"] = snapshot.completion_percentage
        elif kind == "session":
            session = record.session
            delta.fields["device_type"] = DEVICE_TYPES.word(session.device_type)
            delta.fields["started_at"] = session.started_at.ToMilliseconds() / 1000
            delta.fields["landing_page"] = session.landing_page
        elif kind == "session_end":
            delta.fields["ended_reason"] = END_REASONS.word(record.session_end.reason)
            delta.ended = True
    return deltas


def add_updates(
    pipe: Pipeline, records: Iterable[events_pb2.StreamRecord], idle_seconds: int = DEFAULT_IDLE_SECONDS
) -> None:
    """Queue the live-state updates for ``records`` on ``pipe`` (one hash write per session)."""
    now = time.time()
    deltas = _deltas(records, now)
    if not deltas:
        return
    active: dict[str, float] = {}
    for session_id, delta in deltas.items():
        key = constants.session_state_key(session_id)
        pipe.hset(key, mapping=cast(Any, delta.fields))
        for name, count in delta.counts.items():
            pipe.hincrby(key, name, count)
        pipe.expire(key, idle_seconds)
        if delta.ended:
            pipe.zrem(constants.ACTIVE_SESSIONS, session_id)
        else:
            active[session_id] = delta.last_activity
    if active:
        pipe.zadd(constants.ACTIVE_SESSIONS, active)
    # the index forgets sessions idle for longer than the state lives
    pipe.zremrangebyscore(constants.ACTIVE_SESSIONS, "-inf", now - idle_seconds)


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
