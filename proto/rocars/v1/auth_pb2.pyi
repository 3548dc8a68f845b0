from google.protobuf import descriptor_pb2 as _descriptor_pb2
from proto.rocars.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
ALLOWED_ROLES_FIELD_NUMBER: _ClassVar[int]
allowed_roles: _descriptor.FieldDescriptor
PUBLIC_METHOD_FIELD_NUMBER: _ClassVar[int]
public_method: _descriptor.FieldDescriptor
