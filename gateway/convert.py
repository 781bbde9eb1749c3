"""JSON (camelCase, as browsers send it) ↔ the proto records Ingest takes.

The gateway checks only shape here — types, enum words, number ranges that the proto cannot hold, JSON
nesting — and names each bad field as it was sent. What the values mean (required ids, limits, clock
sanity) is Ingest's to check; its answers are renamed in :mod:`gateway.errors`. Plain functions over
dicts and precomputed maps: this runs once per event on the hot path.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from configtrail.common.v1 import events_pb2
from configtrail.errors import FieldViolation
from configtrail.ingest.v1 import ingest_pb2
from configtrail.vocabulary import DEVICE_TYPES, END_REASONS, EVENT_TYPES, SNAPSHOT_TRIGGERS, Vocabulary
from gateway.errors import ApiError

INT32_RANGE = (-(2**31), 2**31 - 1)
INT64_RANGE = (-(2**63), 2**63 - 1)
#: Deepest JSON nesting taken in additionalData and configuration. Each JSON level is two proto levels,
#: and the gRPC server parses at most 100: deeper records would fail there instead of here.
MAX_JSON_DEPTH = 32
#: Epoch milliseconds a protobuf Timestamp can hold (0001-01-01 … 9999-12-31).
MIN_EPOCH_MS = -62_135_596_800_000
MAX_EPOCH_MS = 253_402_300_799_999

KINDS = ("interaction", "snapshot", "metric")

JsonObject = dict[str, Any]
#: the items of a TrackBatchRequest
BatchItems = RepeatedCompositeFieldContainer[ingest_pb2.BatchItem]


def _too_deep(value: Any, depth: int) -> bool:
    if depth > MAX_JSON_DEPTH:
        return True
    if isinstance(value, dict):
        children: Any = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return False
    return any(_too_deep(child, depth + 1) for child in children if isinstance(child, dict | list))


class Reader:
    """Typed reads from one JSON object; every problem is collected under the field's JSON name."""

    __slots__ = ("data", "violations")

    def __init__(self, data: JsonObject) -> None:
        self.data = data
        self.violations: list[FieldViolation] = []

    def bad(self, name: str, reason: str) -> None:
        self.violations.append(FieldViolation(name, reason))

    def raise_if_bad(self) -> None:
        if self.violations:
            raise ApiError.invalid(self.violations)

    def string(self, name: str) -> str:
        value = self.data.get(name)
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        self.bad(name, "must be a string")
        return ""

    def integer(self, name: str, bounds: tuple[int, int] = INT64_RANGE, kind: str = "an integer") -> int:
        value = self.data.get(name)
        if value is None:
            return 0
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if type(value) is not int:
            self.bad(name, f"must be {kind}")
            return 0
        if not bounds[0] <= value <= bounds[1]:
            self.bad(name, f"out of range {bounds[0]}..{bounds[1]}")
            return 0
        return value

    def number(self, name: str) -> float:
        value = self.data.get(name)
        if value is None:
            return 0.0
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        self.bad(name, "must be a number")
        return 0.0

    def word(self, name: str, vocabulary: Vocabulary) -> int:
        value = self.data.get(name)
        if value is None or value == "":
            return 0
        if isinstance(value, str):
            number = vocabulary.by_word.get(value) or vocabulary.by_word.get(value.lower())
            if number is not None:
                return number
        self.bad(name, f"unknown value {value!r}; one of {vocabulary.words}")
        return 0

    def struct_into(self, name: str, target: struct_pb2.Struct) -> bool:
        """Copy a JSON object into ``target``; False when absent or bad."""
        value = self.data.get(name)
        if value is None:
            return False
        if not isinstance(value, dict):
            self.bad(name, "must be a JSON object")
            return False
        if _too_deep(value, 1):
            self.bad(name, f"nested deeper than {MAX_JSON_DEPTH} levels")
            return False
        try:
            target.update(value)
        except (ValueError, TypeError, OverflowError) as exc:
            self.bad(name, f"not representable: {exc}")
            return False
        return True

    def time_into(self, name: str, target: timestamp_pb2.Timestamp) -> None:
        value = self.data.get(name)
        if value is None:
            return
        if not set_timestamp(target, value):
            self.bad(name, "must be an ISO 8601 time or epoch milliseconds")


