"""Central's record of every crossing event a lane sent, stored once per idempotency key."""

from __future__ import annotations

import peewee

from central.store.models import BaseModel, register_models


class CrossingEventRecord(BaseModel):
    idempotency_key = peewee.CharField(max_length=96, unique=True)
    lane_code = peewee.CharField(max_length=32)
    lane_sequence = peewee.BigIntegerField()
    control_point = peewee.CharField(max_length=8)
    direction = peewee.SmallIntegerField()
    outcome = peewee.SmallIntegerField()  # proto CrossingOutcome
    trip_reference = peewee.CharField(max_length=16, default="", index=True)
    registration_mark = peewee.CharField(max_length=16, default="")
    tag_epc = peewee.CharField(max_length=32, default="")
    driver_document_number = peewee.CharField(max_length=20, default="")
    occurred_at = peewee.DateTimeField()
    received_at = peewee.DateTimeField()
    reasons = peewee.TextField(default="[]")
    officer_id = peewee.CharField(max_length=32, default="")
    inspection_result = peewee.CharField(max_length=32, default="")
    override_verdict = peewee.SmallIntegerField(default=0)
    detail_json = peewee.TextField(default="{}")
    # False when stored but not applied to the trip (unknown trip, another control
    # point's trip): kept for officers, never silently dropped.
    applied = peewee.BooleanField(default=False)
    note = peewee.CharField(max_length=200, default="")

    class Meta:
        table_name = "crossing_event"
        # Officers count and list crossings by time window, outcome and control point
        # (rocars crossings): without these the window queries scan the whole table.
        indexes = (
            (("lane_code", "lane_sequence"), False),
            (("occurred_at",), False),
            (("control_point", "outcome", "occurred_at"), False),
        )


register_models(CrossingEventRecord)
