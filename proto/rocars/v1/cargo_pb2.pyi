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

class CargoDetails(_message.Message):
    __slots__ = ("packages_count", "package_description", "article_description", "consignor_name", "consignor_address", "consignee_name", "consignee_address", "expected_at", "gross_weight_kg", "declared_value", "currency", "hs_code", "container_numbers", "seal_numbers", "transshipment", "elock_id", "transshipment_route")
    PACKAGES_COUNT_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ARTICLE_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CONSIGNOR_NAME_FIELD_NUMBER: _ClassVar[int]
    CONSIGNOR_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CONSIGNEE_NAME_FIELD_NUMBER: _ClassVar[int]
    CONSIGNEE_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_AT_FIELD_NUMBER: _ClassVar[int]
    GROSS_WEIGHT_KG_FIELD_NUMBER: _ClassVar[int]
    DECLARED_VALUE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    HS_CODE_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    SEAL_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    TRANSSHIPMENT_FIELD_NUMBER: _ClassVar[int]
    ELOCK_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSSHIPMENT_ROUTE_FIELD_NUMBER: _ClassVar[int]
    packages_count: int
    package_description: str
    article_description: str
    consignor_name: str
    consignor_address: str
    consignee_name: str
    consignee_address: str
    expected_at: _timestamp_pb2.Timestamp
    gross_weight_kg: str
    declared_value: str
    currency: str
    hs_code: str
    container_numbers: _containers.RepeatedScalarFieldContainer[str]
    seal_numbers: _containers.RepeatedScalarFieldContainer[str]
    transshipment: bool
    elock_id: str
    transshipment_route: str
    def __init__(self, packages_count: _Optional[int] = ..., package_description: _Optional[str] = ..., article_description: _Optional[str] = ..., consignor_name: _Optional[str] = ..., consignor_address: _Optional[str] = ..., consignee_name: _Optional[str] = ..., consignee_address: _Optional[str] = ..., expected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., gross_weight_kg: _Optional[str] = ..., declared_value: _Optional[str] = ..., currency: _Optional[str] = ..., hs_code: _Optional[str] = ..., container_numbers: _Optional[_Iterable[str]] = ..., seal_numbers: _Optional[_Iterable[str]] = ..., transshipment: _Optional[bool] = ..., elock_id: _Optional[str] = ..., transshipment_route: _Optional[str] = ...) -> None: ...

class SubmitConsignmentRequest(_message.Message):
    __slots__ = ("idempotency_key", "direction", "control_point", "cargo")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    CARGO_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    direction: _common_pb2.Direction
    control_point: str
    cargo: CargoDetails
    def __init__(self, idempotency_key: _Optional[str] = ..., direction: _Optional[_Union[_common_pb2.Direction, str]] = ..., control_point: _Optional[str] = ..., cargo: _Optional[_Union[CargoDetails, _Mapping]] = ...) -> None: ...

class AmendConsignmentRequest(_message.Message):
    __slots__ = ("ccrn", "cargo", "expected_version", "reason", "control_point", "direction")
    CCRN_FIELD_NUMBER: _ClassVar[int]
    CARGO_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    ccrn: str
    cargo: CargoDetails
    expected_version: int
    reason: str
    control_point: str
    direction: _common_pb2.Direction
    def __init__(self, ccrn: _Optional[str] = ..., cargo: _Optional[_Union[CargoDetails, _Mapping]] = ..., expected_version: _Optional[int] = ..., reason: _Optional[str] = ..., control_point: _Optional[str] = ..., direction: _Optional[_Union[_common_pb2.Direction, str]] = ...) -> None: ...

class CancelConsignmentRequest(_message.Message):
    __slots__ = ("ccrn", "reason")
    CCRN_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ccrn: str
    reason: str
    def __init__(self, ccrn: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class GetConsignmentRequest(_message.Message):
    __slots__ = ("ccrn",)
    CCRN_FIELD_NUMBER: _ClassVar[int]
    ccrn: str
    def __init__(self, ccrn: _Optional[str] = ...) -> None: ...

class Consignment(_message.Message):
    __slots__ = ("ccrn", "company_id", "company_name", "direction", "control_point", "status", "version", "cargo", "trip_reference", "created_at", "updated_at")
    CCRN_FIELD_NUMBER: _ClassVar[int]
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    COMPANY_NAME_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CARGO_FIELD_NUMBER: _ClassVar[int]
    TRIP_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    ccrn: str
    company_id: int
    company_name: str
    direction: _common_pb2.Direction
    control_point: str
    status: _common_pb2.ConsignmentStatus
    version: int
    cargo: CargoDetails
    trip_reference: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, ccrn: _Optional[str] = ..., company_id: _Optional[int] = ..., company_name: _Optional[str] = ..., direction: _Optional[_Union[_common_pb2.Direction, str]] = ..., control_point: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.ConsignmentStatus, str]] = ..., version: _Optional[int] = ..., cargo: _Optional[_Union[CargoDetails, _Mapping]] = ..., trip_reference: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListConsignmentsRequest(_message.Message):
    __slots__ = ("page", "statuses", "company_id", "control_point")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    COMPANY_ID_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    statuses: _containers.RepeatedScalarFieldContainer[_common_pb2.ConsignmentStatus]
    company_id: int
    control_point: str
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., statuses: _Optional[_Iterable[_Union[_common_pb2.ConsignmentStatus, str]]] = ..., company_id: _Optional[int] = ..., control_point: _Optional[str] = ...) -> None: ...

class ListConsignmentsReply(_message.Message):
    __slots__ = ("consignments", "next_page_token")
    CONSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    consignments: _containers.RepeatedCompositeFieldContainer[Consignment]
    next_page_token: str
    def __init__(self, consignments: _Optional[_Iterable[_Union[Consignment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListConsignmentVersionsRequest(_message.Message):
    __slots__ = ("ccrn",)
    CCRN_FIELD_NUMBER: _ClassVar[int]
    ccrn: str
    def __init__(self, ccrn: _Optional[str] = ...) -> None: ...

class ConsignmentVersion(_message.Message):
    __slots__ = ("version", "action", "cargo", "control_point", "direction", "reason", "created_at")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CARGO_FIELD_NUMBER: _ClassVar[int]
    CONTROL_POINT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    version: int
    action: str
    cargo: CargoDetails
    control_point: str
    direction: _common_pb2.Direction
    reason: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, version: _Optional[int] = ..., action: _Optional[str] = ..., cargo: _Optional[_Union[CargoDetails, _Mapping]] = ..., control_point: _Optional[str] = ..., direction: _Optional[_Union[_common_pb2.Direction, str]] = ..., reason: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListConsignmentVersionsReply(_message.Message):
    __slots__ = ("ccrn", "versions")
    CCRN_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    ccrn: str
    versions: _containers.RepeatedCompositeFieldContainer[ConsignmentVersion]
    def __init__(self, ccrn: _Optional[str] = ..., versions: _Optional[_Iterable[_Union[ConsignmentVersion, _Mapping]]] = ...) -> None: ...
