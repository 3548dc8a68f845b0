"""The service layer's exception tree. The API edge maps each class to one gRPC status
(central.api.errors); services never import gRPC."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str  # dotted path in the request, e.g. "cargo.packages_count"
    rule: str  # what the value must be, e.g. "must be between 1 and 1000000"

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


class ServiceError(Exception):
    """Base of every error a caller is meant to see."""


class ValidationError(ServiceError):
    """One or more request fields break a rule; every failing field is listed."""

    def __init__(self, violations: Iterable[FieldViolation]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(str(v) for v in self.violations) or "invalid request")


class NotFound(ServiceError):
    """No such thing, or not one the caller may see (we do not tell them apart)."""


class AlreadyExists(ServiceError):
    pass


class FailedPrecondition(ServiceError):
    """The request is well formed but the thing is not in a state that allows it."""


class Conflict(ServiceError):
    """A concurrent change won (optimistic check failed); re-read and retry."""


class Unauthenticated(ServiceError):
    """``reason`` is a short fixed word for metrics (central.metrics.AUTH_FAILURE_REASONS
    at the API edge); the message is for the caller."""

    def __init__(self, message: str, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason


class WrongSecurityCode(Unauthenticated):
    """A driver's security code was wrong, reused or malformed. Its count is committed
    even though the call fails (central.services.bundling)."""


class PermissionDenied(ServiceError):
    pass


class ResourceExhausted(ServiceError):
    pass


class Violations:
    """Collects field violations so a request reports all of them at once."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, rule: str) -> None:
        self.items.append(FieldViolation(field, rule))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationError(self.items)
