"""The HTTP handlers: check the key and the rate, read JSON, call Ingest, answer JSON.

Each handler takes the request and the process's :class:`Gateway` (from the lifespan state); errors are
raised as :class:`~gateway.errors.ApiError` or come back from Ingest as ``AioRpcError`` and are answered in
one place, :func:`endpoint`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import orjson
from grpc_health.v1 import health_pb2
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from configtrail.errors import FieldViolation
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from configtrail.metrics.v1 import metrics_pb2_grpc
from configtrail.sync.v1 import sync_pb2_grpc
from gateway import convert, pages
from gateway.auth import KeyCheck
from gateway.body import read_json
from gateway.coalesce import Coalescer
from gateway.errors import JSON, ApiError, from_rpc_error, item_error, renamed, retry_after_header
from gateway.ratelimit import ClientHasher, RateLimiter
from gateway.telemetry import Telemetry

INGEST_SERVICE = ingest_pb2.DESCRIPTOR.services_by_name["Ingest"].full_name
READINESS_TIMEOUT_SECONDS = 1.0
MAX_PAGE_SIZE = 1000
#: The status logged for a request whose client went away before its body arrived (nginx's 499).
CLIENT_CLOSED_REQUEST = 499

HealthCheck = grpc.aio.UnaryUnaryMultiCallable[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse]


def health_check(channel: grpc.aio.Channel) -> HealthCheck:
    """``grpc.health.v1.Health/Check`` on ``channel`` (the stubs package types only the sync stub)."""
    return channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )


@dataclass
class Gateway:
    """What the handlers share in one process: the Ingest channel and stubs, coalescer, limiter, keys."""

    channel: grpc.aio.Channel
    ingest: ingest_pb2_grpc.IngestAsyncStub
    #: Sync, for the admin's erasure and export (a channel of its own)
    sync_channel: grpc.aio.Channel
    sync: sync_pb2_grpc.SyncAsyncStub
    #: Metrics, for the admin's analytics (a channel of its own)
    metrics_channel: grpc.aio.Channel
    metrics: metrics_pb2_grpc.MetricsAsyncStub
    health_check: HealthCheck
    coalescer: Coalescer
    limiter: RateLimiter
    keys: KeyCheck
    hasher: ClientHasher
    telemetry: Telemetry
    openapi_body: bytes
    timeout: float
    max_body_bytes: int
    max_batch_items: int
    max_user_agent_bytes: int
    rate_per_second: float


def json_response(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers, media_type=JSON)


Handler = Callable[[Request, Gateway], Awaitable[Response]]


def endpoint(handler: Handler, *, service: str = "ingest") -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint for ``handler``: the gateway from the lifespan state, errors as JSON
    (a failed call named after the ``service`` it went to)."""

    async def run(request: Request) -> Response:
        gateway: Gateway = request.scope["state"]["gateway"]
        try:
            return await handler(request, gateway)
        except ApiError as error:
            return error.response()
        except grpc.aio.AioRpcError as error:
            return from_rpc_error(error, service=service).response()
        except ClientDisconnect:
            return Response(status_code=CLIENT_CLOSED_REQUEST)  # nobody reads it; counted in the metrics

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


async def admit(request: Request, gateway: Gateway, *, read: bool = False) -> None:
    """The key check, then the client's rate limit; raises 401/403/429."""
    key = gateway.keys.reader(request) if read else gateway.keys.writer(request)
    if not gateway.limiter.enabled:
        return
    client = request.scope.get("client")
    wait = await gateway.limiter.check(gateway.hasher(key, client[0] if client else ""))
    if wait is not None:
        raise ApiError.for_code(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"rate limit of {gateway.rate_per_second:g} requests per second exceeded; retry later",
            retry_after=wait,
        )


def user_agent(request: Request, limit: int) -> str:
    agent = request.headers.get("user-agent", "")
    if len(agent) > limit // 2:
        agent = agent.encode()[:limit].decode("utf-8", "ignore")
    return agent


