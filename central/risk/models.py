"""Tables of the risk area, bound to the core's database proxy and created with the core schema.

Rules are versioned: every accepted change writes a new ``RiskRuleSet`` row (the version)
and new ``RiskRule`` revisions, closing the revisions it replaces (``retired_in``), all in
one transaction. The set in force at version V is every revision with
``added_in <= V < retired_in`` (or never retired), so any past verdict can be recomputed
from the stored data, that version and the selection key, and a failed change leaves no
trace at all.
"""

from __future__ import annotations

import peewee

from central.store.models import BaseModel, register_models


class RiskRuleSet(BaseModel):
    version = peewee.AutoField()
    created_at = peewee.DateTimeField()
    created_by = peewee.CharField(max_length=100)
    comment = peewee.CharField(max_length=300, default="")
    thresholds = peewee.TextField()  # JSON {"inspect_at": .., "hold_at": ..}

    class Meta:
        table_name = "risk_rule_set"


class RiskRule(BaseModel):
    rule_id = peewee.CharField(max_length=40)
    revision = peewee.IntegerField()
    definition = peewee.TextField()  # JSON of RuleSpec.to_dict()
    added_in = peewee.IntegerField(index=True)
    retired_in = peewee.IntegerField(null=True, index=True)
    created_at = peewee.DateTimeField()
    created_by = peewee.CharField(max_length=100)

    class Meta:
        table_name = "risk_rule"
        indexes = ((("rule_id", "revision"), True),)


class RiskAssessment(BaseModel):
    """The current verdict of a consignment (by CCRN) or a trip (by reference)."""

    subject = peewee.CharField(max_length=12)  # "consignment" | "trip"
    reference = peewee.CharField(max_length=32)
    control_point = peewee.CharField(max_length=8)
    direction = peewee.SmallIntegerField()
    expected_at = peewee.DateTimeField()
    verdict = peewee.SmallIntegerField()  # what the rules say (proto Verdict)
    effective = peewee.SmallIntegerField()  # what lanes act on: the override if one applies
    score = peewee.IntegerField()
    reasons = peewee.TextField()  # JSON list of Reason.as_dict()
    rule_set_version = peewee.IntegerField(index=True)
    # What the verdict was computed from (consignment version, or the trip's make-up); an
    # override only holds while the basis it was given on is unchanged.
    basis = peewee.CharField(max_length=64)
    assessed_at = peewee.DateTimeField()
    override_verdict = peewee.SmallIntegerField(null=True)
    override_reason = peewee.CharField(max_length=500, default="")
    override_by = peewee.CharField(max_length=100, default="")
    override_at = peewee.DateTimeField(null=True)
    override_basis = peewee.CharField(max_length=64, default="")

    class Meta:
        table_name = "risk_assessment"
        indexes = (
            (("subject", "reference"), True),
            (("subject", "control_point", "expected_at"), False),
        )


class RiskInspection(BaseModel):
    trip_reference = peewee.CharField(max_length=32, default="", index=True)
    ccrn = peewee.CharField(max_length=32, default="", index=True)
    result = peewee.CharField(max_length=12)  # "clean" | "discrepancy"
    notes = peewee.TextField(default="")
    officer = peewee.CharField(max_length=100)
    recorded_at = peewee.DateTimeField()

    class Meta:
        table_name = "risk_inspection"


class RiskHistory(BaseModel):
    """Inspection record per company or driver (counters kept with each inspection)."""

    subject = peewee.CharField(max_length=8)  # "company" | "driver"
    subject_id = peewee.IntegerField()
    hits = peewee.IntegerField(default=0)
    clean = peewee.IntegerField(default=0)

    class Meta:
        table_name = "risk_history"
        indexes = ((("subject", "subject_id"), True),)


class ElockState(BaseModel):
    elock_id = peewee.CharField(max_length=32, unique=True)
    ccrn = peewee.CharField(max_length=32, index=True)
    state = peewee.CharField(max_length=12)  # see central.risk.elock
    breach = peewee.CharField(max_length=12, default="")  # first breach seen, latched
    last_event_at = peewee.DateTimeField(null=True)
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = "risk_elock_state"


class ElockEvent(BaseModel):
    gateway = peewee.CharField(max_length=64)
    event_id = peewee.CharField(max_length=64)
    elock_id = peewee.CharField(max_length=32, index=True)
    kind = peewee.CharField(max_length=12)
    occurred_at = peewee.DateTimeField()
    received_at = peewee.DateTimeField()
    latitude = peewee.FloatField(null=True)
    longitude = peewee.FloatField(null=True)
    detail = peewee.CharField(max_length=300, default="")

    class Meta:
        table_name = "risk_elock_event"
        indexes = ((("gateway", "event_id"), True),)


class AuditEntry(BaseModel):
    """Append-only, hash-chained log of officer actions; see central.risk.audit."""

    seq = peewee.BigIntegerField(primary_key=True)
    at = peewee.DateTimeField()
    actor = peewee.CharField(max_length=100)
    action = peewee.CharField(max_length=40)
    subject = peewee.CharField(max_length=100)
    details = peewee.TextField()  # canonical JSON
    prev_hash = peewee.CharField(max_length=64)
    hash = peewee.CharField(max_length=64)

    class Meta:
        table_name = "risk_audit"


class AuditHead(BaseModel):
    """The last sequence number and hash, so truncating the log's tail is detected too."""

    id = peewee.IntegerField(primary_key=True)  # always 1
    seq = peewee.BigIntegerField()
    hash = peewee.CharField(max_length=64)

    class Meta:
        table_name = "risk_audit_head"


RISK_MODELS: tuple[type[peewee.Model], ...] = (
    RiskRuleSet,
    RiskRule,
    RiskAssessment,
    RiskInspection,
    RiskHistory,
    ElockState,
    ElockEvent,
    AuditEntry,
    AuditHead,
)

register_models(*RISK_MODELS)
