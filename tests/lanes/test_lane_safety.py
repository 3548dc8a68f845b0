"""Loops, barrier, lights, faults, officers and restarts, scenario by scenario."""

from __future__ import annotations

import pytest

from lanes.commands import (
    Alarm,
    Light,
    LookupTrip,
    Outcome,
    RecordCrossing,
    ReportDevice,
    SetBarrier,
    SetInspectionSign,
    SetLights,
    ShowMessage,
)
from lanes.config import LaneConfig
from lanes.errors import ConfigError, LaneError
from lanes.events import (
    BarrierLimit,
    BarrierPosition,
    CardInserted,
    CardRemoved,
    Device,
    DeviceAvailability,
    InputsSnapshot,
    InspectionResult,
    LaneStarted,
    Loop,
    LoopChanged,
    OfficerAction,
    OfficerCommand,
    TagRead,
    Tick,
)
from lanes.machine import LaneMachine, Phase
from lanes.records import Verdict

from .builders import CONFIG, T0, TRUCK, Lane, started, trip


def released_lane(verdict: Verdict = Verdict.CLEAR) -> Lane:
    lane = Lane(trips={TRUCK.vehicle_id: trip(verdict)})
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.card(T0 + 7)
    assert lane.machine.phase is Phase.RELEASED
    return lane


def test_a_full_crossing_closes_only_after_the_closing_loops_trailing_edge() -> None:
    lane = released_lane()
    assert lane.lights is Light.GREEN
    lane.send(LoopChanged(T0 + 10, Loop.SAFETY, True))
    assert lane.lights is Light.RED  # red as soon as the truck is under the arm: nobody follows on green
    for at, loop, occupied in ((11, Loop.ARMING, False), (12, Loop.CLOSING, True), (13, Loop.SAFETY, False)):
        assert not any(isinstance(c, SetBarrier) for c in lane.send(LoopChanged(T0 + at, loop, occupied)))
    lane.send(Tick(T0 + 100))
    assert lane.machine.barrier_up is True  # still on the closing loop: however long it takes
    closing = lane.send(LoopChanged(T0 + 101, Loop.CLOSING, False))
    assert SetBarrier(False) in closing
    assert lane.machine.phase is Phase.IDLE and lane.machine.message == "WELCOME"


def test_released_truck_waiting_under_the_arm_keeps_the_barrier_up() -> None:
    lane = released_lane()
    lane.send(LoopChanged(T0 + 10, Loop.SAFETY, True))
    lane.send(LoopChanged(T0 + 11, Loop.ARMING, False))
    lane.send(LoopChanged(T0 + 12, Loop.CLOSING, True))
    lane.send(LoopChanged(T0 + 13, Loop.CLOSING, False))  # trailing edge, but the trailer is under the arm
    assert lane.barrier_commands() == [False, True]
    lane.send(LoopChanged(T0 + 14, Loop.SAFETY, False))
    assert lane.barrier_commands() == [False, True, False]


def test_tailgating_raises_an_alarm_and_the_barrier_never_closes_on_the_second_vehicle() -> None:
    lane = released_lane()
    lane.send(LoopChanged(T0 + 10, Loop.SAFETY, True))
    lane.send(LoopChanged(T0 + 11, Loop.ARMING, False))
    follow = lane.send(LoopChanged(T0 + 11.5, Loop.ARMING, True))  # a second vehicle right behind
    alarms = [c for c in follow if isinstance(c, Alarm)]
    assert alarms == [Alarm("tailgating", "second vehicle on the arming loop")]
    assert lane.machine.message == "STOP" and lane.lights is Light.RED
    lane.send(LoopChanged(T0 + 12, Loop.CLOSING, True))
    lane.send(LoopChanged(T0 + 13, Loop.SAFETY, False))
    again = lane.send(LoopChanged(T0 + 13.5, Loop.SAFETY, True))  # the follower is now under the arm
    assert not any(isinstance(c, Alarm) for c in again)  # one alarm per crossing, not per loop edge
    lane.send(LoopChanged(T0 + 14, Loop.CLOSING, False))  # first vehicle gone, follower under the arm
    assert lane.barrier_commands() == [False, True]
    lane.send(LoopChanged(T0 + 15, Loop.ARMING, False))
    lane.send(LoopChanged(T0 + 16, Loop.CLOSING, True))
    lane.send(LoopChanged(T0 + 17, Loop.SAFETY, False))
    assert lane.barrier_commands() == [False, True]
    lane.send(LoopChanged(T0 + 18, Loop.CLOSING, False))
    assert lane.barrier_commands() == [False, True, False]
    assert len(lane.records()) == 1  # the follower had no decision