def rejected(index: int, fields: Sequence[FieldViolation]) -> dict[str, object]:
    return {"index": index, "status": "rejected", "error": item_error(fields)}


async def send_items(
    gateway: Gateway,
    batch: ingest_pb2.TrackBatchRequest,
    raw_items: list[Any],
    add_item: Callable[[Any, convert.BatchItems], None],
) -> list[dict[str, object]]:
    """Convert each item (a bad one is rejected here, its neighbours go on), send the rest in one call."""
    results: list[dict[str, object] | None] = [None] * len(raw_items)
    sent: list[int] = []
    for index, raw in enumerate(raw_items):
        try:
            add_item(raw, batch.items)
        except ApiError as error:
            results[index] = rejected(index, error.fields)
            continue
        sent.append(index)
    if sent:
        reply = await gateway.ingest.TrackBatch(batch, timeout=gateway.timeout)
        for result in reply.results:
            if not 0 <= result.index < len(sent):
                continue
            index = sent[result.index]
            if result.accepted:
                results[index] = {"index": index, "status": "accepted", "id": result.id}
            else:
                results[index] = rejected(
                    index, renamed(FieldViolation(e.field, e.reason) for e in result.errors)
                )
    missing = [FieldViolation("item", "ingest answered no result for this item")]
    return [result or rejected(index, missing) for index, result in enumerate(results)]


def _item_answer(result: ingest_pb2.ItemResult, id_name: str) -> Response:
    if result.accepted:
        return json_response({id_name: result.id}, 202)
    raise ApiError.invalid(renamed(FieldViolation(e.field, e.reason) for e in result.errors))


# --- ingestion -----------------------------------------------------------------------------------------


async def start_session(request: Request, gateway: Gateway) -> Response:
    await admit(request, gateway)
    data = await read_json(request, gateway.max_body_bytes)
    session = convert.session(data, user_agent(request, gateway.max_user_agent_bytes))
    reply = await gateway.ingest.StartSession(
        ingest_pb2.StartSessionRequest(session=session), timeout=gateway.timeout
    )
    return json_response({"sessionId": reply.session_id}, 201)


async def track_interaction(request: Request, gateway: Gateway) -> Response:
    await admit(request, gateway)
    data = await read_json(request, gateway.max_body_bytes)
    item = ingest_pb2.BatchItem(interaction=convert.interaction(data))
    return _item_answer(await gateway.coalescer.submit(item), "eventId")


async def save_snapshot(request: Request, gateway: Gateway) -> Response:
    await admit(request, gateway)
    data = await read_json(request, gateway.max_body_bytes)
    item = ingest_pb2.BatchItem(snapshot=convert.snapshot(data, request.path_params["session_id"]))
    return _item_answer(await gateway.coalescer.submit(item), "snapshotId")


async def end_session(request: Request, gateway: Gateway) -> Response:
    await admit(request, gateway)
    data = await read_json(request, gateway.max_body_bytes, allow_empty=True)
    session_id: str = request.path_params["session_id"]
    reason = convert.end_reason(data)
    await gateway.ingest.EndSession(
        ingest_pb2.EndSessionRequest(session_id=session_id, reason=reason),  # type: ignore[arg-type]
        timeout=gateway.timeout,
    )
    return json_response({"sessionId": session_id}, 202)


def _item_list(data: dict[str, Any], name: str, limit: int) -> list[Any]:
    items = data.get(name)
    if not isinstance(items, list):
        raise ApiError.invalid([FieldViolation(name, "required: a list")])
    if len(items) > limit:
        raise ApiError.invalid([FieldViolation(name, f"{len(items)} items; at most {limit}")])
    return items


