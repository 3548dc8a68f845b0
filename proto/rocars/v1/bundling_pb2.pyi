import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from proto.rocars.v1 import auth_pb2 as _auth_pb2
from proto.rocars.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BundleTripRequest(_message.Message):
    __slots__ = ("idempotency_key", "security_code", "vehicle_registration_mark", "control_point", "direction", "expected_arrival", "ccrns", "empty_truck")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SECURITY_CODE_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_REGISTRATION_MARK_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_ARRIVAL_FIELD_NUMBER: _ClassVar[int]
    CCRNS_FIELD_NUMBER: _ClassVar[int]
    EMPTY_TRUCK_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    security_code: str
    vehicle_registration_mark: str
    control_point: str
    direction: _common_pb2.Direction
    expected_arrival: _timestamp_pb2.Timestamp
    ccrns: _containers.RepeatedScalarFieldContainer[str]
    empty_truck: bool
    def __init__(self, idempotency_key: _Optional[str] = ..., security_code: _Optional[str] = ..., vehicle_registration_mark: _Optional[str] = ..., control_point: _Optional[str] = ..., direction: _Optional[_Union[_common_pb2.Direction, str]] = ..., expected_arrival: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ccrns: _Optional[_Iterable[str]] = ..., empty_truck: _Optional[bool] = ...) -> None: ...

class RebundleTripRequest(_message.Message):
    __slots__ = ("trip_reference", "security_code", "vehicle_registration_mark", "expected_arrival", "ccrns", "empty_truck", "control_point")
    TRIP_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    SECURITY_CODE_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_REGISTRATION_MARK_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_ARRIVAL_FIELD_NUMBER: _ClassVar[int]
    CCRNS_FIELD_NUMBER: _ClassVar[int]
    EMPTY_TRUCK_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    trip_reference: str
    security_code: str
    vehicle_registration_mark: str
    expected_arrival: _timestamp_pb2.Timestamp
    ccrns: _containers.RepeatedScalarFieldContainer[str]
    empty_truck: bool
    control_point: str
    def __init__(self, trip_reference: _Optional[str] = ..., security_code: _Optional[str] = ..., vehicle_registration_mark: _Optional[str] = ..., expected_arrival: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ccrns: _Optional[_Iterable[str]] = ..., empty_truck: _Optional[bool] = ..., control_point: _Optional[str] = ...) -> None: ...

class UnbundleTripRequest(_message.Message):
    __slots__ = ("trip_reference", "security_code")
    TRIP_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    SECURITY_CODE_FIELD_NUMBER: _ClassVar[int]
    trip_reference: str
    security_code: str
    def __init__(self, trip_reference: _Optional[str] = ..., security_code: _Optional[str] = ...) -> None: ...

class GetTripRequest(_message.Message):
    __slots__ = ("trip_reference",)
    TRIP_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    trip_reference: str
    def __init__(self, trip_reference: _Optional[str] = ...) -> None: ...

class Trip(_message.Message):
    __slots__ = ("reference", "driver_id", "driver_name", "vehicle_registration_mark", "control_point", "direction", "expected_arrival", "slot_start", "slot_end", "empty_truck", "status", "ccrns", "slot_moved", "created_at", "updated_at")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    DRIVER_ID_FIELD_NUMBER: _ClassVar[int]
    DRIVER_NAME_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_REGISTRATION_MARK_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_ARRIVAL_FIELD_NUMBER: _ClassVar[int]
    SLOT_START_FIELD_NUMBER: _ClassVar[int]
    SLOT_END_FIELD_NUMBER: _ClassVar[int]
    EMPTY_TRUCK_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CCRNS_FIELD_NUMBER: _ClassVar[int]
    SLOT_MOVED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    reference: str
    driver_id: int
    driver_name: str
    vehicle_registration_mark: str
    control_point: str
    direction: _common_pb2.Direction
    expected_arrival: _timestamp_pb2.Timestamp
    slot_start: _timestamp_pb2.Timestamp
    slot_end: _timestamp_pb2.Timestamp
    empty_truck: bool
    status: _common_pb2.TripStatus
    ccrns: _containers.RepeatedScalarFieldContainer[str]
    slot_moved: bool
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, reference: _Optional[str] = ..., driver_id: _Optional[int] = ..., driver_name: _Optional[str] = ..., vehicle_registration_mark: _Optional[str] = ..., control_point: _Optional[str] = ..., direction: _Optional[_Union[_common_pb2.Direction, str]] = ..., expected_arrival: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., slot_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., slot_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., empty_truck: _Optional[bool] = ..., status: _Optional[_Union[_common_pb2.TripStatus, str]] = ..., ccrns: _Optional[_Iterable[str]] = ..., slot_moved: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListTripsRequest(_message.Message):
    __slots__ = ("page", "statuses", "control_point")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    statuses: _containers.RepeatedScalarFieldContainer[_common_pb2.TripStatus]
    control_point: str
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., statuses: _Optional[_Iterable[_Union[_common_pb2.TripStatus, str]]] = ..., control_point: _Optional[str] = ...) -> None: ...

class ListTripsReply(_message.Message):
    __slots__ = ("trips", "next_page_token")
    TRIPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    trips: _containers.RepeatedCompositeFieldContainer[Trip]
    next_page_token: str
    def __init__(self, trips: _Optional[_Iterable[_Union[Trip, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetSlotAvailabilityRequest(_message.Message):
    __slots__ = ("control_point", "direction", "slots")
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    control_point: str
    direction: _common_pb2.Direction
    slots: int
    def __init__(self, control_point: _Optional[str] = ..., direction: _Optional[_Union[_common_pb2.Direction, str]] = ..., slots: _Optional[int] = ..., **kwargs) -> None: ...

class SlotAvailability(_message.Message):
    __slots__ = ("slot_start", "slot_end", "capacity", "booked")
    SLOT_START_FIELD_NUMBER: _ClassVar[int]
    SLOT_END_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    BOOKED_FIELD_NUMBER: _ClassVar[int]
    slot_start: _timestamp_pb2.Timestamp
    slot_end: _timestamp_pb2.Timestamp
    capacity: int
    booked: int
    def __init__(self, slot_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., slot_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., capacity: _Optional[int] = ..., booked: _Optional[int] = ...) -> None: ...

class GetSlotAvailabilityReply(_message.Message):
    __slots__ = ("slots",)
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    slots: _containers.RepeatedCompositeFieldContainer[SlotAvailability]
    def __init__(self, slots: _Optional[_Iterable[_Union[SlotAvailability, _Mapping]]] = ...) -> None: ...
