"""The Metrics gRPC servicer: stores batches of performance metrics and answers the analytics queries.

Each RPC delegates to its module (overview, sessions, popular, funnel, progress, performance); this class
only maps their errors to gRPC statuses in one place, and refuses, before any of them runs, an analytics
request with a string that PostgreSQL text cannot hold (:func:`common.check_text`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import NoReturn, TypeVar

import asyncpg
import grpc
import redis.asyncio as redis
from google.protobuf.message import Message

from configtrail.errors import ConfigtrailError, DependencyUnavailable, ValidationError, abort_for
from configtrail.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from services.ingest.validation import Clock, Limits, check_metric
from services.metrics import funnel, overview, popular, progress, sessions
from services.metrics.common import check_text
from services.metrics.performance import PerformanceMonitor, Thresholds, bucket_of, interval_of, window_of
from services.sync.writer import Batch, write_batch

Context = grpc.aio.ServicerContext[object, object]
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


async def _abort(
    context: Context, error: ConfigtrailError | asyncpg.PostgresConnectionError | OSError
) -> NoReturn:
    if isinstance(error, ConfigtrailError):
        await abort_for(context, error)
    await abort_for(context, DependencyUnavailable(f"postgres unavailable: {error}"))


class MetricsServicer(metrics_pb2_grpc.MetricsServicer):
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        limits: Limits,
        redis_client: redis.Redis,
        now: Callable[[], datetime] = utc_now,
        thresholds: Thresholds | None = None,
    ) -> None:
        self._pool = pool
        self._limits = limits
        self._redis = redis_client
        self._now = now
        self._performance = PerformanceMonitor(pool, thresholds or Thresholds(), now)

    async def _answer(self, context: Context, query: Callable[[], Awaitable[T]]) -> T:
        try:
            return await query()
        except (ConfigtrailError, asyncpg.PostgresConnectionError, OSError) as error:
            await _abort(context, error)

    async def _query(self, context: Context, request: Message, query: Callable[[], Awaitable[T]]) -> T:
        """The answer of an analytics query, once every string of its request passed the text check."""

        async def checked() -> T:
            check_text(request)
            return await query()

        return await self._answer(context, checked)

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

        async def record() -> metrics_pb2.RecordMetricsResponse:
            if violations:
                raise ValidationError(violations)
            async with self._pool.acquire() as conn:
                result = await write_batch(conn, batch)
            return metrics_pb2.RecordMetricsResponse(recorded=result.metrics)

        return await self._answer(context, record)

    async def Overview(
        self, request: metrics_pb2.OverviewRequest, context: Context
    ) -> metrics_pb2.OverviewResponse:
        return await self._query(
            context, request, lambda: overview.overview(self._pool, self._redis, request, self._now())
        )

    async def SessionJourney(
        self, request: metrics_pb2.SessionJourneyRequest, context: Context
    ) -> metrics_pb2.SessionJourneyResponse:
        return await self._query(
            context,
            request,
            lambda: sessions.session_journey(self._pool, request, self._limits.max_id_length),
        )

    async def ListSessions(
        self, request: metrics_pb2.ListSessionsRequest, context: Context
    ) -> metrics_pb2.ListSessionsResponse:
        return await self._query(
            context, request, lambda: sessions.list_sessions(self._pool, request, self._now())
        )

    async def PopularConfigurations(
        self, request: metrics_pb2.PopularConfigurationsRequest, context: Context
    ) -> metrics_pb2.PopularConfigurationsResponse:
        return await self._query(
            context, request, lambda: popular.popular_configurations(self._pool, request, self._now())
        )

    async def Funnel(
        self, request: metrics_pb2.FunnelRequest, context: Context
    ) -> metrics_pb2.FunnelResponse:
        return await self._query(context, request, lambda: funnel.funnel(self._pool, request, self._now()))

    async def PriceEvolution(
        self, request: metrics_pb2.PriceEvolutionRequest, context: Context
    ) -> metrics_pb2.PriceEvolutionResponse:
        return await self._query(
            context, request, lambda: progress.price_evolution(self._pool, request, self._now())
        )

    async def Abandonment(
        self, request: metrics_pb2.AbandonmentRequest, context: Context
    ) -> metrics_pb2.AbandonmentResponse:
        return await self._query(
            context, request, lambda: progress.abandonment(self._pool, request, self._now())
        )

    async def GetPerformanceSummary(
        self, request: metrics_pb2.GetPerformanceSummaryRequest, context: Context
    ) -> metrics_pb2.PerformanceSummary:
        async def summary() -> metrics_pb2.PerformanceSummary:
            window = window_of(request.window_seconds)
            bucket = bucket_of(request.bucket_seconds, window)
            return await self._performance.summary(window, request.metric_name, request.endpoint, bucket)

        return await self._query(context, request, summary)

    async def WatchPerformance(
        self, request: metrics_pb2.WatchPerformanceRequest, context: Context
    ) -> AsyncIterator[metrics_pb2.PerformanceSummary]:
        try:
            check_text(request)
            window = window_of(request.window_seconds)
            interval = interval_of(request.interval_seconds)
            bucket = bucket_of(request.bucket_seconds, window)
        except ValidationError as error:
            await abort_for(context, error)
        # runs until the client cancels (the sleep is then cancelled) or the server stops
        while True:
            yield await self._answer(
                context,
                lambda: self._performance.summary(window, request.metric_name, request.endpoint, bucket),
            )
            await asyncio.sleep(interval)
