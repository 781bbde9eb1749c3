"""Gateway settings, from ``CONFIGTRAIL_*`` variables."""

from __future__ import annotations

from pydantic import Field, SecretStr

from configtrail.settings import (
    DEFAULT_GATEWAY_PORT,
    CommonSettings,
)


def split_list(value: str) -> list[str]:
    """The non-empty items of a comma-separated setting, stripped."""
    return [item.strip() for item in value.split(",") if item.strip()]


class GatewaySettings(CommonSettings):
    """Gateway: HTTP for browsers, translated into gRPC calls."""

    gateway_port: int = Field(default=DEFAULT_GATEWAY_PORT, ge=0, le=65535, description="Gateway HTTP port.")
    write_keys: SecretStr = Field(
        default=SecretStr(""), description="Comma-separated ingestion keys (X-Write-Key)."
    )
    admin_tokens: SecretStr = Field(default=SecretStr(""), description="Comma-separated admin bearer tokens.")
    erase_tokens: SecretStr = Field(
        default=SecretStr(""), description="Comma-separated bearer tokens allowed to erase sessions."
    )
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, description="Largest request body (after gzip).")

    cors_origins: str = Field(
        default="", description='Comma-separated origins allowed by CORS; "*" allows any; empty: none.'
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies whose X-Forwarded-For is trusted for the client address (uvicorn's setting).",
    )
    ingest_timeout_seconds: float = Field(default=5.0, gt=0, description="Deadline of every call to Ingest.")
    coalesce_window_ms: float = Field(
        default=2.0,
        ge=0,
        le=100,
        description="Longest wait of a single event for the TrackBatch call it shares with others.",
    )
    coalesce_calls_in_flight: int = Field(
        default=2,
        ge=0,
        description="Coalesced calls out at once before events wait (for one to return or the window); "
        "0: events always wait the window.",
    )
    coalesce_max_items: int = Field(
        default=500, ge=1, description="Most events in one coalesced call (capped at max_batch_items)."
    )
    rate_limit_per_second: float = Field(
        default=50.0, ge=0, description="Requests per second per client (write key + client address); 0: off."
    )
    rate_limit_burst: int = Field(default=200, ge=1, description="Requests a client may send at once.")
    rate_limit_local_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Share of a client's burst each gateway takes ahead from Redis and spends without a "
        "round trip (burst x share, rounded down; a client may exceed its burst by that much per gateway); "
        "0: every request asks Redis.",
    )
    rate_limit_timeout_ms: int = Field(
        default=50, ge=1, description="A rate-limit check slower than this lets the request through."
    )
    rate_limit_retry_seconds: float = Field(
        default=5.0, gt=0, description="After Redis failed, how long requests pass unchecked before a retry."
    )
    client_address_key: SecretStr = Field(
        default=SecretStr(""),
        description="Key of the hash that replaces client addresses in rate-limit keys; "
        "empty: derived from the admin and erase tokens (the same on every replica), or random per "
        "process where none are set.",
    )
