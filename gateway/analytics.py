"""The admin's analytics over HTTP: the Metrics service's queries as JSON, read-only, for admin tokens.

Requests are read by walking the request message's descriptor: the GET endpoints take its fields as query
parameters and the funnel takes a JSON body, both under the fields' proto JSON names (``from``, ``to``,
``deviceType``, ``minPriceMinor``, ``pageSize``, ``windowSeconds`` …), times as ISO 8601. Unset ranges
are left to Metrics, which defaults them to the 30 days before now and echoes what it used.

Every answer goes through one converter, :func:`reply_json`: ``MessageToDict`` with every field printed,
then the 64-bit integers it writes as strings turned back into JSON numbers, found by the reply's
descriptor (never by what a string looks like). Timestamps stay ISO 8601 strings, enums their names.
Field paths in Metrics' errors (``steps[1].snapshot_trigger``) are answered under the names the client
sent (``steps[1].snapshotTrigger``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar, cast

import grpc
from google.protobuf import json_format, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from configtrail.errors import FieldViolation
from configtrail.metrics.v1 import metrics_pb2
from gateway.body import read_json
from gateway.convert import INT32_RANGE, INT64_RANGE, set_timestamp
from gateway.errors import ApiError, from_rpc_error
from gateway.routes import Gateway, endpoint, json_response

#: Analytics queries scan up to a range's worth of sessions: far more than an ingestion call.
ANALYTICS_TIMEOUT_SECONDS = 30.0
#: Admin data: never kept by a browser or proxy cache.
NO_STORE = {"Cache-Control": "no-store"}

RequestT = TypeVar("RequestT", bound=Message)
ReplyT = TypeVar("ReplyT", bound=Message)

_TIMESTAMP = timestamp_pb2.Timestamp.DESCRIPTOR.full_name
_INT64_TYPES = frozenset({FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64})
#: Well-known wrappers whose JSON form is a 64-bit integer written as a string.
_INT64_WRAPPERS = frozenset({"google.protobuf.Int64Value", "google.protobuf.UInt64Value"})
_INTEGER_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: INT32_RANGE,
    FieldDescriptor.CPPTYPE_INT64: INT64_RANGE,
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1),
}
_NUMBER_TYPES = frozenset({FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT})
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,20}")
_PATH_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[[0-9]+\])*)")


# --- proto → JSON -------------------------------------------------------------------------------------


def reply_json(reply: Message) -> dict[str, Any]:
    """A reply as JSON: proto JSON names, every field printed, 64-bit integers as numbers."""
    data: dict[str, Any] = json_format.MessageToDict(reply, always_print_fields_with_no_presence=True)
    _int64_as_numbers(cast(Descriptor, reply.DESCRIPTOR), data)
    return data


def _int64_as_numbers(descriptor: Descriptor, data: dict[str, Any]) -> None:
    for field in descriptor.fields:
        if field.json_name not in data:
            continue
        value = data[field.json_name]
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            value_field = entry.fields_by_name["value"]
            data[field.json_name] = {key: _field_value(value_field, item) for key, item in value.items()}
        elif field.is_repeated:
            data[field.json_name] = [_field_value(field, item) for item in value]
        else:
            data[field.json_name] = _field_value(field, value)


def _field_value(field: FieldDescriptor, value: Any) -> Any:
    if field.cpp_type in _INT64_TYPES:
        return int(value)
    message = field.message_type
    if message is None:
        return value
    if message.full_name in _INT64_WRAPPERS:
        return int(value)
    if message.full_name.startswith("google.protobuf."):
        return value  # Timestamp, Struct, …: already in their JSON form, no int64 inside
    _int64_as_numbers(message, value)
    return value


# --- query parameters and JSON bodies → proto --------------------------------------------------------


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def _is_timestamp(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.full_name == _TIMESTAMP


def _check_supported(descriptor: Descriptor, path: str = "") -> None:
    """Fail at import, not on a request, when a request message gains a field this module cannot read."""
    for field in descriptor.fields:
        message = field.message_type
        if message is None:
            if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM or field.type == FieldDescriptor.TYPE_BYTES:
                raise TypeError(f"{path}{field.name}: enum and bytes request fields are not read")
        elif message.full_name.startswith("google.protobuf."):
            if not _is_timestamp(field):
                raise TypeError(f"{path}{field.name}: {message.full_name} request fields are not read")
        elif message.GetOptions().map_entry:
            raise TypeError(f"{path}{field.name}: map request fields are not read")
        else:
            _check_supported(message, f"{path}{field.name}.")


def _integer(field: FieldDescriptor, value: int, name: str, violations: list[FieldViolation]) -> int | None:
    low, high = _INTEGER_RANGES[field.cpp_type]
    if not low <= value <= high:
        violations.append(FieldViolation(name, f"out of range {low}..{high}"))
        return None
    return value


def _scalar_from_text(
    field: FieldDescriptor, text: str, name: str, violations: list[FieldViolation]
) -> object | None:
    """A query parameter's value for ``field``, or None (with a violation) when it does not parse."""
    cpp_type = field.cpp_type
    if cpp_type == FieldDescriptor.CPPTYPE_STRING:
        return text
    if cpp_type in _INTEGER_RANGES:
        if not _INTEGER_TEXT.fullmatch(text):
            violations.append(FieldViolation(name, "must be an integer"))
            return None
        return _integer(field, int(text), name, violations)
    if cpp_type in _NUMBER_TYPES:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            violations.append(FieldViolation(name, "must be a number"))
            return None
        return number
    if cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        if text in ("true", "false"):
            return text == "true"
        violations.append(FieldViolation(name, "must be true or false"))
        return None
    raise TypeError(f"{field.full_name}: not read from text")  # excluded by _check_supported


