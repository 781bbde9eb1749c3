import datetime

from configtrail.common.v1 import events_pb2 as _events_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Rating(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RATING_UNSPECIFIED: _ClassVar[Rating]
    RATING_EXCELLENT: _ClassVar[Rating]
    RATING_GOOD: _ClassVar[Rating]
    RATING_FAIR: _ClassVar[Rating]
    RATING_POOR: _ClassVar[Rating]
RATING_UNSPECIFIED: Rating
RATING_EXCELLENT: Rating
RATING_GOOD: Rating
RATING_FAIR: Rating
RATING_POOR: Rating

class RecordMetricsRequest(_message.Message):
    __slots__ = ("metrics",)
    METRICS_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[_events_pb2.PerformanceMetric]
    def __init__(self, metrics: _Optional[_Iterable[_Union[_events_pb2.PerformanceMetric, _Mapping]]] = ...) -> None: ...

class RecordMetricsResponse(_message.Message):
    __slots__ = ("recorded",)
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    recorded: int
    def __init__(self, recorded: _Optional[int] = ...) -> None: ...

class PriceAverage(_message.Message):
    __slots__ = ("average_price", "sessions")
    AVERAGE_PRICE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    average_price: _events_pb2.Money
    sessions: int
    def __init__(self, average_price: _Optional[_Union[_events_pb2.Money, _Mapping]] = ..., sessions: _Optional[int] = ...) -> None: ...

class CategoryCount(_message.Message):
    __slots__ = ("category", "interactions")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    category: str
    interactions: int
    def __init__(self, category: _Optional[str] = ..., interactions: _Optional[int] = ...) -> None: ...

class DeviceShare(_message.Message):
    __slots__ = ("device_type", "sessions", "share")
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    device_type: str
    sessions: int
    share: float
    def __init__(self, device_type: _Optional[str] = ..., sessions: _Optional[int] = ..., share: _Optional[float] = ...) -> None: ...

class SessionSummary(_message.Message):
    __slots__ = ("session_id", "started_at", "last_seen_at", "ended_at", "end_reason", "device_type", "status", "duration_seconds", "interaction_count", "snapshot_count", "last_category", "last_element_id", "latest_price", "completion_percentage", "landing_page", "referrer", "locale")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    LAST_ELEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    LATEST_PRICE_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_PERCENTAGE_FIELD_NUMBER: _ClassVar[int]
    LANDING_PAGE_FIELD_NUMBER: _ClassVar[int]
    REFERRER_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    started_at: _timestamp_pb2.Timestamp
    last_seen_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    end_reason: str
    device_type: str
    status: str
    duration_seconds: float
    interaction_count: int
    snapshot_count: int
    last_category: str
    last_element_id: str
    latest_price: _events_pb2.Money
    completion_percentage: float
    landing_page: str
    referrer: str
    locale: str
    def __init__(self, session_id: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_reason: _Optional[str] = ..., device_type: _Optional[str] = ..., status: _Optional[str] = ..., duration_seconds: _Optional[float] = ..., interaction_count: _Optional[int] = ..., snapshot_count: _Optional[int] = ..., last_category: _Optional[str] = ..., last_element_id: _Optional[str] = ..., latest_price: _Optional[_Union[_events_pb2.Money, _Mapping]] = ..., completion_percentage: _Optional[float] = ..., landing_page: _Optional[str] = ..., referrer: _Optional[str] = ..., locale: _Optional[str] = ...) -> None: ...

class OverviewRequest(_message.Message):
    __slots__ = ("from_time", "to_time", "bucket_seconds")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    BUCKET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    bucket_seconds: int
    def __init__(self, from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., bucket_seconds: _Optional[int] = ...) -> None: ...

class OverviewBucket(_message.Message):
    __slots__ = ("start", "sessions", "interactions")
    START_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    sessions: int
    interactions: int
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sessions: _Optional[int] = ..., interactions: _Optional[int] = ...) -> None: ...