def test_follower_stopped_on_the_arming_loop_is_identified_next() -> None:
    lane = released_lane()
    lane.send(LoopChanged(T0 + 10, Loop.SAFETY, True))
    lane.send(LoopChanged(T0 + 11, Loop.ARMING, False))
    lane.send(LoopChanged(T0 + 11.5, Loop.ARMING, True))
    lane.send(LoopChanged(T0 + 12, Loop.CLOSING, True))
    lane.send(LoopChanged(T0 + 13, Loop.SAFETY, False))
    lane.send(LoopChanged(T0 + 14, Loop.CLOSING, False))
    assert lane.barrier_commands() == [False, True, False]  # closes in front of the follower: safety is clear
    assert lane.machine.phase is Phase.IDENTIFYING and lane.machine.message == "INSERT_CARD"


def test_something_under_a_closing_arm_reopens_it() -> None:
    lane = Lane(barrier_moves=False)
    lane.send(started())
    lane.send(BarrierLimit(T0, BarrierPosition.DOWN))
    lane.send(OfficerAction(T0 + 1, "officer-1", OfficerCommand.RESET))
    lane.arrive(T0 + 5)
    lane.send(OfficerAction(T0 + 6, "officer-1", OfficerCommand.RELEASE, "known haulier"))
    lane.send(BarrierLimit(T0 + 7, BarrierPosition.UP))
    lane.send(OfficerAction(T0 + 8, "officer-1", OfficerCommand.RESET))  # officer changes their mind
    assert lane.barrier_commands()[-1] is False and lane.machine.barrier_position is BarrierPosition.MOVING
    reopened = lane.send(LoopChanged(T0 + 8.5, Loop.SAFETY, True))
    assert SetBarrier(True) in reopened
    assert any(isinstance(c, Alarm) and c.kind == "safety_reopen" for c in reopened)
    closed_again = lane.send(LoopChanged(T0 + 9, Loop.SAFETY, False))
    assert SetBarrier(False) in closed_again


def test_device_fault_during_a_released_crossing_turns_red_and_keeps_the_barrier_safe() -> None:
    lane = released_lane()
    fault = lane.send(DeviceAvailability(T0 + 8, Device.RFID, False, "no answer"))
    assert ReportDevice(Device.RFID, False, "no answer") in fault and SetLights(Light.RED) in fault
    assert lane.machine.message == "LANE_FAULT"
    again = lane.send(DeviceAvailability(T0 + 8.5, Device.RFID, False, "still no answer"))
    assert again == ()  # a fault is reported once when it starts...
    lane.drive_through(T0 + 10)
    assert lane.barrier_commands() == [False, True, False]
    back = lane.send(DeviceAvailability(T0 + 20, Device.RFID, True))
    # ...and once when it ends
    assert [c for c in back if isinstance(c, ReportDevice)] == [ReportDevice(Device.RFID, True, "")]
    assert Light.GREEN not in lane.lights_commands()[2:]


def test_io_module_lost_means_loops_unknown_and_the_barrier_is_never_closed_blind() -> None:
    lane = released_lane()
    lane.send(LoopChanged(T0 + 10, Loop.SAFETY, True))
    lane.send(DeviceAvailability(T0 + 11, Device.IO, False, "timeout"))
    assert lane.machine.loops == dict.fromkeys(Loop)
    lane.send(OfficerAction(T0 + 12, "officer-1", OfficerCommand.RESET))
    lane.send(Tick(T0 + 200))
    assert lane.barrier_commands() == [False, True]
    lane.send(DeviceAvailability(T0 + 201, Device.IO, True))
    assert lane.barrier_commands() == [False, True]  # back, but the loops are not known yet
    lane.send(InputsSnapshot(T0 + 202, False, False, False, BarrierPosition.UP))
    assert lane.barrier_commands() == [False, True, False]


def test_barrier_that_never_reaches_its_limit_is_a_fault_reported_once() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()}, barrier_moves=False)
    lane.send(started())
    lane.send(BarrierLimit(T0, BarrierPosition.DOWN))
    lane.arrive(T0 + 5)
    lane.card(T0 + 7)
    lane.send(Tick(T0 + 7 + CONFIG.barrier_travel_s + 1))
    lane.send(Tick(T0 + 7 + CONFIG.barrier_travel_s + 2))
    reports = [c for c in lane.all_commands() if isinstance(c, ReportDevice)]
    assert reports == [ReportDevice(Device.BARRIER, False, "no limit within 8s")]
    assert lane.lights is Light.RED
    lane.send(BarrierLimit(T0 + 20, BarrierPosition.UP))
    reports = [c for c in lane.all_commands() if isinstance(c, ReportDevice)]
    assert reports[-1] == ReportDevice(Device.BARRIER, True)