def _scalar_from_json(
    field: FieldDescriptor, value: Any, name: str, violations: list[FieldViolation]
) -> object | None:
    """A JSON value for ``field``, or None (with a violation) when it has the wrong type."""
    cpp_type = field.cpp_type
    if cpp_type == FieldDescriptor.CPPTYPE_STRING:
        if isinstance(value, str):
            return value
        violations.append(FieldViolation(name, "must be a string"))
        return None
    if cpp_type in _INTEGER_RANGES:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if type(value) is not int:
            violations.append(FieldViolation(name, "must be an integer"))
            return None
        return _integer(field, value, name, violations)
    if cpp_type in _NUMBER_TYPES:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        violations.append(FieldViolation(name, "must be a number"))
        return None
    if cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        if isinstance(value, bool):
            return value
        violations.append(FieldViolation(name, "must be true or false"))
        return None
    raise TypeError(f"{field.full_name}: not read from JSON")  # excluded by _check_supported


def _set_time(
    target: timestamp_pb2.Timestamp, value: Any, name: str, violations: list[FieldViolation]
) -> None:
    if not isinstance(value, str) or not set_timestamp(target, value):
        violations.append(FieldViolation(name, "must be an ISO 8601 time, e.g. 2026-03-10T12:00:00Z"))


def _read_object(
    message: Message,
    data: Mapping[str, Any],
    fields: Mapping[str, FieldDescriptor],
    prefix: str,
    violations: list[FieldViolation],
) -> None:
    """Copy a JSON object into ``message``; ``fields`` by the names the client uses."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        field = fields.get(key)
        if field is None:
            violations.append(FieldViolation(name, f"unknown field; known: {', '.join(fields)}"))
            continue
        if value is None:
            continue
        if field.is_repeated:
            if not isinstance(value, list):
                violations.append(FieldViolation(name, "must be a list"))
                continue
            for index, item in enumerate(value):
                _read_value(message, field, item, f"{name}[{index}]", violations)
        else:
            _read_value(message, field, value, name, violations)


def _read_value(
    message: Message, field: FieldDescriptor, value: Any, name: str, violations: list[FieldViolation]
) -> None:
    """Set (or, for a repeated field, append) one JSON value of ``field`` in ``message``."""
    nested = field.message_type
    if nested is None:
        scalar = _scalar_from_json(field, value, name, violations)
        if scalar is not None:
            if field.is_repeated:
                getattr(message, field.name).append(scalar)
            else:
                setattr(message, field.name, scalar)
        return
    target: Message = (
        getattr(message, field.name).add() if field.is_repeated else getattr(message, field.name)
    )
    if _is_timestamp(field):
        assert isinstance(target, timestamp_pb2.Timestamp)
        _set_time(target, value, name, violations)
    elif isinstance(value, dict):
        target.SetInParent()
        names = {child.json_name: child for child in nested.fields}
        _read_object(target, value, names, f"{name}.", violations)
    else:
        violations.append(FieldViolation(name, "must be a JSON object"))


class Shape(Generic[RequestT]):
    """How one request message is read from a request and how its error paths are named.

    Its fields go by their proto JSON names, or by ``renamed`` (proto name → the name clients use);
    ``from_path`` fields come from the route's path parameters of the same name, never from the query.
    """

    def __init__(
        self,
        message_type: type[RequestT],
        *,
        renamed: Mapping[str, str] | None = None,
        from_path: Iterable[str] = (),
    ) -> None:
        self.message_type = message_type
        self.descriptor = cast(Descriptor, message_type.DESCRIPTOR)
        _check_supported(self.descriptor)
        self.renamed = dict(renamed or {})
        self.from_path = tuple(from_path)
        self.fields = {
            self.renamed.get(field.name, field.json_name): field
            for field in self.descriptor.fields
            if field.name not in self.from_path
        }
        #: What a query string may set: scalars and times, one value each
        self.parameters = {
            name: field
            for name, field in self.fields.items()
            if not field.is_repeated and (field.message_type is None or _is_timestamp(field))
        }

    def from_query(self, request: Request) -> RequestT:
        """The request message from the query string (and path); 400 naming every bad parameter."""
        message = self.message_type()
        for name in self.from_path:
            setattr(message, name, request.path_params[name])
        violations: list[FieldViolation] = []
        given: dict[str, list[str]] = {}
        for name, text in request.query_params.multi_items():
            given.setdefault(name, []).append(text)
        for name, texts in given.items():
            field = self.parameters.get(name)
            if field is None:
                known = ", ".join(self.parameters) or "none"
                violations.append(FieldViolation(name, f"unknown query parameter; known: {known}"))
            elif len(texts) > 1:
                violations.append(FieldViolation(name, "given more than once"))
            elif texts[0] == "":
                continue  # an empty form field: not set
            elif _is_timestamp(field):
                _set_time(getattr(message, field.name), texts[0], name, violations)
            else:
                value = _scalar_from_text(field, texts[0], name, violations)
                if value is not None:
                    setattr(message, field.name, value)
        if violations:
            raise ApiError.invalid(violations)
        return message

    def from_json(self, data: Mapping[str, Any]) -> RequestT:
        """The request message from a JSON object; 400 naming every bad or unknown field."""
        message = self.message_type()
        violations: list[FieldViolation] = []
        _read_object(message, data, self.fields, "", violations)
        if violations:
            raise ApiError.invalid(violations)
        return message

    def json_path(self, path: str) -> str:
        """A field path as Metrics reports it (``steps[0].event_type``) under the client's names."""
        descriptor: Descriptor | None = self.descriptor
        names: list[str] = []
        for segment in path.split("."):
            match = _PATH_SEGMENT.fullmatch(segment)
            field = descriptor.fields_by_name.get(match[1]) if match and descriptor else None
            if match is None or field is None:
                names.append(_camel(segment))
                descriptor = None
                continue
            name = field.json_name
            if not names:
                name = self.renamed.get(field.name, name)
            names.append(name + match[2])
            descriptor = field.message_type
        return ".".join(names)


