"""Every decision path of one crossing, with the reasons it must carry."""

from __future__ import annotations

import pytest

from lanes.commands import (
    CrossingRecord,
    Light,
    LookupTrip,
    Outcome,
    RecordCrossing,
    SetBarrier,
    SetInspectionSign,
    SetLights,
    ShowMessage,
)
from lanes.events import (
    CardRejected,
    CardRemoved,
    Device,
    DeviceAvailability,
    Loop,
    LoopChanged,
    PlateDecided,
    TagRead,
    Tick,
)
from lanes.machine import Phase
from lanes.reasons import CATALOGUE, MESSAGES, Severity
from lanes.records import DriverRecord, ELockState, TripRecord, TripStatus, VehicleRecord, Verdict

from .builders import (
    CONFIG,
    DRIVER,
    OTHER_DRIVER,
    OTHER_TRUCK,
    T0,
    TRUCK,
    WATCHED_DRIVER,
    WATCHED_TRUCK,
    Lane,
    started,
    trip,
)

_DEFAULT = object()


def one_crossing(
    *, the_trip: TripRecord | object | None = _DEFAULT, tag: VehicleRecord | str | None = TRUCK,
    plate: VehicleRecord | str | None = TRUCK, driver: DriverRecord | None = DRIVER,
    card_at: float | None = 6, expires_at: float = T0 + 86400, synced_at: float | None = T0,
    at: float = T0 + 5,
) -> tuple[Lane, CrossingRecord]:
    lane = Lane(trips={TRUCK.vehicle_id: trip() if the_trip is _DEFAULT else the_trip})  # type: ignore[dict-item]
    lane.send(started(T0, synced_at=synced_at))
    lane.arrive(at, tag=tag, plate=plate)
    lane.send(Tick(at + CONFIG.plate_wait_s + 0.1))  # past the tag and camera waits, whatever was read
    if card_at is not None:
        lane.card(at + card_at, driver, expires_at=expires_at)
    lane.send(Tick(at + CONFIG.identify_timeout_s + 1))  # anything still undecided is referred now
    records = lane.records()
    assert len(records) == 1, records
    return lane, records[0]


def codes(record: CrossingRecord) -> list[str]:
    return [r.code for r in record.reasons]


def test_clear_trip_is_released_green_barrier_up_with_the_record_first() -> None:
    lane, record = one_crossing()
    assert record.outcome is Outcome.RELEASED
    assert codes(record) == ["VERDICT_CLEAR"]
    assert (record.trip_id, record.vehicle_id, record.driver_id, record.tag_epc) == (
        "TRIP-1", "V-1", "D-1", TRUCK.tag_epc)
    assert record.ccrns == ("1234567890123", "1234567890124")
    assert record.idempotency_key == "LMC-I-01:000000000001"
    decision_batch = next(cs for _, cs in lane.log if any(isinstance(c, RecordCrossing) for c in cs))
    kinds = [type(c) for c in decision_batch]
    assert kinds.index(RecordCrossing) < kinds.index(SetBarrier)
    assert SetLights(Light.GREEN) in decision_batch and SetBarrier(True) in decision_batch
    assert ShowMessage("PROCEED", *MESSAGES["PROCEED"]) in decision_batch
    assert lane.machine.phase is Phase.RELEASED


def test_inspect_verdict_goes_to_the_inspection_bay_with_the_sign_on() -> None:
    lane, record = one_crossing(the_trip=trip(Verdict.INSPECT))
    assert record.outcome is Outcome.INSPECTION
    assert codes(record) == ["VERDICT_INSPECT"] and record.reasons[0].detail == "R-RANDOM"
    assert SetInspectionSign(True) in lane.all_commands()
    assert lane.barrier_commands()[-1] is True


def test_hold_verdict_is_referred_red_barrier_stays_down() -> None:
    lane, record = one_crossing(the_trip=trip(Verdict.HOLD))
    assert record.outcome is Outcome.REFERRED and codes(record) == ["VERDICT_HOLD"]
    assert lane.barrier_commands() == [False] and Light.GREEN not in lane.lights_commands()
    assert lane.machine.message == "SEE_OFFICER"