def test_officer_overrides_a_referral_and_the_record_comes_before_the_barrier() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip(Verdict.HOLD)})
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.card(T0 + 7)
    assert lane.machine.phase is Phase.REFERRED
    batch = lane.send(OfficerAction(T0 + 30, "officer-7", OfficerCommand.INSPECT, "checked seal"))
    kinds = [type(c) for c in batch]
    assert kinds.index(RecordCrossing) < kinds.index(SetBarrier)
    assert SetInspectionSign(True) in batch and SetLights(Light.GREEN) in batch
    referral, override = lane.records()
    assert referral.outcome is Outcome.REFERRED and override.outcome is Outcome.OFFICER_OVERRIDE
    assert override.officer_id == "officer-7" and [(r.code, r.detail) for r in override.reasons] == [
        ("OFFICER_INSPECT", "checked seal")]
    assert override.trip_id == "TRIP-1" and override.sequence == referral.sequence + 1
    lane.drive_through(T0 + 31)
    assert lane.machine.phase is Phase.IDLE and lane.machine.sign is False


def test_officer_actions_with_nothing_to_decide_change_nothing() -> None:
    lane = released_lane()
    assert lane.send(OfficerAction(T0 + 8, "officer-1", OfficerCommand.RELEASE)) == ()
    idle = Lane()
    idle.send(started())
    assert idle.send(OfficerAction(T0 + 8, "officer-1", OfficerCommand.INSPECT)) == ()


def test_inspection_result_is_recorded_at_any_time() -> None:
    lane = released_lane()
    batch = lane.send(InspectionResult(T0 + 900, "officer-2", "TRIP-1", "V-1", "released", "nothing found"))
    (command,) = batch
    assert isinstance(command, RecordCrossing)
    assert command.record.outcome is Outcome.INSPECTION_RESULT and command.record.sequence == 2
    assert lane.machine.barrier_up is True  # the lane carries on


def test_a_vehicle_that_reverses_away_is_forgotten_after_the_vacate_time() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip(Verdict.HOLD)})
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.card(T0 + 7)
    lane.send(LoopChanged(T0 + 20, Loop.ARMING, False))
    lane.send(LoopChanged(T0 + 21, Loop.ARMING, True))  # loop chatter: not a new vehicle
    lane.send(LoopChanged(T0 + 22, Loop.ARMING, False))
    lane.send(Tick(T0 + 22 + CONFIG.vacate_s - 0.1))
    assert lane.machine.phase is Phase.REFERRED
    lane.send(Tick(T0 + 22 + CONFIG.vacate_s))
    assert lane.machine.phase is Phase.IDLE and len(lane.records()) == 1


def test_tag_read_just_before_the_arming_loop_counts_but_the_previous_trucks_does_not() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.send(TagRead(T0 + 4, TRUCK.tag_epc or "", TRUCK))
    lane.arrive(T0 + 5, tag=None)
    lane.card(T0 + 7)
    assert [r.code for r in lane.records()[0].reasons] == ["VERDICT_CLEAR"]  # tag and plate both used
    lane.drive_through(T0 + 10)
    lane.send(CardRemoved(T0 + 14))
    lane.send(TagRead(T0 + 15, TRUCK.tag_epc or "", TRUCK))  # the first truck, read again as it leaves
    lane.arrive(T0 + 16, tag=None, plate=None)
    lane.send(Tick(T0 + 40))
    lane.card(T0 + 41)
    assert lane.records()[1].reasons[0].code == "VEHICLE_NOT_IDENTIFIED"


def test_restart_mid_crossing_neither_loses_nor_doubles_the_decision() -> None:
    lane = released_lane()
    lane.send(LoopChanged(T0 + 10, Loop.SAFETY, True))
    events = [e for e, _ in lane.log]
    # SIGKILL here. The new process rebuilds the machine from the journal, then reads its inputs.
    machine, records = LaneMachine.restore(CONFIG, events)
    assert [r.idempotency_key for r in records] == [r.idempotency_key for r in lane.records()]
    after = machine.handle(LaneStarted(T0 + 12, 2, False, True, False, BarrierPosition.UP, synced_at=T0))
    assert SetLights(Light.RED) in after and SetBarrier(True) in after  # safe: the truck is under the arm
    assert not any(isinstance(c, RecordCrossing) for c in after)
    out = machine.handle(LoopChanged(T0 + 13, Loop.CLOSING, True))
    out += machine.handle(LoopChanged(T0 + 14, Loop.SAFETY, False))
    assert SetBarrier(False) not in out
    out += machine.handle(LoopChanged(T0 + 15, Loop.CLOSING, False))
    assert SetBarrier(False) in out and not any(isinstance(c, RecordCrossing) for c in out)


