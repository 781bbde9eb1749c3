"""Errors and their mapping to canonical gRPC status codes, in one place.

Services raise these exceptions; :func:`abort_for` turns them into a rich gRPC status
(``google.rpc.BadRequest`` field violations, ``RetryInfo``), and the gateway maps gRPC codes to HTTP
in :data:`HTTP_STATUS_FOR_CODE`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class FieldViolation:
    field: str
    reason: str


class ConfigtrailError(Exception):
    """Base of the errors a service answers with a specific gRPC code."""

    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class ValidationError(ConfigtrailError):
    """Bad input: one or more fields, each with the reason."""

    violations: list[FieldViolation] = field(default_factory=list)
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __post_init__(self) -> None:
        summary = "; ".join(f"{v.field}: {v.reason}" for v in self.violations[:5])
        super().__init__(f"invalid request: {summary}")


class Overloaded(ConfigtrailError):
    """The unsynced backlog is over its limit: retry after a delay."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class DependencyUnavailable(ConfigtrailError):
    """Redis or Postgres cannot be reached; nothing was acknowledged."""

    code = grpc.StatusCode.UNAVAILABLE

    def __init__(self, message: str, retry_after_seconds: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


def to_status(error: ConfigtrailError) -> grpc.Status:
    """The rich gRPC status for an error, with its ``google.rpc`` details."""
    status = status_pb2.Status(code=error.code.value[0], message=error.message)
    if isinstance(error, ValidationError):
        detail = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.reason)
                for v in error.violations
            ]
        )
        status.details.add().Pack(detail)
    elif isinstance(error, Overloaded | DependencyUnavailable):
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(int(error.retry_after_seconds * 1000))
        status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return rpc_status.to_status(status)


async def abort_for(context: grpc.aio.ServicerContext[object, object], error: ConfigtrailError) -> NoReturn:
    await context.abort_with_status(to_status(error))
    raise AssertionError("abort_with_status returned")  # pragma: no cover - abort always raises


def field_violations_from(error: grpc.aio.AioRpcError) -> list[FieldViolation]:
    """The BadRequest field violations carried by a failed call (empty when none)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return []
    violations: list[FieldViolation] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations += [FieldViolation(v.field, v.description) for v in bad_request.field_violations]
    return violations


def retry_delay_from(error: grpc.aio.AioRpcError) -> float | None:
    """Seconds of the RetryInfo carried by a failed call, if any."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.ToMilliseconds()) / 1000
    return None


#: gRPC code → HTTP status, used by the gateway.
HTTP_STATUS_FOR_CODE: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
