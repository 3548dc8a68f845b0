"""What the lane asks its devices and the kiosk to do, as frozen values.

Order matters within one batch: the kiosk executes commands in the order given, and
``RecordCrossing`` always comes before the barrier command of the same decision, so the
outbox holds the decision durably before the barrier moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lanes.events import Device
from lanes.reasons import Reason
from lanes.records import Direction, Verdict


class Light(StrEnum):
    RED = "red"
    GREEN = "green"


class Outcome(StrEnum):
    RELEASED = "released"
    INSPECTION = "inspection"
    REFERRED = "referred"
    OFFICER_OVERRIDE = "officer_override"
    INSPECTION_RESULT = "inspection_result"


@dataclass(frozen=True, slots=True)
class CrossingRecord:
    """One decision, as it goes to central through the outbox."""

    idempotency_key: str  # lane id + sequence: the same decision never counts twice
    lane_id: str
    control_point: str
    direction: Direction
    sequence: int
    outcome: Outcome
    decided_at: float
    arrived_at: float | None
    trip_id: str | None
    vehicle_id: str | None
    registration_mark: str | None
    tag_epc: str | None
    plate: str | None
    driver_id: str | None
    card_number: str | None
    verdict: Verdict | None
    ccrns: tuple[str, ...]
    reasons: tuple[Reason, ...]
    officer_id: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class SetBarrier:
    up: bool


@dataclass(frozen=True, slots=True)
class SetLights:
    colour: Light


@dataclass(frozen=True, slots=True)
class SetInspectionSign:
    on: bool


@dataclass(frozen=True, slots=True)
class ShowMessage:
    """The driver display, in English and Chinese."""

    code: str
    english: str
    chinese: str


@dataclass(frozen=True, slots=True)
class Alarm:
    kind: str  # "tailgating", "barrier_travel", "safety_reopen"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LookupTrip:
    """Ask the kiosk for the open trip of this vehicle; it answers with ``TripFound``."""

    vehicle_id: str


@dataclass(frozen=True, slots=True)
class RecordCrossing:
    record: CrossingRecord


@dataclass(frozen=True, slots=True)
class ReportDevice:
    """A device's availability changed: exactly one report when lost, one when back."""

    device: Device
    available: bool
    reason: str = ""


Command = (
    SetBarrier | SetLights | SetInspectionSign | ShowMessage | Alarm | LookupTrip | RecordCrossing
    | ReportDevice
)

COMMAND_TYPES: tuple[type, ...] = (
    SetBarrier, SetLights, SetInspectionSign, ShowMessage, Alarm, LookupTrip, RecordCrossing, ReportDevice,
)