class OverviewResponse(_message.Message):
    __slots__ = ("from_time", "to_time", "sessions", "active_now", "interactions", "average_session_duration_seconds", "interactions_per_session", "completed_sessions", "completion_rate", "order_attempt_sessions", "order_conversion_rate", "average_final_prices", "devices", "top_categories", "series")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_NOW_FIELD_NUMBER: _ClassVar[int]
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_SESSION_DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    INTERACTIONS_PER_SESSION_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_RATE_FIELD_NUMBER: _ClassVar[int]
    ORDER_ATTEMPT_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    ORDER_CONVERSION_RATE_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_FINAL_PRICES_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    TOP_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    sessions: int
    active_now: int
    interactions: int
    average_session_duration_seconds: float
    interactions_per_session: float
    completed_sessions: int
    completion_rate: float
    order_attempt_sessions: int
    order_conversion_rate: float
    average_final_prices: _containers.RepeatedCompositeFieldContainer[PriceAverage]
    devices: _containers.RepeatedCompositeFieldContainer[DeviceShare]
    top_categories: _containers.RepeatedCompositeFieldContainer[CategoryCount]
    series: _containers.RepeatedCompositeFieldContainer[OverviewBucket]
    def __init__(self, from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sessions: _Optional[int] = ..., active_now: _Optional[int] = ..., interactions: _Optional[int] = ..., average_session_duration_seconds: _Optional[float] = ..., interactions_per_session: _Optional[float] = ..., completed_sessions: _Optional[int] = ..., completion_rate: _Optional[float] = ..., order_attempt_sessions: _Optional[int] = ..., order_conversion_rate: _Optional[float] = ..., average_final_prices: _Optional[_Iterable[_Union[PriceAverage, _Mapping]]] = ..., devices: _Optional[_Iterable[_Union[DeviceShare, _Mapping]]] = ..., top_categories: _Optional[_Iterable[_Union[CategoryCount, _Mapping]]] = ..., series: _Optional[_Iterable[_Union[OverviewBucket, _Mapping]]] = ...) -> None: ...

class SessionJourneyRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class JourneyInteraction(_message.Message):
    __slots__ = ("event_id", "event_type", "custom_event_type", "category", "element_id", "selection_value", "previous_value", "time_spent_ms")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ELEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SELECTION_VALUE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VALUE_FIELD_NUMBER: _ClassVar[int]
    TIME_SPENT_MS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    event_type: str
    custom_event_type: str
    category: str
    element_id: str
    selection_value: str
    previous_value: str
    time_spent_ms: int
    def __init__(self, event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., custom_event_type: _Optional[str] = ..., category: _Optional[str] = ..., element_id: _Optional[str] = ..., selection_value: _Optional[str] = ..., previous_value: _Optional[str] = ..., time_spent_ms: _Optional[int] = ...) -> None: ...

