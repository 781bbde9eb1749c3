"""The OpenAPI 3.1 description of the gateway's HTTP API, served at ``/openapi.json``.

Written by hand next to the handlers (no per-request model layer to generate it from); the tests check
that it lists every route the app serves and that each of its references resolves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from configtrail.metrics.v1 import metrics_pb2

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: Schema, description: str) -> Schema:
    """A request body taken as JSON, also when sent as text/plain (navigator.sendBeacon)."""
    return {
        "required": True,
        "description": description + " May be gzip-encoded (`Content-Encoding: gzip`).",
        "content": {"application/json": {"schema": schema}, "text/plain": {"schema": schema}},
    }


def _ok(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error_responses(*statuses: str) -> dict[str, Schema]:
    return {status: {"$ref": f"#/components/responses/{_ERROR_RESPONSES[status][0]}"} for status in statuses}


_ERROR_RESPONSES: dict[str, tuple[str, str, bool]] = {
    "400": ("BadRequest", "Invalid input: the fields say which and why.", False),
    "401": ("Unauthenticated", "No write key (or admin token) was sent.", False),
    "403": ("PermissionDenied", "The write key or admin token is not known.", False),
    "413": ("PayloadTooLarge", "The body (after gzip decoding) is larger than the limit.", False),
    "404": ("NotFound", "Nothing is stored for this session.", False),
    "415": ("UnsupportedEncoding", "Content-Encoding other than gzip.", False),
    "429": ("RateLimited", "Too many requests from this client; retry after Retry-After seconds.", True),
    "501": ("Unimplemented", "Ingest does not implement this call yet.", False),
    "503": (
        "Unavailable",
        "A service behind the gateway or its storage is unavailable; retry after Retry-After seconds.",
        True,
    ),
    "504": ("DeadlineExceeded", "A service behind the gateway did not answer in time.", False),
}

_INGEST_ERRORS = ("400", "401", "403", "413", "415", "429", "503", "504")

_TIMESTAMP: Schema = {
    "description": "ISO 8601 time (UTC when no offset is given) or epoch milliseconds.",
    "oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
}

_INTERACTION_FIELDS: Schema = {
    "sessionId": {"type": "string", "maxLength": 128, "pattern": "^[A-Za-z0-9._:\\-]+$"},
    "eventId": {
        "type": "string",
        "format": "uuid",
        "description": "Chosen by the client; a retry is stored once.",
    },
    "eventType": {"type": "string", "enum": ["click", "hover", "selection", "scroll", "custom"]},
    "customEventType": {
        "type": "string",
        "description": "Required when eventType is custom: 1-64 of a-z 0-9 _ . -",
    },
    "category": {"type": "string"},
    "elementId": {"type": "string"},
    "selectionValue": {"type": "string"},
    "previousValue": {"type": "string"},
    "timeSpent": {"type": "integer", "minimum": 0, "description": "Milliseconds."},
    "deviceType": _ref("DeviceType"),
    "viewportWidth": {"type": "integer", "minimum": 0},
    "viewportHeight": {"type": "integer", "minimum": 0},
    "additionalData": {"type": ["object", "null"]},
    "timestamp": _ref("Timestamp"),
    "sequence": {
        "type": "integer",
        "minimum": 0,
        "description": "Per-session sequence number from the tracker.",
    },
}

_SNAPSHOT_FIELDS: Schema = {
    "snapshotId": {"type": "string", "format": "uuid"},
    "configuration": {"type": "object"},
    "totalPrice": {"type": "integer", "minimum": 0, "description": "Minor units (cents)."},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    "completionPercentage": {"type": "number", "minimum": 0, "maximum": 100},
    "trigger": {"type": "string", "enum": ["auto_save", "page_exit", "order_attempt", "manual"]},
    "additionalData": {"type": ["object", "null"]},
    "timestamp": _ref("Timestamp"),
}

_METRIC_FIELDS: Schema = {
    "metricId": {"type": "string", "format": "uuid"},
    "metricName": {"type": "string", "pattern": "^[a-z0-9_.\\-]{1,64}$", "examples": ["lcp", "inp", "ttfb"]},
    "valueMs": {"type": "number", "minimum": 0},
    "endpoint": {"type": "string"},
    "sessionId": {"type": "string"},
    "userAgent": {"type": "string", "description": "Defaults to the request's User-Agent."},
    "additionalData": {"type": ["object", "null"]},
    "timestamp": _ref("Timestamp"),
}


def _object(properties: Schema, required: list[str] | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = required
    return schema


def _item(kind: str, fields: Schema, required: list[str]) -> Schema:
    return _object({"kind": {"const": kind}, **fields}, ["kind", *required])


# --- the admin's analytics: reply schemas generated from the Metrics protos ---------------------------

#: The Metrics replies the analytics endpoints answer, converted as gateway.analytics.reply_json does.
_ANALYTICS_REPLIES = [
    metrics_pb2.OverviewResponse,
    metrics_pb2.ListSessionsResponse,
    metrics_pb2.SessionJourneyResponse,
    metrics_pb2.PopularConfigurationsResponse,
    metrics_pb2.FunnelResponse,
    metrics_pb2.PriceEvolutionResponse,
    metrics_pb2.AbandonmentResponse,
    metrics_pb2.PerformanceSummary,
]

_INTEGER_CPP_TYPES = {
    FieldDescriptor.CPPTYPE_INT32: "int32",
    FieldDescriptor.CPPTYPE_UINT32: "int64",
    FieldDescriptor.CPPTYPE_INT64: "int64",
    FieldDescriptor.CPPTYPE_UINT64: "int64",
}
_WELL_KNOWN_SCHEMAS: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
}


def _field_schema(field: FieldDescriptor, pending: list[Descriptor]) -> Schema:
    message = field.message_type
    if message is not None:
        if message.full_name in _WELL_KNOWN_SCHEMAS:
            return dict(_WELL_KNOWN_SCHEMAS[message.full_name])
        pending.append(message)
        return _ref(message.name)
    if field.cpp_type in _INTEGER_CPP_TYPES:
        return {"type": "integer", "format": _INTEGER_CPP_TYPES[field.cpp_type]}
    if field.cpp_type in (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT):
        return {"type": "number"}
    if field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        return {"type": "boolean"}
    if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM and field.enum_type is not None:
        return {"type": "string", "enum": [value.name for value in field.enum_type.values]}
    return {"type": "string"}


def _proto_schemas(messages: Iterable[type[Any]]) -> Schema:
    """Schemas of proto messages (and the messages they contain) in their JSON form, by message name.

    Camel-case JSON names, 64-bit integers as numbers, times as ISO 8601, enums by name; a field without
    presence is always there, a message or ``optional`` field only when set.
    """
    pending = [cast(Descriptor, message.DESCRIPTOR) for message in messages]
    out: Schema = {}
    while pending:
        descriptor = pending.pop()
        if descriptor.name in out:
            if out[descriptor.name].get("title") != descriptor.full_name:
                raise ValueError(f"two messages named {descriptor.name} in the OpenAPI schemas")
            continue
        properties: Schema = {}
        required: list[str] = []
        for field in descriptor.fields:
            schema = _field_schema(field, pending)
            properties[field.json_name] = {"type": "array", "items": schema} if field.is_repeated else schema
            if not field.has_presence:
                required.append(field.json_name)
        out[descriptor.name] = {"title": descriptor.full_name, **_object(properties, required)}
    return out


_FUNNEL_QUERY: Schema = _object(
    {
        "steps": {
            "type": "array",
            "items": _ref("FunnelStep"),
            "minItems": 1,
            "maxItems": 20,
            "description": "In order. An interaction step gives eventType and/or category (neither: any "
            "interaction); a snapshot step gives only snapshotTrigger.",
        },
        "windowSeconds": {
            "type": "number",
            "minimum": 0,
            "maximum": 365 * 86_400,  # services.metrics.funnel.MAX_WINDOW_SECONDS
            "description": "Every step within this many seconds of the session's start; 0: no limit; "
            "at most 365 days.",
        },
        "from": {
            "type": "string",
            "format": "date-time",
            "description": "Default: 30 days before `to`, but not before 0001-01-01T00:00:00Z.",
        },
        "to": {"type": "string", "format": "date-time", "description": "Default: now."},
        "breakdown": {
            "type": "string",
            "enum": ["", "deviceType", "device_type"],
            "description": "deviceType: the same funnel per device type.",
        },
    },
    ["steps"],
    additionalProperties=False,
)


def _schemas(max_batch_items: int) -> Schema:
    return {
        "Timestamp": _TIMESTAMP,
        "DeviceType": {"type": "string", "enum": ["desktop", "tablet", "mobile", "other"]},
        "Error": _object({"error": _ref("ErrorDetail")}, ["error"]),
        "ErrorDetail": _object(
            {
                "code": {"type": "string", "examples": ["INVALID_ARGUMENT"]},
                "message": {"type": "string"},
                "fields": {"type": "array", "items": _ref("FieldError")},
            },
            ["code", "message", "fields"],
        ),
        "FieldError": _object(
            {"field": {"type": "string", "examples": ["eventType"]}, "reason": {"type": "string"}},
            ["field", "reason"],
        ),
        "SessionStart": _object(
            {
                "sessionId": {"type": "string", "description": "Chosen by the client; assigned when absent."},
                "userAgent": {"type": "string", "description": "Defaults to the request's User-Agent."},
                "deviceType": _ref("DeviceType"),
                "viewportWidth": {"type": "integer", "minimum": 0},
                "viewportHeight": {"type": "integer", "minimum": 0},
                "referrer": {"type": "string"},
                "landingPage": {"type": "string"},
                "locale": {"type": "string"},
                "timestamp": _ref("Timestamp"),
            }
        ),
        "SessionStarted": _object({"sessionId": {"type": "string"}}, ["sessionId"]),
        "SessionEnd": _object(
            {"reason": {"type": "string", "enum": ["page_exit", "order", "timeout"]}}, ["reason"]
        ),
        "SessionEnded": _object({"sessionId": {"type": "string"}}, ["sessionId"]),
        "InteractionInput": _object(_INTERACTION_FIELDS, ["sessionId", "eventType"]),
        "InteractionAccepted": _object({"eventId": {"type": "string", "format": "uuid"}}, ["eventId"]),
        "Interaction": _object(
            {**_INTERACTION_FIELDS, "serverTimestamp": {"type": "string", "format": "date-time"}},
            ["eventId", "sessionId", "eventType", "timestamp"],
        ),
        "InteractionPage": _object(
            {
                "sessionId": {"type": "string"},
                "interactions": {"type": "array", "items": _ref("Interaction")},
                "nextPageToken": {"type": "string", "description": "Empty on the last page."},
            },
            ["sessionId", "interactions", "nextPageToken"],
        ),
        "SnapshotInput": _object(_SNAPSHOT_FIELDS, ["configuration", "totalPrice", "currency", "trigger"]),
        "SnapshotAccepted": _object({"snapshotId": {"type": "string", "format": "uuid"}}, ["snapshotId"]),
        "MetricInput": _object(_METRIC_FIELDS, ["metricName", "valueMs"]),
        "MetricsInput": {
            "oneOf": [
                _object(
                    {
                        "metrics": {
                            "type": "array",
                            "items": _ref("MetricInput"),
                            "maxItems": max_batch_items,
                        },
                        "sentAt": _ref("Timestamp"),
                    },
                    ["metrics"],
                ),
                _ref("MetricInput"),
            ]
        },
        "BatchItem": {
            "oneOf": [
                _item("interaction", _INTERACTION_FIELDS, ["sessionId", "eventType"]),
                _item(
                    "snapshot",
                    {"sessionId": {"type": "string"}, **_SNAPSHOT_FIELDS},
                    ["sessionId", "configuration", "totalPrice", "currency", "trigger"],
                ),
                _item("metric", _METRIC_FIELDS, ["metricName", "valueMs"]),
            ],
            "discriminator": {"propertyName": "kind"},
        },
        "BatchRequest": _object(
            {
                "sentAt": {
                    **_TIMESTAMP,
                    "description": "When the client sent the batch; corrects its clock skew.",
                },
                "items": {"type": "array", "items": _ref("BatchItem"), "maxItems": max_batch_items},
            },
            ["items"],
        ),
        "ItemResult": {
            "oneOf": [
                _object(
                    {
                        "index": {"type": "integer"},
                        "status": {"const": "accepted"},
                        "id": {"type": "string", "description": "The event, snapshot or metric id."},
                    },
                    ["index", "status", "id"],
                ),
                _object(
                    {
                        "index": {"type": "integer"},
                        "status": {"const": "rejected"},
                        "error": _ref("ErrorDetail"),
                    },
                    ["index", "status", "error"],
                ),
            ]
        },
        "BatchResponse": _object({"results": {"type": "array", "items": _ref("ItemResult")}}, ["results"]),
        "FunnelQuery": _FUNNEL_QUERY,
        **_proto_schemas(_ANALYTICS_REPLIES),
    }


def _responses() -> Schema:
    out: Schema = {}
    for name, description, retry in _ERROR_RESPONSES.values():
        response: Schema = {
            "description": description,
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        if retry:
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before retrying.",
                    "schema": {"type": "integer"},
                }
            }
        out[name] = response
    return out


_SESSION_ID_PARAMETER: Schema = {
    "name": "session_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}
_WRITE: list[Schema] = [{"writeKey": []}, {"writeKeyQuery": []}]
_SESSION_PATH: Schema = {"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "description": description, "schema": schema}


_RANGE = [
    _query(
        "from",
        {"type": "string", "format": "date-time"},
        "Range start (ISO 8601); default: 30 days before to.",
    ),
    _query("to", {"type": "string", "format": "date-time"}, "Range end, exclusive (ISO 8601); default: now."),
]
_ANALYTICS_ERRORS = ("400", "401", "403", "503", "504")
_ANALYTICS_NOTE = (
    " The Metrics reply as JSON: camelCase, every field without presence present, 64-bit integers as "
    "numbers, times ISO 8601. Unknown query parameters are refused (400)."
)


def _analytics_get(
    operation_id: str,
    summary: str,
    reply: str,
    parameters: list[Schema],
    errors: tuple[str, ...] = _ANALYTICS_ERRORS,
) -> Schema:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "description": summary + _ANALYTICS_NOTE,
            "security": [{"adminToken": []}],
            "parameters": parameters,
            "responses": {"200": _ok(_ref(reply), reply), **_error_responses(*errors)},
        }
    }


def _analytics_paths() -> Schema:
    """The admin's analytics (admin token, read-only): gateway.analytics over the Metrics service."""
    integer: Schema = {"type": "integer"}
    return {
        "/api/admin/overview": _analytics_get(
            "analyticsOverview",
            "Headline numbers of the sessions started in a range, and optionally their series over time.",
            "OverviewResponse",
            [
                *_RANGE,
                _query(
                    "bucketSeconds",
                    {"type": "integer", "minimum": 0, "multipleOf": 3600},
                    "Buckets of the series: 3600 (UTC hours), 86400 (UTC days) or another multiple of 3600, "
                    "at most 2,000 over the range; 0 or absent: no series.",
                ),
            ],
        ),
        "/api/admin/sessions": _analytics_get(
            "analyticsListSessions",
            "Sessions started in a range, filtered, newest first, in pages.",
            "ListSessionsResponse",
            [
                *_RANGE,
                _query("deviceType", {"type": "string"}, "desktop, tablet, mobile, other; empty: any."),
                _query("status", {"type": "string"}, "active, ordered or abandoned; empty: any."),
                _query("minPriceMinor", integer, "Inclusive bound on the latest price in minor units."),
                _query("maxPriceMinor", integer, "Inclusive bound on the latest price in minor units."),
                _query("minCompletion", {"type": "number"}, "Inclusive bound on the latest completion (%)."),
                _query("maxCompletion", {"type": "number"}, "Inclusive bound on the latest completion (%)."),
                _query("pageSize", {"type": "integer", "minimum": 0, "maximum": 500}, "0 or absent: 50."),
                _query("pageToken", {"type": "string"}, "nextPageToken of the previous page, same filters."),
            ],
        ),
        "/api/admin/sessions/{session_id}/journey": _analytics_get(
            "analyticsSessionJourney",
            "One session's interactions and snapshots in time order, with the price after each step.",
            "SessionJourneyResponse",
            [_SESSION_PATH],
            ("400", "401", "403", "404", "503", "504"),
        ),
        "/api/admin/popular-configurations": _analytics_get(
            "analyticsPopularConfigurations",
            "Most selected options, most common configurations and the average price per option.",
            "PopularConfigurationsResponse",
            [
                *_RANGE,
                _query("category", {"type": "string"}, "Only this category; empty: every category."),
                _query(
                    "limit",
                    {"type": "integer", "minimum": 0, "maximum": 100},
                    "Options and configurations listed; 0 or absent: 10.",
                ),
            ],
        ),
        "/api/admin/funnel": {
            "post": {
                "operationId": "analyticsFunnel",
                "summary": "How many of the sessions started in a range reach each step, in order.",
                "description": "One result per step, in order; with breakdown, the same per device type."
                + _ANALYTICS_NOTE,
                "security": [{"adminToken": []}],
                "requestBody": _json_body(_ref("FunnelQuery"), "The steps, window and range."),
                "responses": {
                    "200": _ok(_ref("FunnelResponse"), "FunnelResponse"),
                    **_error_responses("400", "401", "403", "413", "415", "503", "504"),
                },
            }
        },
        "/api/admin/price-evolution": _analytics_get(
            "analyticsPriceEvolution",
            "The configured price by snapshot number within the sessions started in a range.",
            "PriceEvolutionResponse",
            [
                *_RANGE,
                _query(
                    "maxSteps",
                    {"type": "integer", "minimum": 0, "maximum": 500},
                    "Highest snapshot number; 0 or absent: 50.",
                ),
            ],
        ),
        "/api/admin/abandonment": _analytics_get(
            "analyticsAbandonment",
            "Where the sessions started in a range that ended without an order stopped.",
            "AbandonmentResponse",
            _RANGE,
        ),
        "/api/admin/performance": _analytics_get(
            "analyticsPerformance",
            "Latency percentiles per metric and endpoint, efficiency ratings and active alerts.",
            "PerformanceSummary",
            [
                _query(
                    "window",
                    {"type": "number", "minimum": 0, "maximum": 2592000},
                    "Seconds before now; 0 or absent: 300.",
                ),
                _query("metricName", {"type": "string"}, "Only this metric; empty: every metric."),
                _query("endpoint", {"type": "string"}, "Only this endpoint; empty: every endpoint."),
                _query(
                    "bucketSeconds",
                    {"type": "integer", "minimum": 0, "multipleOf": 60},
                    "Buckets of the percentiles over time (series): a multiple of 60, at most 2,000 over the "
                    "window; 0 or absent: no series.",
                ),
            ],
        ),
    }


