import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from proto.rocars.v1 import auth_pb2 as _auth_pb2
from proto.rocars.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SyncMessageKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SYNC_MESSAGE_KIND_UNSPECIFIED: _ClassVar[SyncMessageKind]
    SNAPSHOT_BEGIN: _ClassVar[SyncMessageKind]
    SNAPSHOT_CHUNK: _ClassVar[SyncMessageKind]
    SNAPSHOT_END: _ClassVar[SyncMessageKind]
    CHANGES: _ClassVar[SyncMessageKind]
    HEARTBEAT: _ClassVar[SyncMessageKind]

class CrossingOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CROSSING_OUTCOME_UNSPECIFIED: _ClassVar[CrossingOutcome]
    CROSSING_RELEASED: _ClassVar[CrossingOutcome]
    CROSSING_SENT_TO_INSPECTION: _ClassVar[CrossingOutcome]
    CROSSING_REFERRED_TO_OFFICER: _ClassVar[CrossingOutcome]
    CROSSING_OFFICER_OVERRIDE: _ClassVar[CrossingOutcome]
    CROSSING_INSPECTION_RESULT: _ClassVar[CrossingOutcome]

class CrossingGrouping(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CROSSING_GROUPING_UNSPECIFIED: _ClassVar[CrossingGrouping]
    GROUP_BY_LANE: _ClassVar[CrossingGrouping]
    GROUP_BY_CONTROL_POINT: _ClassVar[CrossingGrouping]
    GROUP_BY_OUTCOME: _ClassVar[CrossingGrouping]
SYNC_MESSAGE_KIND_UNSPECIFIED: SyncMessageKind
SNAPSHOT_BEGIN: SyncMessageKind
SNAPSHOT_CHUNK: SyncMessageKind
SNAPSHOT_END: SyncMessageKind
CHANGES: SyncMessageKind
HEARTBEAT: SyncMessageKind
CROSSING_OUTCOME_UNSPECIFIED: CrossingOutcome
CROSSING_RELEASED: CrossingOutcome
CROSSING_SENT_TO_INSPECTION: CrossingOutcome
CROSSING_REFERRED_TO_OFFICER: CrossingOutcome
CROSSING_OFFICER_OVERRIDE: CrossingOutcome
CROSSING_INSPECTION_RESULT: CrossingOutcome
CROSSING_GROUPING_UNSPECIFIED: CrossingGrouping
GROUP_BY_LANE: CrossingGrouping
GROUP_BY_CONTROL_POINT: CrossingGrouping
GROUP_BY_OUTCOME: CrossingGrouping

class SubscribeRequest(_message.Message):
    __slots__ = ("lane_id", "control_point", "direction", "cursor")
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    lane_id: str
    control_point: str
    direction: _common_pb2.Direction
    cursor: str
    def __init__(self, lane_id: _Optional[str] = ..., control_point: _Optional[str] = ..., direction: _Optional[_Union[_common_pb2.Direction, str]] = ..., cursor: _Optional[str] = ...) -> None: ...

class SyncMessage(_message.Message):
    __slots__ = ("kind", "cursor", "sent_at", "snapshot_id", "batch", "changes_count", "newest_change_at")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    CHANGES_COUNT_FIELD_NUMBER: _ClassVar[int]
    NEWEST_CHANGE_AT_FIELD_NUMBER: _ClassVar[int]
    kind: SyncMessageKind
    cursor: str
    sent_at: _timestamp_pb2.Timestamp
    snapshot_id: str
    batch: SyncBatch
    changes_count: int
    newest_change_at: _timestamp_pb2.Timestamp
    def __init__(self, kind: _Optional[_Union[SyncMessageKind, str]] = ..., cursor: _Optional[str] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., snapshot_id: _Optional[str] = ..., batch: _Optional[_Union[SyncBatch, _Mapping]] = ..., changes_count: _Optional[int] = ..., newest_change_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SyncBatch(_message.Message):
    __slots__ = ("trips", "removed_trips", "vehicles", "drivers", "watchlist", "removed_watchlist", "lane_config")
    TRIPS_FIELD_NUMBER: _ClassVar[int]
    REMOVED_TRIPS_FIELD_NUMBER: _ClassVar[int]
    VEHICLES_FIELD_NUMBER: _ClassVar[int]
    DRIVERS_FIELD_NUMBER: _ClassVar[int]
    WATCHLIST_FIELD_NUMBER: _ClassVar[int]
    REMOVED_WATCHLIST_FIELD_NUMBER: _ClassVar[int]
    LANE_CONFIG_FIELD_NUMBER: _ClassVar[int]
    trips: _containers.RepeatedCompositeFieldContainer[SyncTrip]
    removed_trips: _containers.RepeatedScalarFieldContainer[str]
    vehicles: _containers.RepeatedCompositeFieldContainer[SyncVehicle]
    drivers: _containers.RepeatedCompositeFieldContainer[SyncDriver]
    watchlist: _containers.RepeatedCompositeFieldContainer[WatchlistEntry]
    removed_watchlist: _containers.RepeatedScalarFieldContainer[str]
    lane_config: LaneConfig
    def __init__(self, trips: _Optional[_Iterable[_Union[SyncTrip, _Mapping]]] = ..., removed_trips: _Optional[_Iterable[str]] = ..., vehicles: _Optional[_Iterable[_Union[SyncVehicle, _Mapping]]] = ..., drivers: _Optional[_Iterable[_Union[SyncDriver, _Mapping]]] = ..., watchlist: _Optional[_Iterable[_Union[WatchlistEntry, _Mapping]]] = ..., removed_watchlist: _Optional[_Iterable[str]] = ..., lane_config: _Optional[_Union[LaneConfig, _Mapping]] = ...) -> None: ...

class SyncConsignment(_message.Message):
    __slots__ = ("ccrn", "status", "verdict", "verdict_reasons", "transshipment", "elock_id")
    CCRN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    VERDICT_REASONS_FIELD_NUMBER: _ClassVar[int]
    TRANSSHIPMENT_FIELD_NUMBER: _ClassVar[int]
    ELOCK_ID_FIELD_NUMBER: _ClassVar[int]
    ccrn: str
    status: _common_pb2.ConsignmentStatus
    verdict: _common_pb2.Verdict
    verdict_reasons: _containers.RepeatedScalarFieldContainer[str]
    transshipment: bool
    elock_id: str
    def __init__(self, ccrn: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.ConsignmentStatus, str]] = ..., verdict: _Optional[_Union[_common_pb2.Verdict, str]] = ..., verdict_reasons: _Optional[_Iterable[str]] = ..., transshipment: _Optional[bool] = ..., elock_id: _Optional[str] = ...) -> None: ...

