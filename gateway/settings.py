"""Gateway settings, from ``CONFIGTRAIL_*`` variables."""

from __future__ import annotations

from pydantic import Field, SecretStr

from configtrail.settings import DEFAULT_GATEWAY_PORT, DEFAULT_INGEST_PORT, DEFAULT_METRICS_PORT, CommonSettings


class GatewaySettings(CommonSettings):
    """Gateway: HTTP for browsers, translated into gRPC calls."""

    gateway_port: int = Field(default=DEFAULT_GATEWAY_PORT, ge=0, le=65535)
    ingest_address: str = Field(default=f"127.0.0.1:{DEFAULT_INGEST_PORT}", description="Ingest gRPC target.")
    metrics_address: str = Field(default=f"127.0.0.1:{DEFAULT_METRICS_PORT}", description="Metrics target.")
    write_keys: SecretStr = Field(default=SecretStr(""), description="Comma-separated ingestion keys (X-Write-Key).")
    admin_tokens: SecretStr = Field(default=SecretStr(""), description="Comma-separated admin bearer tokens.")
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, description="Largest request body (after gzip).")
