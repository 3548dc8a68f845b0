"""What the lane's decision needs to know about a vehicle, a driver and a trip.

The kiosk resolves every identification input against its local cache and hands the
answer to the machine inside the event (``TagRead.vehicle``, ``CardAuthenticated.driver``,
``TripFound.trip``). So the journal carries everything a decision used, and replaying a
day needs no cache. The kiosk maps its cache rows onto these types.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Direction(StrEnum):
    IMPORT = "import"
    EXPORT = "export"


class Verdict(StrEnum):
    """Risk verdict on a trip, strictest last (as in the public API)."""

    CLEAR = "clear"
    INSPECT = "inspect"
    HOLD = "hold"


class TripStatus(StrEnum):
    BUNDLED = "bundled"
    UNBUNDLED = "unbundled"
    CROSSED = "crossed"
    RELEASED = "released"
    SENT_TO_INSPECTION = "sent_to_inspection"
    INSPECTED = "inspected"
    REFERRED = "referred"


# Only a trip that is bundled and has not yet been used may cross; a trip an officer
# referred earlier (a previous attempt at a kiosk) may come back to a kiosk once released
# centrally, which shows up here as BUNDLED again.
CROSSABLE_STATUSES = frozenset({TripStatus.BUNDLED})


class ELockState(StrEnum):
    """Electronic cargo lock of a transshipment truck, as last reported by its gateway."""

    NONE = "none"  # the trip carries no e-lock
    INTACT = "intact"  # sealed and on route
    TAMPERED = "tampered"
    OFF_ROUTE = "off_route"
    UNKNOWN = "unknown"  # the lock has not reported recently


@dataclass(frozen=True, slots=True)
class VehicleRecord:
    vehicle_id: str
    registration_mark: str
    tag_epc: str | None = None
    watch_listed: bool = False


@dataclass(frozen=True, slots=True)
class DriverRecord:
    driver_id: str
    document_number: str
    card_number: str
    name: str
    watch_listed: bool = False


@dataclass(frozen=True, slots=True)
class TripRecord:
    trip_id: str
    vehicle_id: str
    driver_id: str | None  # None: any registered driver may drive this trip
    control_point: str
    direction: Direction
    slot_start: float  # epoch seconds, UTC
    slot_end: float
    verdict: Verdict
    verdict_reasons: tuple[str, ...] = ()
    ccrns: tuple[str, ...] = ()
    elock: ELockState = ELockState.NONE
    status: TripStatus = TripStatus.BUNDLED


def normalise_mark(mark: str) -> str:
    """Registration marks compare without case or spaces ("AB 1234" == "ab1234")."""
    return "".join(mark.split()).upper()