class SyncTrip(_message.Message):
    __slots__ = ("reference", "registration_mark", "driver_document_number", "control_point", "direction", "slot_start", "slot_end", "expected_arrival", "status", "verdict", "verdict_reasons", "consignments", "empty", "elock_state")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_MARK_FIELD_NUMBER: _ClassVar[int]
    DRIVER_DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    SLOT_START_FIELD_NUMBER: _ClassVar[int]
    SLOT_END_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_ARRIVAL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    VERDICT_REASONS_FIELD_NUMBER: _ClassVar[int]
    CONSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    EMPTY_FIELD_NUMBER: _ClassVar[int]
    ELOCK_STATE_FIELD_NUMBER: _ClassVar[int]
    reference: str
    registration_mark: str
    driver_document_number: str
    control_point: str
    direction: _common_pb2.Direction
    slot_start: _timestamp_pb2.Timestamp
    slot_end: _timestamp_pb2.Timestamp
    expected_arrival: _timestamp_pb2.Timestamp
    status: _common_pb2.TripStatus
    verdict: _common_pb2.Verdict
    verdict_reasons: _containers.RepeatedScalarFieldContainer[str]
    consignments: _containers.RepeatedCompositeFieldContainer[SyncConsignment]
    empty: bool
    elock_state: str
    def __init__(self, reference: _Optional[str] = ..., registration_mark: _Optional[str] = ..., driver_document_number: _Optional[str] = ..., control_point: _Optional[str] = ..., direction: _Optional[_Union[_common_pb2.Direction, str]] = ..., slot_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., slot_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expected_arrival: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[_common_pb2.TripStatus, str]] = ..., verdict: _Optional[_Union[_common_pb2.Verdict, str]] = ..., verdict_reasons: _Optional[_Iterable[str]] = ..., consignments: _Optional[_Iterable[_Union[SyncConsignment, _Mapping]]] = ..., empty: _Optional[bool] = ..., elock_state: _Optional[str] = ...) -> None: ...

