"""Service errors -> gRPC status. Field violations travel as google.rpc.BadRequest
details (``grpc_status.rpc_status``), and the plain message names each field and rule
too, so a client without rich-status support still learns what to fix."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

import grpc
import peewee
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from central.services import errors as svc
from central.store.db import WriteLockTimeout

log = logging.getLogger(__name__)

_CODES: tuple[tuple[type[svc.ServiceError], grpc.StatusCode, int], ...] = (
    (svc.ValidationError, grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT),
    (svc.NotFound, grpc.StatusCode.NOT_FOUND, code_pb2.NOT_FOUND),
    (svc.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS, code_pb2.ALREADY_EXISTS),
    (svc.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION, code_pb2.FAILED_PRECONDITION),
    (svc.Conflict, grpc.StatusCode.ABORTED, code_pb2.ABORTED),
    (svc.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED, code_pb2.UNAUTHENTICATED),
    (svc.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED, code_pb2.PERMISSION_DENIED),
    (svc.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED, code_pb2.RESOURCE_EXHAUSTED),
)


def bad_request_status(
    violations: Iterable[svc.FieldViolation], message: str | None = None
) -> status_pb2.Status:
    items = list(violations)
    detail = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.rule) for v in items
        ]
    )
    packed = any_pb2.Any()
    packed.Pack(detail)
    return status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT,
        message=message or "; ".join(str(v) for v in items),
        details=[packed],
    )


def to_status(exc: svc.ServiceError) -> status_pb2.Status:
    if isinstance(exc, svc.ValidationError):
        return bad_request_status(exc.violations, str(exc))
    for cls, _code, rpc_code in _CODES:
        if isinstance(exc, cls):
            return status_pb2.Status(code=rpc_code, message=str(exc))
    return status_pb2.Status(code=code_pb2.INTERNAL, message=str(exc))


def abort_with(context: grpc.ServicerContext, exc: svc.ServiceError) -> None:
    """Abort the call with the status for ``exc`` (raises, as ``context.abort`` does)."""
    context.abort_with_status(rpc_status.to_status(to_status(exc)))


def is_busy(exc: BaseException) -> bool:
    """The database could not be written in time (our writer-lock timeout, or SQLite's own
    busy timeout): nothing was written, and the same call may succeed in a moment."""
    return isinstance(exc, WriteLockTimeout) or (
        isinstance(exc, peewee.OperationalError) and "database is locked" in str(exc)
    )


def abort_busy(context: grpc.ServicerContext, exc: BaseException, method: str) -> None:
    """UNAVAILABLE, which clients retry with backoff (INTERNAL would tell them not to)."""
    log.warning("%s: database busy, answered UNAVAILABLE: %s", method, exc)
    context.abort(grpc.StatusCode.UNAVAILABLE, "database busy: nothing was written; retry shortly")


def abort_internal(context: grpc.ServicerContext, exc: BaseException, method: str) -> None:
    """An unexpected failure: log it with an id the caller can quote, tell them nothing
    else (no stack traces or SQL leak to clients)."""
    incident = uuid.uuid4().hex[:12]
    log.error("internal error %s in %s", incident, method, exc_info=exc)
    context.abort(grpc.StatusCode.INTERNAL, f"internal error (incident {incident})")


def field_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """Client side: the (field, rule) pairs of an INVALID_ARGUMENT error, [] if none."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return []
    out: list[tuple[str, str]] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend((v.field, v.description) for v in bad.field_violations)
    return out
