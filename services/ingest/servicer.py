"""The Ingest gRPC servicer: validate, stamp, append, acknowledge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime

import grpc
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from configtrail import live, streams
from configtrail.errors import (
    ConfigtrailError,
    DependencyUnavailable,
    FieldViolation,
    ValidationError,
    abort_for,
)
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.reader import SessionReader
from services.ingest.validation import (
    Clock,
    Limits,
    check_interaction,
    check_metric,
    check_session,
    check_session_end,
    check_snapshot,
)

Context = grpc.aio.ServicerContext[object, object]
#: the per-item results of a reply, filled in place
ItemResults = RepeatedCompositeFieldContainer[ingest_pb2.ItemResult]


def utc_now() -> datetime:
    return datetime.now(UTC)


class IngestServicer(ingest_pb2_grpc.IngestServicer):
    """Every record is validated, stamped with server time and appended to its session's stream shard."""

    def __init__(
        self,
        appender: streams.StreamAppender,
        *,
        limits: Limits,
        stream_shards: int,
        reader: SessionReader | None = None,
        max_in_flight: int = 64,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._appender = appender
        self._limits = limits
        self._shards = stream_shards
        self._now = now
        self._reader = reader
        self._max_in_flight = max_in_flight

    def _entry(self, session_id: str, record: live.Record) -> streams.Append:
        return streams.Append(
            streams.stream_for(session_id, self._shards), streams.encode_record(record), record
        )

    async def StartSession(
        self, request: ingest_pb2.StartSessionRequest, context: Context
    ) -> ingest_pb2.StartSessionResponse:
        try:
            session = check_session(request.session, Clock(self._now()), self._limits, "session.")
            await self._appender.append([self._entry(session.session_id, session)])
        except ConfigtrailError as error:
            await abort_for(context, error)
        return ingest_pb2.StartSessionResponse(session_id=session.session_id)

    async def EndSession(
        self, request: ingest_pb2.EndSessionRequest, context: Context
    ) -> ingest_pb2.EndSessionResponse:
        try:
            end = check_session_end(request.session_id, request.reason, Clock(self._now()), self._limits)
            await self._appender.append([self._entry(end.session_id, end)])
        except ConfigtrailError as error:
            await abort_for(context, error)
        return ingest_pb2.EndSessionResponse()

    async def TrackInteraction(
        self, request: ingest_pb2.TrackInteractionRequest, context: Context
    ) -> ingest_pb2.TrackInteractionResponse:
        try:
            event = check_interaction(request.event, Clock(self._now()), self._limits, "event.")
            await self._appender.append([self._entry(event.session_id, event)])
        except ConfigtrailError as error:
            await abort_for(context, error)
        return ingest_pb2.TrackInteractionResponse(
            event_id=event.event_id, server_timestamp=event.server_timestamp
        )

    async def SaveSnapshot(
        self, request: ingest_pb2.SaveSnapshotRequest, context: Context
    ) -> ingest_pb2.SaveSnapshotResponse:
        try:
            snapshot = check_snapshot(request.snapshot, Clock(self._now()), self._limits, "snapshot.")
            await self._appender.append([self._entry(snapshot.session_id, snapshot)])
        except ConfigtrailError as error:
            await abort_for(context, error)
        return ingest_pb2.SaveSnapshotResponse(
            snapshot_id=snapshot.snapshot_id, server_timestamp=snapshot.server_timestamp
        )

    async def TrackBatch(
        self, request: ingest_pb2.TrackBatchRequest, context: Context
    ) -> ingest_pb2.TrackBatchResponse:
        reply = ingest_pb2.TrackBatchResponse()
        try:
            if len(request.items) > self._limits.max_batch_items:
                reason = f"{len(request.items)} items; at most {self._limits.max_batch_items}"
                raise ValidationError([FieldViolation("items", reason)])
            sent_at = request.sent_at if request.HasField("sent_at") else None
            entries = self.check_items(
                request.items, Clock.for_request(self._now(), sent_at, self._limits), reply.results
            )
            await self._appender.append(entries)
        except ConfigtrailError as error:
            await abort_for(context, error)
        reply.accepted = len(entries)
        reply.rejected = len(reply.results) - len(entries)
        return reply

    def check_items(
        self, items: Sequence[ingest_pb2.BatchItem], clock: Clock, results: ItemResults
    ) -> list[streams.Append]:
        """Validate each item on its own: a bad item is rejected with its reasons, its neighbours go on.

        Each item's result is added to ``results`` (the reply's, built in place); the entries to append
        are returned, one per accepted item.
        """
        entries: list[streams.Append] = []
        for index, item in enumerate(items):
            kind = item.WhichOneof("item")
            try:
                if kind == "interaction":
                    event = check_interaction(item.interaction, clock, self._limits, "interaction.")
                    record: live.Record = event
                    session_id, record_id = event.session_id, event.event_id
                elif kind == "snapshot":
                    snap = check_snapshot(item.snapshot, clock, self._limits, "snapshot.")
                    record, session_id, record_id = snap, snap.session_id, snap.snapshot_id
                elif kind == "metric":
                    metric = check_metric(item.metric, clock, self._limits, "metric.")
                    record, session_id, record_id = metric, metric.session_id, metric.metric_id
                else:
                    raise ValidationError(
                        [FieldViolation("item", "empty: one of interaction, snapshot, metric")]
                    )
            except ValidationError as error:
                errors = results.add(index=index, accepted=False).errors
                for violation in error.violations:
                    errors.add(field=violation.field, reason=violation.reason)
                continue
            entries.append(self._entry(session_id or record_id, record))
            results.add(index=index, accepted=True, id=record_id)
        return entries

    async def StreamEvents(
        self, request_iterator: AsyncIterator[ingest_pb2.StreamEventsRequest], context: Context
    ) -> AsyncIterator[ingest_pb2.StreamEventsResponse]:
        """Acknowledge each message once all its accepted items are durable, in the order received.

        Messages are validated and their appends started as they arrive (up to ``max_in_flight`` at a
        time), so a producer that does not wait for acknowledgements keeps the pipeline full. If an
        append fails the stream ends with UNAVAILABLE: every message not acknowledged before is not
        durable and must be resent.
        """
        in_flight: asyncio.Queue[tuple[ingest_pb2.StreamEventsResponse, asyncio.Task[list[str]]] | None] = (
            asyncio.Queue(self._max_in_flight)
        )

        async def read() -> None:
            try:
                async for message in request_iterator:
                    ack = ingest_pb2.StreamEventsResponse(message_id=message.message_id)
                    entries = self._check_message(message, ack.results)
                    task = asyncio.ensure_future(self._appender.append(entries))
                    await in_flight.put((ack, task))
            finally:
                await in_flight.put(None)

        reader = asyncio.ensure_future(read())
        try:
            while (item := await in_flight.get()) is not None:
                ack, task = item
                try:
                    await task
                except ConfigtrailError as error:
                    await abort_for(context, error)
                yield ack
            await reader
        finally:
            reader.cancel()

    def _check_message(
        self, message: ingest_pb2.StreamEventsRequest, results: ItemResults
    ) -> list[streams.Append]:
        """One StreamEvents message: a message-wide problem rejects each of its items with that reason."""
        try:
            if len(message.items) > self._limits.max_batch_items:
                reason = f"{len(message.items)} items; at most {self._limits.max_batch_items}"
                raise ValidationError([FieldViolation("items", reason)])
            sent_at = message.sent_at if message.HasField("sent_at") else None
            clock = Clock.for_request(self._now(), sent_at, self._limits)
        except ValidationError as error:
            errors = [ingest_pb2.FieldError(field=v.field, reason=v.reason) for v in error.violations]
            for index in range(len(message.items)):
                results.add(index=index, accepted=False, errors=errors)
            return []
        return self.check_items(message.items, clock, results)

    async def GetSessionInteractions(
        self, request: ingest_pb2.GetSessionInteractionsRequest, context: Context
    ) -> ingest_pb2.GetSessionInteractionsResponse:
        try:
            if self._reader is None:
                raise DependencyUnavailable("ingest has no database configured (CONFIGTRAIL_DATABASE_URL)")
            return await self._reader.interactions(request, self._limits)
        except ConfigtrailError as error:
            await abort_for(context, error)
