"""SIGTERM and SIGKILL: the lane is left safe, and no decision is lost or made twice."""

from __future__ import annotations

import dataclasses
import io

from kiosk.replay import replay
from lanes.commands import Light, Outcome, RecordCrossing, SetBarrier, SetLights
from lanes.events import (
    BarrierPosition,
    Device,
    DeviceAvailability,
    InputsSnapshot,
    LaneStarted,
    LaneStopping,
    Loop,
    LoopChanged,
    OfficerAction,
    OfficerCommand,
    Tick,
)
from lanes.journal import header_line, parse_journal
from lanes.machine import LaneMachine, Phase
from lanes.records import Verdict

from .builders import CONFIG, T0, TRUCK, Lane, started, trip


def test_sigterm_with_a_truck_under_the_arm_goes_red_and_closes_only_once_it_has_passed() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.card(T0 + 7)
    lane.send(LoopChanged(T0 + 8, Loop.SAFETY, True))
    stop = lane.send(LaneStopping(T0 + 9, "SIGTERM"))
    assert SetBarrier(False) not in stop and lane.lights is Light.RED
    assert lane.machine.message == "LANE_CLOSED"
    lane.send(LoopChanged(T0 + 10, Loop.ARMING, False))
    lane.send(LoopChanged(T0 + 11, Loop.CLOSING, True))
    assert SetBarrier(False) not in lane.send(LoopChanged(T0 + 12, Loop.SAFETY, False))
    assert SetBarrier(False) in lane.send(LoopChanged(T0 + 13, Loop.CLOSING, False))


def test_sigterm_on_an_empty_lane_closes_at_once_and_takes_no_new_truck() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.arrive(T0 + 5)
    stop = lane.send(LaneStopping(T0 + 6))
    assert SetBarrier(True) not in stop
    lane.card(T0 + 7)
    lane.send(OfficerAction(T0 + 8, "officer-1", OfficerCommand.RELEASE))
    lane.send(Tick(T0 + 200))
    assert lane.records() == [] and lane.barrier_commands() == [False]
    assert Light.GREEN not in lane.lights_commands()


def test_sigkill_then_restart_from_the_journal_file_resumes_without_a_second_record() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip(Verdict.INSPECT)})
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.card(T0 + 7)
    lane.send(LoopChanged(T0 + 8, Loop.SAFETY, True))
    text = "\n".join(lane.lines) + "\n" + '{"commands":[],"event":{"type":"Ti'  # killed mid-write
    journal = parse_journal(text)
    assert journal.torn_line == len(lane.lines) + 1 and journal.next_n() == len(lane.lines)
    machine, records = LaneMachine.restore(journal.config, journal.events())
    assert records == lane.records()  # what the kiosk re-offers to its (idempotent) outbox
    after = machine.handle(LaneStarted(T0 + 20, 2, False, True, True, BarrierPosition.UP, synced_at=T0))
    assert SetLights(Light.RED) in after and SetBarrier(True) in after and machine.sign is True
    assert not any(isinstance(c, RecordCrossing) for c in after)
    assert machine.phase is Phase.RELEASED
    rest = machine.handle(LoopChanged(T0 + 21, Loop.SAFETY, False))
    rest += machine.handle(LoopChanged(T0 + 22, Loop.CLOSING, False))
    assert SetBarrier(False) in rest and machine.phase is Phase.IDLE
    assert not any(isinstance(c, RecordCrossing) for c in rest)


def test_restart_after_the_truck_left_while_the_kiosk_was_down() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.card(T0 + 7)
    machine, _ = LaneMachine.restore(CONFIG, [e for e, _ in lane.log])
    after = machine.handle(LaneStarted(T0 + 60, 2, False, False, False, BarrierPosition.UP, synced_at=T0))
    assert SetBarrier(False) in after and machine.phase is Phase.IDLE


def test_io_module_back_with_a_truck_waiting_starts_identifying_it() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(started())
    lane.send(DeviceAvailability(T0 + 1, Device.IO, False, "timeout"))
    lane.send(DeviceAvailability(T0 + 30, Device.IO, True))
    lane.send(InputsSnapshot(T0 + 30.1, True, False, False, BarrierPosition.DOWN))
    assert lane.machine.phase is Phase.IDENTIFYING and lane.machine.crossing is not None
    assert lane.machine.crossing.arrived_at == T0 + 30.1


def test_a_barrier_without_limit_switches_is_never_called_faulty() -> None:
    lane = Lane(config=dataclasses.replace(CONFIG, barrier_travel_s=0), trips={TRUCK.vehicle_id: trip()},
                barrier_moves=False)
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.card(T0 + 7)
    lane.send(Tick(T0 + 1000))
    assert lane.machine.unavailable == {} and lane.lights is Light.GREEN


def test_replay_follows_a_reconfiguration_in_the_middle_of_the_day() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip(Verdict.INSPECT)})
    lane.send(started(synced_at=T0 - 600))
    stricter = dataclasses.replace(CONFIG, stale_limit_s=300)
    lane.machine.config = stricter
    lane.lines.append(header_line(stricter))
    lane.arrive(T0 + 5)
    lane.card(T0 + 7)
    assert lane.records()[0].reasons[0].code == "CACHE_STALE"
    out = io.StringIO()
    result = replay("\n".join(lane.lines) + "\n", out)
    assert not result.differences and "lane reconfigured (line 4)" in out.getvalue()


def test_with_the_journal_lost_the_outbox_still_prevents_a_second_release() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip()})
    lane.send(LaneStarted(T0, 57, False, False, False, BarrierPosition.DOWN, synced_at=T0,
                          released_trip_ids=("TRIP-1",)))
    lane.arrive(T0 + 5)
    lane.card(T0 + 7)
    (record,) = lane.records()
    assert record.sequence == 57 and record.outcome is Outcome.REFERRED
    assert "TRIP_ALREADY_USED" in [r.code for r in record.reasons]
