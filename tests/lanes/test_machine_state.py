"""A machine's state as JSON (what a rotated journal file starts from): complete, exact, and a
restored machine answering every later event as the original does."""

from __future__ import annotations

import json
import re
from dataclasses import fields

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lanes.crossing import Crossing
from lanes.errors import JournalError
from lanes.events import (
    CardAuthenticated,
    CardInserted,
    CardRejected,
    CardRemoved,
    Device,
    DeviceAvailability,
    Event,
    LaneStopping,
    Loop,
    LoopChanged,
    OfficerAction,
    OfficerCommand,
    PlateDecided,
    TagRead,
    Tick,
)
from lanes.journal import entry_line, parse_journal, state_header_line
from lanes.machine import LaneMachine
from lanes.machine_state import CROSSING_FIELDS, STATE_ATTRIBUTES, from_snapshot, snapshot, start_machine
from lanes.records import Verdict

from .builders import CONFIG, DRIVER, OTHER_TRUCK, T0, TRUCK, Lane, started, trip


def test_every_attribute_of_the_machine_and_its_crossing_is_in_the_snapshot() -> None:
    # A new attribute must be added to lanes.machine_state, or a rotation would forget it.
    assert set(vars(LaneMachine(CONFIG))) - {"config"} == STATE_ATTRIBUTES
    assert {f.name for f in fields(Crossing)} == CROSSING_FIELDS


def _events(kind: int, at: float) -> list[Event]:
    if kind == 21:  # a whole truck at once, so that releases (and used trips) are common
        return [LoopChanged(at, Loop.ARMING, True), TagRead(at + 0.1, TRUCK.tag_epc or "", TRUCK),
                PlateDecided(at + 0.2, TRUCK.registration_mark, 0.95, TRUCK),
                CardAuthenticated(at + 0.3, DRIVER.card_number, T0 + 86400, DRIVER), Tick(at + 1)]
    if kind == 22:  # ... and drives through
        steps = ((Loop.SAFETY, True), (Loop.ARMING, False), (Loop.CLOSING, True), (Loop.SAFETY, False),
                 (Loop.CLOSING, False))
        return [LoopChanged(at + i, loop, occupied) for i, (loop, occupied) in enumerate(steps)]
    return [_event(kind, at)]


def _event(kind: int, at: float) -> Event:
    menu: list[Event] = [
        LoopChanged(at, Loop.ARMING, True), LoopChanged(at, Loop.ARMING, False),
        LoopChanged(at, Loop.SAFETY, True), LoopChanged(at, Loop.SAFETY, False),
        LoopChanged(at, Loop.CLOSING, True), LoopChanged(at, Loop.CLOSING, False),
        TagRead(at, TRUCK.tag_epc or "", TRUCK), TagRead(at, OTHER_TRUCK.tag_epc or "", OTHER_TRUCK),
        PlateDecided(at, TRUCK.registration_mark, 0.95, TRUCK), PlateDecided(at, None, 0.0, None),
        CardAuthenticated(at, DRIVER.card_number, T0 + 86400, DRIVER), CardRejected(at, "6982"),
        CardInserted(at), CardRemoved(at), Tick(at), Tick(at),
        DeviceAvailability(at, Device.CAMERA, False, "stalled"), DeviceAvailability(at, Device.CAMERA, True),
        OfficerAction(at, "officer-1", OfficerCommand.RELEASE, "checked"),
        OfficerAction(at, "officer-1", OfficerCommand.RESET), LaneStopping(at),
    ]
    return menu[kind]


TRAFFIC = st.lists(st.tuples(st.floats(0.0, 25.0), st.integers(0, 22)), min_size=1, max_size=60)


def _lane() -> Lane:
    return Lane(trips={TRUCK.vehicle_id: trip(), OTHER_TRUCK.vehicle_id: trip(Verdict.INSPECT,
                       trip_id="TRIP-2", vehicle_id=OTHER_TRUCK.vehicle_id)})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traffic=TRAFFIC, cut=st.integers(0, 60))
def test_a_machine_restored_from_its_snapshot_goes_on_exactly_as_the_original(
    traffic: list[tuple[float, int]], cut: int
) -> None:
    at, events = T0 + 1, []
    for dt, kind in traffic:
        at += dt
        events += _events(kind, at)
        at += 5
    cut = min(cut, len(events))
    original = _lane()
    original.send(started())
    for e in events[:cut]:
        original.send(e)
    state = json.loads(json.dumps(snapshot(original.machine)))  # through text, as in a file
    copy = _lane()
    copy.machine = from_snapshot(CONFIG, state)
    assert snapshot(copy.machine) == state
    for e in events[cut:]:
        assert copy.send(e) == original.send(e), f"after {e}"
    assert snapshot(copy.machine) == snapshot(original.machine)


def test_a_rotated_file_starts_from_the_carried_state_and_replays_its_own_lines() -> None:
    lane = _lane()
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.card(T0 + 7)  # released: the crossing is mid-way when the file is cut
    header = state_header_line(CONFIG, snapshot(lane.machine), 41)
    before = len(lane.log)
    lane.drive_through(T0 + 10)
    lines = [header] + [entry_line(41 + i, e, cs) for i, (e, cs) in enumerate(lane.log[before:])]
    journal = parse_journal("\n".join(lines) + "\n")
    assert journal.first_n == 41 and journal.next_n() == 41 + len(lines) - 1
    machine = start_machine(journal)
    for line in journal.lines:
        e = line.item.event  # type: ignore[union-attr]
        assert entry_line(line.item.n, e, machine.handle(e)) == line.text  # type: ignore[union-attr]
    assert snapshot(machine) == snapshot(lane.machine)


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.pop("sequence"), "state: missing field(s) sequence"),
    (lambda s: s.update(extra=1), "state: unknown field(s) extra"),
    (lambda s: s.update(phase="flying"), "state.phase: 'flying' is not one of"),
    (lambda s: s.update(card=5), "state.card: card index 5 out of range"),
    (lambda s: s.update(used_trip_ids=[1]), "state.used_trip_ids[0]: must be str"),
    (lambda s: s["crossing"].update(arrived_at="soon"), "state.crossing.arrived_at: must be a number"),
])
def test_a_bad_snapshot_is_refused_naming_the_field(change: object, message: str) -> None:
    lane = _lane()
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.card(T0 + 7)
    state = snapshot(lane.machine)
    change(state)  # type: ignore[operator]
    with pytest.raises(JournalError, match=re.escape(message)):
        from_snapshot(CONFIG, state)


def test_a_state_header_is_refused_in_the_middle_of_a_file() -> None:
    lane = _lane()
    lane.send(started())
    header = state_header_line(CONFIG, snapshot(lane.machine), 2)
    with pytest.raises(JournalError, match="line 2: state: only a file's first line"):
        parse_journal(header + "\n" + header + "\n")