def set_timestamp(target: timestamp_pb2.Timestamp, value: Any) -> bool:
    """Set ``target`` from an ISO 8601 string or epoch milliseconds; False when it is neither."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not MIN_EPOCH_MS <= value <= MAX_EPOCH_MS:
            return False
        if type(value) is int:
            seconds, millis = divmod(value, 1000)
            target.seconds, target.nanos = seconds, millis * 1_000_000
        else:
            seconds = math.floor(value / 1000)
            nanos = min(round((value - seconds * 1000) * 1_000_000), 999_999_999)
            target.seconds, target.nanos = seconds, nanos
        return True
    if isinstance(value, str) and 0 < len(value) <= 64:
        try:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            target.FromDatetime(moment)
        except (ValueError, OverflowError):
            return False
        return True
    return False


# Each record is read in two steps: its scalar fields as constructor arguments (one C call builds the
# message from them), then its nested values straight into the message. A batch item is thus built in
# place inside the request (``items.add``), never built apart and copied in.


def _interaction_fields(r: Reader) -> JsonObject:
    return {
        "event_id": r.string("eventId"),
        "session_id": r.string("sessionId"),
        "event_type": r.word("eventType", EVENT_TYPES),
        "custom_event_type": r.string("customEventType"),
        "category": r.string("category"),
        "element_id": r.string("elementId"),
        "selection_value": r.string("selectionValue"),
        "previous_value": r.string("previousValue"),
        "time_spent_ms": r.integer("timeSpent"),
        "device_type": r.word("deviceType", DEVICE_TYPES),
        "viewport_width": r.integer("viewportWidth", INT32_RANGE),
        "viewport_height": r.integer("viewportHeight", INT32_RANGE),
        "sequence": r.integer("sequence"),
    }


def _interaction_nested(r: Reader, event: events_pb2.InteractionEvent) -> None:
    r.struct_into("additionalData", event.additional_data)
    r.time_into("timestamp", event.client_timestamp)


def _snapshot_fields(r: Reader, session_id: str | None) -> JsonObject:
    return {
        "snapshot_id": r.string("snapshotId"),
        "session_id": session_id if session_id is not None else r.string("sessionId"),
        "completion_percentage": r.number("completionPercentage"),
        "trigger": r.word("trigger", SNAPSHOT_TRIGGERS),
    }


def _snapshot_nested(r: Reader, snap: events_pb2.ConfigurationSnapshot) -> None:
    r.struct_into("configuration", snap.configuration)
    r.struct_into("additionalData", snap.additional_data)
    if r.data.get("totalPrice") is not None or r.data.get("currency") is not None:
        snap.total_price.amount_minor = r.integer(
            "totalPrice", kind="an integer amount of minor units (cents)"
        )
        snap.total_price.currency = r.string("currency")
    r.time_into("timestamp", snap.client_timestamp)


def _metric_fields(r: Reader, user_agent: str) -> JsonObject:
    return {
        "metric_id": r.string("metricId"),
        "metric_name": r.string("metricName"),
        "value_ms": r.number("valueMs"),
        "endpoint": r.string("endpoint"),
        "user_agent": r.string("userAgent") or user_agent,
        "session_id": r.string("sessionId"),
    }


def _metric_nested(r: Reader, item: events_pb2.PerformanceMetric) -> None:
    r.struct_into("additionalData", item.additional_data)
    r.time_into("timestamp", item.timestamp)


def interaction(data: JsonObject) -> events_pb2.InteractionEvent:
    r = Reader(data)
    event = events_pb2.InteractionEvent(**_interaction_fields(r))
    _interaction_nested(r, event)
    r.raise_if_bad()
    return event


def snapshot(data: JsonObject, session_id: str | None = None) -> events_pb2.ConfigurationSnapshot:
    r = Reader(data)
    snap = events_pb2.ConfigurationSnapshot(**_snapshot_fields(r, session_id))
    _snapshot_nested(r, snap)
    r.raise_if_bad()
    return snap


def metric(data: JsonObject, user_agent: str = "") -> events_pb2.PerformanceMetric:
    r = Reader(data)
    item = events_pb2.PerformanceMetric(**_metric_fields(r, user_agent))
    _metric_nested(r, item)
    r.raise_if_bad()
    return item


def session(data: JsonObject, user_agent: str = "") -> events_pb2.UserSession:
    r = Reader(data)
    started = events_pb2.UserSession(
        session_id=r.string("sessionId"),
        user_agent=r.string("userAgent") or user_agent,
        device_type=r.word("deviceType", DEVICE_TYPES),  # type: ignore[arg-type]
        viewport_width=r.integer("viewportWidth", INT32_RANGE),
        viewport_height=r.integer("viewportHeight", INT32_RANGE),
        referrer=r.string("referrer"),
        landing_page=r.string("landingPage"),
        locale=r.string("locale"),
    )
    r.time_into("timestamp", started.started_at)
    r.raise_if_bad()
    return started


def end_reason(data: JsonObject) -> int:
    r = Reader(data)
    reason = r.word("reason", END_REASONS)
    r.raise_if_bad()
    return reason


def _object_item(raw: Any) -> JsonObject:
    if not isinstance(raw, dict):
        raise ApiError.invalid([FieldViolation("item", "must be a JSON object")])
    return raw


def add_batch_item(raw: Any, items: BatchItems, user_agent: str = "") -> None:
    """Add one item of ``POST /api/batch`` (``{"kind": …, …fields}``) to ``items``, built in place;
    :class:`ApiError` naming its bad fields, and ``items`` as it was, when it is not well-formed."""
    data = _object_item(raw)
    kind = data.get("kind")
    r = Reader(data)
    if kind == "interaction":
        _interaction_nested(r, items.add(interaction=_interaction_fields(r)).interaction)
    elif kind == "snapshot":
        _snapshot_nested(r, items.add(snapshot=_snapshot_fields(r, None)).snapshot)
    elif kind == "metric":
        _metric_nested(r, items.add(metric=_metric_fields(r, user_agent)).metric)
    else:
        reason = "required" if kind is None else f"unknown kind {kind!r}"
        raise ApiError.invalid([FieldViolation("kind", f"{reason}; one of {', '.join(KINDS)}")])
    if r.violations:
        del items[-1]
        r.raise_if_bad()


def add_metric_item(raw: Any, items: BatchItems, user_agent: str = "") -> None:
    """Add one metric of ``POST /api/metrics`` (no ``kind`` needed) to ``items``, as add_batch_item."""
    r = Reader(_object_item(raw))
    _metric_nested(r, items.add(metric=_metric_fields(r, user_agent)).metric)
    if r.violations:
        del items[-1]
        r.raise_if_bad()


def sent_at(data: JsonObject, request: ingest_pb2.TrackBatchRequest) -> None:
    r = Reader(data)
    r.time_into("sentAt", request.sent_at)
    r.raise_if_bad()


# --- proto → JSON, for reads -------------------------------------------------------------------------


def iso(ts: timestamp_pb2.Timestamp) -> str | None:
    """ISO 8601 in UTC with milliseconds, or None for an unset time."""
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(tzinfo=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    """Struct numbers are doubles: give back integers where the value is one (as it was posted)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def struct_json(message: struct_pb2.Struct) -> JsonObject:
    plain: JsonObject = _plain(json_format.MessageToDict(message))
    return plain


def interaction_json(event: events_pb2.InteractionEvent) -> JsonObject:
    """An interaction in the field names it was posted with."""
    out: JsonObject = {
        "eventId": event.event_id,
        "sessionId": event.session_id,
        "eventType": EVENT_TYPES.word(event.event_type),
        "category": event.category,
        "elementId": event.element_id,
        "selectionValue": event.selection_value,
        "previousValue": event.previous_value,
        "timeSpent": event.time_spent_ms,
        "deviceType": DEVICE_TYPES.word(event.device_type),
        "viewportWidth": event.viewport_width,
        "viewportHeight": event.viewport_height,
        "additionalData": struct_json(event.additional_data) if event.HasField("additional_data") else None,
        "timestamp": iso(event.client_timestamp),
        "serverTimestamp": iso(event.server_timestamp),
        "sequence": event.sequence or None,
    }
    if event.custom_event_type:
        out["customEventType"] = event.custom_event_type
    return out