class SyncVehicle(_message.Message):
    __slots__ = ("registration_mark", "tag_epc", "mainland_plate", "active")
    REGISTRATION_MARK_FIELD_NUMBER: _ClassVar[int]
    TAG_EPC_FIELD_NUMBER: _ClassVar[int]
    MAINLAND_PLATE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    registration_mark: str
    tag_epc: str
    mainland_plate: str
    active: bool
    def __init__(self, registration_mark: _Optional[str] = ..., tag_epc: _Optional[str] = ..., mainland_plate: _Optional[str] = ..., active: _Optional[bool] = ...) -> None: ...

class SyncDriver(_message.Message):
    __slots__ = ("document_number", "card_number", "name", "active")
    DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    document_number: str
    card_number: str
    name: str
    active: bool
    def __init__(self, document_number: _Optional[str] = ..., card_number: _Optional[str] = ..., name: _Optional[str] = ..., active: _Optional[bool] = ...) -> None: ...

class WatchlistEntry(_message.Message):
    __slots__ = ("id", "subject", "value", "reason", "action")
    ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    subject: str
    value: str
    reason: str
    action: str
    def __init__(self, id: _Optional[str] = ..., subject: _Optional[str] = ..., value: _Optional[str] = ..., reason: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class LaneConfig(_message.Message):
    __slots__ = ("settings",)
    class SettingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    settings: _containers.ScalarMap[str, str]
    def __init__(self, settings: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CrossingEvent(_message.Message):
    __slots__ = ("idempotency_key", "lane_id", "sequence", "outcome", "trip_reference", "registration_mark", "tag_epc", "driver_document_number", "occurred_at", "reasons", "officer_id", "inspection_result", "override_verdict", "detail_json")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    TRIP_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_MARK_FIELD_NUMBER: _ClassVar[int]
    TAG_EPC_FIELD_NUMBER: _ClassVar[int]
    DRIVER_DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    OFFICER_ID_FIELD_NUMBER: _ClassVar[int]
    INSPECTION_RESULT_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_VERDICT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    lane_id: str
    sequence: int
    outcome: CrossingOutcome
    trip_reference: str
    registration_mark: str
    tag_epc: str
    driver_document_number: str
    occurred_at: _timestamp_pb2.Timestamp
    reasons: _containers.RepeatedScalarFieldContainer[str]
    officer_id: str
    inspection_result: str
    override_verdict: _common_pb2.Verdict
    detail_json: str
    def __init__(self, idempotency_key: _Optional[str] = ..., lane_id: _Optional[str] = ..., sequence: _Optional[int] = ..., outcome: _Optional[_Union[CrossingOutcome, str]] = ..., trip_reference: _Optional[str] = ..., registration_mark: _Optional[str] = ..., tag_epc: _Optional[str] = ..., driver_document_number: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reasons: _Optional[_Iterable[str]] = ..., officer_id: _Optional[str] = ..., inspection_result: _Optional[str] = ..., override_verdict: _Optional[_Union[_common_pb2.Verdict, str]] = ..., detail_json: _Optional[str] = ...) -> None: ...

class PostCrossingEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[CrossingEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[CrossingEvent, _Mapping]]] = ...) -> None: ...

