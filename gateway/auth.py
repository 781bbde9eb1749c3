"""Write keys and admin tokens: who may send events, who may read them back.

Keys are compared in constant time against every configured key, so neither a key's content nor its
position in the list shows in the answer time. With no write keys configured, ingestion is open (the
server logs a warning at start-up): a development setting only.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

import grpc
from starlette.requests import Request

from gateway.errors import ApiError


def _encoded(values: Sequence[str]) -> list[bytes]:
    return [value.encode() for value in values]


def _matches(candidate: str, known: list[bytes]) -> bool:
    supplied = candidate.encode("utf-8", "surrogateescape")
    found = False
    for key in known:
        found |= hmac.compare_digest(supplied, key)
    return found


class KeyCheck:
    """Checks the ``X-Write-Key`` header (or ``key`` query parameter) and ``Authorization: Bearer``."""

    def __init__(
        self, write_keys: Sequence[str], admin_tokens: Sequence[str], erase_tokens: Sequence[str] = ()
    ) -> None:
        self._write_keys = _encoded(write_keys)
        self._admin_tokens = _encoded(admin_tokens)
        self._erase_tokens = _encoded(list(erase_tokens))

    @property
    def first_write_key(self) -> str:
        """The first configured write key ("" when none), for the demo page of this very gateway."""
        return self._write_keys[0].decode() if self._write_keys else ""

    @property
    def open(self) -> bool:
        """Ingestion needs no key (none configured)."""
        return not self._write_keys

    @staticmethod
    def supplied_write_key(request: Request) -> str:
        key = request.headers.get("x-write-key")
        if not key and request.scope["query_string"]:
            key = request.query_params.get("key")
        return key or ""

    def writer(self, request: Request) -> str:
        """The write key of an ingestion request; 401 when missing, 403 when unknown."""
        key = self.supplied_write_key(request)
        if not self._write_keys:
            return key
        if not key:
            raise ApiError.for_code(
                grpc.StatusCode.UNAUTHENTICATED,
                "write key required: X-Write-Key header or key query parameter",
            )
        if not _matches(key, self._write_keys):
            raise ApiError.for_code(grpc.StatusCode.PERMISSION_DENIED, "unknown write key")
        return key

    def reader(self, request: Request) -> str:
        """A read of a session's events: an admin token, or the write key of the site that sent them."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            if not _matches(token.strip(), self._admin_tokens):
                raise ApiError.for_code(grpc.StatusCode.PERMISSION_DENIED, "unknown admin token")
            return ""
        return self.writer(request)

    def admin(self, request: Request) -> None:
        """An admin read: ``Authorization: Bearer`` with an admin token (write keys never do)."""
        _bearer(request, self._admin_tokens, "admin token")

    def eraser(self, request: Request) -> None:
        """An erasure: ``Authorization: Bearer`` with an erase token (admin tokens are read-only)."""
        _bearer(request, self._erase_tokens, "erase token")


def _bearer(request: Request, known: list[bytes], what: str) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError.for_code(
            grpc.StatusCode.UNAUTHENTICATED, f"{what} required: Authorization: Bearer <token>"
        )
    if not known or not _matches(token.strip(), known):
        raise ApiError.for_code(grpc.StatusCode.PERMISSION_DENIED, f"unknown {what}")