def test_restart_with_a_pending_trip_lookup_asks_again() -> None:
    lane = Lane(trips={})
    lane.send(started())
    lane.send(LoopChanged(T0 + 5, Loop.ARMING, True))
    lane.send(TagRead(T0 + 5.2, TRUCK.tag_epc or "", TRUCK))
    machine = LaneMachine(CONFIG)
    for event, _ in lane.log:
        machine.handle(event)
    machine.handle(Tick(T0 + 11))  # identified by tag after the camera wait: asks for the trip
    crossing = machine.crossing
    assert crossing is not None and crossing.lookup_for == "V-1" and not crossing.trip_answered
    after = machine.handle(LaneStarted(T0 + 12, 1, True, False, False, BarrierPosition.DOWN, synced_at=T0))
    assert LookupTrip("V-1") in after


def test_cold_start_with_a_truck_under_an_open_barrier_never_closes_on_it() -> None:
    machine = LaneMachine(CONFIG)
    out = machine.handle(LaneStarted(T0, 41, True, True, False, BarrierPosition.UP, synced_at=T0))
    assert SetBarrier(False) not in out and SetLights(Light.RED) in out
    assert machine.phase is Phase.IDENTIFYING  # on the arming loop with no decision: decide afresh
    out = machine.handle(LoopChanged(T0 + 1, Loop.SAFETY, False))
    assert SetBarrier(False) in out
    assert machine.sequence == 41


def test_start_with_the_io_module_down_commands_nothing_down() -> None:
    machine = LaneMachine(CONFIG)
    start = LaneStarted(T0, 1, False, False, False, BarrierPosition.UNKNOWN, unavailable=(Device.IO,))
    out = machine.handle(start)
    assert ReportDevice(Device.IO, False, "at start-up") in out
    assert SetBarrier(False) not in out and SetLights(Light.RED) in out


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lane_id": ""}, "lane.id: must not be empty"),
        ({"direction": "sideways"}, "lane.direction: must be 'import' or 'export'"),
        ({"stale_limit_s": -1}, "lane.stale_limit_s: must be a number of seconds >= 0"),
        ({"min_plate_confidence": 2}, "lane.min_plate_confidence: must be within 0..1"),
    ],
)
def test_bad_settings_are_rejected_naming_the_setting(changes: dict[str, object], message: str) -> None:
    values = {**CONFIG.to_dict(), **changes}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LaneConfig.from_dict(values)
    with pytest.raises(ConfigError, match="unknown setting"):
        LaneConfig.from_dict({**CONFIG.to_dict(), "colour": "blue"})


def test_an_event_without_a_real_time_is_refused_and_changes_nothing() -> None:
    lane = released_lane()
    before = (lane.machine.now, lane.machine.phase)
    with pytest.raises(LaneError, match=r"Tick\.at: must be a finite time, not nan"):
        lane.machine.handle(Tick(float("nan")))
    assert (lane.machine.now, lane.machine.phase) == before


def test_the_driver_display_walks_the_driver_through_in_both_languages() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.send(CardInserted(T0 + 6))
    lane.card(T0 + 6.5)
    lane.drive_through(T0 + 10)
    shown = [c.code for c in lane.all_commands() if isinstance(c, ShowMessage)]
    assert shown == ["WELCOME", "INSERT_CARD", "CHECKING", "PROCEED", "WELCOME"]
    assert all(c.chinese for c in lane.all_commands() if isinstance(c, ShowMessage))


def test_time_running_backwards_does_not_rewind_the_lane() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip(Verdict.HOLD)})
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.send(Tick(T0 + 100))  # referred for want of a card at T0 + 65
    lane.send(Tick(T0 + 50))  # the kiosk's clock stepped back
    assert lane.machine.now == T0 + 100 and lane.machine.phase is Phase.REFERRED
    assert len(lane.records()) == 1


def test_officer_release_during_a_fault_stays_red_even_after_the_fault_ends() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.send(DeviceAvailability(T0 + 6, Device.CAMERA, False, "stalled"))
    lane.send(OfficerAction(T0 + 20, "officer-1", OfficerCommand.RELEASE, "waved through"))
    assert lane.machine.barrier_up is True and lane.lights is Light.RED
    lane.send(DeviceAvailability(T0 + 21, Device.CAMERA, True))
    assert lane.lights is Light.RED and Light.GREEN not in lane.lights_commands()
