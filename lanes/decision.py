"""The clearance decision itself: pure functions over what the lane has gathered.

Kept apart from the state machine so every rule can be read (and tested) in one place:
identify the vehicle (tag and plate must agree), check its trip, check the driver's card,
then release on `clear`, inspect on `inspect`, and refer to an officer on anything else.
Every check that fails adds a reason; all of them are collected, not just the first.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from lanes.commands import Outcome
from lanes.config import LaneConfig
from lanes.events import CardAuthenticated, CardRejected, Device, PlateDecided, TagRead
from lanes.reasons import Reason, reason, refers
from lanes.records import CROSSABLE_STATUSES, ELockState, TripRecord, VehicleRecord, Verdict, normalise_mark


@dataclass(frozen=True, slots=True)
class Identification:
    vehicle: VehicleRecord | None  # None unless identified without a referral reason
    reasons: tuple[Reason, ...]
    tag_epc: str | None
    plate: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reasons: tuple[Reason, ...]


def plate_usable(plate: PlateDecided | None, config: LaneConfig) -> bool:
    return plate is not None and plate.plate is not None and plate.confidence >= config.min_plate_confidence


def identify_vehicle(
    tags: tuple[TagRead, ...], plate: PlateDecided | None, config: LaneConfig
) -> Identification:
    """Tag and plate must agree; a missing tag falls back to the plate (and a plate the
    camera could not read falls back to the tag, noted as a reason)."""
    plate_text = plate.plate if plate is not None else None
    epcs = sorted({t.epc for t in tags})
    if len(epcs) > 1:
        return Identification(None, (reason("TAG_CONFLICT", ",".join(epcs)),), None, plate_text)
    tag = tags[0] if tags else None
    tag_epc = tag.epc if tag is not None else None
    usable = plate_usable(plate, config)
    found: VehicleRecord | None
    notes: list[Reason] = []
    if tag is not None:
        if tag.vehicle is None:
            return Identification(None, (reason("TAG_UNKNOWN", tag.epc),), tag_epc, plate_text)
        if usable:
            assert plate is not None and plate.plate is not None
            by_plate = plate.vehicle
            if normalise_mark(plate.plate) != normalise_mark(tag.vehicle.registration_mark) or (
                by_plate is not None and by_plate.vehicle_id != tag.vehicle.vehicle_id
            ):
                detail = f"tag={tag.vehicle.registration_mark} plate={plate.plate}"
                return Identification(None, (reason("TAG_PLATE_MISMATCH", detail),), tag_epc, plate_text)
        else:
            notes.append(reason("TAG_USED_NO_PLATE"))
        found = tag.vehicle
    elif usable:
        assert plate is not None
        if plate.vehicle is None:
            return Identification(None, (reason("PLATE_UNKNOWN", plate.plate or ""),), None, plate_text)
        notes.append(reason("PLATE_USED_NO_TAG"))
        found = plate.vehicle
    else:
        return Identification(None, (reason("VEHICLE_NOT_IDENTIFIED"),), None, plate_text)
    if found.watch_listed:
        return Identification(None, (*notes, reason("VEHICLE_WATCH_LISTED")), tag_epc, plate_text)
    return Identification(found, tuple(notes), tag_epc, plate_text)


def check_trip(
    trip: TripRecord, vehicle: VehicleRecord, now: float, config: LaneConfig, used_trip_ids: Collection[str]
) -> list[Reason]:
    reasons: list[Reason] = []
    if trip.vehicle_id != vehicle.vehicle_id:  # the cache answered for another vehicle
        reasons.append(reason("TRIP_WRONG_VEHICLE", trip.vehicle_id))
    if trip.status not in CROSSABLE_STATUSES:
        reasons.append(reason("TRIP_NOT_CROSSABLE", str(trip.status)))
    if trip.trip_id in used_trip_ids:
        reasons.append(reason("TRIP_ALREADY_USED", trip.trip_id))
    if trip.control_point != config.control_point:
        reasons.append(reason("TRIP_WRONG_CONTROL_POINT", trip.control_point))
    if trip.direction != config.direction:
        reasons.append(reason("TRIP_WRONG_DIRECTION", str(trip.direction)))
    if now < trip.slot_start - config.slot_early_s:
        reasons.append(reason("SLOT_EARLY", f"{trip.slot_start - now:.0f}s before slot"))
    elif now > trip.slot_end + config.slot_late_s:
        reasons.append(reason("SLOT_LATE", f"{now - trip.slot_end:.0f}s after slot"))
    if trip.elock not in (ELockState.NONE, ELockState.INTACT):
        reasons.append(reason("ELOCK_NOT_INTACT", str(trip.elock)))
    return reasons


def check_card(
    card: CardAuthenticated | CardRejected | None, trip: TripRecord | None, now: float
) -> list[Reason]:
    if card is None:
        return [reason("NO_CARD")]
    if isinstance(card, CardRejected):
        return [reason("CARD_REJECTED", card.reason)]
    reasons: list[Reason] = []
    if now >= card.expires_at:
        reasons.append(reason("CARD_EXPIRED", card.card_number))
    driver = card.driver
    if driver is None:
        reasons.append(reason("DRIVER_UNKNOWN", card.card_number))
    else:
        if driver.watch_listed:
            reasons.append(reason("DRIVER_WATCH_LISTED"))
        if trip is not None and trip.driver_id is not None and trip.driver_id != driver.driver_id:
            reasons.append(reason("DRIVER_NOT_ON_TRIP", driver.driver_id))
    return reasons


def decide(
    *,
    config: LaneConfig,
    now: float,
    ident: Identification,
    trip_answered: bool,
    trip: TripRecord | None,
    card: CardAuthenticated | CardRejected | None,
    faults: Collection[Device],
    synced_at: float | None,
    used_trip_ids: Collection[str],
) -> Decision:
    reasons: list[Reason] = list(ident.reasons)
    reasons.extend(reason("DEVICE_FAULT", str(d)) for d in sorted(faults))
    if ident.vehicle is not None:
        if not trip_answered:
            reasons.append(reason("TRIP_LOOKUP_UNANSWERED"))
        elif trip is None:
            reasons.append(reason("NO_TRIP", ident.vehicle.vehicle_id))
        else:
            reasons.extend(check_trip(trip, ident.vehicle, now, config, used_trip_ids))
    reasons.extend(check_card(card, trip, now))

    stale = synced_at is None or now - synced_at > config.stale_limit_s
    known_clear = trip is not None and trip.verdict is Verdict.CLEAR
    if stale:
        age = "never synced" if synced_at is None else f"{now - synced_at:.0f}s"
        reasons.append(reason("CACHE_STALE_KNOWN_CLEAR" if known_clear else "CACHE_STALE", age))
    if trip is not None:
        detail = ",".join(trip.verdict_reasons)
        verdict_code = {Verdict.CLEAR: "VERDICT_CLEAR", Verdict.INSPECT: "VERDICT_INSPECT",
                        Verdict.HOLD: "VERDICT_HOLD"}[trip.verdict]
        reasons.append(reason(verdict_code, detail))

    if refers(reasons) or trip is None:
        return Decision(Outcome.REFERRED, tuple(reasons))
    if trip.verdict is Verdict.INSPECT:
        return Decision(Outcome.INSPECTION, tuple(reasons))
    return Decision(Outcome.RELEASED, tuple(reasons))
