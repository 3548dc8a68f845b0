"""Crossing events from lanes: stored once each, then reflected in trip and consignment
status so the filer sees "released", "inspected" ... in their own queries.

Exactly once across replicas rests on the unique idempotency key: the insert is
``ON CONFLICT DO NOTHING`` inside the same transaction as the status updates, so a
retried or doubly-posted event (to the same or another replica) is acknowledged as a
duplicate and changes nothing. An event that cannot be applied (unknown trip, a trip of
another control point) is still stored and acknowledged, with a note: refusing it would
block the lane's ordered outbox behind it for ever.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from central.services import errors
from central.store import models as m
from central.store.changes import ChangeKind, record_change
from central.store.db import to_db, write_transaction
from central.sync.models import CrossingEventRecord
from proto.rocars.v1 import common_pb2, sync_pb2

log = logging.getLogger(__name__)

MAX_EVENTS = 500
TRIP: Any = m.Trip
CONSIGNMENT: Any = m.Consignment
EVENTS: Any = CrossingEventRecord

# outcome -> (trip status, consignment status or None to leave as is)
_EFFECT = {
    sync_pb2.CROSSING_RELEASED: (common_pb2.TRIP_RELEASED, common_pb2.RELEASED),
    sync_pb2.CROSSING_SENT_TO_INSPECTION: (
        common_pb2.TRIP_SENT_TO_INSPECTION,
        common_pb2.SELECTED_FOR_INSPECTION,
    ),
    sync_pb2.CROSSING_REFERRED_TO_OFFICER: (common_pb2.TRIP_REFERRED, None),
    sync_pb2.CROSSING_INSPECTION_RESULT: (common_pb2.TRIP_INSPECTED, common_pb2.INSPECTED),
}
_OVERRIDE = {
    common_pb2.CLEAR: sync_pb2.CROSSING_RELEASED,
    common_pb2.INSPECT: sync_pb2.CROSSING_SENT_TO_INSPECTION,
    common_pb2.HOLD: sync_pb2.CROSSING_REFERRED_TO_OFFICER,
}
# Status only moves forward: a late "referred" never undoes "released".
_RANK = {
    common_pb2.TRIP_BUNDLED: 0,
    common_pb2.TRIP_REFERRED: 1,
    common_pb2.TRIP_CROSSED: 2,
    common_pb2.TRIP_SENT_TO_INSPECTION: 3,
    common_pb2.TRIP_RELEASED: 3,
    common_pb2.TRIP_INSPECTED: 4,
}


@dataclass(frozen=True, slots=True)
class LaneCaller:
    lane_code: str
    control_point: str
    direction: int


def _validate(events: Sequence[sync_pb2.CrossingEvent], lane: LaneCaller) -> None:
    problems: list[errors.FieldViolation] = []
    if len(events) > MAX_EVENTS:
        problems.append(errors.FieldViolation("events", f"at most {MAX_EVENTS} per call"))
    for i, ev in enumerate(events):
        if not ev.idempotency_key or len(ev.idempotency_key) > 96:
            problems.append(
                errors.FieldViolation(f"events[{i}].idempotency_key", "required, at most 96 characters")
            )
        if ev.lane_id and ev.lane_id != lane.lane_code:
            problems.append(
                errors.FieldViolation(f"events[{i}].lane_id", "must be the calling lane's own id")
            )
        if ev.outcome not in _EFFECT and ev.outcome != sync_pb2.CROSSING_OFFICER_OVERRIDE:
            problems.append(errors.FieldViolation(f"events[{i}].outcome", "must be a known CrossingOutcome"))
        if not ev.HasField("occurred_at"):
            problems.append(errors.FieldViolation(f"events[{i}].occurred_at", "required"))
    if problems:
        raise errors.ValidationError(problems)


def ingest(
    events: Sequence[sync_pb2.CrossingEvent], lane: LaneCaller, now: datetime
) -> list[sync_pb2.CrossingAck]:
    """Store each event once and apply it; returns one ack per event, in order."""
    _validate(events, lane)
    acks: list[sync_pb2.CrossingAck] = []
    with write_transaction():
        for ev in events:
            # The row count says whether *this* insert stored the event; on PostgreSQL a
            # concurrent insert of the same key (another replica) waits for the first to
            # commit and then inserts nothing.
            inserted = EVENTS.insert(**_row(ev, lane, now)).on_conflict_ignore().as_rowcount().execute()
            duplicate = not inserted
            if not duplicate:
                applied, note = _apply(ev, lane, now)
                EVENTS.update(applied=applied, note=note[:200]).where(
                    EVENTS.idempotency_key == ev.idempotency_key
                ).execute()
            acks.append(sync_pb2.CrossingAck(idempotency_key=ev.idempotency_key, duplicate=duplicate))
    return acks


def _row(ev: sync_pb2.CrossingEvent, lane: LaneCaller, now: datetime) -> dict[str, Any]:
    return {
        "idempotency_key": ev.idempotency_key,
        "lane_code": lane.lane_code,
        "lane_sequence": ev.sequence,
        "control_point": lane.control_point,
        "direction": lane.direction,
        "outcome": ev.outcome,
        "trip_reference": ev.trip_reference[:16],
        "registration_mark": ev.registration_mark[:16],
        "tag_epc": ev.tag_epc[:32],
        "driver_document_number": ev.driver_document_number[:20],
        "occurred_at": ev.occurred_at.ToDatetime(),
        "received_at": to_db(now),
        "reasons": json.dumps(list(ev.reasons)),
        "officer_id": ev.officer_id[:32],
        "inspection_result": ev.inspection_result[:32],
        "override_verdict": ev.override_verdict,
        "detail_json": ev.detail_json or "{}",
    }


def _apply(ev: sync_pb2.CrossingEvent, lane: LaneCaller, now: datetime) -> tuple[bool, str]:
    if not ev.trip_reference:
        return False, "no trip (truck not identified or not bundled)"
    trip = (
        TRIP.select(TRIP, m.ControlPoint)
        .join(m.ControlPoint)
        .where(TRIP.reference == ev.trip_reference)
        .first()
    )
    if trip is None:
        return False, f"trip {ev.trip_reference} unknown"
    if trip.control_point.code != lane.control_point or trip.direction != lane.direction:
        log.warning("lane %s reported trip %s of another control point", lane.lane_code, ev.trip_reference)
        return False, "trip belongs to another control point or direction"
    outcome = ev.outcome
    if outcome == sync_pb2.CROSSING_OFFICER_OVERRIDE:
        outcome = _OVERRIDE.get(ev.override_verdict, sync_pb2.CROSSING_REFERRED_TO_OFFICER)
    trip_status, consignment_status = _EFFECT[outcome]
    if trip.status == common_pb2.TRIP_UNBUNDLED:
        return False, "trip was unbundled before the crossing was reported"
    if _RANK.get(trip_status, 0) < _RANK.get(trip.status, 0):
        return True, "older than the trip's current status; kept for the record"
    occurred = to_db(ev.occurred_at.ToDatetime(tzinfo=UTC))
    updates: dict[Any, Any] = {TRIP.status: trip_status, TRIP.updated_at: to_db(now)}
    if (
        outcome in (sync_pb2.CROSSING_RELEASED, sync_pb2.CROSSING_SENT_TO_INSPECTION)
        and trip.crossed_at is None
    ):
        updates[TRIP.crossed_at] = occurred
    TRIP.update(updates).where(TRIP.id == trip.id).execute()
    if consignment_status is not None:
        CONSIGNMENT.update(status=consignment_status, updated_at=to_db(now)).where(
            (CONSIGNMENT.trip == trip.id) & (CONSIGNMENT.status != common_pb2.CANCELLED)
        ).execute()
    record_change(
        ChangeKind.TRIP_CROSSED,
        lane.control_point,
        lane.direction,
        trip.reference,
        {"status": trip_status, "lane": lane.lane_code},
        now=now,
    )
    return True, ""