async def track_batch(request: Request, gateway: Gateway) -> Response:
    await admit(request, gateway)
    data = await read_json(request, gateway.max_body_bytes)
    items = _item_list(data, "items", gateway.max_batch_items)
    batch = ingest_pb2.TrackBatchRequest()
    convert.sent_at(data, batch)
    agent = user_agent(request, gateway.max_user_agent_bytes)
    results = await send_items(
        gateway, batch, items, lambda raw, items: convert.add_batch_item(raw, items, agent)
    )
    return json_response({"results": results})


async def track_metrics(request: Request, gateway: Gateway) -> Response:
    await admit(request, gateway)
    data = await read_json(request, gateway.max_body_bytes)
    metrics = _item_list(data, "metrics", gateway.max_batch_items) if "metrics" in data else [data]
    batch = ingest_pb2.TrackBatchRequest()
    convert.sent_at(data, batch)
    agent = user_agent(request, gateway.max_user_agent_bytes)
    results = await send_items(
        gateway, batch, metrics, lambda raw, items: convert.add_metric_item(raw, items, agent)
    )
    return json_response({"results": results})


# --- reads ---------------------------------------------------------------------------------------------


def _page_size(value: str | None) -> int:
    if value is None or value == "":
        return 0
    # ASCII digits only: "²".isdigit() holds, but int("²") fails
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_PAGE_SIZE:
        raise ApiError.invalid([FieldViolation("pageSize", f"must be an integer 1..{MAX_PAGE_SIZE}")])
    return int(value)


async def list_interactions(request: Request, gateway: Gateway) -> Response:
    await admit(request, gateway, read=True)
    params = request.query_params
    session_id = params.get("sessionId", "")
    if not session_id:
        raise ApiError.invalid([FieldViolation("sessionId", "required")])
    reply = await gateway.ingest.GetSessionInteractions(
        ingest_pb2.GetSessionInteractionsRequest(
            session_id=session_id,
            page_size=_page_size(params.get("pageSize")),
            page_token=params.get("pageToken", ""),
        ),
        timeout=gateway.timeout,
    )
    return json_response(
        {
            "sessionId": session_id,
            "interactions": [convert.interaction_json(event) for event in reply.interactions],
            "nextPageToken": reply.next_page_token,
        }
    )


# --- operations ----------------------------------------------------------------------------------------


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request, gateway: Gateway) -> Response:
    not_ready = {"Retry-After": retry_after_header(1)}
    try:
        reply = await gateway.health_check(
            health_pb2.HealthCheckRequest(service=INGEST_SERVICE), timeout=READINESS_TIMEOUT_SECONDS
        )
    except grpc.aio.AioRpcError as error:
        return json_response(
            {"status": "not ready", "reason": f"ingest: {error.code().name}"}, 503, not_ready
        )
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return json_response({"status": "not ready", "reason": f"ingest: {status}"}, 503, not_ready)
    return json_response({"status": "ready"})


async def metrics(request: Request, gateway: Gateway) -> Response:
    return Response(gateway.telemetry.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi_json(request: Request, gateway: Gateway) -> Response:
    return Response(gateway.openapi_body, media_type=JSON)


ROUTES = [
    Route("/api/sessions", endpoint(start_session), methods=["POST"]),
    Route("/api/sessions/track-interaction", endpoint(track_interaction), methods=["POST"]),
    Route("/api/sessions/track-interaction", endpoint(list_interactions), methods=["GET"]),
    Route("/api/sessions/{session_id}/snapshots", endpoint(save_snapshot), methods=["POST"]),
    Route("/api/sessions/{session_id}/end", endpoint(end_session), methods=["POST"]),
    Route("/api/batch", endpoint(track_batch), methods=["POST"]),
    Route("/api/metrics", endpoint(track_metrics), methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", endpoint(readyz), methods=["GET"]),
    Route("/metrics", endpoint(metrics), methods=["GET"]),
    Route("/openapi.json", endpoint(openapi_json), methods=["GET"]),
    Route("/tracker.js", pages.tracker_js, methods=["GET"]),
    Route("/demo", endpoint(pages.demo), methods=["GET"]),
]
