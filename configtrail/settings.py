"""Typed settings, one object per service, read once at start from ``CONFIGTRAIL_*`` variables.

Every field maps to the upper-cased variable with the ``CONFIGTRAIL_`` prefix, e.g. ``ingest_port`` to
``CONFIGTRAIL_INGEST_PORT``. Secrets are ``SecretStr`` so they never print in logs or reprs.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_INGEST_PORT = 50051
DEFAULT_SYNC_PORT = 50052
DEFAULT_METRICS_PORT = 50053
DEFAULT_GATEWAY_PORT = 8080
DEFAULT_INGEST_PROMETHEUS_PORT = 9151
DEFAULT_SYNC_PROMETHEUS_PORT = 9152
DEFAULT_METRICS_PROMETHEUS_PORT = 9153


class CommonSettings(BaseSettings):
    """What every service needs: where the servers are, how to log, how streams are sharded."""

    model_config = SettingsConfigDict(env_prefix="CONFIGTRAIL_", extra="ignore", frozen=True)

    database_url: SecretStr | None = Field(
        default=None, description="Postgres DSN; unset means the embedded server of `configtrail up`."
    )
    redis_url: SecretStr | None = Field(
        default=None, description="Redis/Valkey URL; unset means the embedded server of `configtrail up`."
    )
    data_dir: Path = Field(default=Path(".configtrail"), description="Data folder of the embedded servers.")
    bind_host: str = Field(default="127.0.0.1", description="Interface every service listens on.")
    log_level: str = Field(default="INFO", description="Python logging level.")
    log_json: bool = Field(default=False, description="Log one JSON object per line.")
    stream_shards: int = Field(default=1, ge=1, le=1024, description="Number of event stream shards.")
    shutdown_grace_seconds: float = Field(default=5.0, gt=0, description="Grace for in-flight RPCs on stop.")
    database_pool_size: int = Field(default=4, ge=1, description="Connections per service process.")
    ingest_address: str = Field(default=f"127.0.0.1:{DEFAULT_INGEST_PORT}", description="Ingest gRPC target.")
    sync_address: str = Field(default=f"127.0.0.1:{DEFAULT_SYNC_PORT}", description="Sync gRPC target.")
    metrics_address: str = Field(
        default=f"127.0.0.1:{DEFAULT_METRICS_PORT}", description="Metrics gRPC target the services report to."
    )
    telemetry_flush_seconds: float = Field(
        default=10.0, ge=0, description="How often each service sends its RPC latency samples (0: never)."
    )
    telemetry_samples_per_method: int = Field(
        default=200, ge=1, description="Latency samples kept per RPC method and flush interval."
    )

    # data lifecycle
    retention_days: int = Field(
        default=395, ge=1, description="Raw events, snapshots and metrics older than this are deleted."
    )
    rollup_retention_days: int = Field(
        default=1095, ge=1, description="Sessions (with their rollups) unseen for this long are deleted."
    )
    store_additional_data: bool = Field(
        default=True, description="Keep the free-form additionalData of events (false: dropped by Ingest)."
    )
    reduce_user_agents: bool = Field(
        default=True, description='Store user agents as "browser major / system" instead of the full string.'
    )
    erase_tombstone_days: int = Field(
        default=30, ge=1, description="How long late events of an erased session are dropped."
    )

    # input limits, shared by every service that validates records
    max_batch_items: int = Field(default=500, ge=1, description="Most items in one TrackBatch call.")
    max_id_length: int = Field(default=128, ge=1, description="Longest session, event or element id.")
    max_value_bytes: int = Field(
        default=1024, ge=1, description="Longest selection/previous value, category."
    )
    max_additional_data_bytes: int = Field(default=8 * 1024, ge=2, description="Largest additionalData JSON.")
    max_configuration_bytes: int = Field(
        default=64 * 1024, ge=2, description="Largest snapshot configuration."
    )
    max_viewport_pixels: int = Field(default=16_384, ge=1, description="Largest viewport width or height.")
    max_time_spent_ms: int = Field(default=86_400_000, ge=1, description="Longest timeSpent of one event.")
    max_clock_ahead_seconds: float = Field(
        default=86_400, gt=0, description="Client timestamps further ahead than this are rejected."
    )
    clock_skew_dead_band_seconds: float = Field(
        default=2.0, ge=0, description="Measured client clock skews within this band are not corrected."
    )

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise RuntimeError(
                "CONFIGTRAIL_DATABASE_URL is not set (`configtrail up` sets it for its children)"
            )
        return self.database_url.get_secret_value()

    def require_redis_url(self) -> str:
        if self.redis_url is None:
            raise RuntimeError("CONFIGTRAIL_REDIS_URL is not set (`configtrail up` sets it for its children)")
        return self.redis_url.get_secret_value()


class IngestSettings(CommonSettings):
    """Ingest: gRPC front door that validates events and appends them to Redis streams."""

    ingest_port: int = Field(default=DEFAULT_INGEST_PORT, ge=0, le=65535, description="Ingest gRPC port.")
    ingest_prometheus_port: int = Field(
        default=DEFAULT_INGEST_PROMETHEUS_PORT,
        ge=0,
        le=65535,
        description="Ingest's Prometheus /metrics (0: off).",
    )
    redis_timeout_ms: int = Field(
        default=100,
        ge=1,
        description="A Redis call that takes longer answers UNAVAILABLE instead of hanging.",
    )
    redis_wait_aof: bool = Field(
        default=True,
        description="Wait (WAITAOF) until each group of appends is fsynced to the AOF before acknowledging.",
    )
    redis_operation_timeout_ms: int = Field(
        default=2000, ge=10, description="Longest an append round trip (with its fsync wait) may take."
    )
    append_max_group: int = Field(default=2000, ge=1, description="Most entries appended in one round trip.")
    max_backlog: int = Field(
        default=1_000_000,
        ge=0,
        description="Unsynced entries per stream shard before RESOURCE_EXHAUSTED (0: off).",
    )
    backlog_retry_seconds: float = Field(
        default=1.0, gt=0, description="RetryInfo delay when over the backlog."
    )
    session_idle_seconds: int = Field(
        default=1800, ge=1, description="Inactivity after which a session's live state expires."
    )
    stream_max_in_flight: int = Field(
        default=64, ge=1, description="StreamEvents messages appended concurrently per stream before waiting."
    )


class SyncSettings(CommonSettings):
    """Sync: consumer-group workers that copy stream entries into Postgres."""

    sync_port: int = Field(default=DEFAULT_SYNC_PORT, ge=0, le=65535, description="Sync gRPC port.")
    sync_prometheus_port: int = Field(
        default=DEFAULT_SYNC_PROMETHEUS_PORT,
        ge=0,
        le=65535,
        description="Sync's Prometheus /metrics (0: off).",
    )
    sync_worker_name: str = Field(default="", description="Stable consumer name; default: host name + port.")
    sync_batch_size: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Most entries read per batch (written in CONFIGTRAIL_SYNC_WRITERS transactions).",
    )
    sync_block_ms: int = Field(default=200, ge=1, description="How long one read waits for new entries.")
    sync_writers: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Concurrent write transactions per worker: each batch is split by session among them.",
    )
    sync_claim_idle_ms: int = Field(
        default=30_000, ge=100, description="Pending entries of a dead worker idle this long are claimed."
    )
    sync_max_deliveries: int = Field(
        default=5, ge=1, description="Deliveries before an entry is dead-lettered."
    )
    sync_retry_max_seconds: float = Field(default=10.0, gt=0, description="Cap of the outage backoff.")
    retention_interval_seconds: float = Field(
        default=3600, gt=0, description="How often the retention job runs (one worker at a time)."
    )
    retention_batch_rows: int = Field(
        default=10_000, ge=1, description="Rows deleted per retention statement."
    )
    sync_abandon_after_seconds: int = Field(
        default=1800, ge=1, description="An active session without activity this long is marked abandoned."
    )

    @model_validator(mode="after")
    def _pool_fits_writers(self) -> SyncSettings:
        if self.sync_writers >= self.database_pool_size:
            raise ValueError(
                "CONFIGTRAIL_SYNC_WRITERS must be below CONFIGTRAIL_DATABASE_POOL_SIZE: one connection per"
                " writer, and one left for Status, Flush and the background jobs"
            )
        return self


class MetricsSettings(CommonSettings):
    """Metrics: performance metrics and analytics queries."""

    metrics_port: int = Field(default=DEFAULT_METRICS_PORT, ge=0, le=65535, description="Metrics gRPC port.")
    metrics_prometheus_port: int = Field(
        default=DEFAULT_METRICS_PROMETHEUS_PORT,
        ge=0,
        le=65535,
        description="Metrics' Prometheus /metrics (0: off).",
    )
    performance_excellent_below_ms: float = Field(
        default=50.0, gt=0, description="Performance rating: a p95 below this many ms is EXCELLENT."
    )
    performance_good_below_ms: float = Field(
        default=100.0, gt=0, description="Performance rating: a p95 below this many ms is GOOD."
    )
    performance_fair_below_ms: float = Field(
        default=200.0,
        gt=0,
        description="Performance rating: a p95 below this many ms is FAIR; else POOR.",
    )

    @model_validator(mode="after")
    def _ratings_ascend(self) -> MetricsSettings:
        if (
            not self.performance_excellent_below_ms
            <= self.performance_good_below_ms
            <= self.performance_fair_below_ms
        ):
            raise ValueError(
                "CONFIGTRAIL_PERFORMANCE_EXCELLENT_BELOW_MS <= CONFIGTRAIL_PERFORMANCE_GOOD_BELOW_MS"
                " <= CONFIGTRAIL_PERFORMANCE_FAIR_BELOW_MS must hold"
            )
        return self


class UpSettings(CommonSettings):
    """`configtrail up`: the whole stack under one supervisor."""

    ingest_port: int = Field(default=DEFAULT_INGEST_PORT, ge=0, le=65535, description="Ingest gRPC port.")
    sync_port: int = Field(default=DEFAULT_SYNC_PORT, ge=0, le=65535, description="Sync gRPC port.")
    metrics_port: int = Field(default=DEFAULT_METRICS_PORT, ge=0, le=65535, description="Metrics gRPC port.")
    gateway_port: int = Field(default=DEFAULT_GATEWAY_PORT, ge=0, le=65535, description="Gateway HTTP port.")
    embedded_postgres_port: int = Field(
        default=0, ge=0, le=65535, description="Port of the embedded PostgreSQL; 0: a free port."
    )
    embedded_redis_port: int = Field(
        default=0, ge=0, le=65535, description="Port of the embedded Valkey; 0: a free port."
    )
