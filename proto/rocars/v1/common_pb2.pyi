from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    IMPORT: _ClassVar[Direction]
    EXPORT: _ClassVar[Direction]

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    OFFICER: _ClassVar[Role]
    COMPANY: _ClassVar[Role]
    DRIVER: _ClassVar[Role]
    LANE: _ClassVar[Role]
    ELOCK_GATEWAY: _ClassVar[Role]

class CompanyKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPANY_KIND_UNSPECIFIED: _ClassVar[CompanyKind]
    SHIPPER: _ClassVar[CompanyKind]
    FREIGHT_FORWARDER: _ClassVar[CompanyKind]
    AGENT: _ClassVar[CompanyKind]

class ConsignmentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSIGNMENT_STATUS_UNSPECIFIED: _ClassVar[ConsignmentStatus]
    SUBMITTED: _ClassVar[ConsignmentStatus]
    AMENDED: _ClassVar[ConsignmentStatus]
    BUNDLED: _ClassVar[ConsignmentStatus]
    CROSSED: _ClassVar[ConsignmentStatus]
    RELEASED: _ClassVar[ConsignmentStatus]
    SELECTED_FOR_INSPECTION: _ClassVar[ConsignmentStatus]
    CANCELLED: _ClassVar[ConsignmentStatus]
    INSPECTED: _ClassVar[ConsignmentStatus]

class TripStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIP_STATUS_UNSPECIFIED: _ClassVar[TripStatus]
    TRIP_BUNDLED: _ClassVar[TripStatus]
    TRIP_UNBUNDLED: _ClassVar[TripStatus]
    TRIP_CROSSED: _ClassVar[TripStatus]
    TRIP_RELEASED: _ClassVar[TripStatus]
    TRIP_SENT_TO_INSPECTION: _ClassVar[TripStatus]
    TRIP_INSPECTED: _ClassVar[TripStatus]
    TRIP_REFERRED: _ClassVar[TripStatus]

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    CLEAR: _ClassVar[Verdict]
    INSPECT: _ClassVar[Verdict]
    HOLD: _ClassVar[Verdict]
DIRECTION_UNSPECIFIED: Direction
IMPORT: Direction
EXPORT: Direction
ROLE_UNSPECIFIED: Role
OFFICER: Role
COMPANY: Role
DRIVER: Role
LANE: Role
ELOCK_GATEWAY: Role
COMPANY_KIND_UNSPECIFIED: CompanyKind
SHIPPER: CompanyKind
FREIGHT_FORWARDER: CompanyKind
AGENT: CompanyKind
CONSIGNMENT_STATUS_UNSPECIFIED: ConsignmentStatus
SUBMITTED: ConsignmentStatus
AMENDED: ConsignmentStatus
BUNDLED: ConsignmentStatus
CROSSED: ConsignmentStatus
RELEASED: ConsignmentStatus
SELECTED_FOR_INSPECTION: ConsignmentStatus
CANCELLED: ConsignmentStatus
INSPECTED: ConsignmentStatus
TRIP_STATUS_UNSPECIFIED: TripStatus
TRIP_BUNDLED: TripStatus
TRIP_UNBUNDLED: TripStatus
TRIP_CROSSED: TripStatus
TRIP_RELEASED: TripStatus
TRIP_SENT_TO_INSPECTION: TripStatus
TRIP_INSPECTED: TripStatus
TRIP_REFERRED: TripStatus
VERDICT_UNSPECIFIED: Verdict
CLEAR: Verdict
INSPECT: Verdict
HOLD: Verdict

class PageRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...
