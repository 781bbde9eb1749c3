"""The Metrics gRPC servicer: stores batches of performance metrics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import grpc

from configtrail.errors import ConfigtrailError, DependencyUnavailable, ValidationError, abort_for
from configtrail.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from services.ingest.validation import Clock, Limits, check_metric
from services.sync.writer import Batch, write_batch

Context = grpc.aio.ServicerContext[object, object]


class MetricsServicer(metrics_pb2_grpc.MetricsServicer):
    def __init__(
        self, pool: asyncpg.Pool, *, limits: Limits, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._pool = pool
        self._limits = limits
        self._now = now

    async def RecordMetrics(
        self, request: metrics_pb2.RecordMetricsRequest, context: Context
    ) -> metrics_pb2.RecordMetricsResponse:
        clock = Clock(self._now())
        batch = Batch()
        violations = []
        for index, metric in enumerate(request.metrics):
            try:
                batch.metrics.append(check_metric(metric, clock, self._limits, f"metrics[{index}]."))
            except ValidationError as error:
                violations += error.violations
        try:
            if violations:
                raise ValidationError(violations)
            async with self._pool.acquire() as conn:
                result = await write_batch(conn, batch)
        except ConfigtrailError as error:
            await abort_for(context, error)
        except (asyncpg.PostgresConnectionError, OSError) as exc:
            await abort_for(context, DependencyUnavailable(f"postgres unavailable: {exc}"))
        return metrics_pb2.RecordMetricsResponse(recorded=result.metrics)
