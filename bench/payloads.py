"""Benchmark payloads: realistic interaction events, serialized fast with a fresh UUID per event.

Requests are pre-built as wire bytes before any timing starts. Building millions of protobuf messages
would take longer than the benchmark, so each event *shape* is serialized once with placeholder ids of
the final length and every event is that template with its ids swapped in; the lengths stay the same,
so the surrounding length prefixes stay valid and the bytes parse as the message they stand for.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from google.protobuf import struct_pb2

from configtrail.common.v1 import events_pb2
from configtrail.ingest.v1 import ingest_pb2

#: Placeholders of the exact length of the real values (a canonical UUID; ``bench-s000000``).
EVENT_ID_PLACEHOLDER = "ffffffff-ffff-4fff-bfff-ffffffffffff"
SESSION_ID_PLACEHOLDER = "bench-s999999"
SESSION_ID_FORMAT = "bench-s{:06d}"

#: Shapes cycled through, like the loadtest/ghz configs: one in three carries additionalData.
_SHAPES: list[dict[str, object]] = [
    {
        "event_type": events_pb2.EVENT_TYPE_SELECTION,
        "category": "exterior",
        "element_id": "paint-0",
        "selection_value": "arctic-white",
        "previous_value": "graphite-grey",
        "additional_data": {"step": 1, "source": "bench"},
    },
    {
        "event_type": events_pb2.EVENT_TYPE_HOVER,
        "category": "wheels",
        "element_id": "rims-1",
        "selection_value": "19-inch-sport",
        "previous_value": "18-inch-standard",
    },
    {
        "event_type": events_pb2.EVENT_TYPE_CLICK,
        "category": "interior",
        "element_id": "seats-2",
        "selection_value": "leather-black",
        "previous_value": "fabric-grey",
    },
]


def session_id(number: int) -> str:
    return SESSION_ID_FORMAT.format(number)


def interaction(
    shape: int = 0,
    *,
    event_id: str = EVENT_ID_PLACEHOLDER,
    session: str = SESSION_ID_PLACEHOLDER,
    sequence: int = 1,
    when: datetime | None = None,
) -> events_pb2.InteractionEvent:
    """One interaction as the tracker sends it (client timestamp = ``when``, default now)."""
    spec = dict(_SHAPES[shape % len(_SHAPES)])
    extra = spec.pop("additional_data", None)
    event = events_pb2.InteractionEvent(
        event_id=event_id,
        session_id=session,
        time_spent_ms=400 + 37 * shape,
        device_type=events_pb2.DEVICE_TYPE_DESKTOP,
        viewport_width=1440,
        viewport_height=900,
        sequence=sequence,
        **spec,  # type: ignore[arg-type]
    )
    if isinstance(extra, dict):
        data = struct_pb2.Struct()
        data.update(extra)
        event.additional_data.CopyFrom(data)
    event.client_timestamp.FromDatetime(when or datetime.now(UTC))
    return event


def track_interaction_request(session: str = "bench-unary") -> bytes:
    """A serialized TrackInteractionRequest (one fixed event id: h2load sends one body for every call)."""
    event = interaction(0, event_id=str(uuid.uuid4()), session=session)
    return ingest_pb2.TrackInteractionRequest(event=event).SerializeToString()


def grpc_frame(message: bytes) -> bytes:
    """A gRPC length-prefixed message: uncompressed flag 0, 4-byte big-endian length, the message."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def stream_record(shape: int = 0) -> bytes:
    """A serialized StreamRecord as Ingest appends it (ids filled, server time stamped)."""
    event = interaction(shape, event_id=str(uuid.uuid4()), session=session_id(shape))
    event.server_timestamp.FromDatetime(datetime.now(UTC))
    return events_pb2.StreamRecord(interaction=event).SerializeToString()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field: tag (wire type 2), length, payload."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


class ItemFactory:
    """Serialized ``BatchItem``\\s (as the ``items`` field of a request) with fresh ids, from templates."""

    def __init__(self, sessions: int, *, seed: int | None = None) -> None:
        self._sessions = [session_id(n).encode() for n in range(sessions)]
        self._random = random.Random(seed)
        when = datetime.now(UTC)
        bare = [
            ingest_pb2.BatchItem(interaction=interaction(shape, when=when)).SerializeToString()
            for shape in range(len(_SHAPES))
        ]
        # ``items`` is field 1 of TrackBatchRequest and field 2 of StreamEventsRequest; a bare BatchItem
        # (field number 0 here) has the bytes of a TrackInteractionRequest: both hold the event in field 1
        self._templates: dict[int, list[bytes]] = {0: bare}
        for number in (1, 2):
            self._templates[number] = [_field(number, item) for item in bare]
        for templates in self._templates.values():
            for template in templates:
                assert template.count(EVENT_ID_PLACEHOLDER.encode()) == 1
                assert template.count(SESSION_ID_PLACEHOLDER.encode()) == 1

    def items(self, count: int, *, sessions_per_call: int, field_number: int = 1) -> tuple[bytes, list[str]]:
        """``count`` items spread over ``sessions_per_call`` sessions; the bytes and the event ids."""
        templates = self._templates[field_number]
        chosen = self._random.sample(self._sessions, min(sessions_per_call, len(self._sessions)))
        parts: list[bytes] = []
        ids: list[str] = []
        for index in range(count):
            event_id = str(uuid.uuid4())
            ids.append(event_id)
            template = templates[index % len(templates)]
            parts.append(
                template.replace(EVENT_ID_PLACEHOLDER.encode(), event_id.encode()).replace(
                    SESSION_ID_PLACEHOLDER.encode(), chosen[index % len(chosen)]
                )
            )
        return b"".join(parts), ids

    def track_interaction(self) -> tuple[bytes, list[str]]:
        """A serialized TrackInteractionRequest with a fresh event id."""
        return self.items(1, sessions_per_call=1, field_number=0)

    def track_batch(self, count: int, *, sessions_per_call: int) -> tuple[bytes, list[str]]:
        """A serialized TrackBatchRequest of ``count`` interactions and their event ids."""
        return self.items(count, sessions_per_call=sessions_per_call, field_number=1)


def stream_message(message_id: int, items: bytes) -> bytes:
    """A serialized StreamEventsRequest: ``message_id`` (field 1) then the pre-built items (field 2)."""
    return b"\x08" + _varint(message_id) + items


def prefill_records(count: int, sessions: int, *, seed: int = 7) -> Iterator[tuple[str, bytes]]:
    """``count`` serialized StreamRecords (event id, payload) as Ingest would append them, over sessions."""
    rng = random.Random(seed)
    session_ids = [session_id(n).encode() for n in range(sessions)]
    now = datetime.now(UTC)
    templates = []
    for shape in range(len(_SHAPES)):
        event = interaction(shape, when=now)
        event.server_timestamp.FromDatetime(now)
        templates.append(events_pb2.StreamRecord(interaction=event).SerializeToString())
    for index in range(count):
        event_id = str(uuid.uuid4())
        payload = (
            templates[index % len(templates)]
            .replace(EVENT_ID_PLACEHOLDER.encode(), event_id.encode())
            .replace(SESSION_ID_PLACEHOLDER.encode(), rng.choice(session_ids))
        )
        yield event_id, payload
