"""One vehicle at the kiosk (``Crossing``), the lane's phases, and the record a decision makes.

Split out of ``lanes.machine``: the machine holds at most one ``Crossing`` and moves it
through the phases; what a decision's ``CrossingRecord`` says is built here from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from lanes.commands import CrossingRecord, Outcome
from lanes.config import LaneConfig
from lanes.decision import Identification
from lanes.events import CardAuthenticated, CardRejected, InspectionResult, PlateDecided, TagRead
from lanes.reasons import Reason, reason
from lanes.records import TripRecord, VehicleRecord


class Phase(StrEnum):
    IDLE = "idle"
    IDENTIFYING = "identifying"
    RELEASED = "released"
    REFERRED = "referred"


@dataclass(slots=True)
class Crossing:
    """One vehicle at the kiosk, from the arming loop until it has gone."""

    arrived_at: float
    tags: list[TagRead] = field(default_factory=list)
    plate: PlateDecided | None = None
    ident: Identification | None = None
    lookup_for: str | None = None
    trip_answered: bool = False
    trip: TripRecord | None = None
    outcome: Outcome | None = None
    green_allowed: bool = False
    inspection: bool = False
    entered_safety: bool = False  # the released vehicle reached the arm
    left_arming: bool = False  # ... and then left the arming loop
    left_safety: bool = False  # ... and then moved on from under the arm
    passed: bool = False  # ... and then left the closing loop
    tailgating: bool = False
    card: CardAuthenticated | CardRejected | None = None  # the card its decision took


def record_key(config: LaneConfig, seq: int) -> str:
    return f"{config.lane_id}:{seq:012d}"


def known_vehicle(c: Crossing) -> VehicleRecord | None:
    if c.ident is not None and c.ident.vehicle is not None:
        return c.ident.vehicle
    for t in c.tags:
        if t.vehicle is not None:
            return t.vehicle
    return c.plate.vehicle if c.plate is not None else None


def decision_record(
    config: LaneConfig,
    seq: int,
    now: float,
    c: Crossing,
    outcome: Outcome,
    reasons: tuple[Reason, ...],
    card: CardAuthenticated | CardRejected | None,
    *,
    officer_id: str | None = None,
    note: str = "",
) -> CrossingRecord:
    """The record of a decision on crossing ``c`` (``card``: the card the decision took)."""
    vehicle = known_vehicle(c)
    driver = card.driver if isinstance(card, CardAuthenticated) else None
    return CrossingRecord(
        idempotency_key=record_key(config, seq), lane_id=config.lane_id, control_point=config.control_point,
        direction=config.direction, sequence=seq, outcome=outcome, decided_at=now,
        arrived_at=c.arrived_at, trip_id=c.trip.trip_id if c.trip else None,
        vehicle_id=vehicle.vehicle_id if vehicle else None,
        registration_mark=vehicle.registration_mark if vehicle else None,
        tag_epc=c.tags[0].epc if len(c.tags) == 1 else None, plate=c.plate.plate if c.plate else None,
        driver_id=driver.driver_id if driver else None,
        card_number=card.card_number if isinstance(card, CardAuthenticated) else None,
        verdict=c.trip.verdict if c.trip else None, ccrns=c.trip.ccrns if c.trip else (),
        reasons=reasons, officer_id=officer_id, note=note,
    )


def inspection_record(config: LaneConfig, seq: int, now: float, e: InspectionResult) -> CrossingRecord:
    """The record of an inspection's result, entered at this lane (no vehicle at the kiosk)."""
    return CrossingRecord(
        idempotency_key=record_key(config, seq), lane_id=config.lane_id, control_point=config.control_point,
        direction=config.direction, sequence=seq, outcome=Outcome.INSPECTION_RESULT, decided_at=now,
        arrived_at=None, trip_id=e.trip_id, vehicle_id=e.vehicle_id, registration_mark=None, tag_epc=None,
        plate=None, driver_id=None, card_number=None, verdict=None, ccrns=(),
        reasons=(reason("INSPECTION_RESULT", e.result),), officer_id=e.officer_id, note=e.note,
    )
