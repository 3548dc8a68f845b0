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

class ElockEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ELOCK_EVENT_KIND_UNSPECIFIED: _ClassVar[ElockEventKind]
    SEALED: _ClassVar[ElockEventKind]
    OPENED: _ClassVar[ElockEventKind]
    TAMPERED: _ClassVar[ElockEventKind]
    OFF_ROUTE: _ClassVar[ElockEventKind]
    ARRIVED: _ClassVar[ElockEventKind]
ELOCK_EVENT_KIND_UNSPECIFIED: ElockEventKind
SEALED: ElockEventKind
OPENED: ElockEventKind
TAMPERED: ElockEventKind
OFF_ROUTE: ElockEventKind
ARRIVED: ElockEventKind

class ElockEventRequest(_message.Message):
    __slots__ = ("event_id", "elock_id", "kind", "occurred_at", "has_position", "latitude", "longitude", "detail")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ELOCK_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    HAS_POSITION_FIELD_NUMBER: _ClassVar[int]
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    elock_id: str
    kind: ElockEventKind
    occurred_at: _timestamp_pb2.Timestamp
    has_position: bool
    latitude: float
    longitude: float
    detail: str
    def __init__(self, event_id: _Optional[str] = ..., elock_id: _Optional[str] = ..., kind: _Optional[_Union[ElockEventKind, str]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., has_position: _Optional[bool] = ..., latitude: _Optional[float] = ..., longitude: _Optional[float] = ..., detail: _Optional[str] = ...) -> None: ...

class ElockEventReply(_message.Message):
    __slots__ = ("ccrn", "state", "breach", "duplicate", "verdict")
    CCRN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BREACH_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    ccrn: str
    state: str
    breach: str
    duplicate: bool
    verdict: _common_pb2.Verdict
    def __init__(self, ccrn: _Optional[str] = ..., state: _Optional[str] = ..., breach: _Optional[str] = ..., duplicate: _Optional[bool] = ..., verdict: _Optional[_Union[_common_pb2.Verdict, str]] = ...) -> None: ...

class GetElockRequest(_message.Message):
    __slots__ = ("elock_id",)
    ELOCK_ID_FIELD_NUMBER: _ClassVar[int]
    elock_id: str
    def __init__(self, elock_id: _Optional[str] = ...) -> None: ...

class ElockEventView(_message.Message):
    __slots__ = ("event_id", "gateway", "kind", "occurred_at", "received_at", "detail")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    gateway: str
    kind: str
    occurred_at: _timestamp_pb2.Timestamp
    received_at: _timestamp_pb2.Timestamp
    detail: str
    def __init__(self, event_id: _Optional[str] = ..., gateway: _Optional[str] = ..., kind: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., detail: _Optional[str] = ...) -> None: ...

class ElockStatus(_message.Message):
    __slots__ = ("elock_id", "ccrn", "state", "breach", "events")
    ELOCK_ID_FIELD_NUMBER: _ClassVar[int]
    CCRN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BREACH_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    elock_id: str
    ccrn: str
    state: str
    breach: str
    events: _containers.RepeatedCompositeFieldContainer[ElockEventView]
    def __init__(self, elock_id: _Optional[str] = ..., ccrn: _Optional[str] = ..., state: _Optional[str] = ..., breach: _Optional[str] = ..., events: _Optional[_Iterable[_Union[ElockEventView, _Mapping]]] = ...) -> None: ...
