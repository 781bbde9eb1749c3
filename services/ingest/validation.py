"""Validation and normalisation of incoming records.

Each ``check_*`` function returns the normalised record (ids assigned, server time stamped, client time
corrected) or raises :class:`~configtrail.errors.ValidationError` naming every bad field and why.
Field paths are those of the proto message, prefixed by where the record sits in the request.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from google.protobuf import json_format, struct_pb2, timestamp_pb2

from configtrail import useragent
from configtrail.common.v1 import events_pb2
from configtrail.errors import FieldViolation, ValidationError
from configtrail.settings import CommonSettings

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SESSION_ID_PATTERN = re.compile(r"[A-Za-z0-9._:\-]+")
CUSTOM_TYPE_PATTERN = re.compile(r"[a-z0-9_.\-]{1,64}")
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
METRIC_NAME_PATTERN = re.compile(r"[a-z0-9_.\-]{1,64}")


@dataclass(frozen=True)
class Limits:
    """The input limits, each a named setting (see ``IngestSettings``)."""

    max_batch_items: int = 500
    max_id_length: int = 128
    max_value_bytes: int = 1024
    max_additional_data_bytes: int = 8 * 1024
    max_configuration_bytes: int = 64 * 1024
    max_viewport_pixels: int = 16_384
    max_time_spent_ms: int = 86_400_000
    max_clock_ahead: timedelta = timedelta(days=1)
    clock_skew_dead_band: timedelta = timedelta(seconds=2)
    #: data minimisation: drop free-form additional data, reduce user agents
    store_additional_data: bool = True
    reduce_user_agents: bool = True

    @property
    def max_clock_ahead_ns(self) -> int:
        return _ns(self.max_clock_ahead)

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> Limits:
        return cls(
            max_batch_items=settings.max_batch_items,
            max_id_length=settings.max_id_length,
            max_value_bytes=settings.max_value_bytes,
            max_additional_data_bytes=settings.max_additional_data_bytes,
            max_configuration_bytes=settings.max_configuration_bytes,
            max_viewport_pixels=settings.max_viewport_pixels,
            max_time_spent_ms=settings.max_time_spent_ms,
            max_clock_ahead=timedelta(seconds=settings.max_clock_ahead_seconds),
            clock_skew_dead_band=timedelta(seconds=settings.clock_skew_dead_band_seconds),
            store_additional_data=settings.store_additional_data,
            reduce_user_agents=settings.reduce_user_agents,
        )


_NANOS = 1_000_000_000
#: the range google.protobuf.Timestamp can hold: 0001-01-01 to 9999-12-31
# Times strictly inside 0001-01-01 .. 9999-12-31T23:59:59.999999 UTC: asyncpg stores those two ends
# (datetime.min and datetime.max) as -infinity and infinity, which no duration can be computed from.
_MIN_TIMESTAMP_NS = -62_135_596_800 * _NANOS + 1_000
_MAX_TIMESTAMP_NS = 253_402_300_800 * _NANOS - 1_000 - 1


def _ns(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * _NANOS + delta.microseconds * 1000


class Clock:
    """Server time of the request and the client clock's measured offset (client minus server).

    Times are also kept as integer nanoseconds: validating a batch compares and stamps thousands of
    timestamps, and integers are much cheaper than datetimes there.
    """

    __slots__ = ("now", "now_ns", "skew", "skew_ns")

    def __init__(self, now: datetime, skew: timedelta = timedelta(0)) -> None:
        self.now = now
        self.skew = skew
        self.now_ns = _ns(now - _EPOCH)
        self.skew_ns = _ns(skew)

    @classmethod
    def for_request(cls, now: datetime, sent_at: timestamp_pb2.Timestamp | None, limits: Limits) -> Clock:
        if sent_at is None or (sent_at.seconds == 0 and sent_at.nanos == 0):
            return cls(now)
        try:
            skew = sent_at.ToDatetime(tzinfo=UTC) - now
        except (ValueError, OverflowError) as exc:
            raise ValidationError([FieldViolation("sent_at", "not a valid time")]) from exc
        if abs(skew) <= limits.clock_skew_dead_band:
            skew = timedelta(0)
        return cls(now, skew)


def session_id_problem(value: str, max_length: int) -> str | None:
    """Why ``value`` is no session id (None when it is one): the rule every service holds ids to."""
    if not value:
        return "required"
    if len(value) > max_length:
        return f"longer than {max_length} characters"
    if not SESSION_ID_PATTERN.fullmatch(value):
        return "may contain only letters, digits and . _ : -"
    return None


class _Checker:
    def __init__(self, prefix: str, limits: Limits) -> None:
        self.prefix = prefix
        self.limits = limits
        self.violations: list[FieldViolation] = []

    def bad(self, field: str, reason: str) -> None:
        self.violations.append(FieldViolation(f"{self.prefix}{field}", reason))

    def raise_if_bad(self) -> None:
        if self.violations:
            raise ValidationError(self.violations)

    def session_id(self, value: str, field: str = "session_id", required: bool = True) -> None:
        if value or required:
            problem = session_id_problem(value, self.limits.max_id_length)
            if problem is not None:
                self.bad(field, problem)

    def record_id(self, value: str, field: str) -> str:
        """A client-supplied UUID, or a new one when empty; returned in canonical form."""
        if not value:
            return str(uuid.uuid4())
        if _CANONICAL_UUID.fullmatch(value):
            return value
        if len(value) > self.limits.max_id_length:
            self.bad(field, f"longer than {self.limits.max_id_length} characters")
            return value
        try:
            return str(uuid.UUID(value))
        except ValueError:
            self.bad(field, "must be a UUID")
            return value

    def text(self, value: str, field: str, limit: int) -> None:
        if len(value.encode("utf-8", "surrogatepass")) > limit:
            self.bad(field, f"longer than {limit} bytes")
        if "\x00" in value:
            self.bad(field, "must not contain NUL characters")

    def struct(
        self,
        message: events_pb2.InteractionEvent
        | events_pb2.ConfigurationSnapshot
        | events_pb2.PerformanceMetric,
        field: str,
        limit: int,
    ) -> None:
        if not message.HasField(field):
            return
        value: struct_pb2.Struct = getattr(message, field)
        problem = _non_json_value(value)
        if problem is not None:
            self.bad(field, f"not JSON-serialisable: {problem}")
            return
        # JSON never takes more than 6 bytes per byte of the binary form (the worst is a control
        # character, escaped as \u00XX): small objects need no JSON rendering to be measured
        if value.ByteSize() * 6 + 2 <= limit:
            return
        size = len(orjson.dumps(json_format.MessageToDict(value)))
        if size > limit:
            self.bad(field, f"larger than {limit} bytes as JSON ({size})")

    def enum(self, value: int, field: str, descriptor_values: dict[int, str], allowed: str) -> None:
        if value == 0:
            self.bad(field, f"required; one of {allowed}")
        elif value not in descriptor_values:
            self.bad(field, f"unknown value {value}; one of {allowed}")

    def viewport(self, value: int, field: str) -> None:
        if value < 0 or value > self.limits.max_viewport_pixels:
            self.bad(field, f"out of range 0..{self.limits.max_viewport_pixels}")

    def client_time(self, ts: timestamp_pb2.Timestamp, field: str, clock: Clock) -> int:
        """The corrected client time (ns); server time when absent; never later than server time."""
        seconds, nanos = ts.seconds, ts.nanos
        if seconds == 0 and nanos == 0:
            return clock.now_ns
        corrected = seconds * _NANOS + nanos - clock.skew_ns
        if not 0 <= nanos < _NANOS or not _MIN_TIMESTAMP_NS <= corrected <= _MAX_TIMESTAMP_NS:
            self.bad(field, "not a valid time")
            return clock.now_ns
        if corrected - clock.now_ns > self.limits.max_clock_ahead_ns:
            self.bad(field, f"more than {self.limits.max_clock_ahead.total_seconds():.0f} s in the future")
            return clock.now_ns
        return min(corrected, clock.now_ns)


def _non_json_value(value: struct_pb2.Struct | struct_pb2.ListValue | struct_pb2.Value) -> str | None:
    """What makes a Struct unstorable as JSON (NaN or infinite numbers, NUL characters), or None."""
    if isinstance(value, struct_pb2.Struct):
        for key, item in value.fields.items():
            if "\x00" in key:
                return f"key {key!r}: must not contain NUL characters"
            problem = _non_json_value(item)
            if problem:
                return f"{key}: {problem}"
        return None
    if isinstance(value, struct_pb2.ListValue):
        for index, item in enumerate(value.values):
            problem = _non_json_value(item)
            if problem:
                return f"[{index}]: {problem}"
        return None
    kind = value.WhichOneof("kind")
    if kind == "number_value" and not math.isfinite(value.number_value):
        return "numbers must be finite"
    if kind == "string_value" and "\x00" in value.string_value:
        return "strings must not contain NUL characters"
    if kind == "struct_value":
        return _non_json_value(value.struct_value)
    if kind == "list_value":
        return _non_json_value(value.list_value)
    return None


_EVENT_TYPES = dict(events_pb2.EventType.items())
_EVENT_TYPE_VALUES = {v: k for k, v in _EVENT_TYPES.items()}
_DEVICE_VALUES = {v: k for k, v in events_pb2.DeviceType.items()}
_TRIGGER_VALUES = {v: k for k, v in events_pb2.SnapshotTrigger.items()}
_END_REASON_VALUES = {v: k for k, v in events_pb2.EndReason.items()}


def _stamp(ts: timestamp_pb2.Timestamp, when_ns: int) -> None:
    ts.seconds, ts.nanos = divmod(when_ns, _NANOS)


def check_interaction(
    event: events_pb2.InteractionEvent, clock: Clock, limits: Limits, prefix: str = ""
) -> events_pb2.InteractionEvent:
    c = _Checker(prefix, limits)
    out = events_pb2.InteractionEvent()
    out.CopyFrom(event)
    out.event_id = c.record_id(event.event_id, "event_id")
    c.session_id(event.session_id)
    c.enum(event.event_type, "event_type", _EVENT_TYPE_VALUES, "click, hover, selection, scroll, custom")
    if event.event_type == events_pb2.EVENT_TYPE_CUSTOM:
        if not CUSTOM_TYPE_PATTERN.fullmatch(event.custom_event_type):
            c.bad("custom_event_type", "required for custom events: 1-64 of a-z 0-9 _ . -")
    elif event.custom_event_type:
        c.bad("custom_event_type", "only allowed with event_type custom")
    c.text(event.category, "category", limits.max_value_bytes)
    if len(event.element_id) > limits.max_id_length:
        c.bad("element_id", f"longer than {limits.max_id_length} characters")
    c.text(event.element_id, "element_id", limits.max_value_bytes)
    c.text(event.selection_value, "selection_value", limits.max_value_bytes)
    c.text(event.previous_value, "previous_value", limits.max_value_bytes)
    if event.time_spent_ms < 0:
        c.bad("time_spent_ms", "must not be negative")
    elif event.time_spent_ms > limits.max_time_spent_ms:
        c.bad("time_spent_ms", f"larger than {limits.max_time_spent_ms}")
    if event.device_type not in _DEVICE_VALUES:
        c.bad("device_type", f"unknown value {event.device_type}")
    c.viewport(event.viewport_width, "viewport_width")
    c.viewport(event.viewport_height, "viewport_height")
    c.struct(event, "additional_data", limits.max_additional_data_bytes)
    if event.sequence < 0:
        c.bad("sequence", "must not be negative")
    occurred = c.client_time(event.client_timestamp, "client_timestamp", clock)
    c.raise_if_bad()
    _stamp(out.client_timestamp, occurred)
    _stamp(out.server_timestamp, clock.now_ns)
    _minimise(out, limits)
    return out


def _minimise(
    record: events_pb2.InteractionEvent
    | events_pb2.ConfigurationSnapshot
    | events_pb2.PerformanceMetric
    | events_pb2.UserSession,
    limits: Limits,
) -> None:
    """Apply the data-minimisation settings to a valid record."""
    if not limits.store_additional_data and not isinstance(record, events_pb2.UserSession):
        record.ClearField("additional_data")
    if limits.reduce_user_agents and isinstance(
        record, events_pb2.PerformanceMetric | events_pb2.UserSession
    ):
        record.user_agent = useragent.reduce(record.user_agent)


def check_snapshot(
    snapshot: events_pb2.ConfigurationSnapshot, clock: Clock, limits: Limits, prefix: str = ""
) -> events_pb2.ConfigurationSnapshot:
    c = _Checker(prefix, limits)
    out = events_pb2.ConfigurationSnapshot()
    out.CopyFrom(snapshot)
    out.snapshot_id = c.record_id(snapshot.snapshot_id, "snapshot_id")
    c.session_id(snapshot.session_id)
    if not snapshot.HasField("configuration"):
        c.bad("configuration", "required")
    c.struct(snapshot, "configuration", limits.max_configuration_bytes)
    c.struct(snapshot, "additional_data", limits.max_additional_data_bytes)
    if not snapshot.HasField("total_price"):
        c.bad("total_price", "required")
    else:
        if snapshot.total_price.amount_minor < 0:
            c.bad("total_price.amount_minor", "must not be negative")
        if not CURRENCY_PATTERN.fullmatch(snapshot.total_price.currency):
            c.bad("total_price.currency", "must be an ISO 4217 code such as EUR")
    pct = snapshot.completion_percentage
    if not math.isfinite(pct) or pct < 0 or pct > 100:
        c.bad("completion_percentage", "must be between 0 and 100")
    c.enum(snapshot.trigger, "trigger", _TRIGGER_VALUES, "auto_save, page_exit, order_attempt, manual")
    occurred = c.client_time(snapshot.client_timestamp, "client_timestamp", clock)
    c.raise_if_bad()
    _stamp(out.client_timestamp, occurred)
    _stamp(out.server_timestamp, clock.now_ns)
    _minimise(out, limits)
    return out


def check_metric(
    metric: events_pb2.PerformanceMetric, clock: Clock, limits: Limits, prefix: str = ""
) -> events_pb2.PerformanceMetric:
    c = _Checker(prefix, limits)
    out = events_pb2.PerformanceMetric()
    out.CopyFrom(metric)
    out.metric_id = c.record_id(metric.metric_id, "metric_id")
    if not METRIC_NAME_PATTERN.fullmatch(metric.metric_name):
        c.bad("metric_name", "required: 1-64 of a-z 0-9 _ . -")
    if not math.isfinite(metric.value_ms) or metric.value_ms < 0:
        c.bad("value_ms", "must be a finite, non-negative number")
    c.text(metric.endpoint, "endpoint", limits.max_value_bytes)
    c.text(metric.user_agent, "user_agent", limits.max_value_bytes)
    c.session_id(metric.session_id, required=False)
    c.struct(metric, "additional_data", limits.max_additional_data_bytes)
    occurred = c.client_time(metric.timestamp, "timestamp", clock)
    c.raise_if_bad()
    _stamp(out.timestamp, occurred)
    _stamp(out.server_timestamp, clock.now_ns)
    _minimise(out, limits)
    return out


def check_session(
    session: events_pb2.UserSession, clock: Clock, limits: Limits, prefix: str = ""
) -> events_pb2.UserSession:
    c = _Checker(prefix, limits)
    out = events_pb2.UserSession()
    out.CopyFrom(session)
    if session.session_id:
        c.session_id(session.session_id)
    else:
        out.session_id = str(uuid.uuid4())
    c.text(session.user_agent, "user_agent", limits.max_value_bytes)
    if session.device_type not in _DEVICE_VALUES:
        c.bad("device_type", f"unknown value {session.device_type}")
    c.viewport(session.viewport_width, "viewport_width")
    c.viewport(session.viewport_height, "viewport_height")
    c.text(session.referrer, "referrer", limits.max_value_bytes * 2)
    c.text(session.landing_page, "landing_page", limits.max_value_bytes * 2)
    c.text(session.locale, "locale", 35)
    started = c.client_time(session.started_at, "started_at", clock)
    c.raise_if_bad()
    _stamp(out.started_at, started)
    _stamp(out.last_seen_at, clock.now_ns)
    out.ClearField("ended_at")
    out.status = events_pb2.SESSION_STATUS_ACTIVE
    out.end_reason = events_pb2.END_REASON_UNSPECIFIED
    _minimise(out, limits)
    return out


def check_session_end(
    session_id: str, reason: int, clock: Clock, limits: Limits, prefix: str = ""
) -> events_pb2.SessionEnd:
    c = _Checker(prefix, limits)
    c.session_id(session_id)
    c.enum(reason, "reason", _END_REASON_VALUES, "page_exit, order, timeout")
    c.raise_if_bad()
    end = events_pb2.SessionEnd(session_id=session_id, reason=reason)  # type: ignore[arg-type]
    _stamp(end.ended_at, clock.now_ns)
    return end
