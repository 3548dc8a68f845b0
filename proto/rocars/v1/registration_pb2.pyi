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

class AccountKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_KIND_UNSPECIFIED: _ClassVar[AccountKind]
    ACCOUNT_OFFICER: _ClassVar[AccountKind]
    ACCOUNT_COMPANY: _ClassVar[AccountKind]
    ACCOUNT_DRIVER: _ClassVar[AccountKind]
    ACCOUNT_LANE: _ClassVar[AccountKind]
ACCOUNT_KIND_UNSPECIFIED: AccountKind
ACCOUNT_OFFICER: AccountKind
ACCOUNT_COMPANY: AccountKind
ACCOUNT_DRIVER: AccountKind
ACCOUNT_LANE: AccountKind

class ControlPoint(_message.Message):
    __slots__ = ("code", "name", "slot_minutes", "slot_capacity")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SLOT_MINUTES_FIELD_NUMBER: _ClassVar[int]
    SLOT_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: str
    slot_minutes: int
    slot_capacity: int
    def __init__(self, code: _Optional[str] = ..., name: _Optional[str] = ..., slot_minutes: _Optional[int] = ..., slot_capacity: _Optional[int] = ...) -> None: ...

class UpsertControlPointRequest(_message.Message):
    __slots__ = ("control_point",)
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    control_point: ControlPoint
    def __init__(self, control_point: _Optional[_Union[ControlPoint, _Mapping]] = ...) -> None: ...

class ListControlPointsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListControlPointsReply(_message.Message):
    __slots__ = ("control_points",)
    CONTROL_POINTS_FIELD_NUMBER: _ClassVar[int]
    control_points: _containers.RepeatedCompositeFieldContainer[ControlPoint]
    def __init__(self, control_points: _Optional[_Iterable[_Union[ControlPoint, _Mapping]]] = ...) -> None: ...

