"""Everything that can happen to a lane, as frozen values with their time.

``at`` is epoch seconds (UTC) as the kiosk's clock saw it. The machine never reads a
clock: timeouts are evaluated against the time of whatever event comes next, and the
kiosk sends a ``Tick`` once in a while so that nothing waits for traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lanes.records import DriverRecord, TripRecord, VehicleRecord


class Loop(StrEnum):
    ARMING = "arming"  # before the arm: a vehicle has arrived
    SAFETY = "safety"  # under the arm: the arm must not close
    CLOSING = "closing"  # past the arm: the arm closes once the vehicle has left it


class BarrierPosition(StrEnum):
    UP = "up"
    DOWN = "down"
    MOVING = "moving"
    UNKNOWN = "unknown"


class Device(StrEnum):
    RFID = "rfid"
    IO = "io"
    CARD = "card"
    CAMERA = "camera"
    CENTRAL = "central"  # the sync link; offline is governed by cache staleness, not a fault
    BARRIER = "barrier"  # derived by the machine: no limit switch within the travel time


LANE_DEVICES = frozenset({Device.RFID, Device.IO, Device.CARD, Device.CAMERA, Device.BARRIER})


class OfficerCommand(StrEnum):
    RELEASE = "release"  # override: let the vehicle through
    INSPECT = "inspect"  # override: send the vehicle to the inspection bay
    RESET = "reset"  # the lane is dealt with: forget the current vehicle


@dataclass(frozen=True, slots=True)
class LaneStarted:
    """The kiosk (re)started: the inputs it read at start-up.

    ``next_sequence`` is one past the highest outbox sequence the kiosk holds, and
    ``released_trip_ids`` the trips its outbox shows released or sent to inspection today,
    so even a lost journal can make neither a record key nor a release repeat.
    """

    at: float
    next_sequence: int
    arming: bool
    safety: bool
    closing: bool
    barrier: BarrierPosition
    synced_at: float | None = None
    unavailable: tuple[Device, ...] = ()
    released_trip_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LaneStopping:
    """The kiosk is shutting down (SIGTERM): the lane goes red and closes when it is safe."""

    at: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Tick:
    at: float


@dataclass(frozen=True, slots=True)
class LoopChanged:
    at: float
    loop: Loop
    occupied: bool


@dataclass(frozen=True, slots=True)
class InputsSnapshot:
    """All loop inputs at once: sent when the I/O module is back after a fault."""

    at: float
    arming: bool
    safety: bool
    closing: bool
    barrier: BarrierPosition


@dataclass(frozen=True, slots=True)
class BarrierLimit:
    at: float
    position: BarrierPosition


@dataclass(frozen=True, slots=True)
class TagRead:
    at: float
    epc: str
    vehicle: VehicleRecord | None  # None: no vehicle with this tag in the cache


@dataclass(frozen=True, slots=True)
class PlateDecided:
    at: float
    plate: str | None  # None: no plate could be read
    confidence: float
    vehicle: VehicleRecord | None


@dataclass(frozen=True, slots=True)
class CardInserted:
    at: float


@dataclass(frozen=True, slots=True)
class CardAuthenticated:
    at: float
    card_number: str
    expires_at: float  # epoch seconds; the card is expired from this instant
    driver: DriverRecord | None  # None: no registered driver holds this card


@dataclass(frozen=True, slots=True)
class CardRejected:
    at: float
    reason: str  # why authentication failed, e.g. "signature", "6982"


@dataclass(frozen=True, slots=True)
class CardRemoved:
    at: float


@dataclass(frozen=True, slots=True)
class TripFound:
    """The kiosk's answer to ``LookupTrip``: the open trip at this control point, if any."""

    at: float
    vehicle_id: str
    trip: TripRecord | None


@dataclass(frozen=True, slots=True)
class CacheSynced:
    """The local cache was known consistent with central as of ``synced_at``."""

    at: float
    synced_at: float


@dataclass(frozen=True, slots=True)
class DeviceAvailability:
    at: float
    device: Device
    available: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OfficerAction:
    at: float
    officer_id: str
    command: OfficerCommand
    note: str = ""


@dataclass(frozen=True, slots=True)
class InspectionResult:
    """An officer records the result of an inspection (at the bay, through this lane)."""

    at: float
    officer_id: str
    trip_id: str
    vehicle_id: str
    result: str  # e.g. "released", "seized"
    note: str = ""


Event = (
    LaneStarted | LaneStopping | Tick | LoopChanged | InputsSnapshot | BarrierLimit | TagRead | PlateDecided
    | CardInserted | CardAuthenticated | CardRejected | CardRemoved | TripFound | CacheSynced
    | DeviceAvailability | OfficerAction | InspectionResult
)

EVENT_TYPES: tuple[type, ...] = (
    LaneStarted, LaneStopping, Tick, LoopChanged, InputsSnapshot, BarrierLimit, TagRead, PlateDecided,
    CardInserted, CardAuthenticated, CardRejected, CardRemoved, TripFound, CacheSynced,
    DeviceAvailability, OfficerAction, InspectionResult,
)