class JourneySnapshot(_message.Message):
    __slots__ = ("snapshot_id", "trigger", "completion_percentage", "configuration")
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_PERCENTAGE_FIELD_NUMBER: _ClassVar[int]
    CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    trigger: str
    completion_percentage: float
    configuration: _struct_pb2.Struct
    def __init__(self, snapshot_id: _Optional[str] = ..., trigger: _Optional[str] = ..., completion_percentage: _Optional[float] = ..., configuration: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class JourneyStep(_message.Message):
    __slots__ = ("index", "occurred_at", "seconds_since_previous", "price", "interaction", "snapshot")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    SECONDS_SINCE_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    index: int
    occurred_at: _timestamp_pb2.Timestamp
    seconds_since_previous: float
    price: _events_pb2.Money
    interaction: JourneyInteraction
    snapshot: JourneySnapshot
    def __init__(self, index: _Optional[int] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seconds_since_previous: _Optional[float] = ..., price: _Optional[_Union[_events_pb2.Money, _Mapping]] = ..., interaction: _Optional[_Union[JourneyInteraction, _Mapping]] = ..., snapshot: _Optional[_Union[JourneySnapshot, _Mapping]] = ...) -> None: ...

class SessionJourneyResponse(_message.Message):
    __slots__ = ("session", "steps", "truncated")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    session: SessionSummary
    steps: _containers.RepeatedCompositeFieldContainer[JourneyStep]
    truncated: bool
    def __init__(self, session: _Optional[_Union[SessionSummary, _Mapping]] = ..., steps: _Optional[_Iterable[_Union[JourneyStep, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("from_time", "to_time", "device_type", "status", "min_price_minor", "max_price_minor", "min_completion", "max_completion", "page_size", "page_token")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MIN_PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    MAX_PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    MIN_COMPLETION_FIELD_NUMBER: _ClassVar[int]
    MAX_COMPLETION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    device_type: str
    status: str
    min_price_minor: int
    max_price_minor: int
    min_completion: float
    max_completion: float
    page_size: int
    page_token: str
    def __init__(self, from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., device_type: _Optional[str] = ..., status: _Optional[str] = ..., min_price_minor: _Optional[int] = ..., max_price_minor: _Optional[int] = ..., min_completion: _Optional[float] = ..., max_completion: _Optional[float] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions", "next_page_token")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[SessionSummary]
    next_page_token: str
    def __init__(self, sessions: _Optional[_Iterable[_Union[SessionSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PopularConfigurationsRequest(_message.Message):
    __slots__ = ("from_time", "to_time", "category", "limit")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    category: str
    limit: int
    def __init__(self, from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., category: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class OptionCount(_message.Message):
    __slots__ = ("option", "selections")
    OPTION_FIELD_NUMBER: _ClassVar[int]
    SELECTIONS_FIELD_NUMBER: _ClassVar[int]
    option: str
    selections: int
    def __init__(self, option: _Optional[str] = ..., selections: _Optional[int] = ...) -> None: ...

class CategorySelections(_message.Message):
    __slots__ = ("category", "selections", "options")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SELECTIONS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    category: str
    selections: int
    options: _containers.RepeatedCompositeFieldContainer[OptionCount]
    def __init__(self, category: _Optional[str] = ..., selections: _Optional[int] = ..., options: _Optional[_Iterable[_Union[OptionCount, _Mapping]]] = ...) -> None: ...

class ConfigurationCount(_message.Message):
    __slots__ = ("configuration", "sessions", "average_price")
    CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_PRICE_FIELD_NUMBER: _ClassVar[int]
    configuration: _struct_pb2.Struct
    sessions: int
    average_price: _events_pb2.Money
    def __init__(self, configuration: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., sessions: _Optional[int] = ..., average_price: _Optional[_Union[_events_pb2.Money, _Mapping]] = ...) -> None: ...

class OptionPrice(_message.Message):
    __slots__ = ("category", "option", "snapshots", "average_price")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    OPTION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_PRICE_FIELD_NUMBER: _ClassVar[int]
    category: str
    option: str
    snapshots: int
    average_price: _events_pb2.Money
    def __init__(self, category: _Optional[str] = ..., option: _Optional[str] = ..., snapshots: _Optional[int] = ..., average_price: _Optional[_Union[_events_pb2.Money, _Mapping]] = ...) -> None: ...

class PopularConfigurationsResponse(_message.Message):
    __slots__ = ("from_time", "to_time", "selections", "configurations", "option_prices")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    SELECTIONS_FIELD_NUMBER: _ClassVar[int]
    CONFIGURATIONS_FIELD_NUMBER: _ClassVar[int]
    OPTION_PRICES_FIELD_NUMBER: _ClassVar[int]
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    selections: _containers.RepeatedCompositeFieldContainer[CategorySelections]
    configurations: _containers.RepeatedCompositeFieldContainer[ConfigurationCount]
    option_prices: _containers.RepeatedCompositeFieldContainer[OptionPrice]
    def __init__(self, from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., selections: _Optional[_Iterable[_Union[CategorySelections, _Mapping]]] = ..., configurations: _Optional[_Iterable[_Union[ConfigurationCount, _Mapping]]] = ..., option_prices: _Optional[_Iterable[_Union[OptionPrice, _Mapping]]] = ...) -> None: ...

class FunnelStep(_message.Message):
    __slots__ = ("event_type", "category", "snapshot_trigger")
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_TRIGGER_FIELD_NUMBER: _ClassVar[int]
    event_type: str
    category: str
    snapshot_trigger: str
    def __init__(self, event_type: _Optional[str] = ..., category: _Optional[str] = ..., snapshot_trigger: _Optional[str] = ...) -> None: ...

class FunnelRequest(_message.Message):
    __slots__ = ("steps", "window_seconds", "from_time", "to_time", "breakdown")
    STEPS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[FunnelStep]
    window_seconds: float
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    breakdown: str
    def __init__(self, steps: _Optional[_Iterable[_Union[FunnelStep, _Mapping]]] = ..., window_seconds: _Optional[float] = ..., from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., breakdown: _Optional[str] = ...) -> None: ...

class FunnelStepResult(_message.Message):
    __slots__ = ("step", "count", "conversion_from_start", "conversion_from_previous", "drop_off", "median_seconds_from_previous")
    STEP_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_FROM_START_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_FROM_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    DROP_OFF_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_SECONDS_FROM_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    step: FunnelStep
    count: int
    conversion_from_start: float
    conversion_from_previous: float
    drop_off: int
    median_seconds_from_previous: float
    def __init__(self, step: _Optional[_Union[FunnelStep, _Mapping]] = ..., count: _Optional[int] = ..., conversion_from_start: _Optional[float] = ..., conversion_from_previous: _Optional[float] = ..., drop_off: _Optional[int] = ..., median_seconds_from_previous: _Optional[float] = ...) -> None: ...

class FunnelBreakdown(_message.Message):
    __slots__ = ("device_type", "sessions", "steps")
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    device_type: str
    sessions: int
    steps: _containers.RepeatedCompositeFieldContainer[FunnelStepResult]
    def __init__(self, device_type: _Optional[str] = ..., sessions: _Optional[int] = ..., steps: _Optional[_Iterable[_Union[FunnelStepResult, _Mapping]]] = ...) -> None: ...

class FunnelResponse(_message.Message):
    __slots__ = ("from_time", "to_time", "sessions", "steps", "breakdown", "window_seconds")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    sessions: int
    steps: _containers.RepeatedCompositeFieldContainer[FunnelStepResult]
    breakdown: _containers.RepeatedCompositeFieldContainer[FunnelBreakdown]
    window_seconds: float
    def __init__(self, from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sessions: _Optional[int] = ..., steps: _Optional[_Iterable[_Union[FunnelStepResult, _Mapping]]] = ..., breakdown: _Optional[_Iterable[_Union[FunnelBreakdown, _Mapping]]] = ..., window_seconds: _Optional[float] = ...) -> None: ...

class PriceEvolutionRequest(_message.Message):
    __slots__ = ("from_time", "to_time", "max_steps")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    max_steps: int
    def __init__(self, from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_steps: _Optional[int] = ...) -> None: ...

class PriceStep(_message.Message):
    __slots__ = ("step", "currency", "sessions", "average_price", "median_price")
    STEP_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_PRICE_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_PRICE_FIELD_NUMBER: _ClassVar[int]
    step: int
    currency: str
    sessions: int
    average_price: _events_pb2.Money
    median_price: _events_pb2.Money
    def __init__(self, step: _Optional[int] = ..., currency: _Optional[str] = ..., sessions: _Optional[int] = ..., average_price: _Optional[_Union[_events_pb2.Money, _Mapping]] = ..., median_price: _Optional[_Union[_events_pb2.Money, _Mapping]] = ...) -> None: ...

class PriceEvolutionResponse(_message.Message):
    __slots__ = ("from_time", "to_time", "steps")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    steps: _containers.RepeatedCompositeFieldContainer[PriceStep]
    def __init__(self, from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., steps: _Optional[_Iterable[_Union[PriceStep, _Mapping]]] = ...) -> None: ...

class AbandonmentRequest(_message.Message):
    __slots__ = ("from_time", "to_time")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    def __init__(self, from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LastCategoryCount(_message.Message):
    __slots__ = ("category", "sessions")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    category: str
    sessions: int
    def __init__(self, category: _Optional[str] = ..., sessions: _Optional[int] = ...) -> None: ...

class LastElementCount(_message.Message):
    __slots__ = ("element_id", "sessions")
    ELEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    element_id: str
    sessions: int
    def __init__(self, element_id: _Optional[str] = ..., sessions: _Optional[int] = ...) -> None: ...

class CompletionBucket(_message.Message):
    __slots__ = ("from_percent", "to_percent", "sessions")
    FROM_PERCENT_FIELD_NUMBER: _ClassVar[int]
    TO_PERCENT_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    from_percent: float
    to_percent: float
    sessions: int
    def __init__(self, from_percent: _Optional[float] = ..., to_percent: _Optional[float] = ..., sessions: _Optional[int] = ...) -> None: ...

class AbandonmentResponse(_message.Message):
    __slots__ = ("from_time", "to_time", "sessions", "by_last_category", "by_last_element", "completion", "without_snapshot")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    BY_LAST_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    BY_LAST_ELEMENT_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_FIELD_NUMBER: _ClassVar[int]
    WITHOUT_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    sessions: int
    by_last_category: _containers.RepeatedCompositeFieldContainer[LastCategoryCount]
    by_last_element: _containers.RepeatedCompositeFieldContainer[LastElementCount]
    completion: _containers.RepeatedCompositeFieldContainer[CompletionBucket]
    without_snapshot: int
    def __init__(self, from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sessions: _Optional[int] = ..., by_last_category: _Optional[_Iterable[_Union[LastCategoryCount, _Mapping]]] = ..., by_last_element: _Optional[_Iterable[_Union[LastElementCount, _Mapping]]] = ..., completion: _Optional[_Iterable[_Union[CompletionBucket, _Mapping]]] = ..., without_snapshot: _Optional[int] = ...) -> None: ...

class GetPerformanceSummaryRequest(_message.Message):
    __slots__ = ("window_seconds", "metric_name", "endpoint", "bucket_seconds")
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    METRIC_NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    BUCKET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    window_seconds: float
    metric_name: str
    endpoint: str
    bucket_seconds: int
    def __init__(self, window_seconds: _Optional[float] = ..., metric_name: _Optional[str] = ..., endpoint: _Optional[str] = ..., bucket_seconds: _Optional[int] = ...) -> None: ...

class WatchPerformanceRequest(_message.Message):
    __slots__ = ("window_seconds", "metric_name", "endpoint", "interval_seconds", "bucket_seconds")
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    METRIC_NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    BUCKET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    window_seconds: float
    metric_name: str
    endpoint: str
    interval_seconds: float
    bucket_seconds: int
    def __init__(self, window_seconds: _Optional[float] = ..., metric_name: _Optional[str] = ..., endpoint: _Optional[str] = ..., interval_seconds: _Optional[float] = ..., bucket_seconds: _Optional[int] = ...) -> None: ...

class RatingThresholds(_message.Message):
    __slots__ = ("excellent_below_ms", "good_below_ms", "fair_below_ms")
    EXCELLENT_BELOW_MS_FIELD_NUMBER: _ClassVar[int]
    GOOD_BELOW_MS_FIELD_NUMBER: _ClassVar[int]
    FAIR_BELOW_MS_FIELD_NUMBER: _ClassVar[int]
    excellent_below_ms: float
    good_below_ms: float
    fair_below_ms: float
    def __init__(self, excellent_below_ms: _Optional[float] = ..., good_below_ms: _Optional[float] = ..., fair_below_ms: _Optional[float] = ...) -> None: ...

class EndpointPerformance(_message.Message):
    __slots__ = ("metric_name", "endpoint", "count", "p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms", "rating", "samples")
    METRIC_NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P95_MS_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_MS_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    metric_name: str
    endpoint: str
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    rating: Rating
    samples: int
    def __init__(self, metric_name: _Optional[str] = ..., endpoint: _Optional[str] = ..., count: _Optional[int] = ..., p50_ms: _Optional[float] = ..., p95_ms: _Optional[float] = ..., p99_ms: _Optional[float] = ..., max_ms: _Optional[float] = ..., mean_ms: _Optional[float] = ..., rating: _Optional[_Union[Rating, str]] = ..., samples: _Optional[int] = ...) -> None: ...

class PerformanceAlert(_message.Message):
    __slots__ = ("metric_name", "endpoint", "since", "minutes", "p95_ms")
    METRIC_NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    MINUTES_FIELD_NUMBER: _ClassVar[int]
    P95_MS_FIELD_NUMBER: _ClassVar[int]
    metric_name: str
    endpoint: str
    since: _timestamp_pb2.Timestamp
    minutes: int
    p95_ms: float
    def __init__(self, metric_name: _Optional[str] = ..., endpoint: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., minutes: _Optional[int] = ..., p95_ms: _Optional[float] = ...) -> None: ...

class PerformanceBucket(_message.Message):
    __slots__ = ("start", "metric_name", "endpoint", "count", "p50_ms", "p95_ms", "p99_ms", "samples")
    START_FIELD_NUMBER: _ClassVar[int]
    METRIC_NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P95_MS_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    metric_name: str
    endpoint: str
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    samples: int
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metric_name: _Optional[str] = ..., endpoint: _Optional[str] = ..., count: _Optional[int] = ..., p50_ms: _Optional[float] = ..., p95_ms: _Optional[float] = ..., p99_ms: _Optional[float] = ..., samples: _Optional[int] = ...) -> None: ...

class PerformanceSummary(_message.Message):
    __slots__ = ("from_time", "to_time", "endpoints", "alerts", "thresholds", "series")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    endpoints: _containers.RepeatedCompositeFieldContainer[EndpointPerformance]
    alerts: _containers.RepeatedCompositeFieldContainer[PerformanceAlert]
    thresholds: RatingThresholds
    series: _containers.RepeatedCompositeFieldContainer[PerformanceBucket]
    def __init__(self, from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., endpoints: _Optional[_Iterable[_Union[EndpointPerformance, _Mapping]]] = ..., alerts: _Optional[_Iterable[_Union[PerformanceAlert, _Mapping]]] = ..., thresholds: _Optional[_Union[RatingThresholds, _Mapping]] = ..., series: _Optional[_Iterable[_Union[PerformanceBucket, _Mapping]]] = ...) -> None: ...