async def _answer(
    call: grpc.aio.UnaryUnaryMultiCallable[RequestT, ReplyT], message: RequestT, shape: Shape[RequestT]
) -> Response:
    try:
        reply = await call(message, timeout=ANALYTICS_TIMEOUT_SECONDS)
    except grpc.aio.AioRpcError as error:
        raise from_rpc_error(error, service="metrics", rename=shape.json_path) from None
    return json_response(reply_json(reply), headers=dict(NO_STORE))


# --- handlers ------------------------------------------------------------------------------------------

OVERVIEW = Shape(metrics_pb2.OverviewRequest)
SESSIONS = Shape(metrics_pb2.ListSessionsRequest)
JOURNEY = Shape(metrics_pb2.SessionJourneyRequest, from_path=["session_id"])
POPULAR = Shape(metrics_pb2.PopularConfigurationsRequest)
FUNNEL = Shape(metrics_pb2.FunnelRequest)
PRICE_EVOLUTION = Shape(metrics_pb2.PriceEvolutionRequest)
ABANDONMENT = Shape(metrics_pb2.AbandonmentRequest)
PERFORMANCE = Shape(metrics_pb2.GetPerformanceSummaryRequest, renamed={"window_seconds": "window"})


def _query(
    rpc: Callable[[Gateway], grpc.aio.UnaryUnaryMultiCallable[RequestT, ReplyT]],
    shape: Shape[RequestT],
    name: str,
    doc: str,
) -> Callable[[Request, Gateway], Awaitable[Response]]:
    """A GET of the admin API: its query string as ``shape``'s request, answered by Metrics' ``rpc``."""

    async def handler(request: Request, gateway: Gateway) -> Response:
        gateway.keys.admin(request)
        return await _answer(rpc(gateway), shape.from_query(request), shape)

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = doc
    return handler