class Company(_message.Message):
    __slots__ = ("id", "kind", "brn", "name", "address", "contact_name", "contact_phone", "contact_email", "active", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    BRN_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CONTACT_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTACT_PHONE_FIELD_NUMBER: _ClassVar[int]
    CONTACT_EMAIL_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: _common_pb2.CompanyKind
    brn: str
    name: str
    address: str
    contact_name: str
    contact_phone: str
    contact_email: str
    active: bool
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[_Union[_common_pb2.CompanyKind, str]] = ..., brn: _Optional[str] = ..., name: _Optional[str] = ..., address: _Optional[str] = ..., contact_name: _Optional[str] = ..., contact_phone: _Optional[str] = ..., contact_email: _Optional[str] = ..., active: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterCompanyRequest(_message.Message):
    __slots__ = ("company", "token_label")
    COMPANY_FIELD_NUMBER: _ClassVar[int]
    TOKEN_LABEL_FIELD_NUMBER: _ClassVar[int]
    company: Company
    token_label: str
    def __init__(self, company: _Optional[_Union[Company, _Mapping]] = ..., token_label: _Optional[str] = ...) -> None: ...

class RegisterCompanyReply(_message.Message):
    __slots__ = ("company", "api_token")
    COMPANY_FIELD_NUMBER: _ClassVar[int]
    API_TOKEN_FIELD_NUMBER: _ClassVar[int]
    company: Company
    api_token: str
    def __init__(self, company: _Optional[_Union[Company, _Mapping]] = ..., api_token: _Optional[str] = ...) -> None: ...

class Driver(_message.Message):
    __slots__ = ("id", "document_number", "name", "card_number", "phone", "active", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    document_number: str
    name: str
    card_number: str
    phone: str
    active: bool
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., document_number: _Optional[str] = ..., name: _Optional[str] = ..., card_number: _Optional[str] = ..., phone: _Optional[str] = ..., active: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterDriverRequest(_message.Message):
    __slots__ = ("driver", "token_label")
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_LABEL_FIELD_NUMBER: _ClassVar[int]
    driver: Driver
    token_label: str
    def __init__(self, driver: _Optional[_Union[Driver, _Mapping]] = ..., token_label: _Optional[str] = ...) -> None: ...

class RegisterDriverReply(_message.Message):
    __slots__ = ("driver", "api_token", "totp_secret", "totp_uri")
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    API_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTP_SECRET_FIELD_NUMBER: _ClassVar[int]
    TOTP_URI_FIELD_NUMBER: _ClassVar[int]
    driver: Driver
    api_token: str
    totp_secret: str
    totp_uri: str
    def __init__(self, driver: _Optional[_Union[Driver, _Mapping]] = ..., api_token: _Optional[str] = ..., totp_secret: _Optional[str] = ..., totp_uri: _Optional[str] = ...) -> None: ...

class Vehicle(_message.Message):
    __slots__ = ("id", "registration_mark", "mainland_plate", "tag_epc", "owner_company_id", "active", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_MARK_FIELD_NUMBER: _ClassVar[int]
    MAINLAND_PLATE_FIELD_NUMBER: _ClassVar[int]
    TAG_EPC_FIELD_NUMBER: _ClassVar[int]
    OWNER_COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    registration_mark: str
    mainland_plate: str
    tag_epc: str
    owner_company_id: int
    active: bool
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., registration_mark: _Optional[str] = ..., mainland_plate: _Optional[str] = ..., tag_epc: _Optional[str] = ..., owner_company_id: _Optional[int] = ..., active: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterVehicleRequest(_message.Message):
    __slots__ = ("vehicle",)
    VEHICLE_FIELD_NUMBER: _ClassVar[int]
    vehicle: Vehicle
    def __init__(self, vehicle: _Optional[_Union[Vehicle, _Mapping]] = ...) -> None: ...

class UpdateVehicleRequest(_message.Message):
    __slots__ = ("registration_mark", "mainland_plate", "tag_epc")
    REGISTRATION_MARK_FIELD_NUMBER: _ClassVar[int]
    MAINLAND_PLATE_FIELD_NUMBER: _ClassVar[int]
    TAG_EPC_FIELD_NUMBER: _ClassVar[int]
    registration_mark: str
    mainland_plate: str
    tag_epc: str
    def __init__(self, registration_mark: _Optional[str] = ..., mainland_plate: _Optional[str] = ..., tag_epc: _Optional[str] = ...) -> None: ...

class Lane(_message.Message):
    __slots__ = ("id", "code", "control_point", "direction", "description", "active", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    code: str
    control_point: str
    direction: _common_pb2.Direction
    description: str
    active: bool
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., code: _Optional[str] = ..., control_point: _Optional[str] = ..., direction: _Optional[_Union[_common_pb2.Direction, str]] = ..., description: _Optional[str] = ..., active: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterLaneRequest(_message.Message):
    __slots__ = ("lane",)
    LANE_FIELD_NUMBER: _ClassVar[int]
    lane: Lane
    def __init__(self, lane: _Optional[_Union[Lane, _Mapping]] = ...) -> None: ...

class Officer(_message.Message):
    __slots__ = ("id", "badge_number", "name", "active", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    BADGE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    badge_number: str
    name: str
    active: bool
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., badge_number: _Optional[str] = ..., name: _Optional[str] = ..., active: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterOfficerRequest(_message.Message):
    __slots__ = ("officer", "token_label")
    OFFICER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_LABEL_FIELD_NUMBER: _ClassVar[int]
    officer: Officer
    token_label: str
    def __init__(self, officer: _Optional[_Union[Officer, _Mapping]] = ..., token_label: _Optional[str] = ...) -> None: ...

class RegisterOfficerReply(_message.Message):
    __slots__ = ("officer", "api_token")
    OFFICER_FIELD_NUMBER: _ClassVar[int]
    API_TOKEN_FIELD_NUMBER: _ClassVar[int]
    officer: Officer
    api_token: str
    def __init__(self, officer: _Optional[_Union[Officer, _Mapping]] = ..., api_token: _Optional[str] = ...) -> None: ...

class IssueTokenRequest(_message.Message):
    __slots__ = ("account_kind", "account_id", "label")
    ACCOUNT_KIND_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    account_kind: AccountKind
    account_id: int
    label: str
    def __init__(self, account_kind: _Optional[_Union[AccountKind, str]] = ..., account_id: _Optional[int] = ..., label: _Optional[str] = ...) -> None: ...

class IssueTokenReply(_message.Message):
    __slots__ = ("api_token",)
    API_TOKEN_FIELD_NUMBER: _ClassVar[int]
    api_token: str
    def __init__(self, api_token: _Optional[str] = ...) -> None: ...

class RevokeTokensRequest(_message.Message):
    __slots__ = ("account_kind", "account_id")
    ACCOUNT_KIND_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_kind: AccountKind
    account_id: int
    def __init__(self, account_kind: _Optional[_Union[AccountKind, str]] = ..., account_id: _Optional[int] = ...) -> None: ...

class RevokeTokensReply(_message.Message):
    __slots__ = ("revoked",)
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    revoked: int
    def __init__(self, revoked: _Optional[int] = ...) -> None: ...

class ResetDriverSecurityCodeRequest(_message.Message):
    __slots__ = ("driver_id",)
    DRIVER_ID_FIELD_NUMBER: _ClassVar[int]
    driver_id: int
    def __init__(self, driver_id: _Optional[int] = ...) -> None: ...

class SetAccountActiveRequest(_message.Message):
    __slots__ = ("account_kind", "account_id", "active")
    ACCOUNT_KIND_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    account_kind: AccountKind
    account_id: int
    active: bool
    def __init__(self, account_kind: _Optional[_Union[AccountKind, str]] = ..., account_id: _Optional[int] = ..., active: _Optional[bool] = ...) -> None: ...

class SetAccountActiveReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAccountsRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListCompaniesReply(_message.Message):
    __slots__ = ("companies", "next_page_token")
    COMPANIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    companies: _containers.RepeatedCompositeFieldContainer[Company]
    next_page_token: str
    def __init__(self, companies: _Optional[_Iterable[_Union[Company, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListDriversReply(_message.Message):
    __slots__ = ("drivers", "next_page_token")
    DRIVERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    drivers: _containers.RepeatedCompositeFieldContainer[Driver]
    next_page_token: str
    def __init__(self, drivers: _Optional[_Iterable[_Union[Driver, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListVehiclesReply(_message.Message):
    __slots__ = ("vehicles", "next_page_token")
    VEHICLES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    vehicles: _containers.RepeatedCompositeFieldContainer[Vehicle]
    next_page_token: str
    def __init__(self, vehicles: _Optional[_Iterable[_Union[Vehicle, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListLanesReply(_message.Message):
    __slots__ = ("lanes", "next_page_token")
    LANES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    lanes: _containers.RepeatedCompositeFieldContainer[Lane]
    next_page_token: str
    def __init__(self, lanes: _Optional[_Iterable[_Union[Lane, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WhoAmIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WhoAmIReply(_message.Message):
    __slots__ = ("role", "account_id", "display_name", "control_point", "direction")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    role: _common_pb2.Role
    account_id: int
    display_name: str
    control_point: str
    direction: _common_pb2.Direction
    def __init__(self, role: _Optional[_Union[_common_pb2.Role, str]] = ..., account_id: _Optional[int] = ..., display_name: _Optional[str] = ..., control_point: _Optional[str] = ..., direction: _Optional[_Union[_common_pb2.Direction, str]] = ...) -> None: ...
