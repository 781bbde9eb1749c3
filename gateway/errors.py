"""HTTP errors of the gateway: one JSON shape, gRPC codes mapped through ``HTTP_STATUS_FOR_CODE`` only.

Every error answers ``{"error": {"code", "message", "fields": [{"field", "reason"}]}}``. Field names are
the camelCase JSON names the browser sent: the proto paths Ingest reports (``event.time_spent_ms``,
``snapshot.total_price.amount_minor``) are translated here, in one table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import grpc
import orjson
from starlette.responses import Response

from configtrail.errors import HTTP_STATUS_FOR_CODE, FieldViolation, field_violations_from, retry_delay_from

JSON = "application/json"

#: Seconds in ``Retry-After`` when an overloaded or unavailable dependency did not say.
DEFAULT_RETRY_AFTER_SECONDS = 1.0

#: Where a record sits in an Ingest request; stripped from the front of a field path.
_RECORD_PREFIXES = ("event.", "interaction.", "snapshot.", "metric.", "session.")

#: Proto field path (without record prefix) → the JSON field name browsers use.
JSON_NAME_FOR_PATH: dict[str, str] = {
    "event_id": "eventId",
    "session_id": "sessionId",
    "event_type": "eventType",
    "custom_event_type": "customEventType",
    "category": "category",
    "element_id": "elementId",
    "selection_value": "selectionValue",
    "previous_value": "previousValue",
    "time_spent_ms": "timeSpent",
    "device_type": "deviceType",
    "viewport_width": "viewportWidth",
    "viewport_height": "viewportHeight",
    "additional_data": "additionalData",
    "client_timestamp": "timestamp",
    "sequence": "sequence",
    "snapshot_id": "snapshotId",
    "configuration": "configuration",
    "total_price": "totalPrice",
    "total_price.amount_minor": "totalPrice",
    "total_price.currency": "currency",
    "completion_percentage": "completionPercentage",
    "trigger": "trigger",
    "metric_id": "metricId",
    "metric_name": "metricName",
    "value_ms": "valueMs",
    "endpoint": "endpoint",
    "user_agent": "userAgent",
    "timestamp": "timestamp",
    "started_at": "timestamp",
    "referrer": "referrer",
    "landing_page": "landingPage",
    "locale": "locale",
    "reason": "reason",
    "items": "items",
    "item": "kind",
    "sent_at": "sentAt",
    "page_size": "pageSize",
    "page_token": "pageToken",
}


def json_name(path: str) -> str:
    """The JSON field name for a proto field path reported by Ingest."""
    for prefix in _RECORD_PREFIXES:
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    name = JSON_NAME_FOR_PATH.get(path)
    if name is not None:
        return name
    head, *rest = path.split("_")
    return head + "".join(word.title() for word in rest)


def _summary(fields: Sequence[FieldViolation]) -> str:
    return "; ".join(f"{v.field}: {v.reason}" for v in fields[:5])


class ApiError(Exception):
    """An error answered as JSON: a code (the gRPC code's name where there is one) and an HTTP status."""

    def __init__(
        self,
        code: str,
        status: int,
        message: str,
        fields: Sequence[FieldViolation] = (),
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.fields = list(fields)
        self.retry_after = retry_after
        self.headers = headers or {}

    @classmethod
    def for_code(
        cls,
        code: grpc.StatusCode,
        message: str,
        fields: Sequence[FieldViolation] = (),
        retry_after: float | None = None,
    ) -> ApiError:
        status = HTTP_STATUS_FOR_CODE.get(code, 500)
        if status in (429, 503) and retry_after is None:
            retry_after = DEFAULT_RETRY_AFTER_SECONDS
        return cls(code.name, status, message, fields, retry_after)

    @classmethod
    def invalid(cls, fields: Sequence[FieldViolation], message: str | None = None) -> ApiError:
        return cls.for_code(
            grpc.StatusCode.INVALID_ARGUMENT, message or f"invalid request: {_summary(fields)}", fields
        )

    def body(self) -> dict[str, object]:
        return {
            "code": self.code,
            "message": self.message,
            "fields": [{"field": v.field, "reason": v.reason} for v in self.fields],
        }

    def response(self) -> Response:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = retry_after_header(self.retry_after)
        return Response(orjson.dumps({"error": self.body()}), self.status, headers, media_type=JSON)


def retry_after_header(seconds: float) -> str:
    """Whole seconds, at least 1 (the header takes no fractions)."""
    return str(max(1, math.ceil(seconds)))


def renamed(violations: Iterable[FieldViolation]) -> list[FieldViolation]:
    return [FieldViolation(json_name(v.field), v.reason) for v in violations]


def from_rpc_error(
    error: grpc.aio.AioRpcError, *, service: str = "ingest", rename: Callable[[str], str] = json_name
) -> ApiError:
    """The HTTP error for a failed call to ``service``, field violations renamed and RetryInfo kept.

    ``rename`` turns the proto field paths the service reports into the JSON names the client sent.
    """
    code = error.code()
    fields = [FieldViolation(rename(v.field), v.reason) for v in field_violations_from(error)]
    if code == grpc.StatusCode.INVALID_ARGUMENT and fields:
        message = f"invalid request: {_summary(fields)}"
    elif code == grpc.StatusCode.UNAVAILABLE:
        message = f"{service} unavailable: {error.details() or 'no details'}"
    else:
        message = error.details() or code.name.lower()
    return ApiError.for_code(code, message, fields, retry_delay_from(error))


def item_error(fields: Sequence[FieldViolation]) -> dict[str, object]:
    """The ``error`` of a rejected batch item (fields already named as in JSON)."""
    return ApiError.invalid(fields, f"invalid item: {_summary(fields)}").body()