overview = _query(
    lambda g: g.metrics.Overview, OVERVIEW, "overview", "Headline numbers of the sessions started in a range."
)
list_sessions = _query(
    lambda g: g.metrics.ListSessions,
    SESSIONS,
    "list_sessions",
    "Sessions started in a range, filtered, newest first, in pages.",
)
session_journey = _query(
    lambda g: g.metrics.SessionJourney,
    JOURNEY,
    "session_journey",
    "One session's interactions and snapshots in time order, with the price after each step.",
)
popular_configurations = _query(
    lambda g: g.metrics.PopularConfigurations,
    POPULAR,
    "popular_configurations",
    "Most selected options, most common configurations and the average price per option.",
)
price_evolution = _query(
    lambda g: g.metrics.PriceEvolution,
    PRICE_EVOLUTION,
    "price_evolution",
    "The configured price by snapshot number within the sessions.",
)
abandonment = _query(
    lambda g: g.metrics.Abandonment,
    ABANDONMENT,
    "abandonment",
    "Where the sessions that ended without an order stopped.",
)
performance = _query(
    lambda g: g.metrics.GetPerformanceSummary,
    PERFORMANCE,
    "performance",
    "Latency percentiles per metric and endpoint, ratings and active alerts over a window.",
)


async def funnel(request: Request, gateway: Gateway) -> Response:
    """How many sessions reach each step of an ordered sequence of events (steps in a JSON body)."""
    gateway.keys.admin(request)
    data = await read_json(request, gateway.max_body_bytes)
    return await _answer(gateway.metrics.Funnel, FUNNEL.from_json(data), FUNNEL)


ANALYTICS_ROUTES = [
    Route("/api/admin/overview", endpoint(overview), methods=["GET"]),
    Route("/api/admin/sessions", endpoint(list_sessions), methods=["GET"]),
    Route("/api/admin/sessions/{session_id}/journey", endpoint(session_journey), methods=["GET"]),
    Route("/api/admin/popular-configurations", endpoint(popular_configurations), methods=["GET"]),
    Route("/api/admin/funnel", endpoint(funnel), methods=["POST"]),
    Route("/api/admin/price-evolution", endpoint(price_evolution), methods=["GET"]),
    Route("/api/admin/abandonment", endpoint(abandonment), methods=["GET"]),
    Route("/api/admin/performance", endpoint(performance), methods=["GET"]),
]
