from proto.rocars.v1 import auth_pb2 as _auth_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class EchoRequest(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class EchoReply(_message.Message):
    __slots__ = ("message", "server_time_unix_ms")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    message: str
    server_time_unix_ms: int
    def __init__(self, message: _Optional[str] = ..., server_time_unix_ms: _Optional[int] = ...) -> None: ...