@pytest.mark.parametrize(
    ("tag", "plate", "expected"),
    [
        ("E-NOT-REGISTERED", TRUCK, ["TAG_UNKNOWN"]),
        (None, "ZZ 9999", ["PLATE_UNKNOWN"]),
        (None, None, ["VEHICLE_NOT_IDENTIFIED"]),
        (TRUCK, OTHER_TRUCK, ["TAG_PLATE_MISMATCH"]),
        (TRUCK, "GK 77", ["TAG_PLATE_MISMATCH"]),  # plate read but not in the cache
        (WATCHED_TRUCK, WATCHED_TRUCK, ["VEHICLE_WATCH_LISTED"]),
    ],
)
def test_vehicle_not_identified_is_referred(tag: object, plate: object, expected: list[str]) -> None:
    lane, record = one_crossing(tag=tag, plate=plate)  # type: ignore[arg-type]
    assert record.outcome is Outcome.REFERRED
    assert codes(record)[:1] == expected
    assert not any(isinstance(c, LookupTrip) for c in lane.all_commands())  # no trip for an unknown truck
    assert record.driver_id == "D-1"  # the driver is still identified for the officer


def test_missing_tag_falls_back_to_the_plate() -> None:
    _, record = one_crossing(tag=None)
    assert record.outcome is Outcome.RELEASED and codes(record) == ["PLATE_USED_NO_TAG", "VERDICT_CLEAR"]


def test_unreadable_plate_falls_back_to_the_tag() -> None:
    _, record = one_crossing(plate=None)
    assert record.outcome is Outcome.RELEASED and codes(record) == ["TAG_USED_NO_PLATE", "VERDICT_CLEAR"]


def test_low_confidence_plate_does_not_count_as_a_read() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.arrive(T0 + 5, tag=None, plate=None)
    lane.send(PlateDecided(T0 + 5.5, TRUCK.registration_mark, 0.5, TRUCK))
    lane.card(T0 + 9)
    lane.send(Tick(T0 + 11))
    assert codes(lane.records()[0])[0] == "VEHICLE_NOT_IDENTIFIED"


def test_two_different_tags_are_a_conflict() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.arrive(T0 + 5, plate=None)
    lane.send(TagRead(T0 + 5.3, OTHER_TRUCK.tag_epc or "", OTHER_TRUCK))
    lane.send(Tick(T0 + 11))
    lane.card(T0 + 12)
    record = lane.records()[0]
    assert record.outcome is Outcome.REFERRED and codes(record)[0] == "TAG_CONFLICT"


@pytest.mark.parametrize(
    ("the_trip", "expected"),
    [
        (None, "NO_TRIP"),
        (trip(status=TripStatus.UNBUNDLED), "TRIP_NOT_CROSSABLE"),
        (trip(status=TripStatus.CROSSED), "TRIP_NOT_CROSSABLE"),
        (trip(control_point="SBC"), "TRIP_WRONG_CONTROL_POINT"),
        (trip(direction="export"), "TRIP_WRONG_DIRECTION"),
        (trip(slot_start=T0 + 4 * 3600, slot_end=T0 + 5 * 3600), "SLOT_EARLY"),
        (trip(slot_start=T0 - 5 * 3600, slot_end=T0 - 4 * 3600 + 1), "SLOT_LATE"),
        (trip(elock=ELockState.TAMPERED), "ELOCK_NOT_INTACT"),
        (trip(elock=ELockState.UNKNOWN), "ELOCK_NOT_INTACT"),
        (trip(driver_id="D-2"), "DRIVER_NOT_ON_TRIP"),
        (trip(vehicle_id="V-2"), "TRIP_WRONG_VEHICLE"),
    ],
)
def test_trip_problems_are_referred(the_trip: TripRecord | None, expected: str) -> None:
    _, record = one_crossing(the_trip=the_trip)
    assert record.outcome is Outcome.REFERRED
    assert expected in codes(record), codes(record)
    refer_codes = [r.code for r in record.reasons if r.severity is Severity.REFER]
    assert refer_codes == [expected]


def test_a_little_outside_the_slot_is_still_released() -> None:
    _, early = one_crossing(the_trip=trip(slot_start=T0 + 1800, slot_end=T0 + 3600))
    _, late = one_crossing(the_trip=trip(slot_start=T0 - 7200, slot_end=T0 - 3600))
    _, intact = one_crossing(the_trip=trip(elock=ELockState.INTACT, driver_id="D-1"))
    assert [early.outcome, late.outcome, intact.outcome] == [Outcome.RELEASED] * 3


@pytest.mark.parametrize(
    ("driver", "expires_at", "expected"),
    [
        (None, T0 + 86400, "DRIVER_UNKNOWN"),
        (WATCHED_DRIVER, T0 + 86400, "DRIVER_WATCH_LISTED"),
        (DRIVER, T0 + 1, "CARD_EXPIRED"),
    ],
)
def test_card_problems_are_referred(driver: DriverRecord | None, expires_at: float, expected: str) -> None:
    _, record = one_crossing(driver=driver, expires_at=expires_at)
    assert record.outcome is Outcome.REFERRED
    assert [r.code for r in record.reasons if r.severity is Severity.REFER] == [expected]


