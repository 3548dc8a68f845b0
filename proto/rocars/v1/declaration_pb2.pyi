from proto.rocars.v1 import auth_pb2 as _auth_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DraftDeclarationRequest(_message.Message):
    __slots__ = ("ccrns",)
    CCRNS_FIELD_NUMBER: _ClassVar[int]
    ccrns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ccrns: _Optional[_Iterable[str]] = ...) -> None: ...

class DraftField(_message.Message):
    __slots__ = ("path", "value", "reused", "source", "required")
    PATH_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REUSED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    path: str
    value: str
    reused: bool
    source: str
    required: bool
    def __init__(self, path: _Optional[str] = ..., value: _Optional[str] = ..., reused: _Optional[bool] = ..., source: _Optional[str] = ..., required: _Optional[bool] = ...) -> None: ...

class DeclarationDraft(_message.Message):
    __slots__ = ("declaration_type", "fields", "reused_fields", "missing_fields", "total_fields", "draft_json")
    DECLARATION_TYPE_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    REUSED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELDS_FIELD_NUMBER: _ClassVar[int]
    DRAFT_JSON_FIELD_NUMBER: _ClassVar[int]
    declaration_type: str
    fields: _containers.RepeatedCompositeFieldContainer[DraftField]
    reused_fields: int
    missing_fields: int
    total_fields: int
    draft_json: str
    def __init__(self, declaration_type: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[DraftField, _Mapping]]] = ..., reused_fields: _Optional[int] = ..., missing_fields: _Optional[int] = ..., total_fields: _Optional[int] = ..., draft_json: _Optional[str] = ...) -> None: ...
