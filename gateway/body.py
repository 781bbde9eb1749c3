"""Reading request bodies: a size limit before and after gzip, and JSON parsing that names the body.

Bodies are parsed as JSON whatever their ``Content-Type``: ``navigator.sendBeacon`` sends strings as
``text/plain``, and a body that is not JSON is a 400 either way. The limit holds for what is read off the
wire and for what gzip inflates to, so a small compressed body cannot expand without bound.
"""

from __future__ import annotations

import zlib
from typing import Any

import grpc
import orjson
from starlette.requests import ClientDisconnect, Request

from configtrail.errors import FieldViolation
from gateway.errors import ApiError

_GZIP = ("gzip", "x-gzip")
_IDENTITY = ("", "identity")


def too_large(limit: int) -> ApiError:
    return ApiError("PAYLOAD_TOO_LARGE", 413, f"request body larger than {limit} bytes")


def bad_body(reason: str) -> ApiError:
    return ApiError.for_code(
        grpc.StatusCode.INVALID_ARGUMENT, f"invalid request body: {reason}", [FieldViolation("body", reason)]
    )


def gunzip(data: bytes, limit: int) -> bytes:
    """Inflate one gzip member, never producing more than ``limit`` + 1 bytes."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise bad_body(f"not valid gzip ({exc})") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise too_large(limit)
    if not inflater.eof:
        raise bad_body("truncated gzip stream")
    return out


async def read_bytes(request: Request, limit: int) -> bytes:
    """The body, decoded from gzip when so encoded; 413 past ``limit`` bytes either way."""
    headers = request.headers
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding not in _IDENTITY and encoding not in _GZIP:
        raise ApiError(
            "UNSUPPORTED_MEDIA_TYPE", 415, f"unsupported Content-Encoding {encoding!r}; use gzip or none"
        )
    declared = headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise bad_body("invalid Content-Length")
        if int(declared) > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    while True:  # straight from the ASGI channel: cheaper than request.stream() on the hot path
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if encoding in _GZIP:
        return gunzip(data, limit)
    return data


async def read_json(request: Request, limit: int, *, allow_empty: bool = False) -> dict[str, Any]:
    """The body as a JSON object (``{}`` for an empty body where ``allow_empty``)."""
    data = await read_bytes(request, limit)
    if not data or data.isspace():
        if allow_empty:
            return {}
        raise bad_body("empty; expected a JSON object")
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise bad_body(f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise bad_body("must be a JSON object")
    return value