def test_rejected_card_is_referred_with_the_readers_reason() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.send(CardRejected(T0 + 8, "signature"))
    (record,) = lane.records()
    assert record.outcome is Outcome.REFERRED
    assert next((r.code, r.detail) for r in record.reasons) == ("CARD_REJECTED", "signature")


def test_no_card_within_the_timeout_is_referred_and_a_forgotten_card_does_not_count() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.card(T0 + 1, OTHER_DRIVER)  # left in the reader before this truck arrived
    lane.arrive(T0 + 5)
    lane.send(Tick(T0 + 5 + CONFIG.identify_timeout_s - 0.1))
    assert lane.records() == [] and lane.machine.message == "INSERT_CARD"
    lane.send(Tick(T0 + 5 + CONFIG.identify_timeout_s))
    (record,) = lane.records()
    assert record.outcome is Outcome.REFERRED and codes(record) == ["NO_CARD", "VERDICT_CLEAR"]


def test_a_card_read_just_before_the_arrival_counts_for_the_arriving_truck() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.card(T0 + 5 - CONFIG.pre_arm_window_s + 0.1)  # the driver was quicker than the loop
    lane.arrive(T0 + 5)
    lane.send(Tick(T0 + 5 + CONFIG.tag_wait_s))
    (record,) = lane.records()
    assert record.outcome is Outcome.RELEASED and record.driver_id == DRIVER.driver_id


def test_a_card_read_just_outside_the_pre_arm_window_does_not_count() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.card(T0 + 5 - CONFIG.pre_arm_window_s - 0.1)
    lane.arrive(T0 + 5)
    lane.send(Tick(T0 + 5 + CONFIG.tag_wait_s))
    assert lane.records() == [] and lane.machine.message == "INSERT_CARD"


def test_the_card_a_decision_took_does_not_count_for_the_next_truck() -> None:
    """The previous driver's card, still in the reader within the pre-arm window of the
    next arrival, was used: the next truck waits for its own driver's card."""
    lane = Lane(trips={TRUCK.vehicle_id: trip(), OTHER_TRUCK.vehicle_id: trip(trip_id="TRIP-2",
                                                                             vehicle_id=OTHER_TRUCK.vehicle_id)})
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.card(T0 + 6)
    assert lane.records()[0].outcome is Outcome.RELEASED
    for at, loop, occupied in ((6.2, Loop.SAFETY, True), (6.4, Loop.ARMING, False), (6.6, Loop.CLOSING, True),
                               (6.8, Loop.SAFETY, False), (7.0, Loop.CLOSING, False)):
        lane.send(LoopChanged(T0 + at, loop, occupied))  # a short, quick truck
    assert lane.machine.phase is Phase.IDLE
    lane.arrive(T0 + 6 + CONFIG.pre_arm_window_s - 1, tag=OTHER_TRUCK, plate=OTHER_TRUCK)
    lane.send(Tick(T0 + 20))
    assert len(lane.records()) == 1 and lane.machine.message == "INSERT_CARD"
    lane.card(T0 + 21, OTHER_DRIVER)
    assert [r.driver_id for r in lane.records()] == [DRIVER.driver_id, OTHER_DRIVER.driver_id]


def test_card_removed_before_the_decision_must_be_inserted_again() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.send(Tick(T0 + 1))
    lane.arrive(T0 + 5, plate=None)  # the decision waits for the camera
    lane.card(T0 + 6)
    lane.send(CardRemoved(T0 + 7))
    lane.send(Tick(T0 + 11))
    assert lane.records() == []
    lane.card(T0 + 12)
    assert lane.records()[0].outcome is Outcome.RELEASED


def test_stale_cache_releases_only_trips_already_known_clear() -> None:
    stale = T0 - CONFIG.stale_limit_s - 10
    _, clear = one_crossing(synced_at=stale)
    _, inspect = one_crossing(the_trip=trip(Verdict.INSPECT), synced_at=stale)
    _, never = one_crossing(the_trip=trip(Verdict.INSPECT), synced_at=None)
    assert clear.outcome is Outcome.RELEASED and "CACHE_STALE_KNOWN_CLEAR" in codes(clear)
    assert inspect.outcome is Outcome.REFERRED and "CACHE_STALE" in codes(inspect)
    assert never.outcome is Outcome.REFERRED
    assert [r.detail for r in never.reasons if r.code == "CACHE_STALE"] == ["never synced"]
    _, fresh = one_crossing(the_trip=trip(Verdict.INSPECT), synced_at=T0 + 11 - CONFIG.stale_limit_s + 1)
    assert fresh.outcome is Outcome.INSPECTION


