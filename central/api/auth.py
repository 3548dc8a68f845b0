"""The one place where calls are authenticated and authorised.

Every RPC declares the roles that may call it in its proto definition
(``option (rocars.v1.allowed_roles) = ...``, see proto/rocars/v1/auth.proto). The
interceptor reads those options from the descriptor pool, so authorisation is part of
the published API, not scattered through handlers. A method without options is refused
to everyone (fail closed); only the gRPC health and reflection services are public
besides methods marked ``public_method``.

Identity:
- people and their systems: ``authorization: Bearer rcs_...`` metadata (central.services.tokens);
- lanes and e-lock gateways: the client certificate of a mutual-TLS connection (only the
  lane listener requests one). The identity is the certificate's URI SAN
  (``urn:rocars:lane:<CP>:<import|export>:<LANE>`` or ``urn:rocars:elock-gateway:<ID>``,
  issued by central.pki). A lane must also be registered, active, and registered at the
  control point and direction its certificate names; a gateway is trusted because the
  TLS layer verified its certificate against the client CA.

Ownership ("a company sees only its own consignments") is the services' job, on top.
The handler reads the caller with ``current_principal()``. Service errors raised by a
handler become gRPC statuses here too (central.api.errors), in one place.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from google.rpc import code_pb2

from central import metrics, pki
from central.api import errors as api_errors
from central.services import errors, tokens
from central.services.principal import ELOCK_GATEWAY, LANE, ROLE_NAMES, Principal
from central.store import models
from central.store.db import release_connection
from proto.rocars.v1 import auth_pb2
from proto.rocars.v1.common_pb2 import EXPORT, IMPORT

log = logging.getLogger("central.api.access")

PUBLIC_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)

_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("rocars_principal", default=None)


def current_principal() -> Principal:
    """The authenticated caller of the RPC being handled (raises outside a call)."""
    principal = _current.get()
    if principal is None:
        raise errors.Unauthenticated("no authenticated caller")
    return principal


@dataclass(frozen=True, slots=True)
class MethodPolicy:
    public: bool
    roles: frozenset[int]


def method_policy(full_method: str) -> MethodPolicy | None:
    """Policy of ``/pkg.Service/Method`` from its proto options; None when the method
    is unknown or declares nothing (refused)."""
    try:
        _, service, method = full_method.split("/")
    except ValueError:
        return None
    if service in PUBLIC_SERVICES:
        return MethodPolicy(public=True, roles=frozenset())
    try:
        desc = descriptor_pool.Default().FindMethodByName(f"{service}.{method}")
    except KeyError:
        return None
    options = desc.GetOptions()
    extensions: Any = options.Extensions  # the stubs cannot type custom extensions
    public = bool(extensions[auth_pb2.public_method])
    roles = frozenset(int(r) for r in extensions[auth_pb2.allowed_roles])
    if not public and not roles:
        return None
    return MethodPolicy(public=public, roles=roles)


def _bearer(metadata: tuple[tuple[str, str | bytes], ...] | None) -> str | None:
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise errors.Unauthenticated(
                    "authorization: expected 'Bearer <token>'", reason="malformed_token"
                )
            return token.strip()
    return None


def certificate_principal(auth_context: dict[str, list[bytes]]) -> Principal | None:
    """The lane or gateway named by the verified client certificate, or None if the
    connection carries none. The identity is the certificate's ``urn:rocars:...`` URI
    (central.pki); a lane must also be registered, active, and at the control point and
    direction its certificate names."""
    pems = auth_context.get("x509_pem_cert")
    if not pems:
        return None
    try:
        identity = pki.principal_from_certificate(pems[0])
    except pki.PkiError as exc:
        raise errors.Unauthenticated(str(exc), reason="certificate") from exc
    if identity.kind == "elock_gateway":
        return Principal(ELOCK_GATEWAY, 0, identity.subject_id)
    code = identity.subject_id.upper()
    lane = (
        models.Lane.select(models.Lane, models.ControlPoint)
        .join(models.ControlPoint)
        .where(models.Lane.code == code)
        .first()
    )
    if lane is None or not lane.active:
        raise errors.Unauthenticated(
            f"client certificate: lane {code!r} is not registered or not active", reason="certificate"
        )
    direction = {"import": IMPORT, "export": EXPORT}.get(identity.direction, 0)
    if lane.control_point.code != identity.control_point or lane.direction != direction:
        raise errors.Unauthenticated(
            f"client certificate: lane {code!r} is registered at {lane.control_point.code} "
            f"{'import' if lane.direction == IMPORT else 'export'}, not where its certificate says",
            reason="certificate",
        )
    return Principal(LANE, lane.id, code, control_point=lane.control_point.code, direction=lane.direction)


def authenticate(context: grpc.ServicerContext) -> Principal | None:
    """Certificate first (a machine), then bearer token; None if the call has neither."""
    principal = certificate_principal(context.auth_context())  # type: ignore[arg-type]
    token = _bearer(context.invocation_metadata())  # type: ignore[arg-type]
    if principal is not None:
        return principal
    if token is None:
        return None
    return tokens.authenticate(token)


def _check(policy: MethodPolicy | None, context: grpc.ServicerContext, method: str) -> Principal | None:
    if policy is None:
        metrics.AUTH_FAILURES.labels("method_closed").inc()
        raise errors.PermissionDenied(f"{method}: method declares no allowed roles (refused)")
    if policy.public:
        return None
    try:
        principal = authenticate(context)
    except errors.Unauthenticated as exc:
        metrics.AUTH_FAILURES.labels(
            exc.reason if exc.reason in metrics.AUTH_FAILURE_REASONS else "other"
        ).inc()
        raise
    if principal is None:
        metrics.AUTH_FAILURES.labels("missing_credentials").inc()
        raise errors.Unauthenticated("authorization: missing bearer token or client certificate")
    if principal.role not in policy.roles:
        metrics.AUTH_FAILURES.labels("role").inc()
        raise errors.PermissionDenied(
            f"{method}: not allowed for role {ROLE_NAMES.get(principal.role, principal.role)}"
        )
    return principal


class _Meter:
    """One method's metric children, looked up once: ``labels()`` costs a lock and a
    dict probe per call, this a plain dict probe."""

    __slots__ = ("_codes", "_method", "latency")

    def __init__(self, method: str) -> None:
        self._method = method
        self.latency = metrics.RPC_LATENCY.labels(method)
        self._codes: dict[str, Any] = {}

    def done(self, code: str, seconds: float) -> None:
        child = self._codes.get(code)
        if child is None:
            child = self._codes[code] = metrics.RPCS.labels(self._method, code)
        child.inc()
        self.latency.observe(seconds)


def _status_name(exc: errors.ServiceError) -> str:
    return code_pb2.Code.Name(api_errors.to_status(exc).code)


def _code_of(context: grpc.ServicerContext) -> str:
    """The code a handler set without raising (``context.set_code``), else OK."""
    code = getattr(context, "code", lambda: None)()
    return code.name if isinstance(code, grpc.StatusCode) else "OK"


class AuthInterceptor(grpc.ServerInterceptor):
    """Authenticates, authorises, maps service errors, logs one line per call and counts
    it (central.metrics: calls by method and status code, latency by method, refusals by
    reason). ``with_metrics=False`` only for measuring what the metrics cost."""

    def __init__(self, *, with_metrics: bool = True) -> None:
        self._policies: dict[str, MethodPolicy | None] = {}
        self._meters: dict[str, _Meter | None] = {}
        self._with_metrics = with_metrics

    def _meter(self, method: str) -> _Meter | None:
        meter = self._meters.get(method)
        if meter is None and self._with_metrics:
            meter = self._meters[method] = _Meter(method)
        return meter

    def _policy(self, method: str) -> MethodPolicy | None:
        if method not in self._policies:
            self._policies[method] = method_policy(method)
        return self._policies[method]

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        policy = self._policy(method)
        meter = self._meter(method)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, policy, meter),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method, policy, meter),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(handler.stream_unary, method, policy, meter),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._wrap_stream(handler.stream_stream, method, policy, meter),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    @staticmethod
    def _wrap_unary(
        behaviour: Callable[[Any, grpc.ServicerContext], Any],
        method: str,
        policy: MethodPolicy | None,
        meter: _Meter | None,
    ) -> Callable[[Any, grpc.ServicerContext], Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            principal: Principal | None = None
            outcome = "OK"
            code = "OK"
            token = None
            try:
                principal = _check(policy, context, method)
                token = _current.set(principal)
                reply = behaviour(request, context)
                code = _code_of(context)
                return reply
            except errors.ServiceError as exc:
                outcome = type(exc).__name__
                code = _status_name(exc)
                api_errors.abort_with(context, exc)
            except Exception as exc:
                if _is_abort(exc, context):
                    outcome = "aborted"
                    code = _code_of(context)
                    raise
                if api_errors.is_busy(exc):
                    outcome = "busy"
                    code = "UNAVAILABLE"
                    api_errors.abort_busy(context, exc, method)
                outcome = "internal"
                code = "INTERNAL"
                api_errors.abort_internal(context, exc, method)
            finally:
                if token is not None:
                    _current.reset(token)
                release_connection()
                _log_call(method, principal, outcome, started)
                if meter is not None:
                    meter.done(code, time.perf_counter() - started)
            return None  # unreachable: abort raises

        return wrapped

    @staticmethod
    def _wrap_stream(
        behaviour: Callable[[Any, grpc.ServicerContext], Iterator[Any]],
        method: str,
        policy: MethodPolicy | None,
        meter: _Meter | None,
    ) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started = time.perf_counter()
            principal: Principal | None = None
            outcome = "OK"
            code = "OK"
            token = None
            try:
                principal = _check(policy, context, method)
                token = _current.set(principal)
                yield from behaviour(request, context)
                code = _code_of(context)
            except errors.ServiceError as exc:
                outcome = type(exc).__name__
                code = _status_name(exc)
                api_errors.abort_with(context, exc)
            except GeneratorExit:
                outcome = "cancelled"
                code = "CANCELLED"
                raise
            except Exception as exc:
                if _is_abort(exc, context):
                    outcome = "aborted"
                    code = _code_of(context)
                    raise
                if api_errors.is_busy(exc):
                    outcome = "busy"
                    code = "UNAVAILABLE"
                    api_errors.abort_busy(context, exc, method)
                outcome = "internal"
                code = "INTERNAL"
                api_errors.abort_internal(context, exc, method)
            finally:
                if token is not None:
                    # ValueError: the generator was closed from another context.
                    with contextlib.suppress(ValueError):
                        _current.reset(token)
                release_connection()
                _log_call(method, principal, outcome, started)
                if meter is not None:
                    meter.done(code, time.perf_counter() - started)

        return wrapped


def _is_abort(exc: Exception, context: grpc.ServicerContext) -> bool:
    # context.abort() raises a bare Exception after setting the code; let it through.
    code = getattr(context, "code", lambda: None)()
    return type(exc) is Exception and code is not None and code != grpc.StatusCode.OK


def _log_call(method: str, principal: Principal | None, outcome: str, started: float) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info(
            "rpc",
            extra={
                "rpc_method": method,
                "principal": principal.key if principal else "-",
                "outcome": outcome,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
