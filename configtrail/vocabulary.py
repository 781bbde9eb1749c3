"""The words stored and spoken over HTTP for the proto enums: ``EVENT_TYPE_SELECTION`` ↔ ``"selection"``."""

from __future__ import annotations

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from configtrail.common.v1 import events_pb2


class Vocabulary:
    """Two-way mapping between an enum's numbers and its lower-case names without the type prefix."""

    def __init__(self, enum: EnumTypeWrapper, prefix: str) -> None:
        self.by_number: dict[int, str] = {}
        self.by_word: dict[str, int] = {}
        for name, number in enum.items():
            if number == 0:
                continue
            word = name.removeprefix(prefix).lower()
            self.by_number[number] = word
            self.by_word[word] = number
        self.words = ", ".join(self.by_word)

    def word(self, number: int, default: str = "unspecified") -> str:
        return self.by_number.get(number, default)

    def number(self, word: str) -> int | None:
        return self.by_word.get(word)


EVENT_TYPES = Vocabulary(events_pb2.EventType, "EVENT_TYPE_")
DEVICE_TYPES = Vocabulary(events_pb2.DeviceType, "DEVICE_TYPE_")
SNAPSHOT_TRIGGERS = Vocabulary(events_pb2.SnapshotTrigger, "SNAPSHOT_TRIGGER_")
SESSION_STATUSES = Vocabulary(events_pb2.SessionStatus, "SESSION_STATUS_")
END_REASONS = Vocabulary(events_pb2.EndReason, "END_REASON_")