def test_device_fault_while_identifying_refers_at_once() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.send(DeviceAvailability(T0 + 6, Device.CARD, False, "reader gone"))
    (record,) = lane.records()
    assert record.outcome is Outcome.REFERRED
    assert ("DEVICE_FAULT", "card") in [(r.code, r.detail) for r in record.reasons]
    assert lane.machine.message == "LANE_FAULT" and lane.lights is Light.RED


def test_central_link_down_is_not_a_lane_fault() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.send(DeviceAvailability(T0 + 1, Device.CENTRAL, False, "stream closed"))
    lane.arrive(T0 + 5)
    lane.card(T0 + 7)
    assert lane.records()[0].outcome is Outcome.RELEASED


def test_the_same_trip_cannot_be_released_twice_at_this_lane() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.card(T0 + 7)
    lane.drive_through(T0 + 10)
    lane.send(CardRemoved(T0 + 12))
    lane.arrive(T0 + 30)
    lane.card(T0 + 32)
    first, second = lane.records()
    assert first.outcome is Outcome.RELEASED
    assert second.outcome is Outcome.REFERRED and "TRIP_ALREADY_USED" in codes(second)
    assert second.idempotency_key == "LMC-I-01:000000000002"


def test_every_failing_check_is_reported_not_just_the_first() -> None:
    _, record = one_crossing(the_trip=trip(Verdict.HOLD, control_point="SBC", elock=ELockState.OFF_ROUTE),
                             driver=WATCHED_DRIVER, expires_at=T0)
    refer = {r.code for r in record.reasons if r.severity is Severity.REFER}
    assert refer == {"TRIP_WRONG_CONTROL_POINT", "ELOCK_NOT_INTACT", "CARD_EXPIRED", "DRIVER_WATCH_LISTED",
                     "VERDICT_HOLD"}


def test_every_reason_and_message_is_bilingual() -> None:
    for code, (_, english, chinese) in CATALOGUE.items():
        assert english and chinese and english != chinese, code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese), code
    for code, (english, chinese) in MESSAGES.items():
        assert english and any("\u4e00" <= ch <= "\u9fff" for ch in chinese), code


def test_a_late_plate_of_a_truck_that_went_away_does_not_count_for_the_next() -> None:
    """A referred truck reverses out; its plate, decided late (after it left the loops),
    must not be taken for the next arrival's (seen in the 8-lane bench: the next truck
    was referred with TAG_PLATE_MISMATCH against the plate of the truck before it)."""
    lane = Lane(trips={OTHER_TRUCK.vehicle_id: trip(trip_id="TRIP-2", vehicle_id=OTHER_TRUCK.vehicle_id)})
    lane.send(started())
    lane.arrive(T0 + 5, plate=None)
    lane.send(Tick(T0 + 5 + CONFIG.plate_wait_s + 0.1))
    lane.card(T0 + 10.5)
    assert [r.outcome for r in lane.records()] == [Outcome.REFERRED]  # TRUCK has no trip
    lane.send(LoopChanged(T0 + 11, Loop.ARMING, False))  # it reverses out
    lane.send(PlateDecided(T0 + 12, TRUCK.registration_mark, 0.97, TRUCK))  # the camera, late
    lane.send(Tick(T0 + 11 + CONFIG.vacate_s + 0.1))
    assert lane.machine.phase is Phase.IDLE
    lane.send(CardRemoved(T0 + 14.3))
    lane.arrive(T0 + 14.5, tag=OTHER_TRUCK, plate=None)  # within pre_arm_window_s of the late plate
    lane.send(PlateDecided(T0 + 15, OTHER_TRUCK.registration_mark, 0.90, OTHER_TRUCK))
    lane.card(T0 + 15.5, OTHER_DRIVER)
    lane.send(Tick(T0 + 15.5 + CONFIG.identify_timeout_s))
    assert len(lane.records()) == 2, lane.records()
    second = lane.records()[1]
    assert "TAG_PLATE_MISMATCH" not in codes(second), codes(second)
    assert second.outcome is Outcome.RELEASED and second.vehicle_id == OTHER_TRUCK.vehicle_id