class CrossingAck(_message.Message):
    __slots__ = ("idempotency_key", "duplicate")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    duplicate: bool
    def __init__(self, idempotency_key: _Optional[str] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class PostCrossingEventsReply(_message.Message):
    __slots__ = ("acks",)
    ACKS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[CrossingAck]
    def __init__(self, acks: _Optional[_Iterable[_Union[CrossingAck, _Mapping]]] = ...) -> None: ...

class CrossingFilter(_message.Message):
    __slots__ = ("lane_ids", "control_points", "outcomes", "occurred_from", "occurred_before", "trip_reference", "direction")
    LANE_IDS_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINTS_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_FROM_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    TRIP_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    lane_ids: _containers.RepeatedScalarFieldContainer[str]
    control_points: _containers.RepeatedScalarFieldContainer[str]
    outcomes: _containers.RepeatedScalarFieldContainer[CrossingOutcome]
    occurred_from: _timestamp_pb2.Timestamp
    occurred_before: _timestamp_pb2.Timestamp
    trip_reference: str
    direction: _common_pb2.Direction
    def __init__(self, lane_ids: _Optional[_Iterable[str]] = ..., control_points: _Optional[_Iterable[str]] = ..., outcomes: _Optional[_Iterable[_Union[CrossingOutcome, str]]] = ..., occurred_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., occurred_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trip_reference: _Optional[str] = ..., direction: _Optional[_Union[_common_pb2.Direction, str]] = ...) -> None: ...

class ListCrossingEventsRequest(_message.Message):
    __slots__ = ("page", "filter")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    filter: CrossingFilter
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., filter: _Optional[_Union[CrossingFilter, _Mapping]] = ...) -> None: ...

class StoredCrossingEvent(_message.Message):
    __slots__ = ("event", "control_point", "direction", "received_at", "applied", "note")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    event: CrossingEvent
    control_point: str
    direction: _common_pb2.Direction
    received_at: _timestamp_pb2.Timestamp
    applied: bool
    note: str
    def __init__(self, event: _Optional[_Union[CrossingEvent, _Mapping]] = ..., control_point: _Optional[str] = ..., direction: _Optional[_Union[_common_pb2.Direction, str]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., applied: _Optional[bool] = ..., note: _Optional[str] = ...) -> None: ...

class ListCrossingEventsReply(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[StoredCrossingEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[StoredCrossingEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CountCrossingEventsRequest(_message.Message):
    __slots__ = ("filter", "group_by")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    filter: CrossingFilter
    group_by: _containers.RepeatedScalarFieldContainer[CrossingGrouping]
    def __init__(self, filter: _Optional[_Union[CrossingFilter, _Mapping]] = ..., group_by: _Optional[_Iterable[_Union[CrossingGrouping, str]]] = ...) -> None: ...

class CrossingCount(_message.Message):
    __slots__ = ("lane_id", "control_point", "outcome", "count")
    LANE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    lane_id: str
    control_point: str
    outcome: CrossingOutcome
    count: int
    def __init__(self, lane_id: _Optional[str] = ..., control_point: _Optional[str] = ..., outcome: _Optional[_Union[CrossingOutcome, str]] = ..., count: _Optional[int] = ...) -> None: ...

class CountCrossingEventsReply(_message.Message):
    __slots__ = ("total", "groups")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    total: int
    groups: _containers.RepeatedCompositeFieldContainer[CrossingCount]
    def __init__(self, total: _Optional[int] = ..., groups: _Optional[_Iterable[_Union[CrossingCount, _Mapping]]] = ...) -> None: ...
