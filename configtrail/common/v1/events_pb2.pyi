import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SessionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_STATUS_UNSPECIFIED: _ClassVar[SessionStatus]
    SESSION_STATUS_ACTIVE: _ClassVar[SessionStatus]
    SESSION_STATUS_ORDERED: _ClassVar[SessionStatus]
    SESSION_STATUS_ABANDONED: _ClassVar[SessionStatus]

class DeviceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_TYPE_UNSPECIFIED: _ClassVar[DeviceType]
    DEVICE_TYPE_DESKTOP: _ClassVar[DeviceType]
    DEVICE_TYPE_TABLET: _ClassVar[DeviceType]
    DEVICE_TYPE_MOBILE: _ClassVar[DeviceType]
    DEVICE_TYPE_OTHER: _ClassVar[DeviceType]

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_CLICK: _ClassVar[EventType]
    EVENT_TYPE_HOVER: _ClassVar[EventType]
    EVENT_TYPE_SELECTION: _ClassVar[EventType]
    EVENT_TYPE_SCROLL: _ClassVar[EventType]
    EVENT_TYPE_CUSTOM: _ClassVar[EventType]

class SnapshotTrigger(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SNAPSHOT_TRIGGER_UNSPECIFIED: _ClassVar[SnapshotTrigger]
    SNAPSHOT_TRIGGER_AUTO_SAVE: _ClassVar[SnapshotTrigger]
    SNAPSHOT_TRIGGER_PAGE_EXIT: _ClassVar[SnapshotTrigger]
    SNAPSHOT_TRIGGER_ORDER_ATTEMPT: _ClassVar[SnapshotTrigger]
    SNAPSHOT_TRIGGER_MANUAL: _ClassVar[SnapshotTrigger]

class EndReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    END_REASON_UNSPECIFIED: _ClassVar[EndReason]
    END_REASON_PAGE_EXIT: _ClassVar[EndReason]
    END_REASON_ORDER: _ClassVar[EndReason]
    END_REASON_TIMEOUT: _ClassVar[EndReason]
SESSION_STATUS_UNSPECIFIED: SessionStatus
SESSION_STATUS_ACTIVE: SessionStatus
SESSION_STATUS_ORDERED: SessionStatus
SESSION_STATUS_ABANDONED: SessionStatus
DEVICE_TYPE_UNSPECIFIED: DeviceType
DEVICE_TYPE_DESKTOP: DeviceType
DEVICE_TYPE_TABLET: DeviceType
DEVICE_TYPE_MOBILE: DeviceType
DEVICE_TYPE_OTHER: DeviceType
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_CLICK: EventType
EVENT_TYPE_HOVER: EventType
EVENT_TYPE_SELECTION: EventType
EVENT_TYPE_SCROLL: EventType
EVENT_TYPE_CUSTOM: EventType
SNAPSHOT_TRIGGER_UNSPECIFIED: SnapshotTrigger
SNAPSHOT_TRIGGER_AUTO_SAVE: SnapshotTrigger
SNAPSHOT_TRIGGER_PAGE_EXIT: SnapshotTrigger
SNAPSHOT_TRIGGER_ORDER_ATTEMPT: SnapshotTrigger
SNAPSHOT_TRIGGER_MANUAL: SnapshotTrigger
END_REASON_UNSPECIFIED: EndReason
END_REASON_PAGE_EXIT: EndReason
END_REASON_ORDER: EndReason
END_REASON_TIMEOUT: EndReason

class Money(_message.Message):
    __slots__ = ("amount_minor", "currency")
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount_minor: int
    currency: str
    def __init__(self, amount_minor: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class UserSession(_message.Message):
    __slots__ = ("session_id", "started_at", "last_seen_at", "ended_at", "user_agent", "device_type", "viewport_width", "viewport_height", "referrer", "landing_page", "locale", "status", "end_reason")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    VIEWPORT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    VIEWPORT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    REFERRER_FIELD_NUMBER: _ClassVar[int]
    LANDING_PAGE_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    started_at: _timestamp_pb2.Timestamp
    last_seen_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    user_agent: str
    device_type: DeviceType
    viewport_width: int
    viewport_height: int
    referrer: str
    landing_page: str
    locale: str
    status: SessionStatus
    end_reason: EndReason
    def __init__(self, session_id: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., user_agent: _Optional[str] = ..., device_type: _Optional[_Union[DeviceType, str]] = ..., viewport_width: _Optional[int] = ..., viewport_height: _Optional[int] = ..., referrer: _Optional[str] = ..., landing_page: _Optional[str] = ..., locale: _Optional[str] = ..., status: _Optional[_Union[SessionStatus, str]] = ..., end_reason: _Optional[_Union[EndReason, str]] = ...) -> None: ...

class InteractionEvent(_message.Message):
    __slots__ = ("event_id", "session_id", "event_type", "custom_event_type", "category", "element_id", "selection_value", "previous_value", "time_spent_ms", "device_type", "viewport_width", "viewport_height", "additional_data", "client_timestamp", "sequence", "server_timestamp")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ELEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SELECTION_VALUE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VALUE_FIELD_NUMBER: _ClassVar[int]
    TIME_SPENT_MS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    VIEWPORT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    VIEWPORT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_DATA_FIELD_NUMBER: _ClassVar[int]
    CLIENT_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    session_id: str
    event_type: EventType
    custom_event_type: str
    category: str
    element_id: str
    selection_value: str
    previous_value: str
    time_spent_ms: int
    device_type: DeviceType
    viewport_width: int
    viewport_height: int
    additional_data: _struct_pb2.Struct
    client_timestamp: _timestamp_pb2.Timestamp
    sequence: int
    server_timestamp: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., session_id: _Optional[str] = ..., event_type: _Optional[_Union[EventType, str]] = ..., custom_event_type: _Optional[str] = ..., category: _Optional[str] = ..., element_id: _Optional[str] = ..., selection_value: _Optional[str] = ..., previous_value: _Optional[str] = ..., time_spent_ms: _Optional[int] = ..., device_type: _Optional[_Union[DeviceType, str]] = ..., viewport_width: _Optional[int] = ..., viewport_height: _Optional[int] = ..., additional_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., client_timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sequence: _Optional[int] = ..., server_timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConfigurationSnapshot(_message.Message):
    __slots__ = ("snapshot_id", "session_id", "configuration", "total_price", "completion_percentage", "trigger", "additional_data", "client_timestamp", "server_timestamp")
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PRICE_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_PERCENTAGE_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_DATA_FIELD_NUMBER: _ClassVar[int]
    CLIENT_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    session_id: str
    configuration: _struct_pb2.Struct
    total_price: Money
    completion_percentage: float
    trigger: SnapshotTrigger
    additional_data: _struct_pb2.Struct
    client_timestamp: _timestamp_pb2.Timestamp
    server_timestamp: _timestamp_pb2.Timestamp
    def __init__(self, snapshot_id: _Optional[str] = ..., session_id: _Optional[str] = ..., configuration: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., total_price: _Optional[_Union[Money, _Mapping]] = ..., completion_percentage: _Optional[float] = ..., trigger: _Optional[_Union[SnapshotTrigger, str]] = ..., additional_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., client_timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., server_timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PerformanceMetric(_message.Message):
    __slots__ = ("metric_id", "metric_name", "value_ms", "endpoint", "user_agent", "session_id", "additional_data", "timestamp", "server_timestamp")
    METRIC_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_MS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_DATA_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    metric_id: str
    metric_name: str
    value_ms: float
    endpoint: str
    user_agent: str
    session_id: str
    additional_data: _struct_pb2.Struct
    timestamp: _timestamp_pb2.Timestamp
    server_timestamp: _timestamp_pb2.Timestamp
    def __init__(self, metric_id: _Optional[str] = ..., metric_name: _Optional[str] = ..., value_ms: _Optional[float] = ..., endpoint: _Optional[str] = ..., user_agent: _Optional[str] = ..., session_id: _Optional[str] = ..., additional_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., server_timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SessionEnd(_message.Message):
    __slots__ = ("session_id", "reason", "ended_at")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    reason: EndReason
    ended_at: _timestamp_pb2.Timestamp
    def __init__(self, session_id: _Optional[str] = ..., reason: _Optional[_Union[EndReason, str]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StreamRecord(_message.Message):
    __slots__ = ("session", "interaction", "snapshot", "metric", "session_end")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    SESSION_END_FIELD_NUMBER: _ClassVar[int]
    session: UserSession
    interaction: InteractionEvent
    snapshot: ConfigurationSnapshot
    metric: PerformanceMetric
    session_end: SessionEnd
    def __init__(self, session: _Optional[_Union[UserSession, _Mapping]] = ..., interaction: _Optional[_Union[InteractionEvent, _Mapping]] = ..., snapshot: _Optional[_Union[ConfigurationSnapshot, _Mapping]] = ..., metric: _Optional[_Union[PerformanceMetric, _Mapping]] = ..., session_end: _Optional[_Union[SessionEnd, _Mapping]] = ...) -> None: ...
