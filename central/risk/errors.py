"""Exception tree of the risk area.

It extends the service layer's tree (central.services.errors) so the API edge maps risk
errors to gRPC status codes with no extra code: a bad rule is an INVALID_ARGUMENT whose
BadRequest detail names the rule field and the constraint broken.
"""

from __future__ import annotations

from central.services import errors as svc
from central.services.errors import Conflict, FailedPrecondition, NotFound, PermissionDenied

__all__ = [
    "AuditChainBroken",
    "Conflict",
    "FailedPrecondition",
    "NotFound",
    "PermissionDenied",
    "RiskError",
    "RuleValidationError",
]


class RiskError(svc.ServiceError):
    """Base of errors that only the risk area raises."""


class RuleValidationError(svc.ValidationError):
    """A rule (or rule-set setting) broke a validation rule.

    ``field`` names the offending field of the rule (``params.pattern``, ``valid_to`` ...),
    ``rule`` the constraint that was broken, so a client can point at the exact input.
    """

    def __init__(self, rule_id: str, field: str, rule: str, message: str) -> None:
        super().__init__([svc.FieldViolation(f"rule.{field}", f"{rule}: {message}")])
        self.args = (f"rule {rule_id or '?'}: {field}: {message} [{rule}]",)
        self.rule_id = rule_id
        self.field = field
        self.rule = rule
        self.message = message

    def __str__(self) -> str:
        return str(self.args[0])


class AuditChainBroken(RiskError):
    """The audit log's hash chain does not verify."""