def openapi(*, max_batch_items: int = 500, max_body_bytes: int = 256 * 1024) -> Schema:
    """The whole description, with the configured limits filled in."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "configtrail gateway",
            "version": "1",
            "description": (
                "Session and interaction tracking for web product configurators. JSON in camelCase; "
                f"bodies up to {max_body_bytes} bytes (also after gzip decoding); times as ISO 8601 or epoch "
                "milliseconds. Ingestion needs a write key (X-Write-Key header or key query parameter) when "
                "the server has any configured."
            ),
        },
        "security": _WRITE,
        "paths": {
            "/api/sessions": {
                "post": {
                    "operationId": "startSession",
                    "summary": "Start a session.",
                    "requestBody": _json_body(_ref("SessionStart"), "The visitor's session."),
                    "responses": {
                        "201": _ok(_ref("SessionStarted"), "Session started."),
                        **_error_responses(*_INGEST_ERRORS),
                    },
                }
            },
            "/api/sessions/track-interaction": {
                "post": {
                    "operationId": "trackInteraction",
                    "summary": "Track one interaction.",
                    "requestBody": _json_body(_ref("InteractionInput"), "One interaction."),
                    "responses": {
                        "202": _ok(_ref("InteractionAccepted"), "Accepted and durable."),
                        **_error_responses(*_INGEST_ERRORS),
                    },
                },
                "get": {
                    "operationId": "listInteractions",
                    "summary": "A session's interactions in time order, paged.",
                    "security": [*_WRITE, {"adminToken": []}],
                    "parameters": [
                        {"name": "sessionId", "in": "query", "required": True, "schema": {"type": "string"}},
                        {"name": "pageToken", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "pageSize",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                        },
                    ],
                    "responses": {
                        "200": _ok(_ref("InteractionPage"), "One page of interactions."),
                        **_error_responses("400", "401", "403", "429", "501", "503", "504"),
                    },
                },
            },
            "/api/sessions/{session_id}/snapshots": {
                "post": {
                    "operationId": "saveSnapshot",
                    "summary": "Save a configuration snapshot.",
                    "parameters": [_SESSION_ID_PARAMETER],
                    "requestBody": _json_body(_ref("SnapshotInput"), "The configuration as it stands."),
                    "responses": {
                        "202": _ok(_ref("SnapshotAccepted"), "Accepted and durable."),
                        **_error_responses(*_INGEST_ERRORS),
                    },
                }
            },
            "/api/sessions/{session_id}/end": {
                "post": {
                    "operationId": "endSession",
                    "summary": "End a session.",
                    "parameters": [_SESSION_ID_PARAMETER],
                    "requestBody": _json_body(_ref("SessionEnd"), "Why the session ended."),
                    "responses": {
                        "202": _ok(_ref("SessionEnded"), "Accepted and durable."),
                        **_error_responses(*_INGEST_ERRORS),
                    },
                }
            },
            "/api/batch": {
                "post": {
                    "operationId": "trackBatch",
                    "summary": "Interactions, snapshots and metrics in one request, a result per item.",
                    "requestBody": _json_body(_ref("BatchRequest"), "The items, each with its kind."),
                    "responses": {
                        "200": _ok(_ref("BatchResponse"), "Every item accepted or rejected on its own."),
                        **_error_responses(*_INGEST_ERRORS),
                    },
                }
            },
            "/api/metrics": {
                "post": {
                    "operationId": "trackMetrics",
                    "summary": "Browser timings and web vitals: a list, or one metric.",
                    "requestBody": _json_body(_ref("MetricsInput"), "The metrics."),
                    "responses": {
                        "200": _ok(_ref("BatchResponse"), "Every metric accepted or rejected on its own."),
                        **_error_responses(*_INGEST_ERRORS),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "The process is alive.",
                    "security": [],
                    "responses": {"200": _ok(_object({"status": {"const": "ok"}}), "Alive.")},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "summary": "Ready: Ingest reports SERVING.",
                    "security": [],
                    "responses": {
                        "200": _ok(_object({"status": {"type": "string"}}), "Ready."),
                        "503": _ok(
                            _object({"status": {"type": "string"}, "reason": {"type": "string"}}),
                            "Not ready.",
                        ),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics.",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Prometheus text exposition format.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This description.",
                    "security": [],
                    "responses": {"200": _ok({"type": "object"}, "OpenAPI 3.1 document.")},
                }
            },
            "/tracker.js": {
                "get": {
                    "operationId": "trackerScript",
                    "summary": "The browser SDK (window.configtrail), cached for a year under ?v=hash.",
                    "security": [],
                    "parameters": [
                        {
                            "name": "v",
                            "in": "query",
                            "description": "The script's content hash: a URL that may be cached for good.",
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The script (gzip-encoded when accepted).",
                            "content": {"text/javascript": {"schema": {"type": "string"}}},
                        },
                        "304": {"description": "Not modified (If-None-Match)."},
                    },
                }
            },
            "/api/admin/sessions/{session_id}/export": {
                "get": {
                    "operationId": "exportSession",
                    "summary": "Everything stored for a session, as one JSON document (access requests).",
                    "security": [{"adminToken": []}],
                    "parameters": [_SESSION_PATH],
                    "responses": {
                        "200": _ok(
                            {"type": "object"}, "session, interactions, snapshots, metrics as stored."
                        ),
                        **_error_responses("401", "403", "404", "503"),
                    },
                }
            },
            "/api/admin/sessions/{session_id}": {
                "delete": {
                    "operationId": "eraseSession",
                    "summary": "Erase a session everywhere; its tombstone then drops late events.",
                    "security": [{"eraseToken": []}],
                    "parameters": [_SESSION_PATH],
                    "responses": {
                        "200": _ok(
                            {"type": "object"}, "What was removed, and until when the tombstone holds."
                        ),
                        **_error_responses("400", "401", "403", "503"),
                    },
                }
            },
            **_analytics_paths(),
            "/demo": {
                "get": {
                    "operationId": "demoConfigurator",
                    "summary": "A demo house configurator that sends with the first configured write key.",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The page.",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/dashboard": {
                "get": {
                    "operationId": "dashboard",
                    "summary": "The admin dashboard: a sign-in form, then pages that read the admin API.",
                    "description": "The page holds no data and needs no token; it asks for an admin token, "
                    "keeps it in the tab's sessionStorage and sends it as Authorization: Bearer.",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The page.",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/dashboard/assets/{name}": {
                "get": {
                    "operationId": "dashboardAsset",
                    "summary": "dashboard.js, dashboard.css or plotly.min.js (from the plotly wheel).",
                    "security": [],
                    "parameters": [
                        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                        {
                            "name": "v",
                            "in": "query",
                            "description": "The asset's content hash: a URL that may be cached for good.",
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The file (gzip-encoded when accepted), with an ETag.",
                            "content": {
                                "text/javascript": {"schema": {"type": "string"}},
                                "text/css": {"schema": {"type": "string"}},
                            },
                        },
                        "304": {"description": "Not modified (If-None-Match)."},
                        **_error_responses("404"),
                    },
                }
            },
            "/api/admin/live": {
                "get": {
                    "operationId": "liveFeed",
                    "summary": "Server-sent events for the dashboard's live page, until the client leaves.",
                    "description": "Every `interval` seconds an `event: live` with activeNow, "
                    "eventsPerSecond, eventsCommitted, streamLength, syncLag (syncUndelivered + "
                    "syncPending), deadLetters, lastCommitAt, workers and errors; every 2 s an "
                    "`event: performance` with the performance summary over `window` seconds (as "
                    "/api/admin/performance answers it, with its series when `bucketSeconds` is given); "
                    "`event: problem` when that summary fails.",
                    "security": [{"adminToken": []}],
                    "parameters": [
                        {
                            "name": "interval",
                            "in": "query",
                            "description": "Seconds between live events, 0.25..10 (default 1).",
                            "schema": {"type": "number"},
                        },
                        {
                            "name": "window",
                            "in": "query",
                            "description": "Seconds the performance summary covers (default 300).",
                            "schema": {"type": "number"},
                        },
                        {
                            "name": "bucketSeconds",
                            "in": "query",
                            "description": "Buckets of the summary's series: a multiple of 60, at most "
                            "2,000 in the window; 0 or absent: no series.",
                            "schema": {"type": "integer", "minimum": 0, "multipleOf": 60},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "An endless text/event-stream.",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        **_error_responses("400", "401", "403", "503"),
                    },
                }
            },
        },
        "components": {
            "schemas": _schemas(max_batch_items),
            "responses": _responses(),
            "securitySchemes": {
                "writeKey": {"type": "apiKey", "in": "header", "name": "X-Write-Key"},
                "writeKeyQuery": {"type": "apiKey", "in": "query", "name": "key"},
                "adminToken": {"type": "http", "scheme": "bearer"},
                "eraseToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A CONFIGTRAIL_ERASE_TOKENS token.",
                },
            },
        },
    }
